"""Flow control that does not throw away records the consumer has already moved past.

faust-streaming 0.15.3 resumes flow twice when a worker restores a table on start-up: once to
read the changelogs, and again when the restore is complete, right after seeking the stream
partitions to their committed offsets. Each resume clears every stream queue. The second clear
drops records fetched from the new position in between, and the fetcher carries on past them:
the records are never processed, their offsets never acked. Later commits then either stall at
the gap or, when the partition had no commit of this worker yet, jump over it. A restarted
worker with a backlog lost a few dozen cases that way in about one start in five
(tests/integration/test_pipeline.py, the SIGKILL test).

Clearing is only needed when the flow was suspended (a rebalance: queued records may belong to
partitions now owned elsewhere). A resume while the flow is already running keeps the queues.
"""

from mode.utils.queues import FlowControlEvent


class KeepQueuesWhileFlowing(FlowControlEvent):
    def resume(self) -> None:
        was_suspended = not self.is_active()
        self._suspend.clear()
        self._resume.set()
        if was_suspended:
            self.clear()

"""Consume in batches and commit only what the stage says is done: the path of the busy stages.

Faust hands a stage one record at a time through a consumer thread, a conductor and a queue per
stream; a backlog paid that for every record (issue 14: py-spy put the transport at well over half of a
busy worker's CPU, the stage's own work under a fifth). Here the stage gets a whole fetch at once,
in the worker's event loop, and says when each batch's outputs are safe.

Contract (the offset discipline of mcu/agents/stage.py, for a batch instead of held events):

- fetch: ``getmany`` of at most ``max_records`` over the assigned partitions (with ``fill_wait``,
  more fetches until ``max_records`` or that long after the wait began: the sinks' few large inserts);
- handle: ``handle(records)`` does the batch's work and returns an awaitable that completes once
  every output of the batch is confirmed by Kafka (it retries for ever; it never raises for a
  record: a bad record is the stage's dead letter);
- the next batch is fetched while earlier ones are confirming, at most ``depth`` batches
  unconfirmed, the one in work included (a broker that stops confirming stops the stage there);
- commit: a batch's offsets become committable once its confirmation and those of all earlier
  batches have completed (in fetch order, so a partition's committed offset only moves forward
  over confirmed records); committed at most every ``commit_interval`` seconds, before partitions
  are revoked, and on stop;
- a crash (SIGKILL) commits nothing more: what was fetched after the last commit is fetched again
  by whoever owns the partition next, and its outputs are sent again (the stages downstream fold
  them by key);
- a commit that fails (broker away, a rebalance in between) is logged and retried with the next
  one; offsets of partitions this consumer no longer owns are dropped, not committed;
- a stage with state per partition passes ``on_assigned`` (awaited before any record of the new
  assignment is handled: restore there) and ``on_revoked`` (awaited after the revoked partitions'
  batches are confirmed and committed: forget them there); records fetched across a rebalance
  for partitions no longer assigned are not handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord, OffsetAndMetadata

from kafkaio.security import KafkaSettings, client_options

log = logging.getLogger(__name__)

Handler = Callable[[list[ConsumerRecord]], Awaitable[Awaitable[None]]]
PartitionsHook = Callable[[set[TopicPartition]], Awaitable[None]]
STOP_COMMIT_TIMEOUT_S = 10.0


@dataclass
class _Batch:
    confirmed: asyncio.Future[None]
    next_offsets: dict[TopicPartition, int]  # per partition, the offset after the batch's last record


@dataclass
class ConfirmQueue:
    """Batches in fetch order whose outputs are still being confirmed, and what they make committable.

    Pure bookkeeping, no Kafka: tested on its own (tests/unit/kafkaio/test_batch_consumer.py).
    """

    depth: int
    waiting: deque[_Batch] = field(default_factory=deque)
    committable: dict[TopicPartition, int] = field(default_factory=dict)

    async def add(self, confirmation: Awaitable[None], records: Sequence[ConsumerRecord]) -> None:
        """Queue the batch; return once fewer than ``depth`` batches are unconfirmed."""
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        self.waiting.append(_Batch(asyncio.ensure_future(confirmation), offsets))
        while self.waiting and (len(self.waiting) >= self.depth or self.waiting[0].confirmed.done()):
            await self._pop()

    async def drain(self) -> None:
        while self.waiting:
            await self._pop()

    def settle(self) -> None:
        """Take what already confirmed at the head, without waiting."""
        while self.waiting and self.waiting[0].confirmed.done():
            self._take(self.waiting.popleft())

    async def _pop(self) -> None:
        head = self.waiting[0]
        await asyncio.shield(head.confirmed)  # a cancelled caller must not cancel the confirmation itself
        # The loop and a rebalance may both wait for the same head; the first one back takes it.
        if self.waiting and self.waiting[0] is head:
            self._take(self.waiting.popleft())

    def _take(self, batch: _Batch) -> None:
        batch.confirmed.result()  # a confirmation that raised is a bug of the stage: let it surface
        for tp, offset in batch.next_offsets.items():
            if offset > self.committable.get(tp, -1):
                self.committable[tp] = offset

    def abandon(self) -> None:
        """Stop the confirmations still running (a stop or crash: their input stays uncommitted)."""
        for b in self.waiting:
            b.confirmed.cancel()
        self.waiting.clear()


class BatchConsumer(ConsumerRebalanceListener):
    """One consumer group member that hands whole fetches to a stage (see the module's contract)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        topics: Sequence[str],
        group_id: str,
        *,
        max_records: int,
        depth: int,
        commit_interval: float,
        session_timeout: float,
        max_fetch_bytes: int,
        fetch_wait: float = 0.2,
        fill_wait: float = 0.0,
        client_id: str = "mcu",
        assignors: tuple[Any, ...] = (),
        on_assigned: PartitionsHook | None = None,
        on_revoked: PartitionsHook | None = None,
    ) -> None:
        self.topics = list(topics)
        self.group_id = group_id
        self.max_records = max_records
        self.commit_interval = commit_interval
        self.fetch_wait = fetch_wait
        self.fill_wait = fill_wait
        self.queue = ConfirmQueue(max(1, depth))
        self.generation = 0  # bumped on every assignment: a gap across a rebalance is not a gap
        self.committed: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self._ready = asyncio.Event()  # set once the current assignment's on_assigned is done
        self._assign_failed: Exception | None = None
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka.broker_list,
            group_id=group_id,
            client_id=f"{client_id}-{group_id}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=max_records,
            max_partition_fetch_bytes=max_fetch_bytes,
            fetch_max_bytes=max(max_fetch_bytes, 50 * 1024 * 1024),
            session_timeout_ms=int(session_timeout * 1000),
            heartbeat_interval_ms=int(min(3.0, session_timeout / 3) * 1000),
            **({"partition_assignment_strategy": assignors} if assignors else {}),
            **client_options(kafka),
        )

    # -- what the worker's metrics read -------------------------------------------------------
    def assignment(self) -> set[TopicPartition]:
        return set(self._consumer.assignment())

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._consumer.highwater(tp)

    # -- the loop -------------------------------------------------------------------------------
    async def run(self, handle: Handler) -> None:
        """Fetch, handle, confirm, commit, until cancelled."""
        await self._consumer.start()
        self._consumer.subscribe(self.topics, listener=self)
        try:
            while True:
                if self._assign_failed is not None:
                    raise RuntimeError(f"group {self.group_id}: taking over partitions failed") from self._assign_failed
                records = await self._fetch()
                if records and not self._ready.is_set():
                    await self._ready.wait()
                    assigned = self._consumer.assignment()
                    records = [r for r in records if TopicPartition(r.topic, r.partition) in assigned]
                if records:
                    confirmation = await handle(records)
                    await self.queue.add(confirmation, records)
                else:
                    self.queue.settle()
                if time.monotonic() - self._last_commit >= self.commit_interval:
                    await self.commit()
        finally:
            await self._stop()

    async def _fetch(self) -> list[ConsumerRecord]:
        started = time.monotonic()
        fetched = await self._consumer.getmany(timeout_ms=int(self.fetch_wait * 1000), max_records=self.max_records)
        records = [r for part in fetched.values() for r in part]
        if records and self.fill_wait > 0:
            # A store wants few large inserts: fill the batch until fill_wait after the wait began
            # (as Faust's take(within=…)), so no record waits longer than that for its batch.
            deadline = started + self.fill_wait
            while len(records) < self.max_records and (left := deadline - time.monotonic()) > 0:
                more = await self._consumer.getmany(
                    timeout_ms=max(1, int(left * 1000)), max_records=self.max_records - len(records)
                )
                records += [r for part in more.values() for r in part]
        return records

    async def commit(self) -> None:
        assigned = self._consumer.assignment()
        todo = {
            tp: OffsetAndMetadata(o, "")
            for tp, o in self.queue.committable.items()
            if tp in assigned and o > self.committed.get(tp, -1)
        }
        self._last_commit = time.monotonic()
        if not todo:
            return
        try:
            await self._consumer.commit(todo)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # broker away or a rebalance in between: the next commit carries them
            log.warning("group %s: commit of %d partitions failed (%s: %s); retried with the next one",
                        self.group_id, len(todo), type(exc).__name__, exc)  # fmt: skip
            return
        for tp, om in todo.items():
            self.committed[tp] = om.offset

    async def _stop(self) -> None:
        # Only what is already confirmed is committed: waiting here for a broker that is away could
        # hold the stop for ever, and an uncommitted batch is only fetched again.
        self.queue.settle()
        self.queue.abandon()
        try:
            await asyncio.wait_for(asyncio.shield(self.commit()), STOP_COMMIT_TIMEOUT_S)
        except Exception as exc:
            log.warning("group %s: final commit skipped: %s", self.group_id, exc)
        await self._consumer.stop()

    # -- ConsumerRebalanceListener ------------------------------------------------------------
    async def on_partitions_revoked(self, revoked: Any) -> None:
        self._ready.clear()
        # The next owner starts from the committed offsets: commit every confirmed batch first.
        await self.queue.drain()
        await self.commit()
        for tp in revoked:
            self.queue.committable.pop(tp, None)
            self.committed.pop(tp, None)
        if self._on_revoked is not None:
            await self._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.generation += 1
        if self._on_assigned is not None:
            try:
                await self._on_assigned(set(assigned))
            except Exception as exc:  # aiokafka would only log it: the loop raises it instead (a restart)
                self._assign_failed = exc
        self._ready.set()

"""Skipped offsets in a stream: the alarm for records a worker passed over without an error.

Our topics are neither compacted nor transactional, so within one consumer generation a
partition's offsets reach a stream one after another. A jump forward means records were fetched
and dropped before the agent saw them (a Faust flow-control race did exactly that, see
mcu/flow_control.py). Going back (a seek to the committed offset) or a new generation (a
rebalance) only restarts the count.
"""

import logging

from faust.types import TP, EventT

from mcu.metrics import STREAM_OFFSET_GAPS

log = logging.getLogger(__name__)


class OffsetGaps:
    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._next: dict[TP, tuple[int, int]] = {}  # tp -> (generation, next expected offset)

    def check(self, tp: TP, offset: int, generation: int) -> int:
        """How many offsets were skipped right before this one; counted and logged when not 0."""
        expected = self._next.get(tp)
        self._next[tp] = (generation, offset + 1)
        if expected is None or expected[0] != generation or offset <= expected[1]:
            return 0
        skipped = offset - expected[1]
        STREAM_OFFSET_GAPS.labels(stage=self.stage, topic=tp.topic).inc(skipped)
        log.error(
            "stage %s skipped offsets %d-%d of %s[%d]: records fetched but never processed",
            self.stage, expected[1], offset - 1, tp.topic, tp.partition,
        )  # fmt: skip
        return skipped

    def see(self, event: EventT) -> int:
        m = event.message
        return self.check(m.tp, m.offset, m.generation_id)

"""Skipped offsets in a stream: the alarm for records a worker passed over without an error.

Our topics are neither compacted nor transactional, so within one consumer generation a
partition's offsets reach a stream one after another. A jump forward means records were fetched
and dropped before the agent saw them (a Faust flow-control race did exactly that, see
mcu/flow_control.py). Going back (a seek to the committed offset) or a new generation (a
rebalance) only restarts the count.

It is a Faust sensor, so every stream of the app is watched, agents included that are added later.
"""

import logging

from faust import Sensor
from faust.types import TP, EventT, StreamT

from mcu.metrics import STREAM_OFFSET_GAPS

log = logging.getLogger(__name__)


class OffsetGapSensor(Sensor):
    def __init__(self) -> None:
        super().__init__()
        self._next: dict[tuple[str, TP], tuple[int, int]] = {}  # (stage, tp) -> (generation, next offset)

    def check(self, stage: str, tp: TP, offset: int, generation: int) -> int:
        """How many offsets were skipped right before this one; counted and logged when not 0."""
        expected = self._next.get((stage, tp))
        self._next[(stage, tp)] = (generation, offset + 1)
        if expected is None or expected[0] != generation or offset <= expected[1]:
            return 0
        skipped = offset - expected[1]
        STREAM_OFFSET_GAPS.labels(stage=stage, topic=tp.topic).inc(skipped)
        log.error(
            "stage %s skipped offsets %d-%d of %s[%d]: records fetched but never processed",
            stage, expected[1], offset - 1, tp.topic, tp.partition,
        )  # fmt: skip
        return skipped

    def on_stream_event_in(self, tp: TP, offset: int, stream: StreamT, event: EventT) -> None:
        # An agent's stream carries the agent's name as its prefix: that is the stage.
        self.check(stream.prefix or "stream", tp, offset, event.message.generation_id)

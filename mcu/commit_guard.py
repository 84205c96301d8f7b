"""Never commit past a record a stage still holds (faust-streaming issue #606, open fix #707).

Faust finds the offset to commit from the run of consecutive acked offsets, and guards a hole at
the head of that run only when it is wider than one (``min(acked) - committed > 1``), and not at
all before a partition's first commit. So a single record still in work at the committed offset,
with later records acked (another agent reading the topic, a batch held by
mcu/agents/stage.hold while its outputs are re-sent, an agent restarted after an error), was
committed over: lost on the next restart. Here the acked offsets at or above the lowest offset
of the current generation that a stream took and nobody acked yet wait until it is acked.
"""

from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

_unguarded = Consumer._new_offset


def lowest_held(consumer: Any, tp: TP) -> int | None:
    generation = consumer.app.consumer_generation_id
    held = [
        m.offset
        for m in list(consumer._unacked_messages)
        if m.tp == tp and not m.acked and m.generation_id == generation
    ]
    return min(held, default=None)


def _guarded_new_offset(self: Consumer, tp: TP) -> int | None:
    held = lowest_held(self, tp)
    acked = self._acked[tp]
    if held is None or not any(o >= held for o in acked):
        return _unguarded(self, tp)
    above = [o for o in acked if o >= held]
    acked[:] = [o for o in acked if o < held]
    try:
        return _unguarded(self, tp) if acked else None
    finally:
        acked.extend(above)  # Faust sorts the list on its next look


def install() -> None:
    Consumer._new_offset = _guarded_new_offset  # type: ignore[method-assign]

"""Skipped offsets are counted per stage; seeks back and rebalances are not gaps."""

from faust.types import TP

from mcu.app import app
from mcu.metrics import STREAM_OFFSET_GAPS
from mcu.offset_gaps import OffsetGapSensor

TOPIC = "t-gaps.cases"


def _counted(stage: str) -> float:
    return STREAM_OFFSET_GAPS.labels(stage=stage, topic=TOPIC)._value.get()


def test_a_jump_forward_is_counted_and_consecutive_offsets_are_not() -> None:
    gaps = OffsetGapSensor()
    p0, p1 = TP(TOPIC, 0), TP(TOPIC, 1)
    assert [gaps.check("gaps-a", p0, o, 2) for o in (186, 187, 188)] == [0, 0, 0]
    assert gaps.check("gaps-a", p1, 40, 2) == 0  # partitions are followed separately
    assert gaps.check("gaps-other", p0, 300, 2) == 0  # and so are stages reading the same topic
    assert gaps.check("gaps-a", p0, 196, 2) == 7  # 189-195 never reached the stage
    assert gaps.check("gaps-a", p1, 41, 2) == 0
    assert _counted("gaps-a") == 7
    assert _counted("gaps-other") == 0


def test_a_seek_back_or_a_new_generation_only_restarts_the_count() -> None:
    gaps = OffsetGapSensor()
    p0 = TP(TOPIC, 0)
    for offset in (100, 101, 102):
        gaps.check("gaps-b", p0, offset, 5)
    assert gaps.check("gaps-b", p0, 90, 5) == 0  # seek back to the committed offset: re-delivery
    assert gaps.check("gaps-b", p0, 91, 5) == 0
    assert gaps.check("gaps-b", p0, 500, 6) == 0  # after a rebalance another worker may have done 92-499
    assert gaps.check("gaps-b", p0, 501, 6) == 0
    assert _counted("gaps-b") == 0


def test_every_stream_of_the_worker_app_is_watched() -> None:
    assert any(isinstance(s, OffsetGapSensor) for s in app.sensors)

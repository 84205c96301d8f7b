"""The loop-lag probe: the windowed maximum, and a real blocked loop seen as one late wake-up."""

import asyncio
import time

from hypothesis import given
from hypothesis import strategies as st

from mcu import loop_lag
from mcu.metrics import EVENT_LOOP_LAG, EVENT_LOOP_LAG_MAX


@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 30)), max_size=200), st.floats(1, 120))
def test_window_max_equals_the_max_of_the_lags_inside_the_window(steps, window):
    lw = loop_lag.LagWindow(window)
    now = 0.0
    seen: list[tuple[float, float]] = []
    for dt, lag in steps:
        now += dt
        seen.append((now, lag))
        assert lw.add(now, lag) == max(v for t, v in seen if t >= now - window)


def _count() -> float:
    return next(s.value for m in EVENT_LOOP_LAG.collect() for s in m.samples if s.name.endswith("_count"))


def test_a_blocked_loop_is_measured_as_lag():
    async def run() -> None:
        task = asyncio.create_task(loop_lag.measure(interval=0.01))
        await asyncio.sleep(0.05)
        before = _count()
        time.sleep(0.6)  # block the loop, as a slow synchronous call inside it would
        await asyncio.sleep(0.05)
        task.cancel()
        assert _count() > before
        assert EVENT_LOOP_LAG_MAX.collect()[0].samples[0].value >= 0.5

    asyncio.run(run())

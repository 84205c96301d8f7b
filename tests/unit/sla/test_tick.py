"""A tick with a backlog of due timers fires a bounded number of cases and yields between chunks."""

import asyncio
from datetime import datetime

import pytest

from schemas import SlaEvent
from schemas.channels import Channel
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.tick import fire_due
from sla.timers import SlaTimers
from tests.unit.sla.factories import make_case

POLICIES = load_policies()
CAL = WorkingCalendar()
N = 2500


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


def backlog() -> tuple[SlaTimers, datetime]:
    t = SlaTimers(POLICIES, CAL)
    for i in range(N):
        t.on_case(make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT, source_id=f"tick-{i}"))
    t.rebuild()
    return t, msk(2026, 3, 10, 15, 0)  # every case has steps due by then


class Broker:
    def __init__(self, fail_on_call: int | None = None) -> None:
        self.sent: list[SlaEvent] = []
        self.calls = 0
        self.fail_on_call = fail_on_call

    async def __call__(self, events: list[SlaEvent]) -> None:
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise ConnectionError("broker gone")
        self.sent.extend(events)


def test_a_backlog_is_spread_over_ticks_of_at_most_the_bound() -> None:
    t, now = backlog()
    unbounded, _ = backlog()
    expected = {e.dedup_key for e in unbounded.tick(now)}
    assert len({k.split(":")[0] for k in expected}) == N  # every case has something due

    async def run() -> list[tuple[int, int, bool, int]]:
        other_ran = 0
        stop = False

        async def stream() -> None:  # stands for the agents that share the event loop
            nonlocal other_ran
            while not stop:
                other_ran += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(stream())
        broker, out = Broker(), []
        for _ in range(4):
            before = other_ran
            r = await fire_due(t, now, broker, max_cases=1000, chunk=100)
            out.append((r.cases, r.chunks, r.more_due, other_ran - before))
        stop = True
        await task
        assert [e.dedup_key for e in broker.sent] and {e.dedup_key for e in broker.sent} == expected
        assert len(broker.sent) == len(expected)  # each event once over all ticks
        return out

    ticks = asyncio.run(run())
    assert [(c, ch, more) for c, ch, more, _ in ticks] == [
        (1000, 10, True),
        (1000, 10, True),
        (500, 5, False),
        (0, 0, False),
    ]
    # The other coroutine ran between the chunks of every tick: the tick never held the loop.
    assert all(ran >= chunks for _, chunks, _, ran in ticks)


def test_a_failed_send_puts_the_chunk_back_and_keeps_what_was_sent() -> None:
    t, now = backlog()

    async def run() -> tuple[Broker, Broker]:
        first = Broker(fail_on_call=3)
        with pytest.raises(ConnectionError):
            await fire_due(t, now, first, max_cases=1000, chunk=100)
        second = Broker()
        while (await fire_due(t, now, second, max_cases=1000, chunk=100)).cases:
            pass
        return first, second

    first, second = asyncio.run(run())
    assert {e.message_id for e in first.sent}.isdisjoint({e.message_id for e in second.sent})
    assert len({e.message_id for e in first.sent}) == 200  # two chunks got through before the failure
    assert len({e.message_id for e in first.sent + second.sent}) == N

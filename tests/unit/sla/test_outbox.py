"""The outbox: an SLA event is stored with the state change that made it and leaves only once sent.

A worker killed between the table write and the send restarts from the changelog (here: a copy of
the store); the re-delivered record is a duplicate and yields nothing, so the events must come
from the restored outbox, with the dedup keys they had the first time.
"""

from datetime import datetime

import pytest

from schemas import CaseEventType as T
from schemas import SlaEvent, SlaEventKind
from schemas.channels import Channel
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.timers import SlaTimers, dumps, loads
from tests.unit.sla.factories import make_case, make_event


@pytest.fixture(scope="module")
def policies():  # type: ignore[no-untyped-def]
    return load_policies()


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


def _closed_and_reopened(timers: SlaTimers):  # type: ignore[no-untyped-def]
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.LETTER)
    timers.on_case(case)
    timers.confirm(timers.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 11, 9, 0))))
    return case, make_event(case, T.REOPENED, msk(2026, 3, 12, 9, 0))


def test_events_survive_a_crash_between_the_state_write_and_the_send(policies, cal) -> None:  # type: ignore[no-untyped-def]
    store: dict[str, bytes] = {}
    timers = SlaTimers(policies, cal, store)
    case, reopened = _closed_and_reopened(timers)
    made = timers.on_event(reopened)
    assert SlaEventKind.STARTED in {e.kind for e in made}
    # -- the worker dies here: the state (with its outbox) is in the changelog, nothing was sent

    restarted = SlaTimers(policies, cal, dict(store))
    restarted.rebuild()
    assert restarted.on_event(reopened) == []  # the re-delivered record: a duplicate, as before
    resent = restarted.take_unsent()
    assert [e.model_dump() for e in resent] == [e.model_dump() for e in made]  # same keys, same content
    assert restarted.take_unsent() == []  # taken: not sent twice by two ticks in a row

    restarted.confirm(resent)
    state = loads(case.message_id, restarted.store[case.message_id])
    assert state.outbox == []
    again = SlaTimers(policies, cal, dict(restarted.store))
    again.rebuild()
    assert again.take_unsent() == []  # once confirmed, a later restart sends nothing again


def test_without_the_outbox_the_crash_loses_the_event(policies, cal) -> None:  # type: ignore[no-untyped-def]
    """What the outbox prevents: the restored state has the event's id and nothing to send."""
    store: dict[str, bytes] = {}
    timers = SlaTimers(policies, cal, store)
    case, reopened = _closed_and_reopened(timers)
    timers.on_event(reopened)
    s = loads(case.message_id, store[case.message_id])
    s.outbox = []
    store[case.message_id] = dumps(s)  # the state as the old code wrote it
    restarted = SlaTimers(policies, cal, dict(store))
    restarted.rebuild()
    assert restarted.on_event(reopened) == [] and restarted.take_unsent() == []


def test_a_failed_send_is_retried_and_the_state_keeps_its_other_changes(policies, cal) -> None:  # type: ignore[no-untyped-def]
    timers = SlaTimers(policies, cal, {})
    case, reopened = _closed_and_reopened(timers)
    first = timers.on_event(reopened)
    timers.retry({case.message_id})  # the broker refused them
    # meanwhile another event of the case: its events join the outbox
    paused = timers.on_event(make_event(case, T.CLARIFICATION_REQUESTED, msk(2026, 3, 12, 10, 0)))
    timers.confirm(paused)  # the later send went through first
    assert [e.dedup_key for e in timers.take_unsent()] == [e.dedup_key for e in first]
    timers.confirm(first)
    s = loads(case.message_id, timers.store[case.message_id])
    assert s.outbox == [] and s.paused is not None and s.cycle == 1


def test_a_tick_fires_from_a_state_with_an_outbox_and_keeps_it(policies, cal) -> None:  # type: ignore[no-untyped-def]
    timers = SlaTimers(policies, cal, {})
    case, reopened = _closed_and_reopened(timers)
    made = timers.on_event(reopened)
    fired = timers.tick(msk(2026, 6, 1, 12, 0))  # every step of the new cycle is due
    assert {e.kind for e in fired} >= {SlaEventKind.BREACH}
    s = loads(case.message_id, timers.store[case.message_id])
    assert [o["dedup_key"] for o in s.outbox] == [e.dedup_key for e in made]
    timers.confirm(made)
    assert loads(case.message_id, timers.store[case.message_id]).outbox == []


def test_only_owned_cases_are_resent(policies, cal) -> None:  # type: ignore[no-untyped-def]
    store: dict[str, bytes] = {}
    timers = SlaTimers(policies, cal, store)
    _, reopened = _closed_and_reopened(timers)
    timers.on_event(reopened)
    other = SlaTimers(policies, cal, dict(store), owns=lambda mid: False)
    other.rebuild()
    assert other.take_unsent() == []


def test_an_outbox_entry_of_another_schema_is_dropped_not_resent_forever(policies, cal) -> None:  # type: ignore[no-untyped-def]
    store: dict[str, bytes] = {}
    timers = SlaTimers(policies, cal, store)
    case, reopened = _closed_and_reopened(timers)
    made = timers.on_event(reopened)
    s = loads(case.message_id, store[case.message_id])
    s.outbox.append({"dedup_key": "x", "kind": "no-such-kind"})
    store[case.message_id] = dumps(s)
    restarted = SlaTimers(policies, cal, dict(store))
    restarted.rebuild()
    resent = restarted.take_unsent()
    assert [e.dedup_key for e in resent] == [e.dedup_key for e in made]
    assert all(isinstance(e, SlaEvent) for e in resent)
    restarted.confirm(resent)
    assert loads(case.message_id, restarted.store[case.message_id]).outbox == []


def test_the_state_at_rest_is_as_compact_as_before(policies, cal) -> None:  # type: ignore[no-untyped-def]
    timers = SlaTimers(policies, cal, {})
    case, _ = _closed_and_reopened(timers)
    raw = timers.store[case.message_id]
    assert b'"o":' not in raw
    assert loads(case.message_id, raw).outbox == []

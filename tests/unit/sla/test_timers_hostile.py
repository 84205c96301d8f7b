"""SLA state against replays, mixed zones, late corrections and events for cases that never come."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas import CaseEvent, SlaEventKind
from schemas import CaseEventType as T
from schemas.channels import Channel
from sla import rules as rules_mod
from sla import timers as timers_mod
from sla.calendar import MSK, CalendarError, WorkingCalendar
from sla.policies import load_policies
from sla.timers import (
    DROP_CASES,
    DROP_PER_CASE,
    MAX_PENDING,
    CaseTimers,
    Refused,
    SlaTimers,
    dumps,
    event_digest,
    loads,
)
from tests.unit.sla.factories import make_case, make_event

K = SlaEventKind
POLICIES = load_policies()
CAL = WorkingCalendar()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


def new_timers(**kw: object) -> SlaTimers:
    return SlaTimers(POLICIES, CAL, **kw)  # type: ignore[arg-type]


def test_a_reopened_replayed_after_33_other_events_does_not_reopen_again() -> None:
    t = new_timers()
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t.on_case(case)
    t.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 3, 10, 0)))
    reopened = make_event(case, T.REOPENED, msk(2026, 3, 4, 10, 0), event_id="reopen-1")
    assert any(e.kind is K.STARTED for e in t.on_event(reopened))
    for i in range(33):
        t.on_event(make_event(case, T.RATED, msk(2026, 3, 5, 10, 0) + timedelta(minutes=i), rating=4))
    t.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 6, 10, 0)))
    before = t.store[case.message_id]
    assert t.on_event(reopened) == []  # remembered for the life of the case, not the last 32
    assert t.store[case.message_id] == before
    assert loads(case.message_id, before).closed


def test_events_kept_with_a_zone_less_at_beside_an_aware_one_do_not_break_the_case() -> None:
    t = new_timers()
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.LETTER)
    reg = make_event(case, T.REGISTERED, msk(2026, 3, 10, 15, 0)).model_dump(mode="json")
    ans = make_event(case, T.ANSWERED, msk(2026, 3, 20, 9, 0)).model_dump(mode="json")
    reg["at"] = "2026-03-10T15:00:00"  # as an older version could keep it: no zone
    t.store[case.message_id] = dumps(CaseTimers(case.message_id, pending=[ans, reg], pending_since=1))
    out = t.on_case(case)  # used to raise TypeError (naive vs aware) and dead-letter the case
    assert [(e.kind, e.term) for e in out] == [
        (K.MET, "registration"), (K.MOVED, "resolution"), (K.MET, "resolution"),
    ]  # fmt: skip
    assert out[0].at == msk(2026, 3, 10, 15, 0)  # the zone-less time was read as Moscow time


def test_a_zone_less_case_event_is_moscow_time_at_the_edge() -> None:
    case = make_case(msk(2026, 3, 10, 9, 0))
    ev = CaseEvent.model_validate({"event_id": "x", "message_id": case.message_id, "type": "answered",
                                   "at": "2026-03-10T15:00:00"})  # fmt: skip
    assert ev.at == msk(2026, 3, 10, 15, 0) and ev.at.tzinfo is UTC


def test_an_older_extension_delivered_late_does_not_undo_a_newer_one() -> None:
    t = new_timers()
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t.on_case(case)
    newer = make_event(case, T.EXTENDED, msk(2026, 3, 25, 10), new_deadline=msk(2026, 4, 20, 18))
    older = make_event(case, T.EXTENDED, msk(2026, 3, 20, 10), new_deadline=msk(2026, 5, 29, 18))
    assert t.on_event(newer)
    assert t.on_event(older) == []  # by event time the 25.03 correction is the later one
    term = loads(case.message_id, t.store[case.message_id]).term(timers_mod.TermName.RESOLUTION)
    assert term is not None and term.deadline == int(msk(2026, 4, 20, 18).timestamp())
    # A correction later in event time does win, even to an earlier deadline.
    fix = make_event(case, T.EXTENDED, msk(2026, 3, 26, 10), new_deadline=msk(2026, 4, 10, 18))
    assert t.on_event(fix)
    term = loads(case.message_id, t.store[case.message_id]).term(timers_mod.TermName.RESOLUTION)
    assert term is not None and term.deadline == int(msk(2026, 4, 10, 18).timestamp())


def test_a_state_survives_its_serialisation_with_extension_order_and_digests() -> None:
    t = new_timers()
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t.on_case(case)
    t.on_event(make_event(case, T.EXTENDED, msk(2026, 3, 25, 10), new_deadline=msk(2026, 4, 20, 18)))
    raw = t.store[case.message_id]
    assert dumps(loads(case.message_id, raw)) == raw


def test_a_format_1_state_keeps_what_it_remembered() -> None:
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t = new_timers()
    t.on_case(case)
    body = json.loads(t.store[case.message_id].partition(b"|")[2])
    body.update(v=1, e=["old-event-1"])
    t.store[case.message_id] = b"-|" + json.dumps(body).encode()
    state = loads(case.message_id, t.store[case.message_id])
    assert state.has_seen(event_digest("old-event-1"))
    assert t.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 3, 10), event_id="old-event-1")) == []


def test_more_events_than_a_case_may_take_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules_mod, "MAX_EVENTS", 3)  # the rules enforce it
    t = new_timers()
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t.on_case(case)
    for i in range(3):
        t.on_event(make_event(case, T.RATED, msk(2026, 3, 3, 10, i), rating=5))
    with pytest.raises(Refused) as info:
        t.on_event(make_event(case, T.RATED, msk(2026, 3, 3, 11), rating=5))
    assert info.value.dead_letter_reason == "too_many_events"


def test_events_waiting_for_one_case_are_bounded_and_the_rest_refused_not_lost_silently() -> None:
    t = new_timers()
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    for i in range(MAX_PENDING):
        t.on_event(make_event(case, T.RATED, msk(2026, 3, 3, 10) + timedelta(minutes=i), rating=5))
    assert t.pending_events == MAX_PENDING
    with pytest.raises(Refused) as info:
        t.on_event(make_event(case, T.RATED, msk(2026, 3, 4, 10), rating=5))
    assert info.value.reason == DROP_PER_CASE and info.value.dead_letter_reason == "sla_pending_full"


def test_cases_known_only_by_their_events_are_bounded_in_number() -> None:
    t = new_timers(pending_max_cases=3)
    cases = [make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER) for _ in range(4)]
    for c in cases[:3]:
        t.on_event(make_event(c, T.REGISTERED, msk(2026, 3, 2, 10)))
    t.on_event(make_event(cases[0], T.ASSIGNED, msk(2026, 3, 2, 11)))  # a known waiting case: kept
    with pytest.raises(Refused) as info:
        t.on_event(make_event(cases[3], T.REGISTERED, msk(2026, 3, 2, 10)))
    assert info.value.reason == DROP_CASES
    assert t.pending_events == 4
    t.on_case(cases[0])  # its events are applied: the slot is free again
    assert t.pending_events == 2 and len(t._waiting) == 2
    t.on_event(make_event(cases[3], T.REGISTERED, msk(2026, 3, 2, 10)))


def test_events_waiting_longer_than_the_age_bound_expire_and_the_index_survives_a_restart() -> None:
    clock = Clock(datetime(2026, 3, 2, 12, tzinfo=UTC))
    store: dict[str, bytes] = {}
    t = new_timers(store=store, clock=clock, pending_max_age=timedelta(days=2))
    lost = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    late = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t.on_event(make_event(lost, T.REGISTERED, msk(2026, 3, 2, 10)))
    clock.now += timedelta(days=1)
    t.on_event(make_event(late, T.REGISTERED, msk(2026, 3, 3, 10)))
    assert t.take_expired(clock.now + timedelta(hours=23)) == []
    # A restarted worker rebuilds the waiting index from the stored prefixes.
    t = new_timers(store=store, clock=clock, pending_max_age=timedelta(days=2))
    assert t.rebuild() == 0 and t.pending_events == 2
    expired = t.take_expired(clock.now + timedelta(days=1, hours=1))
    assert [e.message_id for e in expired] == [lost.message_id]
    assert [ev["type"] for ev in expired[0].events] == ["registered"]
    assert t.drop(expired[0]) and lost.message_id not in store and t.pending_events == 1
    assert late.message_id in store


def test_an_expired_case_changed_meanwhile_is_kept() -> None:
    clock = Clock(datetime(2026, 3, 2, 12, tzinfo=UTC))
    t = new_timers(clock=clock, pending_max_age=timedelta(days=1))
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.LETTER)
    t.on_event(make_event(case, T.REGISTERED, msk(2026, 3, 2, 10)))
    [expired] = t.take_expired(clock.now + timedelta(days=2))
    t.on_case(case)  # the case arrived while its events were being dead-lettered
    assert not t.drop(expired) and case.message_id in t.store


def test_an_event_from_year_2526_that_slipped_past_the_edge_is_a_quick_calendar_error() -> None:
    t = new_timers()
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.VK)  # working-hour terms: the share needs the calendar
    t.on_case(case)
    before = t.store[case.message_id]
    ev = CaseEvent.model_construct(  # bypasses the model's window on purpose
        event_id="far", message_id=case.message_id, type=T.ANSWERED, at=datetime(2526, 1, 1, tzinfo=UTC)
    )
    with pytest.raises(CalendarError, match="range"):  # not an 8-second walk in the event loop
        t.on_event(ev)
    assert t.store[case.message_id] == before  # nothing half-applied

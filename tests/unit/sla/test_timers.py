from collections import Counter
from collections.abc import Iterator, MutableMapping
from datetime import datetime, timedelta

import pytest

from schemas import CaseEventType as T
from schemas import SlaEvent, SlaEventKind
from schemas.channels import Channel
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.timers import SlaTimers, dumps, loads
from tests.unit.sla.factories import make_case, make_event

K = SlaEventKind


@pytest.fixture(scope="module")
def policies():  # type: ignore[no-untyped-def]
    return load_policies()


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.fixture
def timers(policies, cal) -> SlaTimers:  # type: ignore[no-untyped-def]
    return SlaTimers(policies, cal)


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


def run_clock(timers: SlaTimers, start: datetime, end: datetime, step: timedelta) -> list[SlaEvent]:
    out, now = [], start
    while now <= end:
        out += timers.tick(now)
        now += step
    return out


def test_incident_crosses_50_80_100_and_escalations(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 10, 0), Channel.VK)
    assert timers.on_case(case) == []
    moved = timers.on_event(make_event(case, T.ASSIGNED, msk(2026, 3, 10, 11, 0)))
    assert [e.kind for e in moved] == [K.MOVED]
    events = run_clock(timers, msk(2026, 3, 10, 11, 0), msk(2026, 3, 20, 0, 0), timedelta(minutes=15))
    got = [(e.kind, e.share, e.level, e.at.astimezone(MSK)) for e in events]
    # 9 working hours from Tue 11:00: 11–13, 14–18, then Wed 9–12 → due Wed 12:00.
    assert got == [
        (K.WARNING, 0.5, 0, msk(2026, 3, 10, 16, 30)),
        (K.WARNING, 0.8, 0, msk(2026, 3, 11, 10, 12)),
        (K.BREACH, 1.0, 0, msk(2026, 3, 11, 12, 0)),
        (K.ESCALATION, 1.0, 1, msk(2026, 3, 12, 18, 0)),  # +1 working day → block head
        (K.ESCALATION, 1.0, 2, msk(2026, 3, 16, 18, 0)),  # +3 working days → coordinator
    ]
    assert len({e.dedup_key for e in events}) == 5
    assert all(e.block == 3 and e.department == "housing" and e.term == "resolution" for e in events)
    assert timers.tick(msk(2026, 4, 1)) == []


def test_answer_in_time_meets_and_silences(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 10, 0), Channel.TELEGRAM)
    timers.on_case(case)
    timers.tick(msk(2026, 3, 10, 15, 0))  # nothing due yet (first warning at 14:30 → check below)
    out = timers.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 10, 17, 0)))
    assert [e.kind for e in out] == [K.MET]
    assert 0 < out[0].share < 1
    assert timers.tick(msk(2026, 4, 1)) == []


def test_clarification_pauses_the_clock(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT)
    timers.on_case(case)
    timers.on_event(make_event(case, T.ASSIGNED, msk(2026, 3, 10, 9, 0)))
    timers.on_event(make_event(case, T.CLARIFICATION_REQUESTED, msk(2026, 3, 10, 10, 0)))
    assert timers.tick(msk(2026, 3, 20)) == []  # long wait for the resident: nothing fires
    # Received Mon 23.03 10:00: one working hour had elapsed, 8 remain: 10–13, 14–18, then 24.03 9–10.
    moved = timers.on_event(make_event(case, T.CLARIFICATION_RECEIVED, msk(2026, 3, 23, 10, 0)))
    assert [e.kind for e in moved] == [K.MOVED]
    assert moved[0].deadline.astimezone(MSK) == msk(2026, 3, 24, 10, 0)
    events = run_clock(timers, msk(2026, 3, 23, 10, 0), msk(2026, 3, 24, 11, 0), timedelta(minutes=10))
    # No tick ran before the pause, so both warnings (now at shifted times) and the breach follow.
    assert [e.kind for e in events] == [K.WARNING, K.WARNING, K.BREACH]
    assert events[-1].at.astimezone(MSK) == msk(2026, 3, 24, 10, 0)


def test_extension_moves_the_deadline_and_rearms_warnings(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 2, 2, 10, 0), Channel.LETTER)
    timers.on_case(case)
    timers.on_event(make_event(case, T.REGISTERED, msk(2026, 2, 2, 12, 0)))
    first = run_clock(timers, msk(2026, 2, 2), msk(2026, 2, 27), timedelta(hours=6))
    assert [(e.kind, e.share) for e in first] == [(K.WARNING, 0.5), (K.WARNING, 0.8)]
    moved = timers.on_event(
        make_event(case, T.EXTENDED, msk(2026, 2, 27, 10, 0), reason="запрос документов", term="resolution")
    )
    # No new_deadline given: the policy's maximum (30 days) from the old deadline 04.03 → 03.04.
    assert [e.kind for e in moved] == [K.MOVED]
    assert moved[0].deadline.astimezone(MSK) == msk(2026, 4, 3, 18, 0)
    later = run_clock(timers, msk(2026, 2, 27, 12), msk(2026, 4, 4), timedelta(hours=6))
    # Re-armed on the longer term 02.02–03.04: its 50 % (04.03) and 80 % points both lie ahead.
    assert [(e.kind, e.share) for e in later] == [(K.WARNING, 0.5), (K.WARNING, 0.8), (K.BREACH, 1.0)]
    assert later[0].at.astimezone(MSK).date().isoformat() == "2026-03-04"
    assert later[-1].dedup_key.endswith(":resolution:0.1:breach:0")


def test_reopen_starts_a_new_term_with_new_keys(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 2, 9, 0), Channel.POS)
    timers.on_case(case)
    met = timers.on_event(make_event(case, T.RESOLVED, msk(2026, 3, 3, 9, 0)))
    assert {e.term for e in met} == {"registration", "resolution"}
    started = timers.on_event(make_event(case, T.REOPENED, msk(2026, 3, 5, 9, 0)))
    assert [(e.kind, e.term) for e in started] == [(K.STARTED, "resolution")]
    events = run_clock(timers, msk(2026, 3, 5), msk(2026, 3, 26), timedelta(hours=2))
    assert [e.kind for e in events] == [K.WARNING, K.WARNING, K.BREACH, K.ESCALATION, K.ESCALATION]
    assert all(":resolution:1.0:" in e.dedup_key for e in events)


def test_events_before_the_case_are_kept_and_applied(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.LETTER)
    reg = make_event(case, T.REGISTERED, msk(2026, 3, 10, 15, 0))
    ans = make_event(case, T.ANSWERED, msk(2026, 3, 20, 9, 0))
    assert timers.on_event(ans) == [] and timers.on_event(reg) == []
    assert timers.on_event(reg) == []  # re-delivered while waiting
    out = timers.on_case(case)
    # Applied in the order of their times: registration meets its term and re-bases the answer term.
    assert [(e.kind, e.term) for e in out] == [
        (K.MET, "registration"), (K.MOVED, "resolution"), (K.MET, "resolution"),
    ]  # fmt: skip
    assert timers.tick(msk(2026, 6, 1)) == []


def test_duplicate_events_and_cases_change_nothing(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT)
    timers.on_case(case)
    ev = make_event(case, T.ASSIGNED, msk(2026, 3, 10, 10, 0), department="uio")
    assert timers.on_event(ev)
    before = timers.store[case.message_id]
    assert timers.on_event(ev) == [] and timers.on_case(case) == []
    assert timers.store[case.message_id] == before


def test_forwarding_term_only_when_routed_outside(timers: SlaTimers) -> None:
    inside = make_case(msk(2026, 3, 10, 9, 0), Channel.LETTER)
    outside = make_case(msk(2026, 3, 10, 9, 0), Channel.LETTER, forward_to="Роспотребнадзор")
    timers.on_case(inside)
    timers.on_case(outside)
    terms = {mid: {t.name.value for t in s.terms} for mid, s in ((s.message_id, s) for s in timers.states())}
    assert terms[inside.message_id] == {"registration", "resolution"}
    assert terms[outside.message_id] == {"registration", "forwarding", "resolution"}
    out = timers.on_event(make_event(outside, T.FORWARDED, msk(2026, 3, 12, 9, 0)))
    assert Counter(e.kind for e in out) == Counter({K.MET: 2, K.STOPPED: 1})


def test_restart_from_the_store_fires_each_step_once(policies, cal) -> None:  # type: ignore[no-untyped-def]
    store: dict[str, bytes] = {}
    first = SlaTimers(policies, cal, store)
    cases = [make_case(msk(2026, 3, 10, 9, 0) + timedelta(minutes=7 * i), Channel.INCIDENT) for i in range(20)]
    for c in cases:
        first.on_case(c)
    before = run_clock(first, msk(2026, 3, 10, 9), msk(2026, 3, 11, 10), timedelta(minutes=20))
    second = SlaTimers(policies, cal, dict(store))  # a new worker over the changelog-restored table
    assert second.rebuild() == 20
    after = run_clock(second, msk(2026, 3, 11, 10), msk(2026, 3, 25), timedelta(minutes=20))
    keys = [e.dedup_key for e in before + after]
    assert len(keys) == len(set(keys)) == 20 * 5


def test_serialisation_round_trip(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.LETTER, forward_to="МВД")
    timers.on_case(case)
    paused = timers.on_event(make_event(case, T.CLARIFICATION_REQUESTED, msk(2026, 3, 11, 9, 0)))
    in_flight = timers.store[case.message_id]
    assert loads(case.message_id, in_flight).outbox == [e.model_dump(mode="json", exclude_none=True) for e in paused]
    timers.confirm(paused)  # the broker has them: at rest the state carries no outbox
    raw = timers.store[case.message_id]
    state = loads(case.message_id, raw)
    assert dumps(state) == raw
    assert state.paused is not None and len(state.terms) == 3 and state.outbox == []
    assert len(raw) < 300


class CountingStore(MutableMapping[str, bytes]):
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.reads = 0

    def __getitem__(self, k: str) -> bytes:
        self.reads += 1
        return self.data[k]

    def __setitem__(self, k: str, v: bytes) -> None:
        self.data[k] = v

    def __delitem__(self, k: str) -> None:
        del self.data[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_tick_reads_only_due_cases(policies, cal) -> None:  # type: ignore[no-untyped-def]
    store = CountingStore()
    timers = SlaTimers(policies, cal, store)
    for i in range(2000):  # due in March (9 working hours)
        timers.on_case(make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT, source_id=f"late-{i}"))
    for i in range(3):  # due within the hour: 8 working hours... urgent: 4 working hours
        timers.on_case(make_case(msk(2026, 3, 2, 9, 0), Channel.INCIDENT, urgent=True, source_id=f"u-{i}"))
    store.reads = 0
    events = timers.tick(msk(2026, 3, 2, 11, 0))  # the urgent ones reach 50 % at 11:00
    assert len(events) == 3
    assert store.reads <= 2 * 3  # read when fired, read again when committed: due cases only


def test_event_between_collect_and_commit_is_not_overwritten(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT)
    timers.on_case(case)
    batch = timers.collect(msk(2026, 3, 10, 15, 0))  # 50 % of 9 working hours: 14:30
    assert [e.kind for e in batch.events] == [K.WARNING]
    # While the warning is being sent, the case is answered.
    assert [e.kind for e in timers.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 10, 15, 1)))] == [K.MET]
    timers.commit(batch)
    state = next(timers.states())
    assert state.closed and state.terms == []
    assert timers.tick(msk(2026, 4, 1)) == []


def test_abort_refires_the_same_events(timers: SlaTimers) -> None:
    case = make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT)
    timers.on_case(case)
    first = timers.collect(msk(2026, 3, 10, 15, 0))
    timers.abort(first)  # the send to Kafka failed
    again = timers.tick(msk(2026, 3, 10, 15, 0))
    assert [e.dedup_key for e in again] == [e.dedup_key for e in first.events] and again


def test_wiring_from_settings_uses_the_packaged_files() -> None:
    from sla.settings import SlaSettings
    from sla.wiring import make_timers

    t = make_timers(SlaSettings(work_hours="08:00-17:00"))
    case = make_case(msk(2026, 3, 10, 8, 0), Channel.INCIDENT)
    t.on_case(case)
    state = next(t.states())
    # 9 working hours of an 08:00–17:00 day without lunch end at 17:00 the same day.
    assert state.terms[0].deadline == int(msk(2026, 3, 10, 17, 0).timestamp())


def test_only_owned_partitions_fire(policies, cal) -> None:  # type: ignore[no-untyped-def]
    from kafkaio.partitioner import kafka_partition

    store: dict[str, bytes] = {}
    cases = [make_case(msk(2026, 3, 10, 9, 0), Channel.INCIDENT, source_id=f"own-{i}") for i in range(40)]
    mine = {0, 1}
    owner = SlaTimers(policies, cal, store, owns=lambda mid: kafka_partition(mid, 4) in mine)
    for c in cases:
        owner.on_case(c)
    expected = {c.message_id for c in cases if kafka_partition(c.message_id, 4) in mine}
    assert 0 < len(expected) < 40
    assert owner.rebuild() == len(expected)
    fired = owner.tick(msk(2026, 3, 10, 15, 0))
    assert {e.message_id for e in fired} == expected

"""A correction re-routes a case: its SLA moves to the new owner, its deadlines stay (sla/README.md)."""

from datetime import datetime, timedelta

from schemas import CaseEventType as T
from schemas import SlaEventKind as K
from schemas.channels import Channel
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.timers import SlaTimers
from tests.unit.sla.factories import make_case, make_event


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


def test_reclassified_moves_the_owner_and_keeps_the_deadline() -> None:
    timers = SlaTimers(load_policies(), WorkingCalendar())
    case = make_case(msk(2026, 3, 10, 10, 0), Channel.VK)  # housing, block 3
    timers.on_case(case)
    before = {t.name: t.deadline for t in timers._load(case.message_id).terms}  # type: ignore[union-attr]
    ev = make_event(
        case, T.RECLASSIFIED, msk(2026, 3, 10, 12, 0), category="roads", block=5, department="transport",
        settlement="dzhubgskoe", actor="Иванова", reason="дорога, не двор",
    )  # fmt: skip
    moved = timers.on_event(ev)
    assert moved and all(e.kind is K.MOVED and e.reason == "reclassified" for e in moved)
    assert {(e.block, e.department, e.settlement) for e in moved} == {(5, "transport", "dzhubgskoe")}
    after = {t.name: t.deadline for t in timers._load(case.message_id).terms}  # type: ignore[union-attr]
    assert after == before
    assert timers.on_event(ev) == []  # re-delivered: nothing again
    # the warnings and the breach that follow go to the new owner
    fired = []
    now = msk(2026, 3, 10, 12, 0)
    while now < msk(2026, 3, 20):
        fired += timers.tick(now)
        now += timedelta(minutes=30)
    assert fired and {(e.block, e.department) for e in fired} == {(5, "transport")}


def test_reclassified_after_the_answer_moves_nothing() -> None:
    timers = SlaTimers(load_policies(), WorkingCalendar())
    case = make_case(msk(2026, 3, 10, 10, 0), Channel.VK)
    timers.on_case(case)
    timers.on_event(make_event(case, T.ANSWERED, msk(2026, 3, 10, 11, 0)))
    assert timers.on_event(make_event(case, T.RECLASSIFIED, msk(2026, 3, 10, 12, 0), block=5)) == []

"""A small, hand-made set of cases and events (SYNTHETIC, written for these tests).

Times are Moscow local. Working hours 09–13, 14–18 on working days (sla.calendar). 31 Dec 2025
and 1–11 Jan 2026 are days off, so case A's clock stops across the New Year holidays.
Hand-computed working hours are in the comments and in EXPECTED.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from schemas import Case, CaseEvent, Classification, NormalizedMessage, Routing, SlaEvent
from schemas.events import CaseEventType, SlaEventKind

MSK = ZoneInfo("Europe/Moscow")


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK).astimezone(UTC)


@dataclass
class Spec:
    mid: str
    created: datetime
    settlement: str
    level: str
    department: str = "zhkh"
    block: int = 3
    kind: str = "complaint"
    author: str = ""
    category: str = "water"
    channel: str = "webform"
    text: str = "Нет воды"
    events: list[tuple[str, datetime, dict]] = field(default_factory=list)
    deadline: datetime | None = None
    breached: bool = False


SPECS = [
    # A: registered after 0.5 h; interim answer 12 Jan 10:00 = 1 h (30 Dec) + 1 h (12 Jan) = 2 h across
    # the holidays; resolved 13 Jan 15:00 = 1 + 8 + 5 = 14 h; rated 5; in time.
    Spec("A", msk(2025, 12, 30, 17, 0), "tuapsinskoe", "settlement", author="a1", events=[
        ("registered", msk(2025, 12, 30, 17, 30), {}),
        ("interim_answer", msk(2026, 1, 12, 10, 0), {}),
        ("resolved", msk(2026, 1, 13, 15, 0), {}),
        ("rated", msk(2026, 1, 14, 9, 0), {"rating": 5}),
    ], deadline=msk(2026, 1, 20, 18, 0),
        text="Звоните +7 (918) 123-45-67 или 8 918 765 43 21, пишите ivan.petrov@mail.ru"),
    # B: same author and category as A, 13 days later: a repeated complaint. Registered after 1 h;
    # answered 16 Jan 12:00 = 8+8+8+8+3 = 35 h; deadline 14 Jan 18:00, so 1 d 18 h late → 2 days.
    Spec("B", msk(2026, 1, 12, 9, 0), "tuapsinskoe", "settlement", author="a1", events=[
        ("registered", msk(2026, 1, 12, 10, 0), {}),
        ("answered", msk(2026, 1, 16, 12, 0), {}),
    ], deadline=msk(2026, 1, 14, 18, 0), breached=True),
    # C: interim answer only (1 h), deadline far ahead: open, not yet due.
    Spec("C", msk(2026, 1, 20, 10, 0), "tuapsinskoe", "settlement", author="a2", channel="vk", events=[
        ("registered", msk(2026, 1, 20, 10, 0), {}),
        ("interim_answer", msk(2026, 1, 20, 11, 0), {}),
    ], deadline=msk(2099, 1, 1, 18, 0)),
    # D: district level; resolved after 2 h, reopened, resolved again; rated 3.
    Spec("D", msk(2026, 1, 13, 14, 30), "georgievskoe", "district", author="a3", events=[
        ("registered", msk(2026, 1, 13, 14, 30), {}),
        ("resolved", msk(2026, 1, 13, 16, 30), {}),
        ("reopened", msk(2026, 1, 14, 10, 0), {}),
        ("resolved", msk(2026, 1, 15, 10, 0), {}),
        ("rated", msk(2026, 1, 15, 12, 0), {"rating": 3}),
    ], deadline=msk(2026, 1, 20, 18, 0)),
    # E: written after hours, registered next morning (0.5 h), merged into D: a message, not a case.
    Spec("E", msk(2026, 1, 13, 20, 0), "georgievskoe", "district", kind="question", author="a3", events=[
        ("registered", msk(2026, 1, 14, 9, 30), {}),
        ("merged", msk(2026, 1, 14, 9, 40), {"merged_into": "D"}),
    ]),
    # F: resolved at 13:30, inside the lunch break: 1 working hour; rated 4.
    Spec("F", msk(2026, 1, 15, 12, 0), "shepsinskoe", "settlement", author="a5", department="transport",
         block=5, category="roads", events=[
        ("registered", msk(2026, 1, 15, 12, 0), {}),
        ("resolved", msk(2026, 1, 15, 13, 30), {}),
        ("rated", msk(2026, 1, 16, 9, 0), {"rating": 4}),
    ], deadline=msk(2026, 1, 22, 18, 0)),
    # G: Friday 17:00 → Monday 10:00 = 2 h; answered, not resolved; rated 2.
    Spec("G", msk(2026, 1, 16, 17, 0), "shepsinskoe", "settlement", author="a4", department="transport",
         block=5, category="roads", channel="vk", events=[
        ("registered", msk(2026, 1, 16, 17, 0), {}),
        ("answered", msk(2026, 1, 19, 10, 0), {}),
        ("rated", msk(2026, 1, 19, 12, 0), {"rating": 2}),
    ], deadline=msk(2026, 1, 23, 18, 0)),
    # H: nobody could tell the settlement or the department; no events yet.
    Spec("H", msk(2026, 1, 21, 11, 0), "unresolved", "district", department="unresolved", block=0,
         kind="question", channel="email"),
]  # fmt: skip

# Working hours by hand, per case: (registration, first response, final answer).
HOURS = {
    "A": (0.5, 2.0, 14.0),
    "B": (1.0, 35.0, 35.0),
    "C": (0.0, 1.0, None),
    "D": (0.0, 2.0, 2.0),
    "E": (0.5, None, None),
    "F": (0.0, 1.0, 1.0),
    "G": (0.0, 2.0, 2.0),
    "H": (None, None, None),
}


def case_of(s: Spec, version_shift: int = 0, **routing: object) -> Case:
    msg = NormalizedMessage(
        message_id=s.mid, channel=s.channel, source_id=s.mid, created_at=s.created, fetched_at=s.created,
        normalized_at=s.created, text=s.text, author_id=s.author or None, address="ул. Ленина, 1",
        lat=44.1, lon=39.07,
    )  # fmt: skip
    r = {"block": s.block, "department": s.department, "settlement": s.settlement, "level": s.level}
    r.update(routing)
    enriched = s.created.replace(second=version_shift % 60)
    return Case(
        message=msg,
        classification=Classification(category=s.category, kind=s.kind, cluster_id=None),
        routing=Routing(**r),
        enriched_at=enriched,
    )


def events_of(s: Spec) -> list[CaseEvent]:
    return [
        CaseEvent(event_id=f"{s.mid}-{i}", message_id=s.mid, type=CaseEventType(t), at=at, **extra)
        for i, (t, at, extra) in enumerate(s.events)
    ]


def sla_of(s: Spec) -> list[SlaEvent]:
    if s.deadline is None:
        return []
    out = [SlaEvent(dedup_key=f"{s.mid}-warn", message_id=s.mid, kind=SlaEventKind.WARNING, term="resolution",
                    deadline=s.deadline, share=0.5, at=s.created, settlement=s.settlement)]  # fmt: skip
    if s.breached:
        out.append(SlaEvent(dedup_key=f"{s.mid}-breach", message_id=s.mid, kind=SlaEventKind.BREACH,
                            term="resolution", deadline=s.deadline, share=1.0, at=s.deadline))  # fmt: skip
    return out

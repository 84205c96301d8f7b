"""Builders of synthetic cases and events for the SLA and notification tests (made up, not real data)."""

from datetime import datetime
from itertools import count

from schemas import Case, CaseEvent, CaseEventType, Classification, NormalizedMessage, Routing
from schemas.channels import Channel
from schemas.ids import message_id_for

_ids = count(1)


def make_case(
    created: datetime,
    channel: Channel = Channel.INCIDENT,
    kind: str = "complaint",
    urgent: bool = False,
    block: int = 3,
    department: str = "housing",
    settlement: str = "tuapsinskoe",
    forward_to: str | None = None,
    source_id: str | None = None,
) -> Case:
    sid = source_id or f"synthetic-{next(_ids)}"
    msg = NormalizedMessage(
        message_id=message_id_for(channel.value, sid),
        channel=channel,
        source_id=sid,
        created_at=created,
        fetched_at=created,
        normalized_at=created,
        text="Синтетическое тестовое сообщение: не вывозят мусор во дворе",
    )
    return Case(
        message=msg,
        classification=Classification(category="waste", kind=kind, urgent=urgent),
        routing=Routing(block=block, department=department, settlement=settlement, forward_to=forward_to),
        enriched_at=created,
    )


def make_event(case: Case, type_: CaseEventType, at: datetime, event_id: str | None = None, **kw: object) -> CaseEvent:
    return CaseEvent(
        event_id=event_id or f"ev-{next(_ids)}",
        message_id=case.message_id,
        type=type_,
        at=at,
        **kw,  # type: ignore[arg-type]
    )

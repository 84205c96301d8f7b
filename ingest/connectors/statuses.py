"""Status back-flow from exports and pushes: a row's status, answer and rating → CaseEvents."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from ingest.connectors.events import make_event as _make_event
from ingest.connectors.tables import parse_local_datetime
from schemas import CaseEvent, CaseEventType

# Status words as Russian registries and portals show them (lower case, ё→е); first match wins,
# so the more specific phrases come first.
STATUS_WORDS: list[tuple[str, CaseEventType]] = [
    (r"повторн|переоткры|возвращ\w* на (доработку|повторное)|возобновл|reopen", CaseEventType.REOPENED),
    (r"продлен|extended", CaseEventType.EXTENDED),
    (r"уточнен|запрос\w* (доп|информ)|clarification", CaseEventType.CLARIFICATION_REQUESTED),
    (r"перенаправ|по компетенции|переадрес|передан\w* в|forwarded", CaseEventType.FORWARDED),
    (r"отклон|без рассмотрения|без ответа|отказ|rejected", CaseEventType.REJECTED),
    (r"отозван|отменен|cancel", CaseEventType.CANCELLED),
    (r"промежуточн|interim", CaseEventType.INTERIM_ANSWER),
    (r"решен|выполнен|исполнен|устранен|resolved|closed|закрыт", CaseEventType.RESOLVED),
    (r"ответ|рассмотрен|answered|дан ответ", CaseEventType.ANSWERED),
]
QUIET = ("зарегистр", "на рассмотрении", "в работе", "новое", "новый", "принят", "на модерации", "open")


def status_type(status: Any) -> CaseEventType | None:
    """The event a status word stands for; None for statuses that are not events (new, in work)."""
    if status in (None, ""):
        return None
    text = str(status).strip().lower().replace("ё", "е")
    if any(text.startswith(q) for q in QUIET):
        return None
    for pattern, kind in STATUS_WORDS:
        if re.search(pattern, text):
            return kind
    return None


def parse_rating(value: Any) -> int | None:
    if value in (None, ""):
        return None
    match = re.search(r"[1-5]", str(value))
    if match is None or len(re.sub(r"\D", "", str(value).split(".")[0].split(",")[0])) != 1:
        return None
    return int(match.group(0))


def row_events(
    channel: str,
    source_id: str,
    *,
    status: Any = None,
    status_at: Any = None,
    answer: Any = None,
    answer_at: Any = None,
    rating: Any = None,
    rated_at: Any = None,
    deadline: Any = None,
    actor: Any = None,
) -> list[CaseEvent]:
    """Events a row proves: an event without a usable date of its own is not invented (it is skipped).

    A date outside the window of schemas/times.py (a typo like 31.12.9999) is not usable either.
    """
    events: list[CaseEvent | None] = []

    def make_event(channel: str, source_id: str, kind: CaseEventType, at: datetime, **fields: Any) -> CaseEvent | None:
        try:
            return _make_event(channel, source_id, kind, at, **fields)
        except ValidationError:
            return None

    answered_at = parse_local_datetime(answer_at)
    kind = status_type(status)
    at = parse_local_datetime(status_at) or answered_at
    actor_s = str(actor).strip() if actor not in (None, "") else None
    if kind is not None and at is not None and kind not in (CaseEventType.ANSWERED, CaseEventType.RESOLVED):
        new_deadline = parse_local_datetime(deadline) if kind is CaseEventType.EXTENDED else None
        events.append(
            make_event(channel, source_id, kind, at, reason=str(status), new_deadline=new_deadline, actor=actor_s)
        )
    if answered_at is not None and (answer not in (None, "") or kind is not None):
        comment = str(answer)[:2000] if answer not in (None, "") else None
        events.append(
            make_event(channel, source_id, CaseEventType.ANSWERED, answered_at, comment=comment, actor=actor_s)
        )
    if kind is CaseEventType.RESOLVED and at is not None:
        events.append(make_event(channel, source_id, CaseEventType.RESOLVED, at, reason=str(status), actor=actor_s))
    stars = parse_rating(rating)
    when_rated: datetime | None = parse_local_datetime(rated_at) or answered_at
    if stars is not None and when_rated is not None:
        events.append(make_event(channel, source_id, CaseEventType.RATED, when_rated, rating=stars))
    return [e for e in events if e is not None]

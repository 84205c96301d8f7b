"""Records → rows, one function per table; column lists are the single source for inserts."""

from datetime import datetime
from typing import Any

from schemas import Case, CaseEvent, DeadLetter, NotificationRecord, SlaEvent

CASE_COLUMNS = [
    "message_id", "channel", "source_id", "source_url", "created_at", "fetched_at", "enriched_at",
    "title", "text", "author_id", "lat", "lon", "address",
    "category", "category_name", "kind", "sentiment", "urgent", "urgency_reasons", "conflict",
    "confidence", "needs_review", "cluster_id", "model_version",
    "block", "block_name", "department", "department_name", "settlement", "settlement_name",
    "locality", "level", "forward_to", "settlement_evidence", "version",
]  # fmt: skip


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def case_row(case: Case) -> list[Any]:
    m, c, r = case.message, case.classification, case.routing
    return [
        m.message_id, m.channel.value, m.source_id, m.source_url or "", m.created_at, m.fetched_at,
        case.enriched_at, m.title or "", m.text, m.author_id or "", m.lat, m.lon, m.address or "",
        c.category, c.category_name, c.kind, c.sentiment, int(c.urgent), c.urgency_reasons, c.conflict,
        c.confidence, int(c.needs_review), c.cluster_id or "", c.model_version,
        r.block, r.block_name, r.department, r.department_name, r.settlement, r.settlement_name,
        r.locality or "", r.level, r.forward_to or "", r.settlement_evidence or "",
        _ms(case.enriched_at),
    ]  # fmt: skip


DEAD_LETTER_COLUMNS = ["at", "stage", "reason", "error", "topic", "partition", "offset", "key", "original"]


def dead_letter_row(d: DeadLetter) -> list[Any]:
    return [d.at, d.stage, d.reason, d.error, d.topic, d.partition, d.offset, d.key or "", d.original()]


CASE_EVENT_COLUMNS = [
    "event_id", "message_id", "type", "at", "actor", "department", "settlement", "new_deadline",
    "reason", "rating", "comment", "merged_into", "term",
]  # fmt: skip


def case_event_row(e: CaseEvent) -> list[Any]:
    return [
        e.event_id, e.message_id, e.type.value, e.at, e.actor or "", e.department or "", e.settlement or "",
        e.new_deadline, e.reason or "", e.rating, e.comment or "", e.merged_into or "", e.term or "",
    ]  # fmt: skip


SLA_EVENT_COLUMNS = [
    "dedup_key", "message_id", "kind", "term", "deadline", "share", "level", "block", "department",
    "settlement", "at",
]  # fmt: skip


def sla_event_row(e: SlaEvent) -> list[Any]:
    return [
        e.dedup_key, e.message_id, e.kind.value, e.term, e.deadline, e.share, e.level, e.block,
        e.department, e.settlement, e.at,
    ]  # fmt: skip


NOTIFICATION_COLUMNS = [
    "notification_id", "message_id", "kind", "channel", "recipient", "recipient_role", "block", "department",
    "settlement", "level", "subject", "status", "error", "at",
]  # fmt: skip


def notification_row(n: NotificationRecord) -> list[Any]:
    return [
        n.notification_id, n.message_id, n.kind, n.channel, n.recipient, n.recipient_role, n.block, n.department,
        n.settlement, n.level, n.subject, n.status, n.error, n.at,
    ]  # fmt: skip

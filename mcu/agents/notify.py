"""Overdue notifications: every SLA event to the people the contacts route it to."""

import logging
from datetime import UTC, datetime

from pydantic import ValidationError

from mcu.app import app, dlq_topic, notifications_topic, settings, sla_events_topic
from mcu.dead_letters import send_dead_letter
from mcu.metrics import DEAD_LETTERS, NOTIFICATIONS_FAILED, NOTIFICATIONS_SENT, STAGE_PROCESSED
from schemas import DeadLetter, NotificationRecord, SlaEvent
from sinks.notify.wiring import make_notifier

log = logging.getLogger(__name__)
STAGE = "notify"

# Deliveries already made survive a restart here, so a re-delivered SLA event is not sent twice.
seen = app.Table("notify_seen", key_type=str, value_type=float, partitions=settings.topics.partitions,
                 help="dedup keys of delivered notifications")  # fmt: skip


async def _dead_letter(letter: DeadLetter) -> None:
    DEAD_LETTERS.labels(stage=letter.stage, reason=letter.reason).inc()
    await dlq_topic.send(key=letter.key.encode() if letter.key else None, value=letter.model_dump_json().encode())


def _record(e: SlaEvent, address_key: str, status: str, error: str = "") -> NotificationRecord:
    channel, _, target = address_key.partition(":")
    return NotificationRecord(
        notification_id=f"{e.dedup_key}|{address_key}", message_id=e.message_id, kind=e.kind.value,
        channel=channel, recipient=target, block=e.block, department=e.department, settlement=e.settlement,
        level=e.level, status=status, error=error, at=datetime.now(UTC),
    )  # fmt: skip


@app.agent(sla_events_topic, name="notify")
async def notify_agent(stream):  # type: ignore[no-untyped-def]
    if settings.notify.contacts_file is None:
        # The example contacts are made up: never mail them. Without a contacts file the events
        # still reach ClickHouse and the digest; people are told once ops set MCU_CONTACTS_FILE.
        log.warning("MCU_CONTACTS_FILE is not set: SLA notifications are not sent")
        async for _event in stream:
            pass
        return
    notifier = make_notifier(settings.notify, dead_letter=_dead_letter, seen=seen)
    async for event in stream.events():
        try:
            e = SlaEvent.model_validate_json(event.value)
        except ValidationError as exc:
            await send_dead_letter(event, STAGE, "validation", str(exc)[:2000])
            continue
        if e.kind.value not in ("warning", "breach", "escalation"):
            continue  # moves, starts, pauses are for the store, not for people
        report = await notifier.notify(e)
        records = [_record(e, k, "sent") for k in report.sent]
        records += [_record(e, k, "unreachable", "no sender configured") for k in report.unreachable]
        records += [_record(e, d.error.split(": ", 1)[0], "dead", d.error) for d in report.dead]
        for r in records:
            await notifications_topic.send(key=r.message_id.encode(), value=r.model_dump_json().encode())
            (NOTIFICATIONS_SENT if r.status == "sent" else NOTIFICATIONS_FAILED).labels(channel=r.channel).inc()
        STAGE_PROCESSED.labels(stage=STAGE).inc()

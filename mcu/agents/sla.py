"""SLA timers: state in a Faust table with its changelog, fired by the worker that owns the partition."""

import asyncio
import json
import logging
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from kafkaio.partitioner import kafka_partition
from mcu.agents.stage import Deliveries, StageSensor, hold, release
from mcu.app import app, case_events_topic, cases_topic, settings, sla_events_topic
from mcu.dead_letters import apply_or_dead_letter, send_dead_letter_value
from mcu.metrics import SLA_EVENTS, SLA_OUTBOX, SLA_PENDING, SLA_PENDING_DROPPED
from schemas import Case, CaseEvent, SlaEvent
from schemas.times import EARLIEST
from sinks.notify.digest import digest_items
from sinks.notify.wiring import make_notifier
from sla.tick import fire_due
from sla.timers import DROP_AGE, DROP_REASONS, Refused, event_digest
from sla.wiring import make_timers

log = logging.getLogger(__name__)
STAGE = "sla"
TICK_SECONDS = 1.0

# Keys are raw message ids, so the changelog partition of a case equals its topic partition
# (murmur2 in every client): recovery hands each worker exactly the timers of its partitions.
# use_partitioner lets the tick, which runs outside any stream, write the table.
# Faust 0.15 takes a table's serializers from its types (JSON for str) and makes its changelog
# topic when the table is declared; both must be raw here, so the changelog is declared by hand.
changelog = app.topic(
    f"{settings.service.app_id}-sla_timers-changelog",
    key_type=str,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.topics.partitions,
    compacting=True,
    acks=False,
    internal=True,
    maxsize=131_072,
    allow_empty=True,
)
table = app.Table(
    "sla_timers",
    key_type=str,
    value_type=bytes,
    partitions=settings.topics.partitions,
    use_partitioner=True,
    changelog_topic=changelog,
    help="SLA timer state per case (sla/timers.py), keyed by message id",
)
table.key_serializer = table.data.key_serializer = "raw"
table.value_serializer = table.data.value_serializer = "raw"
timers = make_timers(settings.sla, store=table)
# Every year a case of the accepted time window can touch, built now (~0.1 s) rather than on first
# use inside the event loop (sla/calendar.py).
timers.rules.calendar.warm(EARLIEST.year, datetime.now(UTC).year + 2)
_active: set[int] = set()
timers.owns = lambda message_id: kafka_partition(message_id, settings.topics.partitions) in _active


async def _emit(events: list[SlaEvent], *, confirmed: bool = False) -> None:
    """Send the events; with ``confirmed``, return only once the broker has every one of them."""
    pending = []
    for e in events:
        pending.append(await sla_events_topic.send(key=e.message_id.encode(), value=e.model_dump_json().encode()))
        SLA_EVENTS.labels(kind=e.kind.value, block=str(e.block)).inc()
    if confirmed and pending:
        await asyncio.gather(*pending)


async def _send_outbox(events: list[SlaEvent]) -> None:
    """Send events the timers keep in their cases' outboxes; they leave it once the broker has them.

    Until then a restarted worker, or the next tick, sends them again with the same dedup keys.
    """
    if not events:
        return
    try:
        await _emit(events, confirmed=True)
    except Exception:
        timers.retry({e.message_id for e in events})
        log.exception("SLA: sending %d events failed; they stay in the outbox and go again next tick", len(events))
    else:
        if app.rebalancing:  # the cases may be another worker's by now: it finds the outbox itself
            timers.retry({e.message_id for e in events})
        else:
            timers.confirm(events)
    SLA_OUTBOX.set(timers.unsent_cases)


_kill_marker = (
    settings.service.test_kill_before_sla_send.encode() if settings.service.test_kill_before_sla_send else None
)
if _kill_marker:
    log.warning("TEST HOOK MCU_TEST_KILL_BEFORE_SLA_SEND is on: a record containing it kills the worker")


sensor = StageSensor(STAGE)


def _agent(topic, name: str, model: type[BaseModel], apply) -> None:  # type: ignore[no-untyped-def]
    async def agent(stream):  # type: ignore[no-untyped-def]
        async for batch in stream.take_events(
            settings.service.stage_batch_size, within=settings.service.stage_batch_seconds
        ):
            hold(batch)
            out = Deliveries(STAGE)
            emitted: list[SlaEvent] = []
            with sensor.batch(len(batch)) as counted:
                for event in batch:
                    events = await apply_or_dead_letter(
                        event, STAGE, lambda value: apply(model.model_validate_json(value)), out
                    )
                    if events is None:
                        continue
                    emitted += events
                    counted.processed += 1
                    if _kill_marker and events and _kill_marker in event.value:
                        from mcu.test_hooks import die_before_sla_send

                        await die_before_sla_send(app, events[0].message_id)
                # One confirmation for the batch; what fails stays in the cases' outboxes (the tick re-sends).
                await _send_outbox(emitted)
            await out.confirm()
            release(batch)

    agent.__name__ = name
    app.agent(topic, name=name)(agent)


def _on_event(event: CaseEvent) -> list[SlaEvent]:
    try:
        return timers.on_event(event)
    except Refused as exc:  # dead-lettered by apply_or_dead_letter with exc.dead_letter_reason
        if exc.reason in DROP_REASONS:
            SLA_PENDING_DROPPED.labels(reason=exc.reason).inc()
        raise
    finally:
        SLA_PENDING.set(timers.pending_events)


_agent(cases_topic, "sla_cases", Case, timers.on_case)
_agent(case_events_topic, "sla_case_events", CaseEvent, _on_event)


async def _expire_waiting(now: datetime) -> None:
    """Events that waited longer than MCU_SLA_PENDING_MAX_AGE_HOURS for their case → dead letters."""
    for expired in timers.take_expired(now):
        try:
            for ev in expired.events:
                await send_dead_letter_value(
                    json.dumps(ev, ensure_ascii=False).encode(),
                    expired.message_id,
                    case_events_topic.get_topic_name(),
                    STAGE,
                    "sla_pending_expired",
                    f"no case {expired.message_id} arrived within {settings.sla.pending_max_age_hours} h",
                    offset=-(int.from_bytes(event_digest(str(ev.get("event_id"))), "big") >> 1),
                )
        except Exception:
            timers.keep(expired)  # the same events, next tick
            log.exception("SLA: dead-lettering the expired events of %s failed", expired.message_id)
            continue
        if timers.drop(expired):
            SLA_PENDING_DROPPED.labels(reason=DROP_AGE).inc(len(expired.events))
    SLA_PENDING.set(timers.pending_events)


def _owned_partitions() -> set[int]:
    cases = cases_topic.get_topic_name()
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == cases}


async def sla_tick() -> None:
    """Fire due timers of this worker's partitions; cost follows due timers, not open ones, and is
    bounded per tick (MCU_SLA_TICK_MAX_CASES, sla/tick.py)."""
    if app.rebalancing or app.tables.recovery.in_recovery or not app.tables.recovery.completed.is_set():
        return
    owned = _owned_partitions()
    if owned != _active:
        _active.clear()
        _active.update(owned)
        log.info("SLA: owning partitions %s, %d open timers indexed", sorted(owned), timers.rebuild())
    now = datetime.now(UTC)
    await _expire_waiting(now)
    await asyncio.sleep(0)
    # Events of a state change whose send failed or was cut short by a crash (found by rebuild).
    await _send_outbox(timers.take_unsent())
    await asyncio.sleep(0)
    try:
        # The table must not record a step as fired before its event is on the broker: a worker
        # killed in between would otherwise restart believing the warning was sent.
        report = await fire_due(timers, now, partial(_emit, confirmed=True), max_cases=settings.sla.tick_max_cases)
    except Exception:
        log.exception("SLA: sending due events failed; they fire again next tick")
        return
    if report.more_due:
        log.info("SLA: %d cases fired this tick, more are due: the next ticks go on", report.cases)


@app.task
async def sla_timer_loop() -> None:
    """Ticks that cannot overlap: the next one starts TICK_SECONDS after the previous one ended
    (an app.timer fires on a fixed interval and warned 'Timer sla_tick is overlapping' under load)."""
    while True:
        try:
            await sla_tick()
        except Exception:  # one failed tick must not end the timers for good
            log.exception("SLA: tick failed")
        await asyncio.sleep(TICK_SECONDS)


@app.crontab(settings.sla.digest_cron, timezone=ZoneInfo("Europe/Moscow"))
async def sla_daily_digest() -> None:
    """Each block head's digest of overdue and due-within-a-day cases.

    Timers live with the partitions, so with several SLA workers each sends the part of its own
    partitions (nothing is missed; a head may get one message per worker).
    """
    if settings.notify.contacts_file is None or not _active:
        return
    now = datetime.now(UTC)
    notifier = make_notifier(settings.notify)
    try:
        for block, items in sorted(digest_items(timers, now).items()):
            report = await notifier.send_digest(block, items, now)
            log.info("SLA digest for block %s: %d cases, sent to %d", block, len(items), len(report.sent))
    finally:
        await notifier.aclose()

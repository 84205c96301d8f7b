"""SLA timers: state per case in a changelog-backed table, fired by the worker that owns the partition.

`cases` and `case_events` are read together, in whole fetches, by one consumer group
(``<MCU_APP_ID>-sla``, kafkaio/batch_consumer.py) whose range assignment gives a worker the same
partition numbers of both topics: both are keyed by message id, so a case and its events meet in
one worker. The timers' state lives in memory and in the compacted topic
``<MCU_APP_ID>-sla_timers-changelog`` (kafkaio/changelog_table.py): restored when partitions are
assigned, before any of their records is handled; forgotten when they are revoked. A batch's input
is committed only after its state writes, SLA events and dead letters are all on the brokers.
"""

import asyncio
import json
import logging
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

from aiokafka import TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.structs import ConsumerRecord

from kafkaio.batch_consumer import BatchConsumer
from kafkaio.changelog_table import ChangelogTable
from mcu.agents.stage import Deliveries, RecordEvent, StageSensor, batch_consumer, declare, run_batches
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

# The name Faust's table used, so a deployment keeps its timers across the change of engine; keys are
# message ids (raw bytes), values sla.state's encoding, deletes tombstones: the same records.
changelog = app.topic(
    f"{settings.service.app_id}-sla_timers-changelog",
    key_type=str,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.topics.partitions,
    compacting=True,
    internal=True,
)
table = ChangelogTable(changelog.get_topic_name(), settings.topics.partitions)
timers = make_timers(settings.sla, store=table)
# Every year a case of the accepted time window can touch, built now (~0.1 s) rather than on first
# use inside the event loop (sla/calendar.py).
timers.rules.calendar.warm(EARLIEST.year, datetime.now(UTC).year + 2)
timers.owns = table.__contains__  # the table holds exactly the keys of the partitions owned here
# Held while timers change state and their changelog writes are taken, so a tick cannot take (and
# confirm on its own) the writes of a batch whose input would then be committed without them.
_state = asyncio.Lock()


async def _send_changelog(out: Deliveries) -> None:
    """The table's pending writes to the producer, now: called under ``_state``, so the writes of a
    batch and of a tick reach the changelog in the order they were made (the last one wins)."""
    for key, value in table.take_writes():
        out.send(changelog, key.encode(), value)
    await out.hand_over()


def _event_records(events: list[SlaEvent]) -> Iterator[tuple[bytes, bytes]]:
    """Key and value of each SLA event; counted in mcu_sla_events_total once the caller's send of it
    returned (the generator resumes only then), as it was counted before."""
    for e in events:
        yield e.message_id.encode(), e.model_dump_json().encode()
        SLA_EVENTS.labels(kind=e.kind.value, block=str(e.block)).inc()


async def _emit(events: list[SlaEvent], *, confirmed: bool = False) -> None:
    """Send the events; with ``confirmed``, return only once the broker has every one of them."""
    pending = [await sla_events_topic.send(key=key, value=value) for key, value in _event_records(events)]
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
        timers.confirm(events)  # a case no longer owned here is skipped: its new owner has the outbox
    SLA_OUTBOX.set(timers.unsent_cases)


_kill_marker = (
    settings.service.test_kill_before_sla_send.encode() if settings.service.test_kill_before_sla_send else None
)
if _kill_marker:
    log.warning("TEST HOOK MCU_TEST_KILL_BEFORE_SLA_SEND is on: a record containing it kills the worker")


sensor = StageSensor(STAGE)
_CASES = cases_topic.get_topic_name()


async def handle(records: list[ConsumerRecord], _generation: int) -> Awaitable[None]:
    """One fetch of cases and case events: timers moved, their state and events sent; returns the
    confirmation of everything sent (the consumer commits the fetch after it)."""
    out = Deliveries(STAGE, producer=app.producer)
    emitted: list[SlaEvent] = []
    killed_by: str | None = None
    async with _state:
        with sensor.batch(len(records)) as counted:
            for r in records:
                apply = _apply_case if r.topic == _CASES else _apply_event
                events = await apply_or_dead_letter(RecordEvent(r), STAGE, apply, out)  # type: ignore[arg-type]
                if events is None:
                    continue
                emitted += events
                counted.processed += 1
                if _kill_marker and events and _kill_marker in r.value:
                    killed_by = events[0].message_id
        await _send_changelog(out)
    if killed_by is not None:
        from mcu.test_hooks import die_before_sla_send

        await out.confirm()  # the state change is on the broker; its events are not
        await die_before_sla_send(app, killed_by)
    for key, value in _event_records(emitted):
        out.send(sla_events_topic, key, value)
    await out.hand_over()
    return _confirm(out, emitted)


def _apply_case(value: bytes) -> list[SlaEvent]:
    return timers.on_case(Case.model_validate_json(value))


def _apply_event(value: bytes) -> list[SlaEvent]:
    return _on_event(CaseEvent.model_validate_json(value))


async def _confirm(out: Deliveries, emitted: list[SlaEvent]) -> None:
    await out.confirm()
    if emitted:  # on the brokers: out of the cases' outboxes (that state change goes with a later batch)
        timers.confirm(emitted)
        SLA_OUTBOX.set(timers.unsent_cases)


def _on_event(event: CaseEvent) -> list[SlaEvent]:
    try:
        return timers.on_event(event)
    except Refused as exc:  # dead-lettered by apply_or_dead_letter with exc.dead_letter_reason
        if exc.reason in DROP_REASONS:
            SLA_PENDING_DROPPED.labels(reason=exc.reason).inc()
        raise
    finally:
        SLA_PENDING.set(timers.pending_events)


async def _take_over(assigned: set[TopicPartition]) -> None:
    partitions = {tp.partition for tp in assigned}
    await table.restore(settings.kafka, partitions)
    log.info("SLA: owning partitions %s, %d open timers indexed", sorted(table.owned), timers.rebuild())


async def _let_go(revoked: set[TopicPartition]) -> None:
    # The revoked partitions' batches are confirmed and committed by now (kafkaio/batch_consumer.py).
    async with _state:
        table.drop({tp.partition for tp in revoked})
        timers.rebuild()


def consumer() -> BatchConsumer:
    # A new member (the first, or one replacing a consumer that failed) owns nothing yet: what the
    # table held may have been written to by another worker since.
    table.drop(set(table.owned))
    timers.rebuild()
    s = settings
    return batch_consumer(
        s.kafka,
        s.service,
        [_CASES, case_events_topic.get_topic_name()],
        STAGE,
        max_records=s.service.stage_batch_size,
        fetch_wait=s.service.stage_batch_seconds,
        # Range assignment gives a member the same partition numbers of both topics (co-partitioned).
        assignors=(RangePartitionAssignor,),
        on_assigned=_take_over,
        on_revoked=_let_go,
    )


@app.task
async def sla_batches() -> None:
    # The pipeline's topics were created before the worker consumes (kafkaio/topic_admin.py
    # ensure_topics); the timers' changelog is this stage's own.
    await declare(changelog)
    await run_batches(STAGE, consumer, handle, settings.service.test_drop_marker)


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


async def _flush_state() -> None:
    """Put the tick's state changes (steps fired, outboxes emptied, waits expired) on the changelog."""
    out = Deliveries(STAGE, producer=app.producer)
    async with _state:
        await _send_changelog(out)
    await out.confirm()


async def sla_tick() -> None:
    """Fire due timers of this worker's partitions; cost follows due timers, not open ones, and is
    bounded per tick (MCU_SLA_TICK_MAX_CASES, sla/tick.py)."""
    if not table.owned:  # nothing assigned yet, or still restoring
        return
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
    finally:
        await _flush_state()
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
    if settings.notify.contacts_file is None or not table.owned:
        return
    now = datetime.now(UTC)
    notifier = make_notifier(settings.notify)
    try:
        for block, items in sorted(digest_items(timers, now).items()):
            report = await notifier.send_digest(block, items, now)
            log.info("SLA digest for block %s: %d cases, sent to %d", block, len(items), len(report.sent))
    finally:
        await notifier.aclose()

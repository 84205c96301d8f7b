"""ClickHouse sinks: validate, write through ClickHouseSink, dead-letter what the store refuses,
and only then let the offsets be committed. The batching rules live in sinks/clickhouse/sink.py;
delivery in mcu/agents/stage.py; fetching and committing in kafkaio/batch_consumer.py (each table
its own consumer group, ``<MCU_APP_ID>-sink-<table>``)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord
from faust.types import EventT, TopicT
from pydantic import BaseModel, ValidationError

from kafkaio.batch_consumer import BatchConsumer
from mcu.agents.stage import Deliveries, RecordEvent, StageSensor, batch_consumer, run_batches
from mcu.app import app, case_events_topic, cases_topic, dlq_topic, notifications_topic, settings, sla_events_topic
from mcu.corrections import apply_stored_events
from mcu.dead_letters import send_dead_letter
from mcu.metrics import (
    INGEST_TO_SINK,
    SINK_FAILURES,
    SINK_LAST_SUCCESS,
    SINK_REJECTED,
    SINK_ROWS,
)
from mcu.store import store
from schemas import Case, CaseEvent, DeadLetter, NotificationRecord, SlaEvent
from schemas.times import BAD_TIME, is_bad_time
from sinks.clickhouse import rows
from sinks.clickhouse.client import mask_secrets
from sinks.clickhouse.sink import ClickHouseSink, DeliveryReport, RetryableInsertError, SinkRow

log = logging.getLogger(__name__)
STAGE = "sink"
STORE_REJECTED = "store_rejected"
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class SinkSpec:
    topic: TopicT
    table: str
    columns: list[str]
    model: type[BaseModel]
    to_row: Callable[[Any], list[Any]]
    fetched_at: Callable[[Any], datetime | None] = lambda _record: None


SPECS = [
    SinkSpec(cases_topic, "cases", rows.CASE_COLUMNS, Case, rows.case_row, lambda c: c.message.fetched_at),
    SinkSpec(dlq_topic, "dead_letters", rows.DEAD_LETTER_COLUMNS, DeadLetter, rows.dead_letter_row),
    SinkSpec(case_events_topic, "case_events", rows.CASE_EVENT_COLUMNS, CaseEvent, rows.case_event_row),
    SinkSpec(sla_events_topic, "sla_events", rows.SLA_EVENT_COLUMNS, SlaEvent, rows.sla_event_row),
    SinkSpec(
        notifications_topic, "notifications", rows.NOTIFICATION_COLUMNS, NotificationRecord, rows.notification_row
    ),
]


def _source(e: EventT) -> tuple[str, int, int]:
    return (e.message.topic, e.message.partition, e.message.offset)


async def _write_until_done(sink: ClickHouseSink, batch: list[SinkRow]) -> DeliveryReport:
    # Retrying forever is deliberate: giving up would mean acking rows that were never stored.
    # Only errors that a retry may cure get here; rows the server refuses come back in the report.
    # Ops see a stall through mcu_sink_insert_failures_total and the last-success gauge.
    delay = 0.5
    while True:
        try:
            return await store.call(sink.write, batch)
        except Exception as exc:  # RetryableInsertError, or the store cannot even be opened
            SINK_FAILURES.labels(table=sink.table).inc()
            why = exc.error.describe() if isinstance(exc, RetryableInsertError) else f"{type(exc).__name__}: {exc}"
            log.warning("insert into %s failed (%s); retrying in %.1fs", sink.table, mask_secrets(why), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


sensor = StageSensor(STAGE)


async def _rows(
    spec: SinkSpec, events: list[EventT], out: Deliveries
) -> tuple[list[SinkRow], dict[tuple[str, int, int], tuple[EventT, datetime | None]], list[tuple[EventT, Any]]]:
    """One validation per record (from its bytes, once); what does not validate is a dead letter."""
    batch: list[SinkRow] = []
    by_source: dict[tuple[str, int, int], tuple[EventT, datetime | None]] = {}
    records: list[tuple[EventT, Any]] = []
    for e in events:
        try:
            record = spec.model.model_validate_json(e.value)
            batch.append(SinkRow(_source(e), spec.to_row(record)))
        except (ValidationError, ValueError, TypeError) as exc:
            if spec.table == "dead_letters":
                log.error("unreadable dead letter at %s:%s dropped from the store: %s",
                          e.message.topic, e.message.offset, exc)  # fmt: skip
            else:
                # a case event from outside the time window is bad_time here too, as at the SLA stage
                bad_time = isinstance(exc, ValidationError) and is_bad_time(exc.errors())
                await send_dead_letter(e, STAGE, BAD_TIME if bad_time else "validation", str(exc)[:2000], out)
            continue
        by_source[_source(e)] = (e, spec.fetched_at(record))
        records.append((e, record))
    return batch, by_source, records


def _observe(
    spec: SinkSpec, report: DeliveryReport, by_source: dict[tuple[str, int, int], tuple[EventT, datetime | None]]
) -> None:
    now = datetime.now(UTC)
    refused = {r.source for r in report.rejected}
    for source, (_, t) in by_source.items():
        if t is not None and source not in refused:
            INGEST_TO_SINK.observe((now - t).total_seconds())
    if report.stored:
        SINK_ROWS.labels(table=spec.table).inc(report.stored)
        SINK_LAST_SUCCESS.labels(table=spec.table).set(time.time())


def _make_agent(spec: SinkSpec) -> None:
    sink = ClickHouseSink(store.client, spec.table, spec.columns, bool(store.cluster))
    SINK_REJECTED.labels(table=spec.table)  # at 0 from the start, so an alert sees the first one

    async def handle(records: list[ConsumerRecord], _generation: int) -> Awaitable[None]:
        # Committed (kafkaio/batch_consumer.py) once every row is stored or dead-lettered and every
        # dead letter is on the brokers: the write retries here until the store answers.
        events: list[Any] = [RecordEvent(r) for r in records]
        out = Deliveries(STAGE, producer=app.producer)
        with sensor.batch(len(events)) as counted:
            batch, by_source, records_ = await _rows(spec, events, out)
            if batch:
                report = await _write_until_done(sink, batch)
                await _dead_letter_rejected(spec, report, by_source, out)
                _observe(spec, report, by_source)
                if spec.table == "case_events":  # corrections re-route their cases once the events are stored
                    refused = {r.source for r in report.rejected}
                    await apply_stored_events([(e, r) for e, r in records_ if _source(e) not in refused])
                counted.processed = report.stored
        await out.hand_over()
        return out.confirm()

    def consumer() -> BatchConsumer:
        # One group per table, so a table the store refuses holds only its own topic.
        return batch_consumer(
            settings.kafka,
            settings.service,
            [spec.topic.get_topic_name()],
            f"{STAGE}-{spec.table}",
            max_records=settings.store.batch_size,
            fetch_wait=settings.store.batch_seconds,
            fill_wait=settings.store.batch_seconds,
        )

    async def sink_batches() -> None:
        await run_batches(f"sink_{spec.table}", consumer, handle, settings.service.test_drop_marker)

    sink_batches.__name__ = sink_batches.__qualname__ = f"sink_{spec.table}"
    app.task(sink_batches)


async def _dead_letter_rejected(
    spec: SinkSpec,
    report: DeliveryReport,
    by_source: dict[tuple[str, int, int], tuple[EventT, datetime | None]],
    out: Deliveries,
) -> None:
    for r in report.rejected:
        SINK_REJECTED.labels(table=spec.table).inc()
        event, _ = by_source[r.source]
        error = mask_secrets(r.error.describe())
        if spec.table == "dead_letters":
            # A dead letter the store refuses goes nowhere else: sending it to the dlq again would
            # bring it straight back here, for ever. Its bytes stay in the dlq topic for replay.
            log.error("dead letter from %s:%s:%s refused by the store, not stored: %s", *r.source, error)
            continue
        log.warning("row from %s:%s:%s refused by the store, dead-lettered: %s", *r.source, error)
        await send_dead_letter(event, STAGE, STORE_REJECTED, error, out)


for _spec in SPECS:
    _make_agent(_spec)

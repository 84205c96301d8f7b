"""ClickHouse sinks: batch, insert once, and only then let the offsets be committed."""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faust.types import EventT, TopicT
from pydantic import BaseModel, ValidationError

from mcu.app import app, case_events_topic, cases_topic, dlq_topic, notifications_topic, settings, sla_events_topic
from mcu.dead_letters import send_dead_letter
from mcu.metrics import INGEST_TO_SINK, SINK_FAILURES, SINK_LAST_SUCCESS, SINK_ROWS, STAGE_PROCESSED
from mcu.store import store
from schemas import Case, CaseEvent, DeadLetter, NotificationRecord, SlaEvent
from sinks.clickhouse import rows
from sinks.clickhouse.writer import dedup_token, insert_batch

log = logging.getLogger(__name__)
STAGE = "sink"
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


def _offsets(events: list[EventT]) -> list[tuple[str, int, int]]:
    return [(e.message.topic, e.message.partition, e.message.offset) for e in events]


async def _insert_until_stored(spec: SinkSpec, batch: list[list[Any]], token: str) -> None:
    # Retrying forever is deliberate: giving up would mean acking rows that were never stored.
    # Ops see the stall through mcu_sink_insert_failures_total and the last-success gauge.
    delay = 0.5
    while True:
        try:
            await store.run(insert_batch, spec.table, spec.columns, batch, token, bool(store.cluster))
            return
        except Exception as exc:
            SINK_FAILURES.labels(table=spec.table).inc()
            log.warning("insert into %s failed (%s); retrying in %.1fs", spec.table, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _make_agent(spec: SinkSpec) -> None:
    async def sink(stream):  # type: ignore[no-untyped-def]
        async for events in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
            # take_events acks the batch in a `finally`, even when the worker is cancelled mid-retry.
            # One extra reference per message keeps those offsets uncommittable until the insert
            # has really succeeded.
            for e in events:
                e.message.incref()
            batch: list[list[Any]] = []
            fetched: list[datetime] = []
            for e in events:
                try:
                    record = spec.model.model_validate_json(e.value)
                    batch.append(spec.to_row(record))
                except (ValidationError, ValueError, TypeError) as exc:
                    if spec.table == "dead_letters":
                        log.error("unreadable dead letter at %s:%s dropped from the store: %s",
                                  e.message.topic, e.message.offset, exc)  # fmt: skip
                    else:
                        await send_dead_letter(e, STAGE, "validation", str(exc)[:2000])
                    continue
                t = spec.fetched_at(record)
                if t is not None:
                    fetched.append(t)
            if batch:
                await _insert_until_stored(spec, batch, dedup_token(spec.table, _offsets(events)))
                now = datetime.now(UTC)
                for t in fetched:
                    INGEST_TO_SINK.observe((now - t).total_seconds())
                SINK_ROWS.labels(table=spec.table).inc(len(batch))
                SINK_LAST_SUCCESS.labels(table=spec.table).set(time.time())
                STAGE_PROCESSED.labels(stage=STAGE).inc(len(batch))
            for e in events:
                e.message.decref()

    sink.__name__ = f"sink_{spec.table}"
    app.agent(spec.topic, name=f"sink_{spec.table}")(sink)


for _spec in SPECS:
    _make_agent(_spec)

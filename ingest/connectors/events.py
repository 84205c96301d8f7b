"""Status back-flow: CaseEvents (answers, status changes, ratings) onto ``case.events``."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from kafka import KafkaProducer

from kafkaio import KafkaSettings, TopicSettings, clients
from schemas import CaseEvent, CaseEventType, message_id_for
from schemas.times import TIME_CONTEXT
from schemas.topics import CASE_EVENTS


def event_id_for(channel: str, source_id: str, kind: str, at: datetime, extra: str = "") -> str:
    """Stable across re-imports of the same export: the same status row gives the same event id."""
    raw = f"{channel}|{source_id}|{kind}|{at.isoformat()}|{extra}"
    return f"{channel}:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def make_event(
    channel: str,
    source_id: str,
    kind: CaseEventType,
    at: datetime,
    now: datetime | None = None,
    **fields: Any,
) -> CaseEvent:
    """``now``: the clock the time window is checked against (a simulation's own); wall clock if None."""
    extra = str(fields.get("rating") or "") + str(fields.get("comment") or "")[:200]
    return CaseEvent.model_validate(
        {
            "event_id": event_id_for(channel, source_id, kind.value, at, extra),
            "message_id": message_id_for(channel, source_id),
            "type": kind,
            "at": at,
            **fields,
        },
        context={TIME_CONTEXT: now},
    )


class EventPublisher:
    """key = message_id (a case's events stay in order on one partition), value = CaseEvent JSON."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings, producer: KafkaProducer | None = None) -> None:
        """``producer``: share one (e.g. a RawPublisher's): one sender thread batches both topics."""
        self.topic = topics.prefix + CASE_EVENTS
        self.failures: list[str] = []
        self._borrowed = producer is not None
        self._producer = producer or clients.producer(
            kafka,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            retries=2**31 - 1,
        )

    def publish_event(self, event: CaseEvent) -> None:
        future = self._producer.send(self.topic, key=event.message_id.encode(), value=event.model_dump_json().encode())
        future.add_errback(lambda exc: self.failures.append(f"{event.event_id}: {exc}"))

    def flush(self, timeout: float | None = 60) -> None:
        self._producer.flush(timeout=timeout)
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} event(s) not delivered, first: {self.failures[0]}")

    def close(self) -> None:
        self._producer.flush()
        if not self._borrowed:
            self._producer.close()

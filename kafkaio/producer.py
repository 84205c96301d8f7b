"""Publishing raw records with kafka-python: what connectors and `mcu ingest` share."""

from __future__ import annotations

from datetime import datetime

from kafkaio import KafkaSettings, TopicSettings, clients
from kafkaio.wire import RecordTooLarge, raw_record
from schemas import Channel

__all__ = ["RawPublisher", "RecordTooLarge"]


class RawPublisher:
    """acks=all and idempotence: a record the broker confirmed is on every in-sync replica."""

    def __init__(self, kafka: KafkaSettings, topics: TopicSettings) -> None:
        self.max_record_bytes: int = kafka.max_record_bytes
        self.topic_prefix: str = topics.prefix
        self.failures: list[str] = []
        self._producer = clients.producer(
            kafka,
            acks="all",
            enable_idempotence=True,
            linger_ms=5,
            max_request_size=self.max_record_bytes + 64 * 1024,
            retries=2**31 - 1,
        )

    def publish(
        self,
        channel: Channel | str,
        body: bytes,
        *,
        source_id: str | None = None,
        received_at: datetime | None = None,
    ) -> str:
        """Queue one record; returns its message id. ``flush()`` waits for the broker."""
        rec = raw_record(
            channel, body, max_record_bytes=self.max_record_bytes, source_id=source_id, received_at=received_at
        )
        future = self._producer.send(self.topic_prefix + rec.topic, key=rec.key, value=rec.value, headers=rec.headers)
        future.add_errback(lambda exc: self.failures.append(f"{rec.source_id}: {exc}"))
        return rec.message_id

    def flush(self, timeout: float | None = 60) -> None:
        """Wait for the broker; raise if any record queued so far was not stored."""
        self._producer.flush(timeout=timeout)
        # Reported once: the caller re-sends that batch, and a long-lived publisher (a connector)
        # must be able to flush cleanly again afterwards.
        failed, self.failures = self.failures, []
        if failed:
            raise RuntimeError(f"{len(failed)} record(s) not delivered, first: {failed[0]}")

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()

    def __enter__(self) -> RawPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

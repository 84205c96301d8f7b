"""Reading back what is already on a raw topic (kafka-python), for the runner's restart check."""

from __future__ import annotations

import time

from kafka import TopicPartition

from kafkaio import KafkaSettings, TopicSettings, clients
from kafkaio.wire import H_SOURCE_ID
from schemas import Channel
from schemas.topics import raw_topic


class ReadBackTimeout(TimeoutError):
    """The topic could not be read back in time; the caller retries the whole check later."""


class KafkaProbe:
    def __init__(self, kafka: KafkaSettings, topics: TopicSettings, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.prefix = topics.prefix
        self._consumer = clients.consumer(kafka, enable_auto_commit=False, group_id=None)

    def _partitions(self, channel: Channel) -> list[TopicPartition]:
        topic = self.prefix + raw_topic(channel)
        parts = self._consumer.partitions_for_topic(topic) or set()
        return [TopicPartition(topic, p) for p in sorted(parts)]

    def end_offsets(self, channel: Channel) -> dict[str, int]:
        tps = self._partitions(channel)
        return {str(tp.partition): off for tp, off in self._consumer.end_offsets(tps).items()} if tps else {}

    def source_ids_since(self, channel: Channel, offsets: dict[str, int]) -> set[str]:
        """Source ids of the records from ``offsets`` (0 for partitions unknown then) to the current end."""
        tps = self._partitions(channel)
        if not tps:
            return set()
        ends = self._consumer.end_offsets(tps)
        todo = {tp: end for tp, end in ends.items() if end > offsets.get(str(tp.partition), 0)}
        if not todo:
            return set()
        self._consumer.assign(list(todo))
        for tp in todo:
            self._consumer.seek(tp, offsets.get(str(tp.partition), 0))
        found: set[str] = set()
        deadline = time.monotonic() + self.timeout
        while todo:
            if time.monotonic() > deadline:
                # Going on with a partial view would repeat records: retry the whole check later.
                raise ReadBackTimeout(f"could not read back {self.prefix + raw_topic(channel)} in {self.timeout}s")
            polled = self._consumer.poll(timeout_ms=500)
            for tp, records in polled.items():
                for rec in records:
                    for key, value in rec.headers or []:
                        if key == H_SOURCE_ID:
                            found.add(value.decode("utf-8", "replace"))
                if self._consumer.position(tp) >= todo.get(tp, 0):
                    todo.pop(tp, None)
        self._consumer.assign([])
        return found

    def close(self) -> None:
        self._consumer.close()

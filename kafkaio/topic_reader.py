"""Read a whole topic from the beginning to its current end, without joining a consumer group."""

from collections.abc import Iterator
from typing import Any

from kafka import TopicPartition

from kafkaio import KafkaSettings, clients


def read_topic(kafka: KafkaSettings, topic: str, timeout_s: float = 10.0) -> Iterator[Any]:
    consumer = clients.consumer(
        kafka,
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=kafka.max_record_bytes * 2,
        fetch_max_bytes=kafka.max_record_bytes * 4,
    )
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = consumer.poll(timeout_ms=int(timeout_s * 1000))
            if not batch:
                break
            for tp, records in batch.items():
                yield from records
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()

"""Which partition Kafka's default partitioner gives a key, as every client computes it.

The SLA stage keys its timer table by message id and must know which of its keys belong to the
partitions this worker owns; that is the producer's murmur2 (the Java client's, which aiokafka and
kafka-python reproduce), never Python's ``hash``.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2


def kafka_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client) gives a str key."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

"""Which partition Kafka's default partitioner gives a key, as every client computes it.

The SLA stage keys its timer table by message id and must know which of its keys belong to the
partitions this worker owns, and the batch stages pick the partition of each output themselves
(mcu/agents/stage.py); both must agree with the producer's murmur2 (the Java client's, which
aiokafka and kafka-python reproduce), never Python's ``hash``. The hash is the C one of
``murmurhash2`` (0.2 µs a key; aiokafka's pure-Python port takes 5 µs, paid two or three times per
message): MurmurHash2 with the Java client's seed, which tests/unit/kafkaio/test_partitioner.py
checks against kafka-python's port.
"""

from __future__ import annotations

from murmurhash2 import murmurhash2

SEED = 0x9747B28C  # org.apache.kafka.common.utils.Utils.murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a key of bytes among ``partitions``."""
    return (murmurhash2(key, SEED) & 0x7FFFFFFF) % partitions


def kafka_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client) gives a str key."""
    return partition_of(key.encode(), partitions)

"""kafka_partition agrees with kafka-python's murmur2 (a second, independent port of the Java one)."""

import uuid

from kafka.partitioner.default import murmur2

from kafkaio.partitioner import kafka_partition


def test_partition_matches_kafka_python_for_message_ids() -> None:
    keys = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"k{i}")) for i in range(500)] + ["", "ключ", "sha256:ab"]
    for partitions in (1, 4, 7):
        for key in keys:
            assert kafka_partition(key, partitions) == (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    assert len({kafka_partition(k, 4) for k in keys}) == 4


def test_a_known_java_client_value() -> None:
    # murmur2(b"abc") = 479470107 as kafka-python computes it (a pinned value: a port change shows here).
    assert kafka_partition("abc", 4) == 479470107 % 4

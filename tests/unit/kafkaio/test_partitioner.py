"""kafka_partition agrees with kafka-python's murmur2 and aiokafka's (two independent ports of the
Java client's), which pick the partition of every record the worker does not place itself."""

import uuid

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2

from kafkaio.partitioner import kafka_partition, partition_of


def test_partition_matches_kafka_python_for_message_ids() -> None:
    keys = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"k{i}")) for i in range(500)] + ["", "ключ", "sha256:ab"]
    for partitions in (1, 4, 7):
        for key in keys:
            assert kafka_partition(key, partitions) == (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
    assert len({kafka_partition(k, 4) for k in keys}) == 4


@given(st.binary(max_size=80), st.integers(min_value=1, max_value=64))
def test_any_bytes_land_where_the_clients_put_them(key: bytes, partitions: int) -> None:
    # every tail length (0-3 bytes after the 4-byte blocks) and the high bytes a str key never has
    expected = (aiokafka_murmur2(key) & 0x7FFFFFFF) % partitions
    assert partition_of(key, partitions) == expected == (murmur2(key) & 0x7FFFFFFF) % partitions


def test_a_known_java_client_value() -> None:
    # murmur2(b"abc") = 479470107 as kafka-python computes it (a pinned value: a port change shows here).
    assert kafka_partition("abc", 4) == 479470107 % 4

"""kafka_partition agrees with kafka-python's own default partitioner (a second murmur2 port)."""

import uuid

from kafka.partitioner.default import DefaultPartitioner

from kafkaio.partitioner import kafka_partition


def test_partition_matches_kafka_python_for_message_ids() -> None:
    keys = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"k{i}")) for i in range(500)] + ["", "ключ", "sha256:ab"]
    for partitions in (1, 4, 7):
        all_parts = list(range(partitions))
        for key in keys:
            expected = DefaultPartitioner.partition(key.encode(), all_parts, all_parts)
            assert kafka_partition(key, partitions) == expected
    assert len({kafka_partition(k, 4) for k in keys}) == 4

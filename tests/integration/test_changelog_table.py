"""The SLA stage's state table against the real broker: restore, release, take back (kafkaio/changelog_table.py)."""

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from kafkaio import KafkaSettings
from kafkaio.changelog_table import ChangelogTable
from kafkaio.partitioner import kafka_partition

pytestmark = pytest.mark.kafka
PARTITIONS = 3


def _keys(partition: int, n: int) -> list[str]:
    """n keys that Kafka's default partitioner puts in ``partition``."""
    out, i = [], 0
    while len(out) < n:
        key = f"webform:case-{i}"
        if kafka_partition(key, PARTITIONS) == partition:
            out.append(key)
        i += 1
    return out


async def _topic(kafka: KafkaSettings) -> str:
    name = f"it-changelog-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.broker_list)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})])
    finally:
        await admin.close()
    return name


async def _send(kafka: KafkaSettings, topic: str, writes: list[tuple[str, bytes | None]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.broker_list, acks="all")
    await producer.start()
    try:
        for key, value in writes:
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()


def test_restore_reads_the_last_value_of_each_key_and_tombstones_delete(brokers: str) -> None:
    async def run() -> None:
        kafka = KafkaSettings(brokers=brokers)
        topic = await _topic(kafka)
        a, b = _keys(0, 2)
        (c,) = _keys(1, 1)
        (d,) = _keys(2, 1)
        await _send(kafka, topic, [(a, b"1"), (b, b"1"), (a, b"2"), (b, None), (c, b"c"), (d, b"d")])

        table = ChangelogTable(topic, PARTITIONS)
        assert await table.restore(kafka, {0, 1}) == 5
        assert dict(table) == {a: b"2", c: b"c"}  # partition 2 is not ours: d is not here
        assert table.owned == {0, 1}
        assert table.take_writes() == []  # what was read is not written back

        table[d] = b"mine?"  # a key of a partition owned elsewhere: refused, never sent
        assert d not in table and table.refused_writes == 1
        table[a] = b"3"
        del table[c]
        assert table.take_writes() == [(a, b"3"), (c, None)]

    asyncio.run(run())


def test_a_partition_given_back_unchanged_is_not_read_again_and_a_changed_one_is(brokers: str) -> None:
    async def run() -> None:
        kafka = KafkaSettings(brokers=brokers)
        topic = await _topic(kafka)
        (a,) = _keys(0, 1)
        (c,) = _keys(1, 1)
        await _send(kafka, topic, [(a, b"a1"), (c, b"c1")])
        table = ChangelogTable(topic, PARTITIONS)
        assert await table.restore(kafka, {0, 1}) == 2

        await table.release(kafka, {0, 1})  # an eager rebalance: everything revoked first
        assert table.owned == set() and len(table) == 0
        table[a] = b"late"  # a tick finishing after the revoke: dropped
        assert table.take_writes() == []

        await _send(kafka, topic, [(c, b"c2")])  # another worker owned partition 1 meanwhile
        assert await table.restore(kafka, {0, 1}) == 2  # partition 0 kept, partition 1 read again
        assert dict(table) == {a: b"a1", c: b"c2"}

        await table.release(kafka, {0, 1})
        assert await table.restore(kafka, {1}) == 0  # unchanged: taken back without a read
        assert dict(table) == {c: b"c2"}
        assert await table.restore(kafka, {0, 1}) == 1  # partition 0 was let go for good: read again
        assert dict(table) == {a: b"a1", c: b"c2"}

    asyncio.run(run())

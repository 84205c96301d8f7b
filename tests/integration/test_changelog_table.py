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


def test_a_revoked_partition_is_forgotten_and_read_again_when_it_comes_back(brokers: str) -> None:
    async def run() -> None:
        kafka = KafkaSettings(brokers=brokers)
        topic = await _topic(kafka)
        (a,) = _keys(0, 1)
        (c,) = _keys(1, 1)
        await _send(kafka, topic, [(a, b"a1"), (c, b"c1")])
        table = ChangelogTable(topic, PARTITIONS)
        assert await table.restore(kafka, {0, 1}) == 2

        table[a] = b"a2"
        table.drop({0, 1})  # revoked (their writes were confirmed before, in the worker)
        assert table.owned == set() and len(table) == 0
        assert table.take_writes() == []  # a revoked partition's unsent write is not sent by this worker
        table[a] = b"late"  # a tick finishing after the revoke: dropped
        assert table.take_writes() == [] and table.refused_writes == 1

        await _send(kafka, topic, [(c, b"c2")])  # the next owner of partition 1 wrote meanwhile
        assert await table.restore(kafka, {1}) == 2
        assert dict(table) == {c: b"c2"}
        assert await table.restore(kafka, {0}) == 1  # only these: partition 1 is let go
        assert dict(table) == {a: b"a1"}

    asyncio.run(run())

"""The batch stages' outputs against the real broker: one record batch per partition, handed to an
idempotent acks=all producer (mcu/agents/stage.py). Each record must land where Kafka's default
partitioner puts its key (the SLA stage's co-partitioning of `cases` and `case.events` rests on it),
in the order sent, and a batch the broker refuses must be sent again until it is stored."""

import asyncio
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.partitioner.default import murmur2

from mcu.agents.stage import Deliveries

pytestmark = pytest.mark.kafka
PARTITIONS = 5


class _Wrapper:
    """Faust's producer service as Deliveries reaches through it: the aiokafka client underneath."""

    def __init__(self, client: AIOKafkaProducer) -> None:
        self.client = client

    def _ensure_producer(self) -> AIOKafkaProducer:
        return self.client


def _create(brokers: str, name: str, **config: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=brokers)
    try:
        admin.create_topics([NewTopic(name, PARTITIONS, 1, topic_configs=config)])
    finally:
        admin.close()


async def _read(brokers: str, topic: str, n: int) -> list[tuple[int, bytes | None, bytes | None]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    got: list[tuple[int, bytes | None, bytes | None]] = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < n and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                got += [(tp.partition, r.key, r.value) for r in records]
    finally:
        await consumer.stop()
    return got


async def _deliver(brokers: str, topic: str, records: list[tuple[bytes, bytes | None]]) -> Deliveries:
    client = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", enable_idempotence=True, max_batch_size=4096)
    await client.start()
    try:
        out = Deliveries("it", producer=_Wrapper(client))  # type: ignore[arg-type]
        target = SimpleNamespace(get_topic_name=lambda: topic)
        for key, value in records:
            out.send(target, key, value)  # type: ignore[arg-type]
        await out.hand_over()
        await asyncio.wait_for(out.confirm(), 60)
        return out
    finally:
        await client.stop()


def test_each_record_lands_in_its_keys_partition_in_the_order_sent(brokers: str) -> None:
    topic = f"it-batched-{uuid.uuid4().hex[:8]}"
    _create(brokers, topic)
    records: list[tuple[bytes, bytes | None]] = [
        (f"case-{i % 60}".encode(), b"v%03d" % i + b"." * 400) for i in range(300)
    ]
    records.append((b"case-7", None))  # a tombstone goes as one too

    async def run() -> list[tuple[int, bytes | None, bytes | None]]:
        out = await _deliver(brokers, topic, records)
        assert out.attempts == 1
        return await _read(brokers, topic, len(records))

    got = asyncio.run(run())
    assert len(got) == len(records)
    for partition, key, _ in got:  # kafka-python's port of the Java partitioner, not ours
        assert partition == (murmur2(key) & 0x7FFFFFFF) % PARTITIONS
    for p in range(PARTITIONS):
        sent = [(k, v) for k, v in records if (murmur2(k) & 0x7FFFFFFF) % PARTITIONS == p]
        assert [(k, v) for q, k, v in got if q == p] == sent, f"partition {p}: not in the order sent"
    assert len({p for p, _, _ in got}) == PARTITIONS


def test_batches_the_broker_refuses_are_sent_again_until_stored(brokers: str) -> None:
    # Batches of about 4 KiB into a topic that takes 1 KiB: every batch is refused until the limit
    # is raised, then each record is stored (the idempotent producer keeps the re-sends single).
    topic = f"it-refused-{uuid.uuid4().hex[:8]}"
    _create(brokers, topic, **{"max.message.bytes": "1024"})
    records: list[tuple[bytes, bytes | None]] = [(f"r-{i}".encode(), b"." * 600) for i in range(40)]

    def raise_limit() -> None:
        time.sleep(3)
        admin = KafkaAdminClient(bootstrap_servers=brokers)
        try:
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": "1048576"})]
            )
        finally:
            admin.close()

    lifter = threading.Thread(target=raise_limit)
    lifter.start()

    async def run() -> tuple[Deliveries, list[tuple[int, bytes | None, bytes | None]]]:
        out = await _deliver(brokers, topic, records)
        return out, await _read(brokers, topic, len(records))

    out, got = asyncio.run(run())
    lifter.join()
    assert out.attempts > 1, "the first batches were refused"
    assert sorted(k for _, k, _ in got) == sorted(k for k, _ in records)

"""The reachability probe against the real broker: it asks for the worker's own topics, not for every
topic the cluster holds, and never names a topic that does not exist (mcu/broker_probe.py)."""

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from mcu.broker_probe import probe_once

pytestmark = pytest.mark.kafka


def test_the_probe_asks_for_the_workers_topics_and_creates_none(brokers: str) -> None:
    run = uuid.uuid4().hex[:8]
    ours, missing = f"it-probe-{run}.dlq", f"it-probe-{run}.notifications"
    admin = KafkaAdminClient(bootstrap_servers=brokers)
    try:
        admin.create_topics([NewTopic(ours, 2, 1)])

        async def probe() -> tuple[list[bool], list[list[str] | None]]:
            producer = AIOKafkaProducer(bootstrap_servers=brokers)
            await producer.start()
            client = producer.client
            asked: list[list[str] | None] = []
            update = client._metadata_update

            async def spy(cluster: Any, topics: Any) -> Any:
                asked.append(sorted(topics) if topics else None)  # None: every topic of the cluster
                return await update(cluster, topics)

            try:
                # As Faust's producer starts: no topic tracked, so its metadata is that of every topic.
                await client.force_metadata_update()
                client._metadata_update = spy
                app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
                answers = [await probe_once(app, [ours, missing]) for _ in range(3)]  # type: ignore[arg-type]
                return answers, asked
            finally:
                await producer.stop()

        answers, asked = asyncio.run(probe())
        assert answers == [True, True, True]
        assert asked and all(topics == [ours] for topics in asked), asked
        assert missing not in admin.list_topics()  # a probe must not have the broker create it
    finally:
        admin.delete_topics([ours])
        admin.close()

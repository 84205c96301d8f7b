"""The reachability probe against the real broker (mcu/broker_probe.py): it answers without fetching
every topic's metadata, and it leaves what the producer knows of its topics exactly as it was.

The second half is the one that matters: a probe that made the producer track only some topics
dropped the partition leaders of the others, and a batch queued for one of them then waited for a
leader for ever (a bench run hung on the SLA changelog)."""

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.structs import TopicPartition
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from mcu.broker_probe import probe_once

pytestmark = pytest.mark.kafka


def test_the_probe_answers_and_leaves_the_producers_metadata_alone(brokers: str) -> None:
    run = uuid.uuid4().hex[:8]
    topics = [f"it-probe-{run}.a", f"it-probe-{run}.b"]
    admin = KafkaAdminClient(bootstrap_servers=brokers)
    try:
        admin.create_topics([NewTopic(t, 2, 1) for t in topics])

        async def probe() -> tuple[list[bool], int, bool, bool, list[int]]:
            producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", enable_idempotence=True)
            await producer.start()
            client = producer.client
            refreshed = 0
            update = client._metadata_update
            send = client.send
            topics_answered: list[int] = []  # topics in each answer the probe got

            async def watched(node_id: Any, request: Any, **kw: Any) -> Any:
                answer = await send(node_id, request, **kw)
                topics_answered.append(len(answer.topics))
                return answer

            async def counted(cluster: Any, asked: Any) -> Any:
                nonlocal refreshed
                refreshed += 1
                return await update(cluster, asked)

            try:
                # As Faust's producer runs: no topic tracked, every topic known from the metadata of all.
                await client.force_metadata_update()
                known = client.cluster.topics()
                assert set(topics) <= known
                client._metadata_update = counted
                client.send = watched
                app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
                answers = [await probe_once(app) for _ in range(3)]  # type: ignore[arg-type]
                client.send = send
                unchanged = client.cluster.topics() == known and all(
                    client.cluster.leader_for_partition(TopicPartition(t, p)) is not None
                    for t in topics
                    for p in range(2)
                )
                # and the producer still writes to a topic it never tracked
                sent = await asyncio.wait_for(producer.send_and_wait(topics[1], b"after the probes"), 30)
                return answers, refreshed, unchanged, sent is not None, topics_answered
            finally:
                await producer.stop()

        answers, refreshed, unchanged, sent, topics_answered = asyncio.run(probe())
        assert answers == [True, True, True]
        assert topics_answered == [0, 0, 0]  # the brokers only: no topic's metadata asked or decoded
        assert refreshed == 0  # the client's metadata was not refreshed (nor fetched for every topic)
        assert unchanged and sent
    finally:
        admin.delete_topics(topics)
        admin.close()

"""A batch waiting for a topic the producer knew only from a full metadata fetch (kafkaio/tracking_producer.py).

The scene of a worker's start: Faust's declarations leave every topic known and none tracked; a
stage queues records for topic A; another writes to topic B, created since. Plain aiokafka then
asks for B's metadata alone and forgets A's leaders, so A's batch waits until it expires (Faust
gives it 20 minutes). The first test shows that this broker and aiokafka version really do that:
it is what the second test would catch if the fix stopped working, and it fails, saying the fix can
go, once aiokafka no longer does it. The third runs a whole worker into that scene, as a CI run met
it: the SLA changelog missing from the producer's first view of the cluster.
"""

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from kafkaio.tracking_producer import TopicTrackingProducer
from tests.integration.harness import Worker, pipeline_env, wait_for
from tests.integration.test_pipeline import BAD_RECORDS, good_records, publish

pytestmark = pytest.mark.kafka
LINGER_MS = 1000  # A's batch is still in the accumulator when B's metadata arrives
STRANDED_AFTER_S = 8.0


def _create(admin: KafkaAdminClient, topic: str) -> None:
    admin.create_topics([NewTopic(topic, 2, 1)])
    deadline = time.monotonic() + 30
    while topic not in admin.list_topics():
        assert time.monotonic() < deadline, f"{topic} not listed 30 s after its creation"
        time.sleep(0.1)


async def _scene(brokers: str, admin: KafkaAdminClient, cls: type[AIOKafkaProducer]) -> tuple[Any, str, Any, Any]:
    """Returns the producer, topic A, and the futures of A's and B's records."""
    run = uuid.uuid4().hex[:8]
    a, b = f"it-track-{run}.a", f"it-track-{run}.b"
    _create(admin, a)
    producer = cls(
        bootstrap_servers=brokers, acks="all", enable_idempotence=True, linger_ms=LINGER_MS, request_timeout_ms=60_000
    )
    await producer.start()
    # What Faust's topic declarations leave: every topic known, none tracked.
    await producer.client.force_metadata_update()
    assert producer.client.cluster.partitions_for_topic(a) == {0, 1}
    assert not producer.client._topics
    _create(admin, b)
    sent_a = await producer.send(a, b"a", key=b"k")
    sent_b = await producer.send(b, b"b", key=b"k")
    return producer, a, sent_a, sent_b


async def _stop(producer: AIOKafkaProducer) -> None:
    await asyncio.wait_for(producer.stop(), 60)


def test_plain_aiokafka_strands_a_batch_of_a_topic_it_only_knew_from_a_full_fetch(brokers: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=brokers)

    async def scene() -> tuple[bool, set[int] | None]:
        producer, a, sent_a, sent_b = await _scene(brokers, admin, AIOKafkaProducer)
        try:
            await asyncio.wait_for(sent_b, 30)
            try:
                await asyncio.wait_for(asyncio.shield(sent_a), STRANDED_AFTER_S)
                stranded = False
            except TimeoutError:
                stranded = True
            leaders_known = producer.client.cluster.partitions_for_topic(a)
            # Another record for A makes aiokafka ask for A again, and the stranded batch leaves with it.
            await asyncio.wait_for(producer.send_and_wait(a, b"again", key=b"k"), 30)
            await asyncio.wait_for(sent_a, 30)
            return stranded, leaders_known
        finally:
            await _stop(producer)

    try:
        stranded, leaders_known = asyncio.run(scene())
    finally:
        admin.close()
    assert stranded, "A's record was delivered: aiokafka no longer forgets untracked topics; the fix may go"
    assert leaders_known is None, "A's partitions were still known after B's refresh"


def test_the_tracking_producer_delivers_it(brokers: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=brokers)

    async def scene() -> tuple[str, str, set[str]]:
        producer, _, sent_a, sent_b = await _scene(brokers, admin, TopicTrackingProducer)
        try:
            started = time.monotonic()
            a = await asyncio.wait_for(sent_a, STRANDED_AFTER_S)
            b = await asyncio.wait_for(sent_b, 30)
            print(f"A's record delivered {time.monotonic() - started:.2f} s after B's send (linger {LINGER_MS} ms)")
            return a.topic, b.topic, set(producer.client._topics)
        finally:
            await _stop(producer)

    try:
        a, b, tracked = asyncio.run(scene())
    finally:
        admin.close()
    assert a.endswith(".a") and b.endswith(".b")
    assert tracked == {a, b}


def test_a_worker_whose_producer_first_meets_the_changelog_when_writing_to_it_delivers_everything(
    brokers: str, tmp_path: Path
) -> None:
    # With 39e4624's producer this stalled like the CI run: the enrich stage's last batch of cases
    # (and dead letters) queued, the producer's metadata narrowed to the changelog, nothing stored after.
    hook = Path(__file__).parent / "data" / "changelog_missing_from_full_fetch"
    env = pipeline_env(tmp_path / "var", brokers)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(hook), env.get("PYTHONPATH", "")) if p)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        publish(env, good_records(990) + [body for body, _ in BAD_RECORDS])
        wait_for(lambda: (c := worker.counts())["cases"] == 990 and c["dead_letters"] == 10, 120,
                 lambda: f"990 cases and 10 dead letters, last seen {worker.last_counts}")  # fmt: skip
    finally:
        worker.stop()
    said = f"{env['MCU_APP_ID']}-sla_timers-changelog left out of a full metadata fetch"
    assert said in worker.log_tail(200), "the hook did not act: the scene was not set"

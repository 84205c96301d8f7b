"""Every producer of the pipeline asks for acks=all with idempotence: checked on the clients as built.

On a cluster this is what makes a broker fail-over lose and duplicate nothing: the broker answers
only when min.insync.replicas replicas hold the record, and the retries into the new leader carry
sequence numbers the broker uses to drop a second copy.
"""

import asyncio

import pytest

from ingest.connectors.events import EventPublisher
from kafkaio import TopicSettings
from kafkaio.producer import RawPublisher
from kafkaio.tracking_producer import TopicTrackingProducer
from mcu.app import DurableProducer, create_app
from mcu.settings import Settings, SettingsError


def test_faust_producer_is_idempotent_with_acks_all() -> None:
    async def built() -> tuple[int, bool]:
        app = create_app(Settings.from_env(kafka_brokers="127.0.0.1:1", app_id="durability-test"))
        assert isinstance(app.producer, DurableProducer)
        client = app.producer._new_producer()  # what Faust starts, with every layer of settings merged
        try:
            assert isinstance(client, TopicTrackingProducer)  # the worker's stages write through it
            return client._sender._acks, client._txn_manager is not None
        finally:
            await client.client.close()

    acks, idempotent = asyncio.run(built())
    assert acks == -1  # "all"
    assert idempotent  # aiokafka keeps a transaction manager (producer id, sequence numbers) only then


def test_topics_faust_declares_carry_min_insync_replicas() -> None:
    app = create_app(
        Settings.from_env(kafka_brokers="127.0.0.1:1", app_id="durability-test", topic_replication_factor=3)
    )
    assert app.topic("anything").config == {"min.insync.replicas": "2"}
    explicit = create_app(
        Settings.from_env(kafka_brokers="127.0.0.1:1", topic_replication_factor=3, topic_min_insync_replicas=3)
    )
    assert explicit.topic("anything", config={"retention.ms": "1"}).config == {
        "min.insync.replicas": "3",
        "retention.ms": "1",
    }


def test_min_insync_replicas_defaults_and_limits() -> None:
    assert TopicSettings(replication_factor=1).effective_min_insync_replicas == 1
    assert TopicSettings(replication_factor=3).effective_min_insync_replicas == 2
    with pytest.raises(SettingsError, match="MCU_TOPIC_MIN_INSYNC_REPLICAS=4 is more than"):
        Settings.from_env(topic_replication_factor=3, topic_min_insync_replicas=4)


@pytest.mark.kafka
def test_kafka_python_publishers_are_idempotent_with_acks_all() -> None:
    # kafka-python asks the broker for its version while it is built: the real local broker.
    s = Settings.load()  # the broker: MCU_KAFKA_BROKERS or the default
    with RawPublisher(s.kafka, s.topics) as raw:
        config = raw._producer.config
        assert config["acks"] in ("all", -1) and config["enable_idempotence"] is True
        events = EventPublisher(s.kafka, s.topics)
        try:
            assert events._producer.config["acks"] in ("all", -1)
            assert events._producer.config["enable_idempotence"] is True
        finally:
            events.close()

"""The publisher against the real broker (started by `make test`)."""

import os

import pytest

from kafkaio.producer import RawPublisher
from mcu.settings import Settings

pytestmark = pytest.mark.kafka


def test_a_failed_delivery_is_reported_once_and_the_publisher_recovers():
    settings = Settings(kafka_brokers=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"), topic_prefix="t-producer.")
    with RawPublisher(settings) as publisher:
        publisher.failures.append("s1: simulated broker refusal")  # as the delivery errback records it
        with pytest.raises(RuntimeError, match="1 record"):
            publisher.flush()
        publisher.publish("webform", b'{"id": "p1", "text": "ok"}')
        publisher.flush()  # the old failure does not poison later batches

"""The publisher against the real broker (started by `make test`)."""

import pytest

from kafkaio.producer import RawPublisher
from mcu.settings import Settings

pytestmark = pytest.mark.kafka


def test_a_failed_delivery_is_reported_once_and_the_publisher_recovers():
    settings = Settings.from_env(topic_prefix="t-producer.")  # the broker: MCU_KAFKA_BROKERS or the default
    with RawPublisher(settings.kafka, settings.topics) as publisher:
        publisher.failures.append("s1: simulated broker refusal")  # as the delivery errback records it
        with pytest.raises(RuntimeError, match="1 record"):
            publisher.flush()
        publisher.publish("webform", b'{"id": "p1", "text": "ok"}')
        publisher.flush()  # the old failure does not poison later batches

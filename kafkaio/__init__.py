"""Kafka connection settings shared by every package that talks to the broker.

A bottom package: it imports neither ``mcu`` nor any stage package, so ``ingest``, ``sla`` and
``mcu`` can all use it without importing the application (the layering of issue 13).
"""

from kafkaio.security import KafkaSettings, SaslMechanism, SecurityProtocol, client_options
from kafkaio.topic_settings import TopicSettings

__all__ = ["KafkaSettings", "SaslMechanism", "SecurityProtocol", "TopicSettings", "client_options"]

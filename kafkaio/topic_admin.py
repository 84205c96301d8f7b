"""Create the pipeline's topics before the worker subscribes.

Faust only declares its own internal topics, and production clusters usually disable
auto-creation, so the worker makes sure every topic exists with the configured layout.
"""

import logging
from typing import Protocol

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from kafkaio import clients
from kafkaio.security import KafkaSettings
from schemas import topics

log = logging.getLogger(__name__)

PIPELINE_TOPICS = (
    *topics.RAW_TOPICS,
    topics.MESSAGES_NORMALIZED,
    topics.CASES,
    topics.CASE_EVENTS,
    topics.SLA_EVENTS,
    topics.NOTIFICATIONS,
    topics.DLQ,
)


class TopicLayout(Protocol):
    """The topic-layout fields ensure_topics reads (the application's settings have them)."""

    @property
    def topic_prefix(self) -> str: ...

    @property
    def topic_partitions(self) -> int: ...

    @property
    def topic_replication_factor(self) -> int: ...

    @property
    def min_insync_replicas(self) -> int: ...

    @property
    def max_record_bytes(self) -> int: ...

    @property
    def raw_retention_hours(self) -> int: ...


def ensure_topics(kafka: KafkaSettings, settings: TopicLayout) -> list[str]:
    """Create missing topics; return the names created now. (The application passes its settings
    as both: they are the Kafka connection section and carry the layout fields.)"""
    admin = clients.admin(kafka)
    try:
        existing = set(admin.list_topics())
        wanted = [settings.topic_prefix + name for name in PIPELINE_TOPICS]
        missing = [name for name in wanted if name not in existing]
        # Dead letters carry whole oversized originals, so their topic takes the largest records.
        # min.insync.replicas: with the producers' acks=all a record is acknowledged only once it is on
        # this many replicas; fewer brokers up and the producers get NotEnoughReplicas and retry.
        configs = {
            "max.message.bytes": str(settings.max_record_bytes * 2),
            "min.insync.replicas": str(settings.min_insync_replicas),
        }
        # Raw topics hold what residents sent, personal data included (152-ФЗ): keep them only as
        # long as a replay may need them; everything downstream is pseudonymised.
        raw_configs = {**configs, "retention.ms": str(settings.raw_retention_hours * 3600 * 1000)}

        def layout(name: str) -> NewTopic:
            is_raw = name.removeprefix(settings.topic_prefix).startswith(topics.RAW_PREFIX)
            return NewTopic(
                name,
                settings.topic_partitions,
                settings.topic_replication_factor,
                topic_configs=raw_configs if is_raw else configs,
            )

        new = [layout(n) for n in missing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another worker won the race: fine
            log.info("created topics: %s", ", ".join(missing))
        return missing
    finally:
        admin.close()

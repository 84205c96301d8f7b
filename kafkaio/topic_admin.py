"""Create the pipeline's topics before the worker subscribes.

Faust only declares its own internal topics, and production clusters usually disable
auto-creation, so the worker makes sure every topic exists with the configured layout.
"""

import logging

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from kafkaio import clients
from kafkaio.security import KafkaSettings
from kafkaio.topic_settings import TopicSettings
from schemas import topics

log = logging.getLogger(__name__)

PIPELINE_TOPICS = (
    *topics.RAW_TOPICS,
    topics.CASES,
    topics.CASE_EVENTS,
    topics.SLA_EVENTS,
    topics.NOTIFICATIONS,
    topics.DLQ,
)


def ensure_topics(kafka: KafkaSettings, layout: TopicSettings) -> list[str]:
    """Create missing topics; return the names created now."""
    admin = clients.admin(kafka)
    try:
        existing = set(admin.list_topics())
        wanted = [layout.prefix + name for name in PIPELINE_TOPICS]
        missing = [name for name in wanted if name not in existing]
        # Dead letters carry whole oversized originals, so their topic takes the largest records.
        # min.insync.replicas: with the producers' acks=all a record is acknowledged only once it is on
        # this many replicas; fewer brokers up and the producers get NotEnoughReplicas and retry.
        configs = {
            "max.message.bytes": str(kafka.max_record_bytes * 2),
            "min.insync.replicas": str(layout.effective_min_insync_replicas),
        }
        # Raw topics hold what residents sent, personal data included (152-ФЗ): keep them only as
        # long as a replay may need them; everything downstream is pseudonymised.
        raw_configs = {**configs, "retention.ms": str(layout.raw_retention_hours * 3600 * 1000)}

        def new_topic(name: str) -> NewTopic:
            is_raw = name.removeprefix(layout.prefix).startswith(topics.RAW_PREFIX)
            return NewTopic(
                name,
                layout.partitions,
                layout.replication_factor,
                topic_configs=raw_configs if is_raw else configs,
            )

        new = [new_topic(n) for n in missing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass  # another worker won the race: fine
            log.info("created topics: %s", ", ".join(missing))
        return missing
    finally:
        admin.close()

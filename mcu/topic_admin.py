"""Create the pipeline's topics before the worker subscribes.

Faust only declares its own internal topics, and production clusters usually disable
auto-creation, so the worker makes sure every topic exists with the configured layout.
"""

import logging

from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from kafkaio import clients
from mcu.settings import Settings
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


def ensure_topics(settings: Settings) -> list[str]:
    """Create missing topics; return the names created now."""
    admin = clients.admin(settings)
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

"""An output Kafka refuses must hold back the input offset that produced it (the loss of issue 15).

The broker is made to refuse every `cases` record for real: the topic is created with
``max.message.bytes`` far below the size of one case, so each produce request comes back with
MESSAGE_TOO_LARGE, a non-retriable error of the kind a fail-over can also end in. In Faust's own
path the failed send was only logged and the raw offsets were committed anyway (mcu/agents/stage.py
explains why). The enrich worker must instead keep re-sending and commit nothing; once the topic
takes the records again, every case must arrive and the offsets move on.
"""

import json
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic

from tests.integration.harness import Worker, pipeline_env, publisher_of, wait_for

RECORDS = 12


def _committed(brokers: str, group: str, topic: str) -> int:
    """Sum of the group's committed offsets on every partition of the topic (0 where none)."""
    consumer = KafkaConsumer(bootstrap_servers=brokers, group_id=group, enable_auto_commit=False)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in parts)
    finally:
        consumer.close()


def _case_keys(brokers: str, topic: str) -> set[str]:
    consumer = KafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=3000)  # fmt: skip
    try:
        return {json.loads(r.value)["message"]["source_id"] for r in consumer}
    finally:
        consumer.close()


def test_outputs_the_broker_refuses_keep_their_input_uncommitted_until_they_are_stored(brokers, tmp_path: Path):
    env = pipeline_env(tmp_path / "var", brokers, MCU_ROLES="enrich", MCU_COMMIT_INTERVAL="0.2")
    prefix, group = env["MCU_TOPIC_PREFIX"], env["MCU_APP_ID"] + "-enrich"  # the enrich stage's own group
    raw, cases = prefix + "raw.webform", prefix + "cases"
    admin = KafkaAdminClient(bootstrap_servers=brokers)
    admin.create_topics([NewTopic(cases, 4, 1, topic_configs={"max.message.bytes": "300"})])
    worker = Worker(env, tmp_path / "worker.log")
    try:
        worker.start()
        with publisher_of(env) as publisher:
            for i in range(RECORDS):
                body = {"id": f"refused-{i}", "text": f"В Джубге нет воды на улице Советской, дом {i}"}
                publisher.publish("webform", json.dumps(body, ensure_ascii=False).encode(), source_id=f"refused-{i}")
        # Several rounds of refused sends, each longer than the 0.2 s commit interval.
        wait_for(lambda: worker.metric("mcu_stage_send_retries_total", stage="enrich") >= 3 * RECORDS, 120,
                 "the enrich stage re-sending the refused cases")  # fmt: skip
        assert worker.metric("mcu_stage_processed_total", stage="enrich") >= RECORDS, "nothing was enriched"
        assert _committed(brokers, group, raw) == 0, "raw offsets committed while their cases were refused"
        assert _case_keys(brokers, cases) == set()

        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, cases, configs={"max.message.bytes": "8388608"})])
        # The producer may not recover from a refused idempotent sequence on its own; a worker
        # that stops without committing and starts again must then deliver everything.
        try:
            wait_for(lambda: _committed(brokers, group, raw) == RECORDS, 60, "the raw offsets after the topic heals")
        except AssertionError:
            worker.stop()
            assert _committed(brokers, group, raw) == 0, "a stopping worker committed input whose output was refused"
            worker.start()
            wait_for(lambda: _committed(brokers, group, raw) == RECORDS, 120, "the raw offsets after a restart")
        assert _case_keys(brokers, cases) == {f"refused-{i}" for i in range(RECORDS)}
    finally:
        worker.stop()
        admin.close()

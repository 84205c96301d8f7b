"""A poison batch on the real broker: one row ClickHouse refuses among 999 it takes.

The 1,000 cases go straight onto the worker's `cases` topic (the sink's input), so they reach the
sink in the same batches. The bad one passes pydantic but is refused by the store itself
(created_at in 2526: the CHECK constraint of migration 0009, Code 469): 999 stored, one dead letter
with reason store_rejected and the server's error, and the sink goes on with the next records.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas import Case
from schemas.topics import CASES
from tests.integration.harness import Worker, pipeline_env, query_store, wait_for
from tests.sinks.test_clickhouse_store import make_case

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def cases(n: int, prefix: str, poison: int | None = None) -> list[Case]:
    out = []
    for i in range(n):
        case = make_case(i)
        case.message.message_id = f"{prefix}-{i}"
        if i == poison:
            case.message.created_at = datetime(2526, 1, 1, tzinfo=UTC)
        out.append(case)
    return out


def send(env: dict[str, str], records: list[Case]) -> None:
    producer = KafkaProducer(bootstrap_servers=env["MCU_KAFKA_BROKERS"], acks="all", linger_ms=20)
    try:
        for c in records:
            producer.send(env["MCU_TOPIC_PREFIX"] + CASES, key=c.message.message_id.encode(),
                          value=c.model_dump_json().encode())  # fmt: skip
        producer.flush(60)
    finally:
        producer.close()


def test_one_refused_row_among_999_is_dead_lettered_and_the_sink_moves_on(brokers, tmp_path: Path):
    env = pipeline_env(tmp_path / "var", brokers, MCU_ROLES="sink", MCU_SINK_BATCH_SECONDS="2")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        send(env, cases(1000, "poison", poison=500))
        wait_for(lambda: worker.counts()["dead_letters"] == 1 and worker.counts()["cases"] == 999, 120,
                 lambda: f"999 cases and 1 dead letter, have {worker.counts()}")  # fmt: skip
        assert worker.metric("mcu_sink_rejected_rows_total", table="cases") == 1
        assert worker.metric("mcu_dead_letters_total", reason="store_rejected", stage="sink") == 1
        send(env, cases(10, "after"))  # the sink is not stuck on the refused batch
        wait_for(lambda: worker.counts()["cases"] == 1009, 60, lambda: f"10 more cases, have {worker.counts()}")
        assert worker.counts()["dead_letters"] == 1
    finally:
        worker.stop()
    letters = query_store(tmp_path / "var", "SELECT stage, reason, error, key FROM dead_letters FINAL")
    assert len(letters) == 1
    stage, reason, error, key = letters[0]
    assert (stage, reason, key) == ("sink", "store_rejected", "poison-500")
    assert error.startswith("ClickHouse Code 469 (VIOLATED_CONSTRAINT)") and "created_at_representable" in error
    stored = query_store(tmp_path / "var", "SELECT count(), countIf(message_id = 'poison-500') FROM cases FINAL")
    assert stored == [[1009, 0]]

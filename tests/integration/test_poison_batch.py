"""A poison batch on the real broker: one row ClickHouse refuses among 999 it takes.

The 1,000 cases go straight onto the worker's `cases` topic (the sink's input), so they reach the
sink in the same batches. The bad one passes pydantic but is refused by the store itself: since
the edge refuses every time ClickHouse cannot hold (schemas/times.py), no valid record is refused
by the shipped schema any more, so the test gives the store one more CHECK constraint before the
worker starts (a real Code 469 from the real server, as a drifted schema would give). 999 stored,
one dead letter with reason store_rejected and the server's error, and the sink goes on.
"""

import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaProducer

from schemas import Case
from schemas.topics import CASES
from tests.integration.harness import ROOT, Worker, pipeline_env, query_store, settings_of, wait_for
from tests.unit.sinks.test_clickhouse_store import make_case

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def cases(n: int, prefix: str) -> list[Case]:
    out = []
    for i in range(n):
        case = make_case(i)
        case.message.message_id = f"{prefix}-{i}"
        out.append(case)
    return out


POISON_CONSTRAINT = "test_refuses_poison"


def prepare_store(env: dict[str, str], poison_id: str) -> None:
    """Migrate the worker's store and make it refuse one message id; a separate process, as chdb is one per path."""
    code = (
        "import sys, clickhouse_connect\n"
        "from sinks.clickhouse.migrate import migrate\n"
        "c = clickhouse_connect.get_client(dsn=sys.argv[1])\n"
        "migrate(c)\n"
        "c.command(f\"ALTER TABLE cases ADD CONSTRAINT {sys.argv[3]} CHECK message_id != '{sys.argv[2]}'\")\n"
    )
    dsn = settings_of(env).store.resolved_dsn
    argv = [sys.executable, "-c", code, dsn, poison_id, POISON_CONSTRAINT]
    subprocess.run(argv, check=True, timeout=120, cwd=ROOT, env=env)


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
    prepare_store(env, "poison-500")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        send(env, cases(1000, "poison"))
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
    assert error.startswith("ClickHouse Code 469 (VIOLATED_CONSTRAINT)") and POISON_CONSTRAINT in error
    stored = query_store(tmp_path / "var", "SELECT count(), countIf(message_id = 'poison-500') FROM cases FINAL")
    assert stored == [[1009, 0]]

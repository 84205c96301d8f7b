"""Fault tolerance on the real broker: a killed worker, a broker outage, a store that refuses writes,
and ten thousand bad inputs through every intake path."""

import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka import KafkaAdminClient

from tests.bad_inputs import bad_input
from tests.integration.harness import (
    ROOT,
    TOKEN,
    Worker,
    free_port,
    pipeline_env,
    publisher_of,
    query_store,
    wait_for,
)
from tests.integration.test_pipeline import good_records, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def stage_and_sink_envs(tmp_path: Path, brokers: str, **extra: str) -> tuple[dict, dict, dict]:
    """Two stage workers in one consumer group, and the one sink worker that owns the store."""
    base = pipeline_env(tmp_path / "sink-var", brokers, **extra)
    app = base["MCU_APP_ID"]
    sink = {**base, "MCU_ROLES": "sink", "MCU_APP_ID": f"{app}-sink"}
    stage_a = {**base, "MCU_ROLES": "normalize,enrich", "MCU_APP_ID": f"{app}-stages",
               "MCU_VAR_DIR": str(tmp_path / "a-var")}  # fmt: skip
    stage_b = {**stage_a, "MCU_VAR_DIR": str(tmp_path / "b-var")}
    return sink, stage_a, stage_b


def test_two_workers_share_partitions_and_one_killed_under_load_loses_nothing(brokers, tmp_path: Path):
    n = 6000
    sink_env, a_env, b_env = stage_and_sink_envs(tmp_path, brokers, MCU_SINK_BATCH_SIZE="300")
    sink = Worker(sink_env, tmp_path / "sink.log").start()
    a = Worker(a_env, tmp_path / "a.log").start()
    b = Worker(b_env, tmp_path / "b.log").start()
    try:
        both_assigned = lambda: min(w.metric("mcu_worker_assigned_partitions") for w in (a, b)) > 0  # noqa: E731
        wait_for(both_assigned, 60, "both stage workers to own partitions")
        publish(sink_env, good_records(n, prefix="twoworkers"))
        wait_for(lambda: sink.metric("mcu_sink_rows_total", table="cases") >= 1000, 120, "load to flow")
        a.kill()
        wait_for(lambda: sink.counts()["cases"] == n, 300, f"all {n} cases after a stage worker was killed")
        assert b.metric("mcu_stage_processed_total", stage="enrich") > 0
    finally:
        for w in (a, b, sink):
            w.stop()
    total, unique = query_store(tmp_path / "sink-var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0]
    assert (total, unique) == (n, n)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A broker of this test's own, so that stopping it does not disturb the other tests."""
    env = {
        "MCU_KAFKA_PORT": str(free_port()),
        "MCU_KAFKA_CONTROLLER_PORT": str(free_port()),
        "MCU_VAR_DIR": str(tmp_path / "broker"),
        "PATH": __import__("os").environ["PATH"],
        "HOME": __import__("os").environ.get("HOME", "/root"),
    }
    script = str(ROOT / "deploy" / "kafka.sh")
    subprocess.run([script, "start"], env=env, check=True, capture_output=True)
    env["script"] = script
    try:
        yield env
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True)


def test_broker_down_for_30s_under_load_and_everything_arrives(own_broker: dict[str, str], tmp_path: Path):
    brokers = f"127.0.0.1:{own_broker['MCU_KAFKA_PORT']}"
    env = pipeline_env(tmp_path / "var", brokers)
    worker = Worker(env, tmp_path / "worker.log").start()
    n, sent_errors = 3000, []

    def produce_steadily() -> None:
        # One long-lived producer, as a connector has: it must ride out the outage by itself.
        try:
            with publisher_of(env) as publisher:
                for body in good_records(n, prefix="outage"):
                    publisher.publish("webform", body)
                    time.sleep(0.015)  # about 60 records/s for ~50 s: the outage falls in the middle
        except Exception as exc:
            sent_errors.append(exc)

    producer = threading.Thread(target=produce_steadily)
    try:
        producer.start()
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") > 0, 120, "the first rows")
        subprocess.run([own_broker["script"], "stop"], env=own_broker, check=True, capture_output=True)
        time.sleep(30)
        subprocess.run([own_broker["script"], "start"], env=own_broker, check=True, capture_output=True)
        producer.join(240)
        assert not sent_errors, sent_errors
        wait_for(lambda: worker.counts()["cases"] == n, 300, f"all {n} cases after the outage")
    finally:
        worker.stop()
    assert query_store(tmp_path / "var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0] == [n, n]


class DroppingServer:
    """A TCP port that accepts connections and closes them at once: a store that refuses writes."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()


def committed(brokers: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=brokers)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic.endswith(".cases") and meta.offset > 0)


def test_a_store_refusing_writes_holds_offsets_and_loses_nothing(brokers, tmp_path: Path):
    n = 500
    refusing = DroppingServer()
    sink_env, stage_env, _ = stage_and_sink_envs(tmp_path, brokers)
    down_env = {**sink_env, "MCU_CLICKHOUSE_DSN": f"http://127.0.0.1:{refusing.port}/default"}
    stages = Worker(stage_env, tmp_path / "stages.log").start()
    sink = Worker(down_env, tmp_path / "sink-down.log")
    try:
        sink.start()
        publish(sink_env, good_records(n, prefix="storedown"))
        wait_for(lambda: sink.metric("mcu_sink_insert_failures_total", table="cases") >= 3, 120,
                 "the sink to fail and back off")  # fmt: skip
        time.sleep(3)  # several commit intervals pass: nothing may be committed for unstored rows
        assert committed(brokers, sink_env["MCU_APP_ID"]) == 0
        assert 'mcu_sink_last_success_timestamp_seconds{table="cases"}' not in httpx.get(sink.url + "/metrics").text
        sink.kill()  # no clean shutdown either: the held offsets must simply never have been committed
        refusing.close()

        healed = Worker(sink_env, tmp_path / "sink-up.log").start()  # the store is back
        try:
            wait_for(lambda: healed.counts()["cases"] == n, 180, f"all {n} cases once the store accepts writes")
        finally:
            healed.stop()
    finally:
        stages.stop()
        sink.kill()  # no clean shutdown either: the held offsets must simply never have been committed
        refusing.close()
    assert query_store(tmp_path / "sink-var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0] == [n, n]


def test_ten_thousand_bad_inputs_through_http_and_kafka_end_as_4xx_or_dead_letters(brokers, tmp_path: Path):
    rng = random.Random(2021)
    inputs = [bad_input(rng)[0] for _ in range(10_000)]
    env = pipeline_env(tmp_path / "var", brokers)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        statuses: dict[int, int] = {}
        with httpx.Client(base_url=worker.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as http:
            for body in inputs:
                status = http.post("/ingest/webform", content=body).status_code
                statuses[status] = statuses.get(status, 0) + 1
        assert set(statuses) <= {400, 413}, statuses
        publish(env, inputs)
        wait_for(lambda: worker.counts()["dead_letters"] == len(inputs), 300, "a dead letter for every bad record")
        assert worker.counts()["cases"] == 0
        assert httpx.get(worker.url + "/health").status_code == 200
    finally:
        worker.stop()
    reasons = dict(query_store(tmp_path / "var", "SELECT reason, count() FROM dead_letters FINAL GROUP BY reason"))
    assert sum(reasons.values()) == len(inputs)
    assert "processing_error" not in reasons, reasons

"""The pipeline on a real three-broker cluster (replication 3, min.insync.replicas=2).

One cluster for the module, started by deploy/kafka.sh on free ports with its own var dir (the
shared broker on 9092 is never touched) and stopped at the end. Each test leaves all three nodes
up for the next. Every test prints its wall time and the recovery times it measured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kafka.errors import KafkaTimeoutError

from ingest.producer import RawPublisher
from kafkaio import clients
from tests.integration.harness import (
    ROOT,
    TOKEN,
    Worker,
    free_port,
    pipeline_env,
    query_store,
    settings_of,
    wait_for,
)
from tests.integration.test_pipeline import good_records

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KAFKA_SH = str(ROOT / "deploy" / "kafka.sh")


class Cluster:
    def __init__(self, var_dir: Path) -> None:
        ports = [free_port() for _ in range(6)]
        self.ports = ports[:3]
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/root"),
            "MCU_VAR_DIR": str(var_dir),
            "MCU_KAFKA_PORTS": ",".join(map(str, ports[:3])),
            "MCU_KAFKA_CONTROLLER_PORTS": ",".join(map(str, ports[3:])),
        }
        if "JAVA_HOME" in os.environ:
            self.env["JAVA_HOME"] = os.environ["JAVA_HOME"]
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def sh(self, *args: str) -> str:
        done = subprocess.run([KAFKA_SH, *args], env=self.env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0 or args[0] == "status", f"kafka.sh {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def node_of_port(self, port: int) -> int:
        return self.ports.index(port) + 1

    def leaders(self, topic: str) -> dict[int, int]:
        """partition -> node id leading it."""
        admin = clients.admin(settings_of({"MCU_KAFKA_BROKERS": self.bootstrap}))
        try:
            (described,) = admin.describe_topics([topic])
        finally:
            admin.close()
        return {p["partition_index"]: p["leader_id"] for p in described["partitions"]}

    def all_up(self) -> None:
        self.sh("start")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    started = time.monotonic()
    c.sh("start", "--brokers", "3")
    print(f"\n3-node cluster up in {time.monotonic() - started:.1f} s")
    try:
        yield c
    finally:
        subprocess.run([KAFKA_SH, "stop"], env=c.env, capture_output=True, timeout=300, check=False)
        subprocess.run([KAFKA_SH, "kill"], env=c.env, capture_output=True, timeout=120, check=False)


@pytest.fixture(autouse=True)
def wall_time(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    print(f"\n{request.node.name}: wall time {time.monotonic() - started:.1f} s")


def cluster_env(var_dir: Path, c: Cluster, **extra: str) -> dict[str, str]:
    return pipeline_env(
        var_dir,
        c.bootstrap,
        MCU_TOPIC_REPLICATION_FACTOR="3",
        MCU_TOPIC_PARTITIONS="3",
        MCU_SINK_BATCH_SIZE="500",
        **extra,
    )


def lag_series(worker: Worker) -> list[str]:
    """Non-zero lag of the pipeline's topics. Table changelogs are left out: the worker writes them
    and never commits offsets on them, so mcu_consumer_lag shows 1 per SLA changelog partition for ever."""
    text = httpx.get(worker.url + "/metrics", timeout=10).text
    return [
        line
        for line in text.splitlines()
        if line.startswith("mcu_consumer_lag{") and "-changelog" not in line and not line.endswith(" 0.0")
    ]


def total_lag(worker: Worker) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in lag_series(worker))


def publish_steadily(env: dict[str, str], bodies: list[bytes], per_second: float, errors: list[Exception]) -> None:
    """One long-lived publisher, as a connector has: it must ride out fail-overs by itself."""
    try:
        with RawPublisher(settings_of(env)) as publisher:
            for i, body in enumerate(bodies):
                publisher.publish("webform", body)
                if i % 50 == 49:
                    time.sleep(50 / per_second)
            publisher.flush(timeout=300)
    except Exception as exc:
        errors.append(exc)


def assert_all_once(worker: Worker, var_dir: Path, n: int) -> None:
    wait_for(
        lambda: total_lag(worker) == 0, 120, lambda: f"the worker's lag back to zero: {'; '.join(lag_series(worker))}"
    )
    assert worker.counts()["dead_letters"] == 0, "a fail-over caused dead letters"
    worker.stop()
    total, unique = query_store(var_dir, "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0]
    assert (total, unique) == (n, n)
    assert query_store(var_dir, "SELECT count() FROM dead_letters FINAL")[0][0] == 0


def test_the_broker_leading_cases_is_sigkilled_under_load_and_nothing_is_lost(cluster: Cluster, tmp_path: Path):
    n = 5000
    env = cluster_env(tmp_path / "var", cluster)
    worker = Worker(env, tmp_path / "worker.log").start()
    errors: list[Exception] = []
    publisher = threading.Thread(target=publish_steadily, args=(env, good_records(n, prefix="leaderkill"), 500, errors))
    try:
        publisher.start()
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") >= 500, 180, "load to flow")
        leaders = cluster.leaders(env["MCU_TOPIC_PREFIX"] + "cases")
        victim = max(set(leaders.values()), key=list(leaders.values()).count)
        before = worker.metric("mcu_sink_rows_total", table="cases")
        killed_at = time.monotonic()
        cluster.sh("kill", "--node", str(victim))
        # The controller moves the leaderships once the node's broker session (4 s) expires.
        wait_for(lambda: victim not in cluster.leaders(env["MCU_TOPIC_PREFIX"] + "cases").values(), 60,
                 f"new leaders for node {victim}'s partitions of cases")  # fmt: skip
        failed_over = time.monotonic() - killed_at
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") > before + 200, 180, "rows again")
        flowing = time.monotonic() - killed_at
        publisher.join(300)
        assert not errors, errors
        wait_for(lambda: worker.counts()["cases"] == n, 300, f"all {n} cases after the leader was killed")
        drained = time.monotonic() - killed_at
        print(
            f"\nleader of cases ({sum(v == victim for v in leaders.values())} of {len(leaders)} partitions, "
            f"node {victim}) SIGKILLed: new leaders after {failed_over:.1f} s, rows flow after {flowing:.1f} s, "
            f"all {n} stored after {drained:.1f} s"
        )
        assert_all_once(worker, tmp_path / "var", n)
    finally:
        worker.stop()
        cluster.all_up()


def test_rolling_restart_of_all_three_brokers_under_load(cluster: Cluster, tmp_path: Path):
    n = 3000
    env = cluster_env(tmp_path / "var", cluster)
    worker = Worker(env, tmp_path / "worker.log").start()
    errors: list[Exception] = []
    # About 60 records/s for ~50 s: the three restarts (~15 s each) fall inside the load.
    publisher = threading.Thread(target=publish_steadily, args=(env, good_records(n, prefix="rolling"), 60, errors))
    try:
        publisher.start()
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") > 0, 180, "the first rows")
        started = time.monotonic()
        for node in (1, 2, 3):
            cluster.sh("restart", "--node", str(node))
        print(f"\nrolling restart of 3 nodes took {time.monotonic() - started:.1f} s")
        publisher.join(300)
        assert not errors, errors
        wait_for(lambda: worker.counts()["cases"] == n, 300, f"all {n} cases after a rolling restart")
        print(f"all {n} stored {time.monotonic() - started:.1f} s after the restarts began")
        assert_all_once(worker, tmp_path / "var", n)
    finally:
        worker.stop()
        cluster.all_up()


def test_two_brokers_down_nothing_acknowledged_then_one_returns_and_all_flows(cluster: Cluster, tmp_path: Path):
    env = cluster_env(tmp_path / "var", cluster, MCU_INGEST_ACK_TIMEOUT="3")
    worker = Worker(env, tmp_path / "worker.log").start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    accepted: list[str] = []
    try:
        with httpx.Client(base_url=worker.url, headers=auth, timeout=30) as http:
            ok = http.post("/ingest/webform", json={"id": "before-1", "text": "В Джубге нет воды на улице Советской"})
            assert ok.status_code == 202, ok.text
            accepted.append(ok.json()["message_id"])

            cluster.sh("kill", "--node", "2")
            cluster.sh("kill", "--node", "3")
            refused = http.post("/ingest/webform", json={"id": "down-1", "text": "В Небуге нет света второй день"})
            assert refused.status_code == 503, refused.text
            assert refused.headers.get("Retry-After")

            # The publisher (what connectors use) keeps its records and retries: nothing confirmed.
            bodies = good_records(200, prefix="belowisr")
            with RawPublisher(settings_of(env)) as publisher:
                for body in bodies:
                    publisher.publish("webform", body)
                with pytest.raises(KafkaTimeoutError):  # held, not failed: the producer retries
                    publisher.flush(timeout=5)
                down_at = time.monotonic()
                cluster.sh("start", "--node", "2")
                publisher.flush(timeout=120)  # the same records, retried by the producer, now stored
                print(f"\none broker back: the publisher's backlog confirmed {time.monotonic() - down_at:.1f} s later")

            def accepted_again() -> bool:
                r = http.post("/ingest/webform", json={"id": "after-1", "text": "В Шепси нет газа"})
                if r.status_code == 202:
                    accepted.append(r.json()["message_id"])
                return r.status_code == 202

            wait_for(accepted_again, 60, "the intake to accept again with two brokers up")
        n = len(bodies) + len(accepted)

        def stored() -> bool:
            return worker.counts()["cases"] >= n

        wait_for(stored, 240, f"the {n} acknowledged records in ClickHouse")
    finally:
        worker.stop()
        cluster.all_up()
    ids = {row[0] for row in query_store(tmp_path / "var", "SELECT message_id FROM cases FINAL")}
    assert set(accepted) <= ids
    total, unique = query_store(tmp_path / "var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0]
    assert total == unique and total >= n  # the refused record may still have been stored by the retries


def _publish_simulated_day(env: dict[str, str], day_dir: Path) -> int:
    n = 0
    with RawPublisher(settings_of(env)) as publisher:
        for path in sorted(day_dir.glob("raw.*.jsonl")):
            channel = path.name.removeprefix("raw.").removesuffix(".jsonl")
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                body = json.dumps(rec["payload"], ensure_ascii=False).encode()
                publisher.publish(channel, body, source_id=rec["source_id"])
                n += 1
        publisher.flush()
    return n


def _problems(var_dir: Path) -> list[list[object]]:
    """Refresh the report aggregates of a stopped worker's store and read `problems` per day."""
    dsn = f"chdb://{var_dir / 'clickhouse'}"
    code = (
        "import json, clickhouse_connect\n"
        "from reports.store import refresh\n"
        f"c = clickhouse_connect.get_client(dsn={dsn!r})\n"
        "refresh(c)\n"
        "rows = c.query('SELECT day, uniqExactMerge(problems), sum(messages) FROM daily_stats "
        "GROUP BY day ORDER BY day').result_rows\n"
        "print(json.dumps([list(r) for r in rows], default=str))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


def test_a_simulated_day_through_one_and_two_enrich_workers_gives_the_same_clusters(cluster: Cluster, tmp_path: Path):
    day = tmp_path / "day"
    subprocess.run(
        [sys.executable, "-m", "mcu", "simulate", "--out", str(day), "--days", "1", "--per-day", "400", "--seed", "15"],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    one_env = cluster_env(tmp_path / "one", cluster)
    two_base = cluster_env(tmp_path / "two", cluster)
    app = two_base["MCU_APP_ID"]
    rest_env = {**two_base, "MCU_ROLES": "normalize,sla,notify,sink", "MCU_APP_ID": f"{app}-rest"}
    enrich_envs = [
        {**two_base, "MCU_ROLES": "enrich", "MCU_APP_ID": f"{app}-enrich", "MCU_VAR_DIR": str(tmp_path / f"e{i}")}
        for i in (1, 2)
    ]
    one = Worker(one_env, tmp_path / "one.log").start()
    rest = Worker(rest_env, tmp_path / "rest.log").start()
    enrichers = [Worker(e, tmp_path / f"enrich{i}.log").start() for i, e in enumerate(enrich_envs, 1)]
    try:
        wait_for(
            lambda: all(w.metric("mcu_worker_assigned_partitions") > 0 for w in enrichers),
            120,
            "both enrich workers to own partitions",
        )
        n = _publish_simulated_day(one_env, day)
        assert _publish_simulated_day(two_base, day) == n
        wait_for(lambda: one.counts()["cases"] == n, 300, f"{n} cases through one worker")
        wait_for(lambda: rest.counts()["cases"] == n, 300, f"{n} cases through two enrich workers")
        assert all(w.metric("mcu_stage_processed_total", stage="enrich") > 0 for w in enrichers), "one idle enricher"
    finally:
        for w in (one, rest, *enrichers):
            w.stop()
    sql = "SELECT message_id, cluster_id FROM cases FINAL ORDER BY message_id"
    through_one = dict(query_store(tmp_path / "one", sql))
    through_two = dict(query_store(tmp_path / "two", sql))
    assert len(through_one) == n and through_one == through_two
    clustered = [c for c in through_one.values() if c]
    assert len(set(clustered)) < len(clustered), "the simulated day has no duplicates: the comparison shows nothing"
    problems_one, problems_two = _problems(tmp_path / "one"), _problems(tmp_path / "two")
    assert problems_one == problems_two
    print(f"\n{n} messages, {len(set(clustered))} clusters; problems per day: {problems_one}")

"""The store as a real ClickHouse server (deploy/clickhouse.sh): analysts read while workers write,
two workers sink into it, the server itself dies mid-insert, bad DSNs are one line."""

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest

from tests.integration.harness import (
    CLICKHOUSE,
    ROOT,
    LocalClickHouse,
    Worker,
    new_database,
    pipeline_env,
    publisher_of,
    query_store,
    wait_for,
)
from tests.integration.test_pipeline import good_records, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# An analyst in a process of its own: polls what analysts see until it sees `n` cases.
ANALYST = """
import json, sys, time, clickhouse_connect
dsn, n, deadline = sys.argv[1], int(sys.argv[2]), time.monotonic() + float(sys.argv[3])
client = clickhouse_connect.get_client(dsn=dsn)
seen = []
while time.monotonic() < deadline:
    try:
        seen.append(client.query("SELECT count() FROM cases FINAL").result_rows[0][0])
    except Exception as exc:  # the tables appear with the worker's migrations
        if "UNKNOWN_TABLE" not in str(exc) and "Unknown table" not in str(exc):
            raise
    if seen and seen[-1] >= n:
        break
    time.sleep(0.2)
print(json.dumps(seen))
"""


def test_an_analyst_queries_while_a_worker_inserts_and_counts_only_grow(brokers, tmp_path: Path):
    n = 3000
    env = pipeline_env(tmp_path / "var", brokers, MCU_SINK_BATCH_SIZE="200")
    worker = Worker(env, tmp_path / "worker.log").start()
    analyst = subprocess.Popen(
        [sys.executable, "-c", ANALYST, env["MCU_CLICKHOUSE_DSN"], str(n), "300"], stdout=subprocess.PIPE, text=True
    )
    try:
        publish(env, good_records(n, prefix="analyst"))
        out, _ = analyst.communicate(timeout=330)
    finally:
        analyst.kill()
        worker.stop()
    seen = json.loads(out)
    assert seen and seen[-1] == n, f"the analyst ended at {seen[-1:]} of {n}"
    assert all(a <= b for a, b in itertools.pairwise(seen)), "a count went down"
    assert len(set(seen)) > 2, f"the analyst saw no inserts in progress: {sorted(set(seen))}"
    assert query_store(tmp_path / "var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0] == [n, n]


def test_two_workers_sink_into_one_server_and_one_killed_mid_batch_loses_and_duplicates_nothing(
    brokers, tmp_path: Path
):
    n = 4000
    env_a = pipeline_env(tmp_path / "a-var", brokers, MCU_SINK_BATCH_SIZE="300")
    env_b = {**env_a, "MCU_VAR_DIR": str(tmp_path / "b-var")}  # same group, same database
    a = Worker(env_a, tmp_path / "a.log").start()
    b = Worker(env_b, tmp_path / "b.log").start()
    try:
        wait_for(lambda: min(w.metric("mcu_worker_assigned_partitions") for w in (a, b)) > 0, 60, "both own partitions")
        publish(env_a, good_records(n, prefix="twosinks"))
        wait_for(lambda: a.metric("mcu_sink_rows_total", table="cases") >= 300, 120, "worker a to sink batches")
        a.kill()  # SIGKILL while batches are in flight: no final commit
        wait_for(lambda: b.counts()["cases"] == n, 300, f"all {n} cases after worker a was killed")
        assert b.metric("mcu_sink_rows_total", table="cases") > 0, "worker b sank too"
    finally:
        a.stop()
        b.stop()
    total, unique = query_store(tmp_path / "a-var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0]
    assert (total, unique) == (n, n)
    assert query_store(tmp_path / "a-var", "SELECT count() FROM dead_letters FINAL")[0] == [0]


@pytest.fixture
def own_clickhouse(tmp_path: Path) -> Iterator[LocalClickHouse]:
    """A server of this test's own: killing it does not disturb the other tests."""
    server = LocalClickHouse(tmp_path / "ch").start()
    try:
        yield server
    finally:
        server.stop()


def test_dedup_tokens_survive_a_server_killed_and_restarted(own_clickhouse: LocalClickHouse):
    dsn = new_database(own_clickhouse.url, prefix="dedup")
    client = clickhouse_connect.get_client(dsn=dsn)
    client.command(
        "CREATE TABLE t (x UInt32) ENGINE = MergeTree ORDER BY x SETTINGS non_replicated_deduplication_window = 1000"
    )
    settings = {"async_insert": 0, "insert_deduplication_token": "batch-1"}
    client.insert("t", [[1], [2], [3]], column_names=["x"], settings=settings)
    own_clickhouse.kill()  # SIGKILL: no flush, no clean shutdown
    own_clickhouse.start()
    client = clickhouse_connect.get_client(dsn=dsn)
    assert "non_replicated_deduplication_window = 1000" in client.command("SHOW CREATE TABLE t")
    client.insert("t", [[1], [2], [3]], column_names=["x"], settings=settings)  # the retry after a crash
    assert client.query("SELECT count() FROM t").result_rows == [(3,)]
    client.insert("t", [[4]], column_names=["x"], settings={**settings, "insert_deduplication_token": "batch-2"})
    assert client.query("SELECT count() FROM t").result_rows == [(4,)]


def test_the_server_killed_mid_insert_and_restarted_the_sink_retries_and_nothing_is_lost_or_doubled(
    brokers, own_clickhouse: LocalClickHouse, tmp_path: Path
):
    n = 3000
    env = pipeline_env(
        tmp_path / "var", brokers, MCU_SINK_BATCH_SIZE="200", MCU_CLICKHOUSE_DSN=new_database(own_clickhouse.url)
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    errors: list[Exception] = []

    def produce_steadily() -> None:
        try:
            with publisher_of(env) as publisher:
                for body in good_records(n, prefix="chdown"):
                    publisher.publish("webform", body)
                    time.sleep(0.01)  # ~30 s of traffic: the outage falls in the middle
        except Exception as exc:
            errors.append(exc)

    producer = threading.Thread(target=produce_steadily)
    try:
        producer.start()
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="cases") >= 200, 120, "the first batches")
        own_clickhouse.kill()
        failures_before = worker.metric("mcu_sink_insert_failures_total", table="cases")
        wait_for(
            lambda: worker.metric("mcu_sink_insert_failures_total", table="cases") >= failures_before + 2,
            120,
            "the sink to fail and retry while the server is down",
        )
        own_clickhouse.start()
        producer.join(240)
        assert not errors, errors
        wait_for(lambda: worker.counts()["cases"] == n, 300, f"all {n} cases after the server came back")
    finally:
        worker.stop()
    total, unique = query_store(tmp_path / "var", "SELECT count(), uniqExact(message_id) FROM cases FINAL")[0]
    assert (total, unique) == (n, n)
    # Without FINAL: a batch the server stored just before dying and the sink re-sent must not count twice.
    raw = query_store(tmp_path / "var", "SELECT count() FROM cases")[0][0]
    assert raw == n, f"{raw - n} rows doubled by a retried insert"


def _mcu(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcu", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("command", [("counts",), ("report", "ratings"), ("db", "migrate")])
def test_bad_store_configuration_is_one_line_naming_the_masked_dsn(command: tuple[str, ...]):
    url = CLICKHOUSE["url"]
    port = url.rsplit(":", 1)[1]
    bad = {
        "unreachable": ("http://mcu:s3cret-pw@127.0.0.1:1/mcu", "не отвечает"),
        "credentials": (f"http://nobody:s3cret-pw@127.0.0.1:{port}/default", "имя пользователя или пароль"),
        "database": (f"http://127.0.0.1:{port}/no_such_database", "не знает такой базы данных"),
    }
    for kind, (dsn, words) in bad.items():
        done = _mcu({**os.environ, "MCU_CLICKHOUSE_DSN": dsn, "MCU_WEB_PORT": "1"}, *command)
        lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
        assert done.returncode == 1, (kind, done.returncode, done.stderr)
        assert len(lines) == 1, (kind, done.stderr)
        assert words in lines[0] and "s3cret-pw" not in done.stderr, (kind, lines[0])
        assert dsn.replace("s3cret-pw", "***") in lines[0], (kind, lines[0])


def test_a_worker_stops_in_one_line_on_wrong_credentials_or_database_and_waits_out_an_unreachable_one(
    brokers, tmp_path: Path
):
    port = CLICKHOUSE["url"].rsplit(":", 1)[1]
    base = pipeline_env(tmp_path / "var", brokers)
    for dsn in (f"http://nobody:s3cret-pw@127.0.0.1:{port}/default", f"http://127.0.0.1:{port}/no_such_database"):
        done = _mcu({**base, "MCU_CLICKHOUSE_DSN": dsn}, "worker", timeout=180)
        assert done.returncode == 1, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and "s3cret-pw" not in done.stderr
        mine = [ln for ln in done.stderr.splitlines() if "ClickHouse" in ln]
        assert len(mine) == 1 and dsn.replace("s3cret-pw", "***") in mine[0], done.stderr[-2000:]
    # Unreachable may be an outage, not a typo: the worker says so in one line and keeps retrying.
    worker = Worker({**base, "MCU_CLICKHOUSE_DSN": "http://127.0.0.1:1/mcu"}, tmp_path / "down.log").start()
    try:
        wait_for(lambda: worker.metric("mcu_sink_insert_failures_total") >= 0, 10, "metrics")
        log = worker.log_path.read_text()
        mine = [ln for ln in log.splitlines() if "повторять" in ln]
        assert len(mine) == 1 and "ClickHouse http://127.0.0.1:1/mcu не отвечает" in mine[0], log[-2000:]
        assert "Traceback" not in log, log[-3000:]
    finally:
        worker.stop()

"""The cluster variant for real: two local ClickHouse servers as the two shards of one cluster
(`deploy/clickhouse.sh start --shards 2`: Distributed tables over plain MergeTree shards, no Keeper).

A simulated day goes through one pipeline; two sink-only workers write it into the cluster and into
a single server; the stores end equal row for row, the ratings and a three-dimension breakdown come
out the same. Inserts retried with their dedup
token store nothing twice on either shard.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from ingest.connectors.events import EventPublisher
from kafkaio.producer import RawPublisher
from mcu.corrections import RATES_SQL
from reports.build import ReportRequest, build_report
from reports.store import client_query, refresh
from schemas import CaseEvent
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.quarantine import quarantine
from sinks.clickhouse.rows import SLA_EVENT_COLUMNS
from sinks.clickhouse.writer import dedup_token, insert_batch
from tests.integration.harness import ROOT, Worker, free_port, pipeline_env, settings_of, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

CLUSTER = "mcu_it_shards"


class Shards:
    """Two local servers, each the shard of CLUSTER named in both servers' <remote_servers>."""

    def __init__(self, var_dir: Path) -> None:
        self.http = [free_port(), free_port()]
        self.tcp = [free_port(), free_port()]
        self.env = {
            **os.environ,
            "MCU_VAR_DIR": str(var_dir),
            "MCU_PYTHON": sys.executable,
            "MCU_CLICKHOUSE_CLUSTER": CLUSTER,
            "MCU_CLICKHOUSE_HTTP_PORT": str(self.http[0]),
            "MCU_CLICKHOUSE_TCP_PORT": str(self.tcp[0]),
            "MCU_CLICKHOUSE_SHARD_HTTP_PORTS": ",".join(map(str, self.http)),
            "MCU_CLICKHOUSE_SHARD_TCP_PORTS": ",".join(map(str, self.tcp)),
        }

    def script(self, command: str) -> str:
        out = subprocess.run(
            [str(ROOT / "deploy" / "clickhouse.sh"), command, "--shards", "2"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert out.returncode == 0, f"clickhouse.sh {command} --shards 2: {out.stdout}{out.stderr}"
        return out.stdout

    def dsns(self, database: str) -> list[str]:
        return [f"http://127.0.0.1:{p}/{database}" for p in self.http]

    def new_database(self, name: str) -> list[str]:
        for port in self.http:
            clickhouse_connect.get_client(dsn=f"http://127.0.0.1:{port}/default").command(f"CREATE DATABASE {name}")
        return self.dsns(name)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shards]:
    s = Shards(tmp_path_factory.mktemp("shards"))
    s.script("start")
    try:
        yield s
    finally:
        s.script("stop")


def _publish_day(env: dict[str, str], day: Path) -> tuple[int, int]:
    """The simulated day's files into one pipeline's topics: raw messages, then status events."""
    messages = events = 0
    settings = settings_of(env)
    with RawPublisher(settings.kafka, settings.topics) as raw:
        for path in sorted(day.glob("raw.*.jsonl")):
            channel = path.name.removeprefix("raw.").removesuffix(".jsonl")
            for line in path.read_text().splitlines():
                rec = json.loads(line)
                raw.publish(
                    channel, json.dumps(rec["payload"], ensure_ascii=False).encode(), source_id=rec["source_id"]
                )
                messages += 1
        raw.flush()
        publisher = EventPublisher(settings.kafka, settings.topics, producer=raw._producer)
        for line in (day / "case.events.jsonl").read_text().splitlines():
            publisher.publish_event(CaseEvent.model_validate_json(line))
            events += 1
        publisher.flush()
    return messages, events


def _mcu(env: dict[str, str], *args: str) -> None:
    out = subprocess.run([sys.executable, "-m", "mcu", *args], env={**env, "MCU_WEB_PORT": str(free_port())},
                         capture_output=True, text=True, timeout=300, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]


def _reports(dsn: str, since: Any, until: Any) -> dict[str, list[list[list[Any]]]]:
    """Ratings and block × settlement × channel, split into exact columns and t-digest hours."""
    query = client_query(clickhouse_connect.get_client(dsn=dsn))
    out: dict[str, list[list[list[Any]]]] = {}
    for req in (
        ReportRequest(kind="ratings", date_from=since, date_to=until),
        ReportRequest(
            kind="breakdown",
            by="block,settlement,channel",
            measures="messages,cases,problems,rated,satisfaction_mean,repeated,overdue,first_response_median_h",
            date_from=since,
            date_to=until,
        ),
    ):
        report = build_report(query, req)
        for sec_no, sec in enumerate(report.sections):
            exact = [[v for v, c in zip(row, sec.columns, strict=True) if c.fmt != "hours"] for row in sec.rows]
            hours = [[v for v, c in zip(row, sec.columns, strict=True) if c.fmt == "hours"] for row in sec.rows]
            out[f"{req.kind}/{sec_no}"] = exact
            out[f"{req.kind}/{sec_no}/hours"] = hours
    return out


def test_a_simulated_day_through_the_two_shard_cluster_reports_what_one_server_reports(
    shards: Shards, brokers: str, tmp_path: Path
):
    """One pipeline, two sinks: the store is the only thing compared.

    Worker P runs every stage but the sink; two sink-only workers, each its own consumer group on
    P's topics, write the same records into the single server and into the cluster. So both stores
    get the very same SLA events (fired once, by P's timers on its wall clock) and must end equal.
    """
    day = tmp_path / "day"
    made = subprocess.run(
        [sys.executable, "-m", "mcu", "simulate", "--out", str(day), "--days", "1", "--per-day", "400", "--seed", "12"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr[-2000:]
    shard_dsns = shards.new_database("it_day")
    single_env = pipeline_env(tmp_path / "single", brokers, MCU_SINK_BATCH_SIZE="100", MCU_ROLES="sink")
    pipeline = {**single_env, "MCU_VAR_DIR": str(tmp_path / "pipeline"), "MCU_ROLES": "normalize,enrich,sla,notify",
                "MCU_APP_ID": single_env["MCU_APP_ID"] + "-pipeline"}  # fmt: skip
    cluster_env = {
        **single_env,
        "MCU_VAR_DIR": str(tmp_path / "cluster"),
        "MCU_APP_ID": single_env["MCU_APP_ID"] + "-cluster",
        "MCU_CLICKHOUSE_DSN": shard_dsns[0],
        "MCU_CLICKHOUSE_CLUSTER": CLUSTER,
        "MCU_CLICKHOUSE_SHARD_DSNS": ",".join(shard_dsns),
    }
    sinks = [Worker(cluster_env, tmp_path / "cluster.log"), Worker(single_env, tmp_path / "single.log")]
    producer = Worker(pipeline, tmp_path / "pipeline.log")
    tables = ("cases", "case_events", "sla_events", "notifications", "dead_letters")

    def store_counts(dsn: str) -> tuple[int, ...]:
        client = clickhouse_connect.get_client(dsn=dsn)
        return tuple(client.query(f"SELECT count() FROM {t} FINAL").result_rows[0][0] for t in tables)

    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda w: w.start(timeout=300), [*sinks, producer]))  # a loaded 2-core machine
        n, events = _publish_day(single_env, day)
        for w in sinks:
            wait_for(lambda w=w: w.counts()["cases"] == n, 300, f"{n} cases in {w.log_path.name}")
        single_dsn = single_env["MCU_CLICKHOUSE_DSN"]
        wait_for(lambda: store_counts(single_dsn)[1] >= events * 0.9, 120, "the status events")
        producer.stop()  # no SLA event is fired after this: the topics are final
        counts: list[tuple[int, ...]] = []

        def settled() -> bool:
            counts.append((*store_counts(single_dsn), *store_counts(shard_dsns[0])))
            return len(counts) >= 3 and len(set(counts[-3:])) == 1 and counts[-1][:5] == counts[-1][5:]

        wait_for(settled, 120, lambda: f"both stores equal and still, last seen {counts[-3:]} ({tables} × 2)")
    finally:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(Worker.stop, [*sinks, producer]))
    print(f"\nstores: {dict(zip(tables, counts[-1][:5], strict=True))}")
    per_shard = [
        clickhouse_connect.get_client(dsn=d).query("SELECT count(), uniqExact(message_id) FROM cases_local FINAL")
        .result_rows[0]
        for d in shard_dsns
    ]  # fmt: skip
    assert all(total == unique > n // 4 for total, unique in per_shard), f"cases per shard: {per_shard} of {n}"
    assert sum(total for total, _ in per_shard) == n
    ids = "SELECT message_id, version, department, settlement FROM cases FINAL ORDER BY message_id"
    one = clickhouse_connect.get_client(dsn=single_dsn).query(ids).result_rows
    two = clickhouse_connect.get_client(dsn=shard_dsns[0]).query(ids).result_rows
    assert one == two
    sla = "SELECT " + ", ".join(SLA_EVENT_COLUMNS) + " FROM sla_events FINAL ORDER BY " + SLA_EVENT_COLUMNS[0]
    assert (
        clickhouse_connect.get_client(dsn=single_dsn).query(sla).result_rows
        == clickhouse_connect.get_client(dsn=shard_dsns[0]).query(sla).result_rows
    )

    # The aggregates as ops recompute them (the worker's 5-minute timer does the same).
    _mcu(cluster_env, "db", "refresh")
    _mcu(single_env, "db", "refresh")
    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=30), today + timedelta(days=1)
    # Some figures move with the wall clock (a deadline passing makes a case overdue, and the
    # simulated day's deadlines fall around now). So the cluster's refresh is taken between two
    # of the single server's: when those two agree, nothing moved meanwhile and the cluster's
    # figures must be the same; when they differ, the sandwich is taken again.
    single = clickhouse_connect.get_client(dsn=single_env["MCU_CLICKHOUSE_DSN"])
    clients = [clickhouse_connect.get_client(dsn=d) for d in shard_dsns]

    def exact(reports: dict[str, list[list[list[Any]]]]) -> dict[str, Any]:
        return {k: v for k, v in reports.items() if not k.endswith("/hours")}

    for _ in range(4):
        refresh(single)
        on_one = _reports(single_env["MCU_CLICKHOUSE_DSN"], since, until)
        refresh(clients[0], shards=clients)
        on_cluster = _reports(shard_dsns[0], since, until)
        refresh(single)
        if exact(_reports(single_env["MCU_CLICKHOUSE_DSN"], since, until)) == exact(on_one):
            break
    else:
        pytest.fail("the single server's figures moved between every two refreshes: nothing to compare against")
    assert on_one.keys() == on_cluster.keys()
    for key in on_one:
        if key.endswith("/hours"):  # t-digest: approximate, and the merge order differs with the shards
            flat_one = [v for row in on_one[key] for v in row]
            flat_cluster = [v for row in on_cluster[key] for v in row]
            assert [v is None for v in flat_one] == [v is None for v in flat_cluster], key
            pairs = [(a, b) for a, b in zip(flat_one, flat_cluster, strict=True) if a is not None]
            assert [a for a, _ in pairs] == pytest.approx([b for _, b in pairs], rel=0.05, abs=0.1), key
        else:
            assert on_one[key] == on_cluster[key], key
    rows = on_one["breakdown/0"]
    assert sum(r[3] for r in rows) == n, "the breakdown does not hold every message"
    rated = sum(r[6] for r in rows)
    assert rated > 0, "the day has no ratings: the comparison would show little"
    print(f"\n{n} cases ({per_shard[0][0]} + {per_shard[1][0]} on the shards), {events} status events, {rated} rated")


def test_a_retried_insert_through_the_distributed_table_is_stored_once_on_each_shard(shards: Shards):
    dsns = shards.new_database("it_dedup")
    clients = [clickhouse_connect.get_client(dsn=d) for d in dsns]
    migrate(clients[0], CLUSTER, clients)
    columns = ["event_id", "message_id", "type", "at"]
    at = datetime(2026, 11, 2, 10, tzinfo=UTC)
    batch = [[f"e{i}", f"m{i}", "registered", at] for i in range(200)]
    token = dedup_token("case_events", [("case.events", 0, i) for i in range(200)])
    for _ in range(3):  # the sink's retry after a lost answer, then a re-delivery
        insert_batch(clients[0], "case_events", columns, batch, token, distributed=True)
    counts = [c.query("SELECT count() FROM case_events_local").result_rows[0][0] for c in clients]
    assert sum(counts) == 200 and all(c > 50 for c in counts), counts  # no FINAL: nothing was stored twice
    # A message's rows go to one shard whichever node takes the insert: the key is cityHash64(message_id).
    insert_batch(clients[1], "case_events", columns, [[f"x{i}", f"m{i}", "answered", at] for i in range(200)],
                 "other-token", distributed=True)  # fmt: skip
    spread = (
        clients[0]
        .query("SELECT message_id FROM case_events GROUP BY message_id HAVING uniqExact(_shard_num) > 1")
        .result_rows
    )
    assert spread == []
    # Quarantine deletes on each shard's local tables (no ON CLUSTER here) and recomputes through them.
    result = quarantine(clients[0], "m5", "тест", "оператор", lambda c, since: refresh(c, since, clients), CLUSTER,
                        clients)  # fmt: skip
    assert result.removed["case_events"] == 2 and not result.refresh_error, result
    left = "SELECT count() FROM case_events WHERE message_id = 'm5'"
    assert clients[0].query(left).result_rows[0][0] == 0
    assert clients[1].query("SELECT count() FROM case_events").result_rows[0][0] == 398
    assert clients[1].query("SELECT count() FROM quarantine_log WHERE message_id = 'm5'").result_rows[0][0] == 1
    # Migrations ran on both shards and each keeps the ledger.
    assert [c.query("SELECT max(version) FROM schema_migrations").result_rows[0][0] for c in clients] == [
        clients[0].query("SELECT max(version) FROM schema_migrations").result_rows[0][0]
    ] * 2


def test_the_correction_rates_the_worker_exports_read_on_the_cluster(shards: Shards):
    # cases JOIN corrections are both Distributed: ClickHouse refuses the join unless told that both
    # are sharded alike (by message id). Seen as an ERROR every refresh in a cluster worker's log.
    dsns = shards.new_database("it_rates")
    clients = [clickhouse_connect.get_client(dsn=d) for d in dsns]
    migrate(clients[0], CLUSTER, clients)
    at = datetime.now(UTC) - timedelta(days=1)
    clients[0].insert("cases", [[f"m{i}", at, 3, 1] for i in range(40)],
                      column_names=["message_id", "created_at", "block", "version"],
                      settings={"async_insert": 0, "distributed_foreground_insert": 1})  # fmt: skip
    clients[0].insert("corrections", [[f"c{i}", f"m{i}", 3, at] for i in range(4)],
                      column_names=["event_id", "message_id", "old_block", "corrected_at"],
                      settings={"async_insert": 0, "distributed_foreground_insert": 1})  # fmt: skip
    assert clients[0].query(RATES_SQL).result_rows == [(3, 0.1, 0.0, 4)]

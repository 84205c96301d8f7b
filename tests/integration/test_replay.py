"""`mcu replay --from-raw` against the real broker and ClickHouse server.

A worker stores cases; an "older model" then overwrites some of them in the store (a newer
version with another category and block), three of those closed by an answer. The replay must
restore the decisions of today's model, only for open cases with --open-only, write nothing on a
second run (same FINAL contents and report figures), take --since from the broker's timestamps,
and never write to Kafka (no case reaches the SLA stage again).
"""

import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest
from kafka import TopicPartition

from kafkaio import clients
from schemas import message_id_for
from schemas.topics import CASE_EVENTS, CASES, SLA_EVENTS
from tests.integration.harness import (
    ROOT,
    Worker,
    pipeline_env,
    query_store,
    settings_of,
    store_dsn,
    wait_for,
)
from tests.integration.test_pipeline import good_records, publish
from tests.integration.test_sla_outbox import _post

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

N = 30
DECISION = "message_id, category, kind, urgent, block, department, settlement, level, model_version"


def _replay(env: dict[str, str], *args: str) -> tuple[dict[str, int], str]:
    out = subprocess.run(
        [sys.executable, "-m", "mcu", "replay", "--from-raw", *args],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    done = re.search(r"прочитано (\d+), записано (\d+), без изменений (\d+), закрытых пропущено (\d+)", out.stdout)
    assert done, out.stdout + out.stderr
    read, written, unchanged, closed = map(int, done.groups())
    planned = re.search(r"записей к обработке: ([\d ]+)", out.stderr)
    assert planned and "повторная обработка:" in out.stderr, out.stderr
    return {"read": read, "written": written, "unchanged": unchanged, "closed": closed,
            "planned": int(planned.group(1).replace(" ", ""))}, out.stderr  # fmt: skip


def _ends(env: dict[str, str]) -> dict[str, int]:
    """Records in the topics a replay must not touch."""
    s = settings_of(env)
    consumer = clients.consumer(s.kafka, group_id=None)
    try:
        out = {}
        for t in (CASES, SLA_EVENTS, CASE_EVENTS):
            name = s.topics.prefix + t
            tps = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or ()]
            out[t] = sum(consumer.end_offsets(tps).values())
        return out
    finally:
        consumer.close()


def _decisions(var: Path) -> dict[str, list[Any]]:
    return {r[0]: r[1:] for r in query_store(var, f"SELECT {DECISION} FROM cases FINAL ORDER BY message_id")}


def _everything(var: Path) -> list[list[Any]]:
    """Every column as FINAL shows it, but when the server stored it."""
    return query_store(var, "SELECT * EXCEPT inserted_at FROM cases FINAL ORDER BY message_id")


def test_replay_restores_todays_decisions_idempotently_without_touching_kafka(brokers, tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = pipeline_env(var, brokers)
    mids = [message_id_for("webform", f"rp-{i}") for i in range(N)]
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        publish(env, good_records(N, prefix="rp"))
        wait_for(lambda: worker.counts()["cases"] == N, 180, f"{N} cases")
        for i, mid in enumerate(mids[:3]):
            _post(worker, mid, "answered", f"rp-answered-{i}")
        wait_for(lambda: query_store(var, "SELECT count() FROM case_events FINAL")[0][0] == 3, 60, "3 answers")
        wait_for(lambda: worker.metric("mcu_consumer_lag") == 0, 60, "no lag")
    finally:
        worker.stop()
    live = _decisions(var)
    assert sorted(live) == sorted(mids)
    kafka_before = _ends(env)

    # An older model's decisions for six cases: three closed by the answers above, three open.
    tampered = mids[:6]
    client = clickhouse_connect.get_client(dsn=store_dsn(var))
    client.command(
        "INSERT INTO cases SELECT * REPLACE ('old-model' AS model_version, 'unresolved' AS category, "
        "9 AS block, version + 1 AS version) FROM cases FINAL WHERE message_id IN {ids:Array(String)}",
        parameters={"ids": tampered},
        settings={"async_insert": 0},
    )
    assert all(_decisions(var)[m][-1] == "old-model" for m in tampered)

    first, _ = _replay(env, "--open-only")
    assert first["planned"] == first["read"] == N
    assert (first["written"], first["closed"]) == (3, 3)
    now = _decisions(var)
    assert [now[m] == live[m] for m in tampered] == [False] * 3 + [True] * 3  # closed ones left alone
    assert {m: now[m] for m in mids[6:]} == {m: live[m] for m in mids[6:]}

    second, _ = _replay(env)
    assert (second["written"], second["unchanged"], second["closed"]) == (3, N - 3, 0)
    assert _decisions(var) == live
    contents = _everything(var)
    report = query_store(var, "SELECT block, sum(cases) FROM daily_stats GROUP BY block ORDER BY block")
    assert report and sum(r[1] for r in report) == N

    third, _ = _replay(env)  # the same model again: nothing to write, nothing changes
    assert (third["written"], third["unchanged"]) == (0, N)
    assert _everything(var) == contents
    assert query_store(var, "SELECT block, sum(cases) FROM daily_stats GROUP BY block ORDER BY block") == report

    # --since: only records the broker appended from then on (the worker is stopped: these are new).
    time.sleep(1.5)
    since = datetime.now(UTC)
    time.sleep(1.5)
    publish(env, good_records(5, prefix="rp-late"))
    late, _ = _replay(env, "--since", since.isoformat())
    assert (late["planned"], late["written"]) == (5, 5)
    assert len(_decisions(var)) == N + 5
    assert _ends(env) == kafka_before  # no case, case event or SLA event was sent by any replay

"""The cluster variant of the migrations, checked as text: no ClickHouse cluster runs here."""

import re

import pytest

from sinks.clickhouse.cluster import NO_CLUSTER_VARIANT, per_shard, rewrite
from sinks.clickhouse.migrate import available, planned


def cluster_plan() -> list[str]:
    return [st for _, sts in planned(available(), "mcu") for st in sts]


def test_without_a_cluster_the_files_run_as_written():
    plan = planned(available(), None)
    assert [sts for _, sts in plan] == [m.statements() for m in available()]


def test_every_table_becomes_a_replicated_local_table_and_a_distributed_one():
    plan = cluster_plan()
    creates = [s for s in plan if s.startswith("CREATE TABLE")]
    locals_ = {re.match(r"CREATE TABLE IF NOT EXISTS (\w+)_local", s)[1] for s in creates if "_local ON" in s}
    distributed = {re.match(r"CREATE TABLE IF NOT EXISTS (\w+) ", s)[1] for s in creates if "Distributed(" in s}
    assert {"cases", "dead_letters", "case_events", "sla_events", "notifications"} <= locals_
    assert locals_ == distributed
    for s in creates:
        assert "ON CLUSTER 'mcu'" in s
        if "ENGINE = " in s and "Distributed" not in s:
            assert "ENGINE = Replicated" in s, s
    cases = next(s for s in creates if s.startswith("CREATE TABLE IF NOT EXISTS cases_local"))
    assert "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/cases', '{replica}', version)" in cases
    assert "cityHash64(message_id)" in next(s for s in creates if s.startswith("CREATE TABLE IF NOT EXISTS cases "))


def test_materialized_views_read_and_write_local_tables():
    views = [s for s in cluster_plan() if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views
    for s in views:
        assert re.search(r"TO \w+_local AS", s), s
        for table in re.findall(r"\bFROM\s+(\w+)", s):
            assert table.endswith("_local") or table in {"numbers"}, (table, s)


def test_alters_and_views_run_on_the_cluster():
    plan = cluster_plan()
    for s in plan:
        if s.startswith(("ALTER", "CREATE VIEW")):
            assert "ON CLUSTER 'mcu'" in s, s
    assert any(s.startswith("ALTER TABLE cases_local ON CLUSTER") for s in plan)


def test_statements_it_does_not_know_pass_unchanged():
    assert rewrite("INSERT INTO x SELECT 1", "c", {}) == ["INSERT INTO x SELECT 1"]


def test_a_modified_materialized_view_query_keeps_reading_local_tables():
    plan = cluster_plan()
    modified = [s for s in plan if " MODIFY QUERY" in s]
    assert {re.match(r"ALTER TABLE (\w+) ", s)[1] for s in modified} >= {
        "case_progress_from_events",
        "case_progress_from_sla",
    }
    for s in modified:
        assert re.match(r"ALTER TABLE \w+ ON CLUSTER 'mcu' MODIFY QUERY\s+SELECT", s), s
        sources = re.findall(r"\b(?:FROM|JOIN)\s+(\w+)", s)
        assert sources and all(t.endswith("_local") for t in sources), (sources, s)
    assert rewrite("ALTER TABLE mv MODIFY QUERY SELECT a FROM t AS x JOIN u ON 1", "c", {"t": "rand()"}) == [
        "ALTER TABLE mv ON CLUSTER 'c' MODIFY QUERY SELECT a FROM t_local AS x JOIN u ON 1"
    ]


def test_an_added_column_reaches_the_local_and_the_distributed_table():
    plan = cluster_plan()
    for table, column in (("case_progress", "deadline_latest"), ("case_events", "term")):
        adds = [
            s
            for s in plan
            if re.match(rf"ALTER TABLE {table}(_local)? ON CLUSTER 'mcu' ADD COLUMN IF NOT EXISTS {column}\b", s)
        ]
        assert [re.match(r"ALTER TABLE (\w+)", s)[1] for s in adds] == [f"{table}_local", table]  # local first
    # storage-only ALTERs stay on the local table
    local_only = ["ALTER TABLE t_local ON CLUSTER 'c' MODIFY TTL x"]
    assert rewrite("ALTER TABLE t MODIFY TTL x", "c", {"t": "rand()"}) == local_only


def test_replaced_views_run_on_the_cluster_over_distributed_tables():
    plan = cluster_plan()
    replaced = {re.match(r"CREATE OR REPLACE VIEW (\w+) ", s)[1]: s for s in plan if s.startswith("CREATE OR REPLACE")}
    assert {"daily_stats_source", "case_state"} <= set(replaced)
    for s in replaced.values():
        assert re.match(r"CREATE OR REPLACE VIEW \w+ ON CLUSTER 'mcu' AS", s), s
        assert "_local" not in s  # a query through the view must see every shard
        assert "deadline_latest" in s


def test_every_cluster_statement_parses(clickhouse):
    """The server's own parser (EXPLAIN AST on chdb) accepts every rewritten statement."""
    for statement in cluster_plan():
        assert clickhouse.query("EXPLAIN AST " + statement).result_rows, statement
    with pytest.raises(Exception, match="Syntax error"):
        clickhouse.query("EXPLAIN AST ALTER TABLE x ON CLUSTR 'c' MODIFY QUERY SELECT 1")


def shard_plan() -> list[str]:
    return [st for _, sts in planned(available(), "mcu", replicated=False) for st in sts]


def test_without_keeper_the_shards_keep_plain_engines_and_no_ddl_runs_on_cluster():
    plan = shard_plan()
    assert not [s for s in plan if "ON CLUSTER" in s or "Replicated" in s]
    assert NO_CLUSTER_VARIANT not in plan  # 0009's swap has its per-shard variant
    cases = next(s for s in plan if s.startswith("CREATE TABLE IF NOT EXISTS cases_local"))
    assert "ENGINE = ReplacingMergeTree(version)" in cases and "non_replicated_deduplication_window" in cases


def test_the_0009_swap_moves_local_tables_and_rebuilds_the_distributed_ones():
    plan = shard_plan()
    at = plan.index("RENAME TABLE cases_local TO cases_0009_old_local, cases_0009_local TO cases_local")
    after = plan[at + 1 : at + 6]
    assert {s for s in after if s.startswith("DROP")} == {
        f"DROP TABLE IF EXISTS {t} SYNC" for t in ("cases", "cases_0009_old", "cases_0009")
    }
    rebuilt = [s for s in after if s.startswith("CREATE")]
    assert any(
        s.startswith("CREATE TABLE IF NOT EXISTS cases AS cases_local ENGINE = Distributed")
        and s.endswith("cityHash64(message_id))")
        for s in rebuilt
    ), rebuilt
    # the copy runs once, through the Distributed names; every DDL statement on every shard
    copy = next(s for s in plan if s.startswith("INSERT INTO cases_0009"))
    assert not per_shard(copy) and per_shard(plan[at])


def test_every_per_shard_statement_parses(clickhouse):
    for statement in shard_plan():
        assert clickhouse.query("EXPLAIN AST " + statement).result_rows, statement

"""The cluster variant of the migrations, checked as text: no ClickHouse cluster runs here."""

import re

from sinks.clickhouse.cluster import rewrite
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
    assert rewrite("INSERT INTO x SELECT 1", "c", set()) == ["INSERT INTO x SELECT 1"]

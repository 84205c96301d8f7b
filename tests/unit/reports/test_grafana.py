"""Every panel and variable query of the analytics dashboard runs on the loaded store once
Grafana's macros are expanded the way the ClickHouse data source expands them."""

import json
from pathlib import Path

DASH = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "dashboards" / "analytics.json"


def expand(sql: str) -> str:
    return (
        sql.replace("$__fromTime", "toDateTime('2025-12-01 00:00:00')")
        .replace("$__toTime", "toDateTime('2026-01-31 23:59:59')")
        .replace("${block:csv}", "0,3,5")
        .replace("${settlement:singlequote}", "'tuapsinskoe','shepsinskoe','georgievskoe','unresolved'")
    )


def test_dashboard_queries_run(loaded):
    dash = json.loads(DASH.read_text(encoding="utf-8"))
    sqls = [t["rawSql"] for p in dash["panels"] for t in p.get("targets", [])]
    sqls += [v["query"] for v in dash["templating"]["list"] if v["type"] == "query"]
    assert len(sqls) >= 10
    for sql in sqls:
        assert "$" not in expand(sql), sql
        rows = loaded.query(expand(sql)).result_rows
        assert rows, sql
    assert all(p["datasource"]["type"] == "grafana-clickhouse-datasource" for p in dash["panels"])

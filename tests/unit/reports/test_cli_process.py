"""`mcu report` in its own process against a chdb store no worker holds: it opens the store,
migrates, writes the calendar, refreshes the aggregates and reports."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
LOAD = """
from sinks.clickhouse.client import connect
from sinks.clickhouse.migrate import migrate
from tests.unit.reports.conftest import load
c = connect("chdb://{path}")
migrate(c)
load(c)
"""


@pytest.mark.slow
def test_report_opens_a_free_chdb_store(tmp_path):
    path = tmp_path / "store"
    env = {**os.environ, "MCU_CLICKHOUSE_DSN": f"chdb://{path}", "MCU_WEB_PORT": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", LOAD.format(path=path)], check=True, cwd=ROOT, env=env, timeout=120)
    out = subprocess.run(
        [sys.executable, "-m", "mcu", "report", "breakdown", "--by", "settlement", "--measures", "cases,overdue",
         "--from", "2025-12-01", "--to", "2026-01-31", "--format", "csv"],
        check=True, cwd=ROOT, env=env, timeout=180, capture_output=True, text=True,
    )  # fmt: skip
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(out.stdout))}
    assert rows["Туапсинское городское поселение"] == ["3", "1"]

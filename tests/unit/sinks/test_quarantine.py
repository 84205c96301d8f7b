"""`mcu db quarantine` on chdb: a record stored before the constraints of 0009 (created_at 2526)
breaks the aggregate refresh; quarantining it removes it everywhere and the refresh works again."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from reports.store import refresh
from reports.worktime import sync_calendar
from schemas import CaseEvent
from schemas.events import CaseEventType
from sinks.clickhouse import migrate as migrate_module
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import available, migrate
from sinks.clickhouse.quarantine import NothingToQuarantine, quarantine
from sinks.clickhouse.writer import insert_batch
from tests.unit.reports.conftest import load
from tests.unit.reports.dataset import SPECS
from tests.unit.sinks.test_clickhouse_store import make_case


def poisoned_store(client, monkeypatch) -> None:
    """A store as issue 11 found it: the poison went in before migration 0009 existed."""
    every = available()
    monkeypatch.setattr(migrate_module, "available", lambda: [m for m in every if m.version < 9])
    # the writer of that time: case_events had no `term` column before 0010
    old_columns, old_row = rows.CASE_EVENT_COLUMNS[:-1], rows.case_event_row
    monkeypatch.setattr(rows, "CASE_EVENT_COLUMNS", old_columns)
    monkeypatch.setattr(rows, "case_event_row", lambda e: old_row(e)[:-1])
    migrate(client)
    sync_calendar(client)
    load(client)
    poison = make_case(1)
    poison.message.message_id = "poison-2526"
    poison.message.created_at = datetime(2526, 1, 1, tzinfo=UTC)
    insert_batch(client, "cases", rows.CASE_COLUMNS, [rows.case_row(poison)], "poison")
    # model_construct: the edge refuses such a time now; this row models one stored before it did
    answer = CaseEvent.model_construct(
        event_id="e-poison", message_id="poison-2526", type=CaseEventType.ANSWERED, at=datetime(2526, 1, 2, tzinfo=UTC)
    )
    insert_batch(client, "case_events", rows.CASE_EVENT_COLUMNS, [rows.case_event_row(answer)], "poison-e")
    monkeypatch.undo()
    # the swap keeps the old rows as they are
    assert migrate(client) == [m.name for m in every if m.version >= 9]


def test_a_poisoned_case_breaks_the_refresh_until_it_is_quarantined(clickhouse, monkeypatch):
    poisoned_store(clickhouse, monkeypatch)
    with pytest.raises(Exception, match=r"Code: 407|overflow"):
        refresh(clickhouse)

    result = quarantine(clickhouse, "poison-2526", "дата 2526 год", "оператор", refresh)
    assert result.removed == {
        "cases": 1,
        "case_events": 1,
        "sla_events": 0,
        "notifications": 0,
        "case_progress": 1,
        "corrections": 0,
    }
    assert result.refreshed_from is None and result.refresh_error == ""  # out of range: everything recomputed
    refresh(clickhouse)  # the 5-minute refresh works again
    messages = clickhouse.query("SELECT sum(messages) FROM daily_stats").result_rows[0][0]
    assert messages == len(SPECS)
    for table in ("cases", "case_events", "case_progress"):
        assert clickhouse.query(f"SELECT count() FROM {table} WHERE message_id = 'poison-2526'").result_rows[0][0] == 0
    audit = clickhouse.query(
        "SELECT message_id, actor, reason, removed['cases'], removed['case_events'], refresh_error FROM quarantine_log"
    ).result_rows
    assert audit == [("poison-2526", "оператор", "дата 2526 год", 1, 1, "")]


def test_quarantining_a_normal_case_recomputes_from_its_month(clickhouse):
    migrate(clickhouse)
    sync_calendar(clickhouse)
    load(clickhouse)
    refresh(clickhouse)
    before = clickhouse.query("SELECT sum(messages) FROM daily_stats").result_rows[0][0]
    victim, created = clickhouse.query(
        "SELECT message_id, created_at FROM cases FINAL ORDER BY message_id LIMIT 1"
    ).result_rows[0]
    seen = []
    result = quarantine(
        clickhouse, victim, "тест", "оператор", lambda c, since: seen.append(since) or refresh(c, since)
    )
    assert seen == [created.date().replace(day=1)] == [result.refreshed_from]
    assert clickhouse.query("SELECT sum(messages) FROM daily_stats").result_rows[0][0] == before - 1
    with pytest.raises(NothingToQuarantine):
        quarantine(clickhouse, victim, "ещё раз", "оператор", refresh)


def test_the_cli_speaks_russian_and_refuses_an_unknown_id(tmp_path):
    from mcu.cli import main

    help_text = CliRunner().invoke(main, ["db", "quarantine", "--help"]).output
    assert "Убрать обращение" in help_text and "--reason" in help_text
    # its own process: this one already holds the session's chdb path
    env = {**os.environ, "MCU_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'store'}", "MCU_VAR_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "mcu", "db", "quarantine", "нет-такого", "--reason", "проверка"],
        env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    assert out.returncode != 0 and "не найдено" in out.stderr, out.stderr

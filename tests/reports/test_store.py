"""Aggregates stay exact under re-delivery and re-routing; analysts see no personal data."""

from datetime import date

from reports.build import ReportRequest, build_report
from reports.store import refresh
from reports.worktime import calendar_rows, default_calendar
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import insert_batch
from tests.reports.conftest import load
from tests.reports.dataset import SPECS, case_of
from tests.reports.test_measures import CFG, NAMES, PERIOD


def _by_settlement(query) -> dict:
    rep = build_report(query, ReportRequest(kind="breakdown", by="settlement",
                                            measures="messages,cases,resolved_share,satisfaction_mean", **PERIOD),
                       CFG, NAMES)  # fmt: skip
    return {r[0]: r[1:] for r in rep.sections[0].rows}


def test_redelivery_and_rerouting_keep_counts_exact(loaded, query):
    before = _by_settlement(query)
    load(loaded, token="t2")  # everything again, as a re-feed with new offsets
    refresh(loaded)
    assert _by_settlement(query) == before
    # G re-enriched with a newer version routed to Небугское: it moves, it is not counted twice
    g = next(s for s in SPECS if s.mid == "G")
    moved = case_of(g, version_shift=30, settlement="nebugskoe")
    insert_batch(loaded, "cases", rows.CASE_COLUMNS, [rows.case_row(moved)], "move")
    refresh(loaded)
    after = _by_settlement(query)
    assert after["Шепсинское"][:2] == [1, 1] and after["Небугское"][:2] == [1, 1]
    assert sum(v[0] for v in after.values()) == sum(v[0] for v in before.values())


def test_analyst_views_hide_personal_data(loaded):
    cols = {r[0] for r in loaded.query("DESCRIBE TABLE analyst_cases").result_rows}
    assert not cols & {"author_id", "source_id", "source_url", "address", "text", "lat", "lon"}
    text = loaded.query("SELECT text_masked FROM analyst_cases WHERE message_id = 'A'").result_rows[0][0]
    assert "918" not in text and "@" not in text
    assert text.count("[телефон]") == 2 and "[e-mail]" in text
    event_cols = {r[0] for r in loaded.query("DESCRIBE TABLE analyst_case_events").result_rows}
    assert "actor" not in event_cols and "comment" not in event_cols


def test_sql_working_hours_match_the_calendar(loaded):
    # every case: SQL's working hours to the first response equal sla.calendar's
    from datetime import UTC, datetime

    from tests.reports.dataset import HOURS

    cal = default_calendar()
    for s in SPECS:
        first = next((at for t, at, _ in s.events if t in ("interim_answer", "answered", "resolved")), None)
        if first is None:
            continue
        py = cal.working_seconds_between(s.created, first) / 3600
        assert py == HOURS[s.mid][1], s.mid
    assert datetime(2026, 1, 1, tzinfo=UTC)  # calendar rows cover the data
    days = [r[0] for r in calendar_rows(cal)]
    assert days[0] <= date(2025, 12, 1) and days[-1] >= date(2030, 1, 1)


def test_migrations_rerun_is_a_no_op(loaded):
    assert migrate(loaded) == []

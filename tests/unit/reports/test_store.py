"""Aggregates stay exact under re-delivery and re-routing; analysts see no personal data."""

from datetime import date

from reports.build import ReportRequest, build_report
from reports.store import client_query, refresh
from reports.worktime import calendar_rows, default_calendar
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import insert_batch
from tests.unit.reports.conftest import load
from tests.unit.reports.dataset import SPECS, case_of
from tests.unit.reports.test_measures import CFG, NAMES, PERIOD


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

    from tests.unit.reports.dataset import HOURS

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


def test_partial_refresh_replaces_only_recent_months(loaded, query):
    before = _by_settlement(query)
    dec_before = loaded.query("SELECT sum(cases) FROM daily_stats WHERE day < '2026-01-01'").result_rows[0][0]
    a = next(s for s in SPECS if s.mid == "A")
    # A re-routed, but only January is recomputed: December (where A lies) keeps the old figures
    insert_batch(loaded, "cases", rows.CASE_COLUMNS, [rows.case_row(case_of(a, 30, settlement="nebugskoe"))], "x")
    refresh(loaded, date(2026, 1, 15))
    assert _by_settlement(query) == before
    refresh(loaded)
    after = _by_settlement(query)
    assert after["Небугское"][0] == 1 and after["Туапсинское"][0] == before["Туапсинское"][0] - 1
    assert loaded.query("SELECT sum(cases) FROM daily_stats WHERE day < '2026-01-01'").result_rows[0][0] == dec_before


def test_everything_runs_in_chdbs_default_database(chdb_path):
    """The worker uses chdb's `default` database (engine Overlay), which refuses some DDL
    (refreshable views): migrations, the calendar and the refresh must work there too."""
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    engine = client.query("SELECT engine FROM system.databases WHERE name = currentDatabase()").result_rows
    assert client.query("SELECT currentDatabase()").result_rows[0][0] == "default"
    try:
        migrate(client)
        from reports.worktime import sync_calendar

        sync_calendar(client)
        load(client)
        assert refresh(client) > 0
        rep = build_report(client_query(client), ReportRequest(kind="ratings", **PERIOD), CFG, NAMES)
        assert any(r[2] == "Шепсинское" and r[0] == 1 for r in rep.sections[0].rows)
    finally:
        for name, kind in client.query("SELECT name, engine FROM system.tables WHERE database = 'default'"
                                       " ORDER BY engine LIKE '%View' DESC").result_rows:  # fmt: skip
            client.command(f"DROP {'VIEW' if kind.endswith('View') else 'TABLE'} IF EXISTS default.{name}")
    assert engine  # recorded for the failure message: Overlay on chdb 4.4


def test_rollup_agrees_with_the_full_grain(loaded):
    cols = "sum(cases), sum(overdue), sum(rating_sum), uniqExactMerge(problems)"
    q = "quantilesTDigestMerge(0.5, 0.9)(first_response_hours)"
    full = loaded.query(f"SELECT settlement, {cols}, {q} FROM daily_stats GROUP BY settlement ORDER BY 1")
    body = loaded.query(f"SELECT settlement, {cols}, {q} FROM daily_body_stats GROUP BY settlement ORDER BY 1")

    def plain(rows):  # an empty quantile is NaN, and NaN != NaN
        return [[None if isinstance(v, float) and v != v else v for v in (*r[:-1], *r[-1])] for r in rows]

    assert plain(full.result_rows) == plain(body.result_rows) and len(full.result_rows) == 4


def test_whole_months_from_monthly_stats_equal_the_daily_figures(loaded, query):
    from reports.build import period_source

    d_from, d_to = date(2025, 12, 15), date(2026, 1, 31)  # half of December, all of January
    mixed = period_source(d_from, d_to, body=False)
    assert "monthly_stats" in mixed
    daily = period_source(d_from, d_to, body=False, monthly_ok=False)
    sel = (
        "SELECT channel, sum(cases), sum(overdue), uniqExactMerge(problems), "
        "arrayMap(x -> if(isNaN(x), -1, x), quantilesTDigestMerge(0.5, 0.9)(first_response_hours)) "
        "FROM {} GROUP BY channel ORDER BY channel"
    )
    assert query(sel.format(mixed), {}) == query(sel.format(daily), {})
    assert len(query(sel.format(daily), {})) == 3  # webform, vk, email
    assert "monthly" not in period_source(date(2026, 1, 5), date(2026, 1, 25), body=False)
    body_sel = sel.replace("channel", "settlement")
    body_mixed = period_source(d_from, d_to, body=True)
    assert "monthly_body_stats" in body_mixed
    assert query(body_sel.format(body_mixed), {}) == query(
        body_sel.format(period_source(d_from, d_to, body=True, monthly_ok=False)), {}
    )

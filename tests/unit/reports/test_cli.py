"""`mcu report` end to end over the loaded test store: terminal table, CSV, XLSX and HTML."""

import csv
import io

import httpx
import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from mcu.commands.report import report
from reports import fetch
from reports.build import build_report
from tests.unit.reports.test_measures import CFG, NAMES


@pytest.fixture
def runner(query, monkeypatch) -> CliRunner:
    def fake_fetch(dsn, worker_url, request, token=None):  # the store is the test's; the transport is tested below
        return build_report(query, request, CFG, NAMES)

    monkeypatch.setattr(fetch, "fetch_report", fake_fetch)
    return CliRunner()


ARGS = ["--from", "2025-12-29", "--to", "2026-01-31"]


def test_ratings_table_in_the_terminal(runner):
    res = runner.invoke(report, ["ratings", *ARGS], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    assert "Шепсинское" in res.output and "80,0 %" in res.output and "58,3 %" in res.output


def test_breakdown_csv_three_dimensions(runner):
    res = runner.invoke(report, ["breakdown", "--by", "block,settlement,channel", "--measures", "cases,overdue",
                                 "--format", "csv", *ARGS])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.output)))
    assert rows[0] == ["блок", "поселение", "канал", "обращений", "просрочено"]
    tuapse_web = [r for r in rows[1:] if r[1] == "Туапсинское" and r[2] == "webform"]
    assert tuapse_web[0][3:] == ["2", "1"]  # A and B, B overdue


def test_unknown_dimension_is_a_clear_error(runner):
    res = runner.invoke(report, ["breakdown", "--by", "planet", *ARGS])
    assert res.exit_code != 0 and "неизвестный разрез: planet" in res.output


def test_workload_xlsx(runner, tmp_path):
    out = tmp_path / "w.xlsx"
    res = runner.invoke(report, ["workload", "--format", "xlsx", "--output", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    ws = load_workbook(out).worksheets[0]
    values = [[c.value for c in row] for row in ws.iter_rows(min_row=3, max_row=9)]
    block3 = next(r for r in values if r[0] == 3)
    assert block3[2] == 4  # inflow of block 3


def test_html_has_inlined_charts_and_no_cdn(runner, tmp_path):
    out = tmp_path / "r.html"
    res = runner.invoke(report, ["ratings", "--format", "html", "--output", str(out), *ARGS])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    # plotly.js is inlined (its bundle mentions CDN URLs only for map layers we never draw)
    assert 'src="http' not in page and "src='http" not in page and len(page) > 1_000_000
    assert page.count("Plotly.newPlot") == 3  # trend lines, ranked bars, heat map
    assert '"type":"heatmap"' in page and '"type":"bar"' in page and '"type":"scatter"' in page


def test_chdb_falls_back_to_the_store_when_no_worker_answers(monkeypatch):
    calls = []
    monkeypatch.setattr(fetch, "from_store", lambda dsn, req: calls.append(dsn) or "report")
    got = fetch.fetch_report("chdb:///nowhere", "http://127.0.0.1:9", fetch.ReportRequest(kind="workload"))
    assert got == "report" and calls == ["chdb:///nowhere"]


def test_server_dsn_never_asks_the_worker(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("asked the worker")

    monkeypatch.setattr(fetch, "from_worker", boom)
    monkeypatch.setattr(fetch, "from_store", lambda dsn, req: "direct")
    assert fetch.fetch_report("http://ch:8123", "http://w", fetch.ReportRequest(kind="workload")) == "direct"


def test_worker_transport(monkeypatch, query):
    req = fetch.ReportRequest(kind="workload")
    body = build_report(query, req, CFG, NAMES).model_dump(mode="json")

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/reports"
        return httpx.Response(200, json=body)

    transport = httpx.MockTransport(handler)
    real_post = httpx.post
    monkeypatch.setattr(httpx, "post", lambda url, **kw: httpx.Client(transport=transport).post(url, **kw))
    got = fetch.from_worker("http://worker", req)
    assert got.sections[0].rows == body["sections"][0]["rows"]
    assert real_post is not None

"""Terminal reports in an 80-column terminal: no line longer than 80, no header or name split
inside a word (the old table cut every header into 1–2-letter pieces), every column with --wide."""

import io
from datetime import date

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from mcu.commands.report import report
from reports import fetch, render
from reports.build import Column, Report, ReportRequest, Section, build_report
from tests.unit.reports.test_measures import CFG, NAMES

PERIOD = {"date_from": date(2025, 12, 29), "date_to": date(2026, 1, 31)}
PUNCT = ",.;:«»()"
KINDS = [("ratings", None), ("workload", None), ("breakdown", "block,settlement,channel")]


def _render(rep: Report, width: int = 80, wide: bool = False) -> str:
    buf = io.StringIO()
    render.to_console(rep, Console(file=buf, width=width, color_system=None, legacy_windows=False), wide=wide)
    return buf.getvalue()


def _split_words(rep: Report, text: str) -> list[str]:
    """Header words and text cells that show up only in pieces: the word is nowhere whole, and a
    token of the output (2+ letters, not itself a word the report uses anywhere) is its start or end."""

    def split(s: str) -> set[str]:
        return {w.strip(PUNCT) for w in s.split()} - {""}

    tokens = split(text)
    words = {w for sec in rep.sections for c in sec.columns for w in split(c.title)}
    words |= {w for sec in rep.sections for row in sec.rows for v in row if isinstance(v, str) for w in split(v)}
    vocabulary = (
        words | split(render._header(rep)) | split(render.HIDDEN_NOTE) | {w for n in rep.notes for w in split(n)}
    )
    vocabulary |= {w for sec in rep.sections for n in [sec.title, *sec.notes] for w in split(n)}
    broken = []
    for w in words:
        if len(w) < 3 or w in tokens:
            continue
        pieces = [t for t in tokens - vocabulary if len(t) >= 2 and (w.startswith(t) or w.endswith(t))]
        if pieces:
            broken.append(f"{w} {pieces}")
    return broken


@pytest.mark.parametrize(("kind", "by"), KINDS)
def test_brief_tables_fit_80_columns_without_split_words(query, kind: str, by: str | None) -> None:
    rep = build_report(query, ReportRequest(kind=kind, by=by, **PERIOD), CFG, NAMES)
    text = _render(rep)
    too_long = [line for line in text.splitlines() if cell_len(line) > 80]
    assert not too_long, too_long
    assert not _split_words(rep, text), (_split_words(rep, text), text)
    # Not an empty victory: the table is there with its first columns and values.
    first = rep.sections[0].columns
    assert first[0].title.split()[0] in text.split()
    assert rep.sections[0].rows and len(text.splitlines()) > len(rep.sections[0].rows) + 3


def test_ratings_keep_the_plain_components_and_resolved_share(query) -> None:
    rep = build_report(query, ReportRequest(kind="ratings", **PERIOD), CFG, NAMES)
    text = _render(rep)
    header = next(line for line in text.splitlines() if "орган" in line.split())
    for title in ("место", "орган", "обращений", "рейтинг", "решено"):
        assert title in header.split(), header
    assert "Шепсинское" in text and "80,0 %" in text and "50,0 %" in text
    assert render.HIDDEN_NOTE in text.replace("\n", " ")  # the hidden columns are announced


def test_wide_shows_every_column_at_full_width(query) -> None:
    rep = build_report(query, ReportRequest(kind="ratings", **PERIOD), CFG, NAMES)
    text = _render(rep, wide=True)
    for sec in rep.sections:
        for c in sec.columns:
            assert c.title in text, c.title  # whole titles on one line, components' intervals too
    assert max(cell_len(line) for line in text.splitlines()) > 80
    assert not _split_words(rep, text)


def test_long_names_fold_between_words_and_numbers_stay_whole() -> None:
    # Rendering only: a made-up section with a department name as long as real ones get.
    name = "Управление жилищно-коммунального хозяйства, транспорта и дорожного строительства"
    sec = Section(
        title="Рейтинг: проверка ширины",
        columns=[Column(key="rank", title="место", fmt="rank"), Column(key="body", title="орган"),
                 Column(key="cases", title="обращений", fmt="int"), Column(key="score", title="рейтинг", fmt="share"),
                 Column(key="score_ci", title="интервал 95 %", fmt="interval"),
                 Column(key="timeliness", title="в срок", fmt="share"),
                 Column(key="completeness", title="решено", fmt="share")],
        rows=[[1, name, 1234, 0.853, (0.801, 0.9), 1.0, 0.5]],
    )  # fmt: skip
    rep = Report(
        kind="ratings",
        title="Рейтинг",
        refreshed_at=None,
        date_from=PERIOD["date_from"],
        date_to=PERIOD["date_to"],
        sections=[sec],
    )
    for width in (80, 60):
        text = _render(rep, width=width)
        assert max(cell_len(line) for line in text.splitlines()) <= width
        assert not _split_words(rep, text), text
        assert "85,3 %" in text and "1234" in text


def test_cli_wide_flag(query, monkeypatch) -> None:
    monkeypatch.setattr(
        fetch, "fetch_report", lambda dsn, url, request, token=None: build_report(query, request, CFG, NAMES)
    )
    args = ["--from", "2025-12-29", "--to", "2026-01-31"]
    brief = CliRunner().invoke(report, ["ratings", *args], env={"COLUMNS": "80"})
    wide = CliRunner().invoke(report, ["ratings", "--wide", *args], env={"COLUMNS": "80"})
    assert brief.exit_code == 0 and wide.exit_code == 0, brief.output + wide.output
    assert max(cell_len(line) for line in brief.output.splitlines()) <= 80
    assert "быстрый первый ответ" not in brief.output.split("Веса:")[0]
    assert "быстрый первый ответ" in wide.output.split("Веса:")[0]

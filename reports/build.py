"""Reports as data: ratings, workload and breakdowns computed from `daily_stats`.

A report is built by a ``Query`` function (SQL with %(name)s parameters → rows), so the same code
runs inside the worker (over its one chdb handle) and in `mcu report` against a server.
"""

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, field_validator

from reports.config import RatingConfig, default_rating_config
from reports.measures import BODY_DIMENSIONS, DEFAULT_BREAKDOWN_MEASURES, DIMENSIONS, MEASURES, Fmt, parse_list
from reports.names import Names, load_names
from reports.stats import competition_ranks, composite, wilson

Query = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]
Kind = Literal["ratings", "workload", "breakdown"]
MSK = ZoneInfo("Europe/Moscow")
BODY_KINDS = {"settlement": "администрации поселений", "department": "подразделения администрации района"}
COMPONENT_TITLES = {
    "timeliness": "в срок",
    "completeness": "решено",
    "speed": "быстрый первый ответ",
    "quality": "оценки 4–5",
    "repeat": "без повторных жалоб",
}


class Column(BaseModel):
    key: str
    title: str
    fmt: Fmt | Literal["text", "interval", "rank", "change"] = "text"


class Section(BaseModel):
    title: str
    columns: list[Column]
    rows: list[list[Any]]
    notes: list[str] = Field(default_factory=list)


# Reports cover what the store can hold: its DateTime columns end in 2106 and the pipeline takes
# nothing before 2000; a period outside made ClickHouse fail on Date overflow instead of saying so.
EARLIEST_REPORT_DATE = date(2000, 1, 1)
LATEST_REPORT_DAYS_AHEAD = 366


class ReportRequest(BaseModel):
    kind: Kind
    date_from: date | None = None
    date_to: date | None = None
    by: str | None = Field(default=None, max_length=1000)
    measures: str | None = Field(default=None, max_length=1000)
    charts: bool = False

    @field_validator("date_from", "date_to")
    @classmethod
    def _within_store(cls, v: date | None) -> date | None:
        if v is None:
            return v
        latest = datetime.now(MSK).date() + timedelta(days=LATEST_REPORT_DAYS_AHEAD)
        if not EARLIEST_REPORT_DATE <= v <= latest:
            raise ValueError(f"{v} is outside {EARLIEST_REPORT_DATE} … {latest}")
        return v


class Report(BaseModel):
    kind: Kind
    title: str
    date_from: date
    date_to: date
    refreshed_at: str | None
    sections: list[Section]
    charts: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


def default_period(today: date | None = None) -> tuple[date, date]:
    today = today or datetime.now(MSK).date()
    return today - timedelta(days=29), today


def _plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and v != v:  # NaN from an empty quantile
        return None
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def _rows(query: Query, sql: str, params: dict[str, Any]) -> list[list[Any]]:
    return [[_plain(v) for v in r] for r in query(sql, params)]


def _period(d_from: date, d_to: date) -> dict[str, Any]:
    return {"d_from": d_from, "d_to": d_to}


PERIOD_WHERE = "day >= %(d_from)s AND day <= %(d_to)s"


# ------------------------------------------------------------------------------------- ratings


def _rating_rows(query: Query, body: str, d_from: date, d_to: date, cfg: RatingConfig) -> dict[str, dict]:
    responded_fast = "responded_8h" if cfg.speed_target_hours == 8 else "responded_40h"
    sql = f"""
        SELECT {body} AS body, sum(cases), sum(answered_in_time), sum(with_deadline), sum(resolved),
               sum({responded_fast}), sum(responded), sum(rating_good), sum(rated), sum(repeated),
               sum(complaints), sum(rating_sum), sum(reopened), sum(overdue),
               quantilesTDigestMerge(0.5, 0.9)(first_response_hours)[1],
               quantilesTDigestMerge(0.5, 0.9)(resolution_hours)[1]
        FROM {period_source(d_from, d_to, body=True)}
        WHERE level = %(level)s
        GROUP BY body
    """
    params = {"level": "settlement" if body == "settlement" else "district"}
    out: dict[str, dict] = {}
    for r in _rows(query, sql, params):
        key, cases, in_time, with_dl, resolved, fast, responded, good, rated, rep, compl, rsum, reop, od = r[:14]
        out[str(key)] = {
            "cases": cases,
            "components": {
                "timeliness": (in_time, with_dl),
                "completeness": (resolved, cases),
                "speed": (fast, responded),
                "quality": (good, rated),
                "repeat": (compl - rep, compl),
            },
            "satisfaction_mean": rsum / rated if rated else None,
            "reopened": reop,
            "overdue": od,
            "first_response_median_h": r[14],
            "resolution_median_h": r[15],
        }
    return out


def _score(entry: dict, cfg: RatingConfig) -> tuple[float, float, float] | None:
    parts = []
    for comp, weight in cfg.weights.items():
        ok, n = entry["components"][comp]
        if n:
            parts.append((weight, ok / n, n))
    return composite(parts, cfg.confidence)


def rank_bodies(data: dict[str, dict], cfg: RatingConfig, listed: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Score every body, rank those with at least ``cfg.min_volume`` cases."""
    keys = list(dict.fromkeys([*listed, *data]))
    empty = {"cases": 0, "components": {c: (0, 0) for c in COMPONENT_TITLES}, "satisfaction_mean": None,
             "reopened": 0, "overdue": 0, "first_response_median_h": None, "resolution_median_h": None}  # fmt: skip
    out = []
    for key in keys:
        entry = data.get(key, empty)
        score = _score(entry, cfg)
        eligible = entry["cases"] >= cfg.min_volume and score is not None
        out.append({"body": key, **entry, "score": score, "eligible": eligible})
    ranks = competition_ranks([b["score"][0] if b["eligible"] else None for b in out])
    for b, rank in zip(out, ranks, strict=True):
        b["rank"] = rank
    out.sort(key=lambda b: (b["rank"] is None, b["rank"] or 0, -(b["cases"] or 0), b["body"]))
    return out


def ratings_section(
    query: Query, body: str, d_from: date, d_to: date, cfg: RatingConfig, names: Names
) -> tuple[Section, list[dict[str, Any]]]:
    listed = list(names.settlements) if body == "settlement" else []
    current = rank_bodies(_rating_rows(query, body, d_from, d_to, cfg), cfg, listed)
    span = d_to - d_from
    p_to = d_from - timedelta(days=1)
    previous = rank_bodies(_rating_rows(query, body, p_to - span, p_to, cfg), cfg, listed)
    prev_rank = {b["body"]: b["rank"] for b in previous}
    columns = [
        Column(key="rank", title="место", fmt="rank"),
        Column(key="change", title="изменение", fmt="change"),
        Column(key="body", title="орган"),
        Column(key="cases", title="обращений", fmt="int"),
        Column(key="score", title="рейтинг", fmt="share"),
        Column(key="score_ci", title=f"интервал {cfg.confidence:.0%}", fmt="interval"),
    ]
    for comp in cfg.weights:
        columns.append(Column(key=comp, title=COMPONENT_TITLES[comp], fmt="share"))
        columns.append(Column(key=f"{comp}_ci", title="интервал", fmt="interval"))
    columns += [
        Column(key="satisfaction_mean", title="оценка, среднее", fmt="float"),
        Column(key="first_response_median_h", title="первый ответ, медиана, раб. ч", fmt="hours"),
        Column(key="resolution_median_h", title="ответ, медиана, раб. ч", fmt="hours"),
        Column(key="overdue", title="просрочено", fmt="int"),
    ]
    rows = []
    for b in current:
        before = prev_rank.get(b["body"])
        change = None if b["rank"] is None or before is None else before - b["rank"]
        score = b["score"]
        row: list[Any] = [
            b["rank"], change, names.body(body, b["body"]), b["cases"],
            score[0] if score else None, [score[1], score[2]] if score else None,
        ]  # fmt: skip
        for comp in cfg.weights:
            ok, n = b["components"][comp]
            row.append(ok / n if n else None)
            ci = wilson(ok, n, cfg.confidence)
            row.append(list(ci) if ci else None)
        row += [b["satisfaction_mean"], b["first_response_median_h"], b["resolution_median_h"], b["overdue"]]
        rows.append(row)
    notes = [
        f"Ранжируются органы, у которых не меньше {cfg.min_volume} обращений за период; остальные показаны без места.",
        "Изменение места — против предыдущего периода той же длины (▲ поднялся, ▼ опустился, — не ранжировался).",
        "Веса: "
        + ", ".join(f"{COMPONENT_TITLES[c]} {w:g}" for c, w in cfg.weights.items())
        + f" (reports/data/rating.yaml, версия {cfg.version}); «быстрый первый ответ» — за "
        f"{cfg.speed_target_hours} рабочих часов.",
    ]
    return Section(title=f"Рейтинг: {BODY_KINDS[body]}", columns=columns, rows=rows, notes=notes), current


# ------------------------------------------------------------------------------------ workload


def workload_section(query: Query, d_from: date, d_to: date, names: Names) -> Section:
    inflow = {int(r[0]): r[1:] for r in _rows(query, f"""
        SELECT block, sum(cases), sum(overdue) FROM {period_source(d_from, d_to, body=True)} GROUP BY block""",
        {})}  # fmt: skip
    now = {int(r[0]): r[1:] for r in _rows(query, "SELECT block, sum(open), sum(open_overdue) FROM monthly_body_stats"
                                           " GROUP BY block", {})}  # fmt: skip
    working_days = _rows(
        query,
        f"""
        SELECT count() FROM work_calendar FINAL WHERE {PERIOD_WHERE} AND end1 > start1""",
        _period(d_from, d_to),
    )
    wd = int(working_days[0][0]) if working_days else 0
    rows = []
    for block in sorted(set(names.blocks) | set(inflow) | set(now)):
        cases, overdue = inflow.get(block, (0, 0))
        open_, open_overdue = now.get(block, (0, 0))
        heads = names.head_counts.get(block)
        rows.append([
            block, names.block(block), cases, round(cases / wd, 2) if wd else None, overdue, open_,
            open_overdue, heads, round(cases / heads, 2) if heads else None,
            round(open_ / heads, 2) if heads else None,
        ])  # fmt: skip
    columns = [
        Column(key="block", title="№", fmt="int"), Column(key="block_name", title="блок"),
        Column(key="inflow", title="поступило", fmt="int"),
        Column(key="inflow_per_day", title="в рабочий день", fmt="float"),
        Column(key="overdue", title="просрочено (поступившие за период)", fmt="int"),
        Column(key="open", title="открыто сейчас", fmt="int"),
        Column(key="open_overdue", title="из них просрочено", fmt="int"),
        Column(key="head_count", title="численность", fmt="int"),
        Column(key="inflow_per_head", title="поступило на сотрудника", fmt="float"),
        Column(key="open_per_head", title="открыто на сотрудника", fmt="float"),
    ]  # fmt: skip
    notes = [
        f"Рабочих дней в периоде: {wd}.",
        "«Открыто сейчас» — на момент последнего пересчёта агрегатов, независимо от периода.",
    ]
    if not names.head_counts:
        notes.append("Численность блоков в справочнике (route/data) не указана: показатели на сотрудника не считаются.")
    return Section(title="Загрузка отраслевых блоков", columns=columns, rows=rows, notes=notes)


# ----------------------------------------------------------------------------------- breakdown


def breakdown_section(
    query: Query, d_from: date, d_to: date, by: list[str], measures: list[str], names: Names
) -> Section:
    dims = [f"{DIMENSIONS[d][0]} AS {d}" for d in by]
    sel = ", ".join([*dims, *(f"{MEASURES[m].sql} AS m_{m}" for m in measures)])
    group = f"GROUP BY {', '.join(by)} ORDER BY {', '.join(by)}" if by else ""
    source = period_source(d_from, d_to, body=set(by) <= BODY_DIMENSIONS, monthly_ok=not set(by) & {"day", "week"})
    rows = _rows(query, f"SELECT {sel} FROM {source} {group}", {})
    for r in rows:
        for i, d in enumerate(by):
            r[i] = names.label(d, r[i])
    columns = [Column(key=d, title=DIMENSIONS[d][1]) for d in by]
    columns += [Column(key=m, title=MEASURES[m].title, fmt=MEASURES[m].fmt) for m in measures]
    title = "Разрез: " + (" × ".join(DIMENSIONS[d][1] for d in by) if by else "всего")
    return Section(title=title, columns=columns, rows=rows)


def period_source(d_from: date, d_to: date, *, body: bool, monthly_ok: bool = True) -> str:
    """A subquery of the aggregate rows of the period: whole months from the monthly table and the
    days at the edges from the daily one, or only daily rows (a breakdown by day or week).

    Dates are formatted from ``date`` objects, never from user text, so inlining them is safe.
    """
    daily, monthly = ("daily_body_stats", "monthly_body_stats") if body else ("daily_stats", "monthly_stats")
    first_full = d_from if d_from.day == 1 else (d_from.replace(day=28) + timedelta(days=4)).replace(day=1)
    last_full_end = (d_to + timedelta(days=1)).replace(day=1)  # months before this one end in the period
    if not monthly_ok or first_full >= last_full_end:
        return f"(SELECT * FROM {daily} WHERE day >= '{d_from}' AND day <= '{d_to}')"
    return (
        f"(SELECT * FROM {daily} WHERE "
        f"(day >= '{d_from}' AND day < '{first_full}') OR (day >= '{last_full_end}' AND day <= '{d_to}') "
        f"UNION ALL SELECT * FROM {monthly} WHERE day >= '{first_full}' AND day < '{last_full_end}')"
    )


# -------------------------------------------------------------------------------------- charts


def chart_data(query: Query, d_from: date, d_to: date, names: Names, settlement_rating: list[dict]) -> dict:
    trend = _rows(query, f"""
        SELECT toMonday(day) AS week, block, sum(cases) FROM daily_body_stats WHERE {PERIOD_WHERE}
        GROUP BY week, block ORDER BY week, block""", _period(d_from, d_to))  # fmt: skip
    heat = _rows(query, f"""
        SELECT block, settlement, sum(cases) FROM {period_source(d_from, d_to, body=True)}
        GROUP BY block, settlement ORDER BY block, settlement""", {})  # fmt: skip
    bars = [
        {"body": names.body("settlement", b["body"]), "score": b["score"][0], "low": b["score"][1],
         "high": b["score"][2], "ranked": b["rank"] is not None}
        for b in settlement_rating if b["score"] is not None
    ]  # fmt: skip
    return {
        "trend": [{"week": w, "block": names.block(int(b)), "cases": n} for w, b, n in trend],
        "heat": [{"block": names.block(int(b)), "settlement": names.body("settlement", s), "cases": n}
                 for b, s, n in heat],
        "ranked": bars,
    }  # fmt: skip


# --------------------------------------------------------------------------------------- entry


def build_report(
    query: Query, request: ReportRequest, cfg: RatingConfig | None = None, names: Names | None = None
) -> Report:
    cfg = cfg or default_rating_config()
    names = names or load_names()
    d_from, d_to = default_period()
    d_from = request.date_from or (d_from if request.date_to is None else request.date_to - timedelta(days=29))
    d_to = request.date_to or d_to
    if d_from > d_to:
        raise ValueError(f"the period starts ({d_from}) after it ends ({d_to})")
    refreshed = _rows(query, "SELECT max(refreshed_at), count() FROM daily_stats", {})
    refreshed_at = refreshed[0][0] if refreshed and refreshed[0][1] else None
    sections: list[Section] = []
    settlement_rating: list[dict] = []
    if request.kind == "ratings":
        bodies = parse_list(request.by, BODY_KINDS, "оцениваемый орган", list(BODY_KINDS))
        for body in bodies:
            section, ranked = ratings_section(query, body, d_from, d_to, cfg, names)
            sections.append(section)
            if body == "settlement":
                settlement_rating = ranked
        title = "Рейтинг администрации и поселений"
    elif request.kind == "workload":
        sections.append(workload_section(query, d_from, d_to, names))
        title = "Загрузка отраслевых блоков"
    else:
        by = parse_list(request.by, DIMENSIONS, "разрез", ["block"])
        measures = parse_list(request.measures, MEASURES, "показатель", DEFAULT_BREAKDOWN_MEASURES)
        sections.append(breakdown_section(query, d_from, d_to, by, measures, names))
        title = "Сводка по разрезам"
    charts: dict[str, Any] = {}
    if request.charts:
        if not settlement_rating:
            _, settlement_rating = ratings_section(query, "settlement", d_from, d_to, cfg, names)
        charts = chart_data(query, d_from, d_to, names, settlement_rating)
    notes = ["Сроки и скорость — в рабочих часах (Europe/Moscow, производственный календарь РФ)."]
    return Report(kind=request.kind, title=title, date_from=d_from, date_to=d_to, refreshed_at=refreshed_at,
                  sections=sections, charts=charts, notes=notes)  # fmt: skip

"""Each measure against hand-computed values of tests/unit/reports/dataset.py."""

from datetime import date

import pytest

from reports.build import ReportRequest, build_report, rank_bodies
from reports.config import RatingConfig
from reports.names import Names

PERIOD = {"date_from": date(2025, 12, 29), "date_to": date(2026, 1, 31)}
CFG = RatingConfig(version="test", min_volume=2, confidence=0.95, speed_target_hours=8, weights={
    "timeliness": 0.3, "completeness": 0.25, "speed": 0.2, "quality": 0.15, "repeat": 0.1})  # fmt: skip
NAMES = Names(settlements={"tuapsinskoe": "Туапсинское", "shepsinskoe": "Шепсинское", "nebugskoe": "Небугское"})


def breakdown(query, by: str, measures: str) -> dict:
    rep = build_report(query, ReportRequest(kind="breakdown", by=by, measures=measures, **PERIOD), CFG, NAMES)
    sec = rep.sections[0]
    n = len(by.split(","))
    return {tuple(r[:n]) if n > 1 else r[0]: dict(zip(measures.split(","), r[n:], strict=True)) for r in sec.rows}


def test_quantity(query):
    got = breakdown(query, "level", "messages,cases,problems")
    assert got["settlement"] == {"messages": 5, "cases": 5, "problems": 5}
    assert got["district"] == {"messages": 3, "cases": 2, "problems": 3}  # E merged into D; H


def test_speed_in_working_hours_across_the_holiday(query):
    ms = "registration_median_h,first_response_median_h,first_response_p90_h,resolution_median_h"
    got = breakdown(query, "settlement", ms)["Туапсинское"]
    # first responses 2 (across New Year), 35, 1 → median 2, p90 35; registrations 0.5, 1, 0 → 0.5
    assert got["first_response_median_h"] == pytest.approx(2.0)
    assert got["first_response_p90_h"] == pytest.approx(35.0)
    assert got["registration_median_h"] == pytest.approx(0.5)
    # A alone in December: the holiday-spanning 14 working hours to its answer
    dec = build_report(query, ReportRequest(kind="breakdown", by="month", measures="resolution_median_h",
                                            **PERIOD), CFG, NAMES).sections[0].rows  # fmt: skip
    assert dec[0] == ["2025-12-01", pytest.approx(14.0)]
    # F: answered inside the lunch break → 1 h, G: Friday 17:00 → Monday 10:00 → 2 h
    shep = breakdown(query, "settlement", "first_response_median_h,first_response_p90_h")["Шепсинское"]
    assert shep == {"first_response_median_h": pytest.approx(1.0), "first_response_p90_h": pytest.approx(2.0)}


def test_timeliness_completeness_quality(query):
    ms = ("answered_in_time_share,overdue,overdue_days,resolved_share,reopened_share,interim_only_share,"
          "satisfaction_mean,satisfaction_good_share,repeated,repeated_share,open,open_overdue")  # fmt: skip
    got = breakdown(query, "settlement", ms)
    t = got["Туапсинское"]
    assert t["answered_in_time_share"] == pytest.approx(1 / 2)  # C not due yet
    assert (t["overdue"], t["overdue_days"]) == (1, 2)  # B: 1 d 18 h late
    assert t["resolved_share"] == pytest.approx(1 / 3)
    assert t["interim_only_share"] == pytest.approx(1 / 3)
    assert t["satisfaction_mean"] == pytest.approx(5)
    assert (t["repeated"], t["repeated_share"]) == (1, pytest.approx(1 / 3))
    assert (t["open"], t["open_overdue"]) == (1, 0)
    g = got["georgievskoe"]  # D (district level) lies there
    assert g["reopened_share"] == pytest.approx(1.0) and g["resolved_share"] == pytest.approx(1.0)
    s = got["Шепсинское"]
    assert s["satisfaction_mean"] == pytest.approx(3) and s["satisfaction_good_share"] == pytest.approx(0.5)


def test_composite_rating_minimum_volume_and_intervals(query):
    rep = build_report(query, ReportRequest(kind="ratings", **PERIOD), CFG, NAMES)
    settlements, departments = rep.sections
    cols = [c.key for c in settlements.columns]
    rows = {r[cols.index("body")]: dict(zip(cols, r, strict=True)) for r in settlements.rows}
    # hand: Шепсинское 0.3·1 + 0.25·½ + 0.2·1 + 0.15·½ + 0.1·1 = 0.8;
    #       Туапсинское 0.3·½ + 0.25·⅓ + 0.2·⅔ + 0.15·1 + 0.1·⅔ = 0.58333
    assert rows["Шепсинское"]["score"] == pytest.approx(0.8) and rows["Шепсинское"]["rank"] == 1
    assert rows["Туапсинское"]["score"] == pytest.approx(0.583333, abs=1e-5)
    assert rows["Туапсинское"]["rank"] == 2
    low, high = rows["Туапсинское"]["score_ci"]
    assert low < 0.583333 < high and high - low > 0.2  # three cases: a wide interval
    # Wilson 95 % for 1 of 2 (timeliness of Туапсинское): 0.0945 – 0.9055
    assert rows["Туапсинское"]["timeliness_ci"] == [pytest.approx(0.0945, abs=1e-4), pytest.approx(0.9055, abs=1e-4)]
    # listed but not ranked: a settlement with no cases, and the department with one case
    assert rows["Небугское"]["rank"] is None and rows["Небугское"]["cases"] == 0
    dep = {r[2]: r for r in departments.rows}
    assert dep["zhkh"][0] is None and dep["zhkh"][3] == 1


def test_rank_change_between_periods(query):
    cfg = CFG.model_copy(update={"min_volume": 1})
    rep = build_report(query, ReportRequest(kind="ratings", by="settlement", date_from=date(2026, 1, 1),
                                            date_to=date(2026, 1, 30)), cfg, NAMES)  # fmt: skip
    sec = rep.sections[0]
    cols = [c.key for c in sec.columns]
    rows = {r[cols.index("body")]: dict(zip(cols, r, strict=True)) for r in sec.rows}
    # December (previous 30 days): only A → Туапсинское first. January: B, C score
    # (0.3·0 + 0.25·0 + 0.2·½ + 0.1·½) / 0.85 = 0.17647, behind Шепсинское → down one place.
    assert rows["Туапсинское"]["score"] == pytest.approx(0.15 / 0.85)
    assert (rows["Туапсинское"]["rank"], rows["Туапсинское"]["change"]) == (2, -1)
    assert rows["Шепсинское"]["change"] is None  # not ranked in December


def test_ties_share_a_rank():
    cfg = CFG.model_copy(update={"min_volume": 1, "weights": {"timeliness": 1.0}})
    entry = {"cases": 4, "components": {"timeliness": (2, 4)}, "satisfaction_mean": None}
    out = rank_bodies({"x": entry, "y": dict(entry), "z": {**entry, "components": {"timeliness": (1, 4)}}}, cfg)
    assert [(b["body"], b["rank"]) for b in out] == [("x", 1), ("y", 1), ("z", 3)]


def test_workload_per_block(query):
    rep = build_report(query, ReportRequest(kind="workload", **PERIOD), CFG, NAMES)
    cols = [c.key for c in rep.sections[0].columns]
    rows = {r[0]: dict(zip(cols, r, strict=True)) for r in rep.sections[0].rows}
    assert (rows[3]["inflow"], rows[3]["overdue"], rows[3]["open"]) == (4, 1, 1)  # A B C D (E merged)
    assert (rows[5]["inflow"], rows[5]["open"]) == (2, 0)
    assert rows[3]["head_count"] is None  # the directory gives no head counts yet

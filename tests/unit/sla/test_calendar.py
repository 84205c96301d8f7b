from datetime import date, datetime

import pytest

from sla.calendar import MSK, CalendarError, CalendarOverrides, Term, Unit, WorkingCalendar, parse_term


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def msk(*a: int) -> datetime:
    return datetime(*a, tzinfo=MSK)  # type: ignore[misc]


def test_2026_moved_days_off_come_from_the_library(cal: WorkingCalendar) -> None:
    for d in (date(2026, 1, 9), date(2026, 3, 9), date(2026, 5, 11), date(2026, 12, 31)):
        assert not cal.is_working_day(d), d
        assert cal.day(d).holiday
    assert cal.is_working_day(date(2026, 1, 12))
    assert not cal.is_working_day(date(2026, 1, 1))


def test_2026_production_calendar_totals(cal: WorkingCalendar) -> None:
    # Official 2026 production calendar (40-hour week): 247 working days, 1972 hours, four
    # pre-holiday days shortened by an hour.
    days = cal.year(2026)
    assert sum(d.working for d in days) == 247
    assert [str(d.day) for d in days if d.working and d.shortened] == [
        "2026-04-30", "2026-05-08", "2026-06-11", "2026-11-03",
    ]  # fmt: skip
    assert sum(cal.working_seconds_of(d.day) for d in days) / 3600 == 1972


def test_30_calendar_days_across_new_year_land_on_next_working_day(cal: WorkingCalendar) -> None:
    # Registered Thu 25.12.2025; counted from 26.12; day 30 is Sat 24.01.2026 → Mon 26.01 (ГК ст. 193).
    assert cal.deadline(msk(2025, 12, 25, 10, 0), "30 days").astimezone(MSK) == msk(2026, 1, 26, 18, 0)
    # Day 30 on a working day stays there, at closing time.
    assert cal.deadline(msk(2026, 2, 2, 15, 0), "30 days").astimezone(MSK) == msk(2026, 3, 4, 18, 0)


def test_30_days_ending_on_a_moved_day_off(cal: WorkingCalendar) -> None:
    # 07.02 + 30 = Mon 09.03.2026: a day off moved for 8 March → Tue 10.03.
    assert cal.deadline(msk(2026, 2, 7, 10, 0), "30 days").astimezone(MSK) == msk(2026, 3, 10, 18, 0)


def test_10_working_days_across_new_year_holidays(cal: WorkingCalendar) -> None:
    # From Thu 25.12.2025: 26, 29, 30 Dec (31 Dec 2025 and 1–11 Jan are off, 9 Jan moved), then
    # 12–16 and 19, 20 Jan → the 10th working day is Tue 20.01.2026.
    got = cal.deadline(msk(2025, 12, 25, 10, 0), parse_term("10 рабочих дней")).astimezone(MSK)
    assert got == msk(2026, 1, 20, 18, 0)


def test_10_working_days_over_the_may_moved_day_off(cal: WorkingCalendar) -> None:
    # From Wed 06.05.2026: 7, 8 (short), [9 Sat holiday, 10 Sun, 11 Mon moved], 12–15, 18–21 → Thu 21.05.
    got = cal.deadline(msk(2026, 5, 6, 12, 0), "10 working days").astimezone(MSK)
    assert got == msk(2026, 5, 21, 18, 0)


def test_working_hours_skip_lunch_nights_and_holidays(cal: WorkingCalendar) -> None:
    # Tue 30.12.2025 16:00 + 8 working hours: 2 h that day, then 31.12–11.01 off, then 12.01 9–13, 14–16.
    got = cal.deadline(msk(2025, 12, 30, 16, 0), "8 working hours").astimezone(MSK)
    assert got == msk(2026, 1, 12, 16, 0)
    # A shortened pre-holiday day (30.04.2026) ends at 17:00.
    got = cal.deadline(msk(2026, 4, 30, 16, 0), "2 working hours").astimezone(MSK)
    assert got == msk(2026, 5, 4, 10, 0)


def test_working_seconds_between_inverts_addition(cal: WorkingCalendar) -> None:
    start = msk(2026, 3, 6, 11, 30)
    end = cal.add_working_seconds(start, 20 * 3600)
    assert cal.working_seconds_between(start, end) == 20 * 3600


def test_override_file_wins_over_the_library() -> None:
    ov = CalendarOverrides.model_validate(
        {"version": "t", "working_days": [{"date": "2026-01-10"}], "days_off": [{"date": "2026-01-12"}]}
    )
    cal = WorkingCalendar(overrides=ov)
    assert cal.is_working_day(date(2026, 1, 10))
    assert not cal.is_working_day(date(2026, 1, 12))


def test_bad_override_file_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = tmp_path / "cal.yaml"
    p.write_text("version: x\nworking_days: [{date: not-a-date}]\n", "utf-8")
    with pytest.raises(CalendarError, match=str(p)):
        WorkingCalendar(overrides=p)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("30 days", Term(30, Unit.CALENDAR_DAYS)),
        ("10 working days", Term(10, Unit.WORKING_DAYS)),
        ("8 working hours", Term(8, Unit.WORKING_HOURS)),
        ("10 рабочих дней", Term(10, Unit.WORKING_DAYS)),
        ("30 дней", Term(30, Unit.CALENDAR_DAYS)),
        ("4 рабочих часа", Term(4, Unit.WORKING_HOURS)),
        ("1 working day", Term(1, Unit.WORKING_DAYS)),
    ],
)
def test_parse_term(text: str, term: Term) -> None:
    assert parse_term(text) == term


def test_parse_term_rejects_nonsense() -> None:
    with pytest.raises(CalendarError):
        parse_term("soon")
    with pytest.raises(CalendarError):
        parse_term("3 fortnights")


def test_naive_times_are_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(CalendarError):
        cal.deadline(datetime(2026, 1, 1), "1 day")

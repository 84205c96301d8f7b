"""The calendar's prefix-sum arithmetic against a plain day-by-day reference, and its range limits.

The reference below is the walk the calendar used to do (kept here, not in the package): obviously
right, but O(days) and unbounded — year 9999 took 47 s. The fast version must agree with it exactly
for any start in the accepted time window and any term of the policy file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.times import EARLIEST
from sla.calendar import FIRST_DAY, LAST_DAY, MSK, CalendarError, Term, Unit, WorkingCalendar
from sla.policies import load_policies

CAL = WorkingCalendar()


# ---------------------------------------------------------------- the day-by-day reference


def ref_next_working_day(cal: WorkingCalendar, d: date, inclusive: bool = False) -> date:
    if not inclusive:
        d += timedelta(days=1)
    while not cal.day(d).working:
        d += timedelta(days=1)
    return d


def ref_add_working_seconds(cal: WorkingCalendar, start: datetime, seconds: float) -> datetime:
    left = max(0.0, seconds)
    cur = start.astimezone(MSK)
    d = cur.date()
    while True:
        for a, b in cal.intervals_of(d):
            if b <= cur:
                continue
            a = max(a, cur)
            span = (b - a).total_seconds()
            if span >= left:
                return (a + timedelta(seconds=left)).astimezone(UTC)
            left -= span
        d += timedelta(days=1)
        cur = datetime.combine(d, time(0), MSK)


def ref_working_seconds_between(cal: WorkingCalendar, a: datetime, b: datetime) -> float:
    if b < a:
        return -ref_working_seconds_between(cal, b, a)
    a, b = a.astimezone(MSK), b.astimezone(MSK)
    total, d = 0.0, a.date()
    while d <= b.date():
        for x, y in cal.intervals_of(d):
            lo, hi = max(x, a), min(y, b)
            if hi > lo:
                total += (hi - lo).total_seconds()
        d += timedelta(days=1)
    return total


def ref_deadline(cal: WorkingCalendar, start: datetime, term: Term) -> datetime:
    n, d = term.amount, start.astimezone(MSK).date()
    match term.unit:
        case Unit.CALENDAR_DAYS:
            return cal.close_of(ref_next_working_day(cal, d + timedelta(days=n), inclusive=True)).astimezone(UTC)
        case Unit.WORKING_DAYS:
            for _ in range(n):
                d = ref_next_working_day(cal, d)
            if n == 0:
                d = ref_next_working_day(cal, d, inclusive=True)
            return cal.close_of(d).astimezone(UTC)
        case Unit.WORKING_HOURS:
            return ref_add_working_seconds(cal, start, n * 3600)
        case Unit.WORKING_MINUTES:
            return ref_add_working_seconds(cal, start, n * 60)
        case Unit.HOURS:
            return (start + timedelta(hours=n)).astimezone(UTC)
        case Unit.MINUTES:
            return (start + timedelta(minutes=n)).astimezone(UTC)
    raise AssertionError(term)


# ---------------------------------------------------------------- every term of the policies


def policy_terms() -> list[Term]:
    policies = load_policies()
    out: set[Term] = set()
    for pol in policies._policies.values():
        for tp in pol.terms.values():
            out.add(tp.term)
            if tp.after_interim:
                out.add(tp.after_interim)
        out.update(term for _, term in pol.escalations)
        if pol.max_extension:
            out.add(pol.max_extension)
    return sorted(out, key=str)


TERMS = policy_terms()
# Any moment of the accepted window (2000-01-01 … a day after now), to the second, with any zone.
window_times = st.builds(
    lambda s, tz: datetime.fromtimestamp(s, tz),
    st.integers(int(EARLIEST.timestamp()), int(datetime.now(UTC).timestamp()) + 86400),
    st.sampled_from([UTC, MSK]),
)


def test_the_policy_terms_are_all_covered() -> None:
    units = {t.unit for t in TERMS}
    assert {Unit.CALENDAR_DAYS, Unit.WORKING_DAYS, Unit.WORKING_HOURS} <= units, TERMS


@settings(max_examples=400, deadline=None)
@given(window_times, st.sampled_from(TERMS))
def test_deadline_agrees_with_the_day_by_day_reference(start: datetime, term: Term) -> None:
    assert CAL.deadline(start, term) == ref_deadline(CAL, start, term)


@settings(max_examples=300, deadline=None)
@given(window_times, st.integers(min_value=0, max_value=60), st.sampled_from(list(Unit)))
def test_any_term_up_to_sixty_units_agrees_with_the_reference(start: datetime, n: int, unit: Unit) -> None:
    assert CAL.deadline(start, Term(n, unit)) == ref_deadline(CAL, start, Term(n, unit))


@settings(max_examples=300, deadline=None)
@given(window_times, st.integers(min_value=0, max_value=400 * 86400))
def test_working_seconds_between_agrees_with_the_reference(start: datetime, span: int) -> None:
    end = start + timedelta(seconds=span)
    assert CAL.working_seconds_between(start, end) == ref_working_seconds_between(CAL, start, end)
    assert CAL.working_seconds_between(end, start) == -ref_working_seconds_between(CAL, start, end)


@settings(max_examples=300, deadline=None)
@given(window_times, st.integers(min_value=0, max_value=3000 * 3600))
def test_adding_working_seconds_agrees_with_the_reference(start: datetime, seconds: int) -> None:
    assert CAL.add_working_seconds(start, seconds) == ref_add_working_seconds(CAL, start, seconds)


def test_a_term_ending_exactly_at_the_lunch_break_ends_at_13_not_14() -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)  # Monday
    assert CAL.add_working_seconds(start, 4 * 3600) == datetime(2026, 3, 2, 13, 0, tzinfo=MSK)
    assert CAL.add_working_seconds(datetime(2026, 3, 2, 13, 30, tzinfo=MSK), 0) == datetime(2026, 3, 2, 14, tzinfo=MSK)


@pytest.mark.parametrize(
    "start",
    [datetime(9999, 12, 30, tzinfo=UTC), datetime(2526, 1, 1, tzinfo=UTC), datetime(1900, 1, 1, tzinfo=UTC)],
)
@pytest.mark.parametrize("term", ["30 days", "10 working days", "8 working hours", "24 hours"])
def test_starts_outside_the_range_are_a_calendar_error_at_once(start: datetime, term: str) -> None:
    with pytest.raises(CalendarError, match="range"):
        CAL.deadline(start, term)


def test_a_term_running_past_the_last_day_is_a_calendar_error() -> None:
    start = datetime.combine(LAST_DAY - timedelta(days=3), time(10), MSK)
    for term in ("30 days", "10 working days", "40 working hours"):
        with pytest.raises(CalendarError, match="range"):
            CAL.deadline(start, term)
    with pytest.raises(CalendarError):
        CAL.working_seconds_between(start, datetime(2526, 1, 1, tzinfo=UTC))


def test_the_whole_range_is_usable_end_to_end() -> None:
    a = datetime.combine(FIRST_DAY, time(0), MSK)
    b = datetime.combine(LAST_DAY, time(23), MSK)
    total = CAL.working_seconds_between(a, b)
    assert CAL.add_working_seconds(a, total) <= b.astimezone(UTC)
    assert CAL.add_working_days(a, 10) == ref_deadline(CAL, a, Term(10, Unit.WORKING_DAYS))
    assert total == ref_working_seconds_between(CAL, a, b)

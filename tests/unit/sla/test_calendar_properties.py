"""Properties of the working-time arithmetic over random (aware) times of 2025–2027."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sla.calendar import MSK, WorkingCalendar

CAL = WorkingCalendar()
times = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 6, 1)).map(
    lambda t: t.replace(tzinfo=MSK, second=0, microsecond=0)
)


@settings(max_examples=200, deadline=None)
@given(times, st.integers(min_value=0, max_value=200 * 3600))
def test_adding_working_time_is_measured_back(start: datetime, seconds: int) -> None:
    end = CAL.add_working_seconds(start, seconds)
    assert end >= start
    assert CAL.working_seconds_between(start, end) == seconds


@settings(max_examples=200, deadline=None)
@given(times, st.integers(min_value=1, max_value=60))
def test_calendar_day_terms_end_on_a_working_day_not_before_day_n(start: datetime, n: int) -> None:
    due = CAL.add_calendar_days(start, n).astimezone(MSK)
    assert CAL.is_working_day(due.date())
    assert due.date() >= start.date() + timedelta(days=n)
    # Nothing between day n and the deadline's day is a working day (it moved only over days off).
    d = start.date() + timedelta(days=n)
    while d < due.date():
        assert not CAL.is_working_day(d)
        d += timedelta(days=1)


@settings(max_examples=100, deadline=None)
@given(times, st.integers(min_value=1, max_value=30))
def test_working_day_terms_count_exactly_n_working_days(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, n).astimezone(MSK)
    d, count = start.date(), 0
    while d < due.date():
        d += timedelta(days=1)
        count += CAL.is_working_day(d)
    assert count == n and due.tzinfo is not None and due.astimezone(UTC)

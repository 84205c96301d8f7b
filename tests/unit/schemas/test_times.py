"""The time window at the edge (schemas/times.py) and the models that apply it."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas import CaseEvent, NormalizedMessage
from schemas.times import (
    BAD_TIME,
    EARLIEST,
    MSK,
    TIME_CONTEXT,
    BadTime,
    UnreadableTime,
    check_time,
    is_bad_time,
    parse_time,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def event(**kw: object) -> CaseEvent:
    data = {"event_id": "e1", "message_id": "m1", "type": "answered", "at": "2026-11-20T10:00:00+03:00", **kw}
    return CaseEvent.model_validate(data, context={TIME_CONTEXT: NOW})


def test_a_zone_less_time_is_moscow_time_and_comes_out_in_utc() -> None:
    t = check_time(datetime(2026, 3, 2, 9, 0), "at", now=NOW)
    assert t == datetime(2026, 3, 2, 6, 0, tzinfo=UTC) and t.utcoffset() == timedelta(0)
    assert t.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [datetime(9999, 12, 31, 23, 59), datetime(1900, 1, 1), datetime(2526, 1, 1, tzinfo=UTC), datetime(1, 1, 1)],
)
def test_times_outside_the_window_are_bad_time_never_overflow(value: datetime) -> None:
    with pytest.raises(BadTime):
        check_time(value, "created_at", now=NOW)


def test_the_window_follows_the_injected_clock() -> None:
    ahead = NOW + timedelta(hours=23)
    assert check_time(ahead, "at", now=NOW) == ahead
    with pytest.raises(BadTime):
        check_time(NOW + timedelta(days=1, seconds=1), "at", now=NOW)
    assert check_time(NOW + timedelta(days=1, seconds=1), "at", now=NOW + timedelta(hours=1))
    assert check_time(EARLIEST, "at", now=NOW) == EARLIEST
    with pytest.raises(BadTime):
        check_time(EARLIEST - timedelta(seconds=1), "at", now=NOW)


@pytest.mark.parametrize("value", [10**15, -(10**15), float("nan"), float("inf"), 1e300])
def test_unix_times_beyond_datetime_are_bad_time(value: float) -> None:
    with pytest.raises(BadTime):
        parse_time(value, "date", now=NOW)


def test_unreadable_times_are_format_errors_not_bad_time() -> None:
    for value in ("вчера", "2025-99-99", [1], True):
        with pytest.raises(UnreadableTime):
            parse_time(value, "created_at", now=NOW)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)), st.booleans())
def test_any_datetime_is_either_in_the_window_in_utc_or_bad_time(value: datetime, aware: bool) -> None:
    if aware:
        value = value.replace(tzinfo=UTC)
    try:
        t = check_time(value, "at", now=NOW)
    except BadTime:
        return
    assert t.tzinfo is UTC and EARLIEST <= t <= NOW + timedelta(days=1)
    assert datetime(1970, 1, 1, tzinfo=UTC) < t < datetime(2106, 1, 1, tzinfo=UTC)  # ClickHouse DateTime


@pytest.mark.parametrize(
    "at", ["9999-12-31T23:00:00", "1900-01-01T00:00:00+00:00", "2526-01-01T00:00:00Z", "0001-01-01"]
)
def test_case_event_times_out_of_the_window_are_a_bad_time_validation_error(at: str) -> None:
    with pytest.raises(ValidationError) as info:
        event(at=at)
    assert is_bad_time(info.value.errors())
    assert info.value.errors()[0]["type"] == BAD_TIME


def test_case_event_times_of_mixed_zones_come_out_comparable_in_utc() -> None:
    naive = event(at="2026-11-20T10:00:00")
    aware = event(at="2026-11-20T10:00:00+00:00")
    assert naive.at.tzinfo is UTC and aware.at.tzinfo is UTC
    assert naive.at < aware.at  # 10:00 Moscow is 07:00 UTC: comparing them no longer raises TypeError


def test_a_new_deadline_may_lie_up_to_a_year_ahead_but_not_in_year_9999() -> None:
    assert event(type="extended", new_deadline="2027-06-01T18:00:00+03:00").new_deadline is not None
    with pytest.raises(ValidationError) as info:
        event(type="extended", new_deadline="9999-12-31T00:00:00+03:00")
    assert is_bad_time(info.value.errors())


def test_message_created_at_is_checked_too() -> None:
    base = {
        "message_id": "m",
        "channel": "webform",
        "source_id": "s",
        "created_at": "9999-12-31T00:00:00+00:00",
        "fetched_at": NOW,
        "normalized_at": NOW,
        "text": "x",
    }
    with pytest.raises(ValidationError) as info:
        NormalizedMessage.model_validate(base, context={TIME_CONTEXT: NOW})
    assert is_bad_time(info.value.errors())
    ok = NormalizedMessage.model_validate({**base, "created_at": "2026-11-27 10:00"}, context={TIME_CONTEXT: NOW})
    assert ok.created_at == datetime(2026, 11, 27, 10, tzinfo=MSK)

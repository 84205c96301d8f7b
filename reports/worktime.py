"""The working-time calendar as a ClickHouse table, so SQL measures durations in working hours.

The calendar itself (days off, moved days, shortened pre-holiday days, office hours) is the SLA
package's `sla.calendar.WorkingCalendar`; this module only writes its days into `work_calendar`
with a running total of working seconds, which turns "working seconds between a and b" into two
lookups (see the refresh in migration 0003).
"""

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client

CALENDAR_COLUMNS = ["day", "start1", "end1", "start2", "end2", "cum_before", "source"]
FIRST_DAY = date(2015, 1, 1)
LAST_DAY = date(2040, 12, 31)


class DayIntervals(Protocol):
    """What this module needs of a calendar: a day's working intervals as aware local datetimes."""

    def intervals_of(self, d: date) -> list[tuple[datetime, datetime]]: ...


def default_calendar() -> DayIntervals:
    from sla.calendar import WorkingCalendar

    return WorkingCalendar()


def _seconds_after_midnight(t: datetime, d: date) -> int:
    midnight = datetime.combine(d, datetime.min.time(), t.tzinfo)
    return int((t - midnight).total_seconds())


def calendar_rows(
    calendar: DayIntervals, first: date = FIRST_DAY, last: date = LAST_DAY, source: str = "sla.calendar"
) -> Iterator[list[Any]]:
    """One row per day: up to two working intervals (seconds after local midnight), cum_before."""
    cum = 0
    d = first
    while d <= last:
        spans = [(_seconds_after_midnight(a, d), _seconds_after_midnight(b, d)) for a, b in calendar.intervals_of(d)]
        if len(spans) > 2:
            raise ValueError(f"{d}: {len(spans)} working intervals; work_calendar holds at most two")
        spans += [(0, 0)] * (2 - len(spans))
        (s1, e1), (s2, e2) = spans
        yield [d, s1, e1, s2, e2, cum, source]
        cum += (e1 - s1) + (e2 - s2)
        d += timedelta(days=1)


def sync_calendar(client: Client, calendar: DayIntervals | None = None) -> int:
    """Write the calendar into work_calendar (idempotent: the table keeps the newest row per day)."""
    rows = list(calendar_rows(calendar or default_calendar()))
    client.insert("work_calendar", rows, column_names=CALENDAR_COLUMNS, settings={"async_insert": 0})
    return len(rows)


def calendar_is_current(client: Client, calendar: DayIntervals | None = None) -> bool:
    """True when the stored calendar equals what the calendar code says today (cheap check)."""
    expected = [r[:6] for r in calendar_rows(calendar or default_calendar())]
    stored = client.query(
        "SELECT day, start1, end1, start2, end2, cum_before FROM work_calendar FINAL ORDER BY day"
    ).result_rows
    return [list(r) for r in stored] == expected

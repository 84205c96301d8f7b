"""The Russian working-time calendar (Europe/Moscow) and term arithmetic.

Days off and moved days come from the maintained `holidays` library; a versioned YAML file
corrects it for decrees newer than the library. Calendar-day terms follow ГК РФ ст. 191, 193, 194:
counted from the day after the start, a last day that is a day off moves to the next working day,
and the term ends when the office closes that day.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

from sla.terms import (  # re-exported: the calendar's callers import them from here
    DEFAULT_OVERRIDES,
    CalendarError,
    CalendarOverrides,
    Term,
    Unit,
    load_overrides,
    parse_term,
    parse_work_hours,
)

MSK = ZoneInfo("Europe/Moscow")
DEFAULT_WORK_HOURS = "09:00-13:00,14:00-18:00"
# The arithmetic covers these days: from the start of the accepted time window (schemas/times.py)
# to the last full year ClickHouse's DateTime holds. A deadline beyond it is a CalendarError.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2105, 12, 31)


# ---------------------------------------------------------------- the calendar


@dataclass(frozen=True, slots=True)
class _YearTable:
    """Prefix sums of one year: working seconds and working days from 1 January through day i."""

    first: date
    secs_through: list[int]
    days_through: list[int]

    def secs_before(self, i: int) -> int:
        return self.secs_through[i - 1] if i else 0

    def working(self, i: int) -> int:
        return self.days_through[i] - (self.days_through[i - 1] if i else 0)


@dataclass(frozen=True, slots=True)
class DayInfo:
    day: date
    working: bool
    shortened: bool  # one hour shorter (ТК РФ ст. 95), only meaningful for a working day
    holiday: str | None  # Russian name of the holiday or moved day off, if any
    source: str  # "weekday", "weekend", "holidays", "override"


def _is_statutory(name_en: str) -> bool:
    # ст. 112 ТК РФ holidays shorten the day before them; moved days off ("substituted") and their
    # weekday replacements ("observed") do not.
    low = name_en.lower()
    return "substituted" not in low and "observed" not in low


class WorkingCalendar:
    """Working days and hours of the administration, in Moscow time."""

    def __init__(
        self,
        work_hours: str = DEFAULT_WORK_HOURS,
        overrides: CalendarOverrides | Path | str | None = DEFAULT_OVERRIDES,
        shorten_pre_holiday: bool = True,
    ) -> None:
        self.intervals = parse_work_hours(work_hours)
        if overrides is None:
            overrides = CalendarOverrides(version="none")
        elif not isinstance(overrides, CalendarOverrides):
            overrides = load_overrides(overrides)
        self.overrides = overrides
        self.shorten_pre_holiday = shorten_pre_holiday
        self._ru = holidays.country_holidays("RU", language="ru")
        self._en = holidays.country_holidays("RU", language="en_US")
        self._work = {e.date: e.reason for e in overrides.working_days}
        self._off = {e.date: e.reason for e in overrides.days_off}
        self._short = {e.date for e in overrides.shortened}
        self._not_short = {e.date for e in overrides.not_shortened}
        self.day = lru_cache(maxsize=8192)(self._day)
        self.intervals_of = lru_cache(maxsize=8192)(self._intervals_of)  # type: ignore[method-assign]
        # At most LAST_DAY.year - FIRST_DAY.year + 1 tables of ~6 KB: the cache needs no bound.
        self._year_tables = lru_cache(maxsize=None)(self._build_year)
        # Every case's terms in days: a backlog, or a day's intake, asks the same few (day, length)
        # pairs over and over (bench/sla.py, part 5: 2.8–3.4 µs a deadline in days before, 0.4–0.5 after).
        self._days_after = lru_cache(maxsize=8192)(self._end_of_days)

    @classmethod
    def from_settings(cls, settings: object) -> WorkingCalendar:
        hours = getattr(settings, "sla_work_hours", DEFAULT_WORK_HOURS)
        path = getattr(settings, "sla_calendar_overrides_file", None) or DEFAULT_OVERRIDES
        return cls(work_hours=hours, overrides=path)

    # -- days

    def _working_by_rules(self, d: date) -> tuple[bool, str | None, str]:
        if d in self._off:
            return False, self._off[d] or "выходной по решению", "override"
        if d in self._work:
            return True, None, "override"
        if d in self._en.weekend_workdays or d in self._ru.weekend_workdays:
            return True, None, "holidays"
        if d in self._ru:
            return False, self._ru.get(d), "holidays"
        if d.weekday() >= 5:
            return False, None, "weekend"
        return True, None, "weekday"

    def _day(self, d: date) -> DayInfo:
        working, name, source = self._working_by_rules(d)
        shortened = False
        if working:
            if d in self._short:
                shortened = True
            elif self.shorten_pre_holiday and d not in self._not_short:
                nxt = d + timedelta(days=1)
                names = self._en.get_list(nxt) if nxt in self._en else []
                shortened = nxt not in self._work and any(_is_statutory(n) for n in names)
        return DayInfo(d, working, shortened, name, source)

    def is_working_day(self, d: date) -> bool:
        return self.day(d).working

    def next_working_day(self, d: date, *, inclusive: bool = False) -> date:
        _check_day(d, "next working day after")
        y, i = self._year(d.year), _index(d)
        before = y.days_through[i] - (y.working(i) if inclusive else 0)
        return self._nth_working_day(d.year, before + 1)

    def intervals_of(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        """The working intervals of one day as aware Moscow datetimes (empty on a day off)."""
        return self._intervals_of(d)

    def _intervals_of(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        info = self.day(d)
        if not info.working:
            return ()
        out = [(datetime.combine(d, a, MSK), datetime.combine(d, b, MSK)) for a, b in self.intervals]
        if info.shortened:
            # One hour comes off the end of the day, through as many intervals as it takes.
            cut = timedelta(hours=1)
            while cut and out:
                a, b = out[-1]
                if b - a > cut:
                    out[-1] = (a, b - cut)
                    cut = timedelta(0)
                else:
                    cut -= b - a
                    out.pop()
        return tuple(out)

    def working_seconds_of(self, d: date) -> float:
        return sum((b - a).total_seconds() for a, b in self.intervals_of(d))

    def close_of(self, d: date) -> datetime:
        """When the office closes on day ``d`` (the moment a term ending that day expires)."""
        iv = self.intervals_of(d)
        if iv:
            return iv[-1][1]
        return datetime.combine(d, self.intervals[-1][1], MSK)

    # -- arithmetic
    #
    # Every operation below costs O(log 366) per year of its span, not a walk over the days: each
    # year's working seconds and working days are prefix sums (``_YearTable``), built once per year on
    # first use (a few ms) and kept. Only years in FIRST_DAY … LAST_DAY exist; anything that would
    # reach outside is a CalendarError, so a year-9999 input costs nothing instead of a minute.

    def warm(self, first_year: int, last_year: int) -> None:
        """Build the prefix sums of these years now (at start-up), not on first use in the event loop."""
        for year in range(max(first_year, FIRST_DAY.year), min(last_year, LAST_DAY.year) + 1):
            self._year(year)

    def _year(self, year: int) -> _YearTable:
        return self._year_tables(year)

    def _build_year(self, year: int) -> _YearTable:
        first = date(year, 1, 1)
        secs: list[int] = []
        days: list[int] = []
        s_total = d_total = 0
        d = first
        while d.year == year:
            worked = int(self.working_seconds_of(d))
            s_total += worked
            d_total += self.day(d).working
            secs.append(s_total)
            days.append(d_total)
            d += timedelta(days=1)
        return _YearTable(first, secs, days)

    def _worked_by(self, t: datetime) -> int | float:
        """Working seconds of ``t``'s day up to ``t`` (``t`` in Moscow time)."""
        total: int | float = 0
        for a, b in self.intervals_of(t.date()):
            if t <= a:
                break
            total += (min(b, t) - a).total_seconds()
        return total

    def _position(self, t: datetime) -> int | float:
        """Working seconds from 1 January of ``t``'s year to ``t``."""
        d = t.date()
        _check_day(d, "time")
        y, i = self._year(d.year), _index(d)
        return y.secs_before(i) + self._worked_by(t)

    def _nth_working_day(self, year: int, k: int) -> date:
        """The day on which the count of working days since 1 January of ``year`` reaches ``k`` ≥ 1."""
        y = self._year(year)
        while k > y.days_through[-1]:
            k -= y.days_through[-1]
            year += 1
            if year > LAST_DAY.year:
                raise CalendarError(f"the term ends after {LAST_DAY}, beyond the calendar's range")
            y = self._year(year)
        return y.first + timedelta(days=bisect_left(y.days_through, k))

    def add_calendar_days(self, start: datetime, days: int) -> datetime:
        """ГК РФ ст. 191/193/194: from the day after ``start``; a day-off last day moves forward."""
        return self._days_after(_msk(start).date(), days, False)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The n-th working day after the day of ``start``, at closing time."""
        if days < 0:
            raise CalendarError(f"a term of {days} working days: terms are not negative")
        return self._days_after(_msk(start).date(), days, True)

    def _end_of_days(self, d: date, days: int, working: bool) -> datetime:
        """The closing time that ends a term of ``days`` (working) days begun on day ``d``: a term
        in days depends on the day it began, not the hour, so ``_days_after`` keeps the answers."""
        if not working:
            try:
                last = d + timedelta(days=days)
            except OverflowError as e:
                raise CalendarError(f"{days} days after {d} is beyond the calendar's range") from e
            return self.close_of(self.next_working_day(last, inclusive=True)).astimezone(UTC)
        if days == 0:
            return self.close_of(self.next_working_day(d, inclusive=True)).astimezone(UTC)
        _check_day(d, "start")
        return self.close_of(
            self._nth_working_day(d.year, self._year(d.year).days_through[_index(d)] + days)
        ).astimezone(UTC)

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The moment when ``seconds`` of working time have passed since ``start``.

        With nothing to add it is the first working moment at or after ``start``; a term that ends
        exactly when an interval closes ends then (13:00), not when the next one opens (14:00).
        """
        left = max(0, seconds)
        cur = _msk(start)
        d = cur.date()
        _check_day(d, "start")
        if left == 0:
            for a, b in self.intervals_of(d):
                if b > cur:
                    return max(a, cur).astimezone(UTC)
            return self.intervals_of(self.next_working_day(d))[0][0].astimezone(UTC)
        year = d.year
        y = self._year(year)
        k = self._position(cur) + left
        while k > y.secs_through[-1]:
            k -= y.secs_through[-1]
            year += 1
            if year > LAST_DAY.year:
                raise CalendarError(f"working time {seconds}s after {start} is beyond the calendar's range")
            y = self._year(year)
        i = bisect_left(y.secs_through, k)
        rem = k - y.secs_before(i)
        for a, b in self.intervals_of(y.first + timedelta(days=i)):
            span = (b - a).total_seconds()
            if span >= rem:
                return (a + timedelta(seconds=rem)).astimezone(UTC)
            rem -= span
        raise AssertionError("prefix sums and intervals disagree")  # pragma: no cover

    def working_seconds_between(self, a: datetime, b: datetime) -> float:
        """Working time in [a, b); negative when b < a."""
        if b < a:
            return -self.working_seconds_between(b, a)
        a, b = _msk(a), _msk(b)
        pa, pb = self._position(a), self._position(b)
        total = pb - pa
        for year in range(a.year, b.year):
            total += self._year(year).secs_through[-1]
        return float(total)

    def deadline(self, start: datetime, term: Term | str) -> datetime:
        """When a term that began at ``start`` ends, in UTC."""
        if isinstance(term, str):
            term = parse_term(term)
        n = term.amount
        match term.unit:
            case Unit.CALENDAR_DAYS:
                return self.add_calendar_days(start, n)
            case Unit.WORKING_DAYS:
                return self.add_working_days(start, n)
            case Unit.WORKING_HOURS:
                return self.add_working_seconds(start, n * 3600)
            case Unit.WORKING_MINUTES:
                return self.add_working_seconds(start, n * 60)
            case Unit.HOURS:
                return _plain(start, timedelta(hours=n))
            case Unit.MINUTES:
                return _plain(start, timedelta(minutes=n))
        raise CalendarError(f"unknown unit {term.unit}")

    def point_at_share(self, start: datetime, deadline: datetime, share: float, working: bool) -> datetime:
        """The moment when ``share`` of the term [start, deadline] has elapsed."""
        if working:
            total = self.working_seconds_between(start, deadline)
            return self.add_working_seconds(start, total * share)
        return (start + (deadline - start) * share).astimezone(UTC)

    def shift(self, deadline: datetime, paused: datetime, resumed: datetime, working: bool) -> datetime:
        """Move a deadline by the time the clock stood (waiting for the resident)."""
        if resumed <= paused:
            return deadline
        if working:
            lost = self.working_seconds_between(paused, resumed)
            return self.add_working_seconds(deadline, lost) if lost > 0 else deadline
        return (deadline + (resumed - paused)).astimezone(UTC)

    # -- the production calendar

    def year(self, year: int) -> list[DayInfo]:
        d, out = date(year, 1, 1), []
        while d.year == year:
            out.append(self.day(d))
            d += timedelta(days=1)
        return out

    def days_off_with_names(self, days: Iterable[DayInfo]) -> list[DayInfo]:
        return [x for x in days if not x.working and x.holiday]


def _check_day(d: date, what: str) -> None:
    if not FIRST_DAY <= d <= LAST_DAY:
        raise CalendarError(f"{what} {d} is outside the calendar's range {FIRST_DAY} … {LAST_DAY}")


def _index(d: date) -> int:
    return d.timetuple().tm_yday - 1


def _plain(start: datetime, span: timedelta) -> datetime:
    try:
        end = start + span
    except OverflowError as e:
        raise CalendarError(f"{span} after {start} is beyond the calendar's range") from e
    _check_day(end.date(), "deadline")
    return end.astimezone(UTC)


def _msk(t: datetime) -> datetime:
    if t.tzinfo is None:
        raise CalendarError(f"naive datetime {t.isoformat()}: times must be timezone-aware")
    return t.astimezone(MSK)

"""The one check every time from outside passes: known zone, UTC, inside a sane window.

Why a window at all: a single case dated 9999-12-31 or 1900-01-01 used to pass, and then the
report refresh failed on every run (ClickHouse ``DateTime`` holds 1970–2106 only) and the SLA
calendar walked to year 9999 inside the event loop. So:

- a time without a zone is Moscow time (the administration's clock, what registries and forms
  write), then converted to UTC; every time leaving this module is aware and in UTC;
- a creation or receipt time lies in ``EARLIEST`` … ``now + MAX_FUTURE`` (2000-01-01 … now + 1 day:
  a day of skew covers a sender's wrong clock, nothing legitimately comes from further ahead);
- a case event's ``at`` has the same window (the event happened; an official's clock may be off);
- a deadline an official sets (``new_deadline``) lies in ``EARLIEST`` … ``now + MAX_DEADLINE_AHEAD``.

``now`` is a parameter everywhere (and ``TIME_CONTEXT`` in a pydantic validation context), so the
window can be tested; by default it is the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

MSK = ZoneInfo("Europe/Moscow")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=1)
MAX_DEADLINE_AHEAD = timedelta(days=366)
BAD_TIME = "bad_time"  # reason code of dead letters and of the pydantic error type
TIME_CONTEXT = "now"  # key of the injected clock in a pydantic validation context

Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    return datetime.now(UTC)


class BadTime(ValueError):
    """A time outside the window (or beyond datetime's range); the message says which field and why."""

    reason = BAD_TIME


class UnreadableTime(ValueError):
    """Not a time at all ("вчера", a list): a format error, reported as ``validation``."""


def to_utc(value: datetime) -> datetime:
    """Aware UTC; a zone-less time is read as Moscow time (the documented default)."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        value = value.replace(tzinfo=MSK)
    return value.astimezone(UTC)


def check_time(
    value: datetime,
    field: str,
    *,
    now: datetime | None = None,
    ahead: timedelta = MAX_FUTURE,
    earliest: datetime = EARLIEST,
) -> datetime:
    """``value`` in UTC if it lies in ``earliest`` … ``now + ahead``; else ``BadTime``."""
    try:
        t = to_utc(value)
    except (OverflowError, ValueError) as exc:  # astimezone at the edges of datetime's range
        raise BadTime(f"{field}: {value!r} cannot be converted to UTC") from exc
    now = wall_clock() if now is None else to_utc(now)
    if t < earliest:
        raise BadTime(f"{field}: {t.isoformat()} is before {earliest.date().isoformat()}")
    if t > now + ahead:
        raise BadTime(f"{field}: {t.isoformat()} is more than {_span(ahead)} after now ({now.isoformat()})")
    return t


def from_epoch(value: int | float, field: str) -> datetime:
    """A Unix time (seconds) as UTC, not yet window-checked; 10^15 or NaN is ``BadTime``, never OverflowError."""
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, ValueError, OSError) as exc:
        raise BadTime(f"{field}: {str(value)[:40]} is not a usable Unix time") from exc


def read_time(value: Any, field: str) -> datetime | None:
    """Unix seconds, an ISO 8601 string or a datetime → aware UTC (not window-checked); None for None/''.

    ``UnreadableTime`` if it is not a time, ``BadTime`` if it is beyond what datetime can hold.
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UnreadableTime(f"{field}: expected a date-time, got a boolean")
    if isinstance(value, int | float):
        return from_epoch(value, field)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise UnreadableTime(f"{field}: not an ISO date-time: {value[:40]!r}") from exc
    if isinstance(value, datetime):
        try:
            return to_utc(value)
        except (OverflowError, ValueError) as exc:
            raise BadTime(f"{field}: {value!r} cannot be converted to UTC") from exc
    raise UnreadableTime(f"{field}: expected a date-time, got {type(value).__name__}")


def parse_time(value: Any, field: str, *, now: datetime | None = None) -> datetime | None:
    """``read_time`` and then the window of ``check_time``."""
    t = read_time(value, field)
    return None if t is None else check_time(t, field, now=now)


def _span(d: timedelta) -> str:
    return f"{d.days} day(s)" if d.days and not d.seconds else str(d)


def _validator(ahead: timedelta) -> Callable[[datetime, ValidationInfo], datetime]:
    def validate(value: datetime, info: ValidationInfo) -> datetime:
        now = (info.context or {}).get(TIME_CONTEXT)
        try:
            return check_time(value, info.field_name or "time", now=now, ahead=ahead)
        except BadTime as exc:
            # A custom error type lets callers tell a bad time from other validation errors.
            raise PydanticCustomError(BAD_TIME, "{detail}", {"detail": str(exc)}) from exc

    return validate


# Field types for the models of ``schemas``: pydantic parses, then the window is checked.
OutsideTime = Annotated[datetime, AfterValidator(_validator(MAX_FUTURE))]
DeadlineTime = Annotated[datetime, AfterValidator(_validator(MAX_DEADLINE_AHEAD))]


def is_bad_time(errors: list[Any]) -> bool:
    """True when a pydantic error list names a time out of the window (the record's reason is ``bad_time``)."""
    return any(e.get("type") == BAD_TIME for e in errors)

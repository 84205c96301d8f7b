"""Terms ("10 рабочих дней", "24 hours") and the calendar's inputs: the overrides file and working hours.

Kept apart from the arithmetic in ``sla.calendar`` (which re-exports these names): parsing and
validating what people write in policy and calendar files is its own concern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

DEFAULT_OVERRIDES = Path(__file__).parent / "data" / "calendar_overrides.yaml"


class CalendarError(ValueError):
    """A calendar file or a term that cannot be used; the message names the file or the text."""


# ---------------------------------------------------------------- terms


class Unit(StrEnum):
    CALENDAR_DAYS = "days"
    WORKING_DAYS = "working days"
    WORKING_HOURS = "working hours"
    HOURS = "hours"  # plain clock hours, round the clock
    WORKING_MINUTES = "working minutes"
    MINUTES = "minutes"


@dataclass(frozen=True, slots=True)
class Term:
    amount: int
    unit: Unit

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.value}"

    @property
    def is_working_time(self) -> bool:
        return self.unit in (Unit.WORKING_DAYS, Unit.WORKING_HOURS, Unit.WORKING_MINUTES)


_TERM_RE = re.compile(
    r"^\s*(?P<n>\d+)\s*(?P<working>working|work|business|рабоч\w*|раб\.?)?\s*(?P<unit>\S+)\s*$",
    re.IGNORECASE,
)
_DAY_WORDS = ("day", "days", "d", "день", "дня", "дней", "дн", "дн.", "сутки", "суток")
_HOUR_WORDS = ("hour", "hours", "h", "час", "часа", "часов", "ч", "ч.")
_MINUTE_WORDS = ("minute", "minutes", "min", "m", "минута", "минуты", "минут", "мин", "мин.")


def parse_term(text: str) -> Term:
    """'30 days', '10 working days', '8 working hours', '10 рабочих дней', '4 рабочих часа'."""
    m = _TERM_RE.match(text.replace("ё", "е"))
    if not m:
        raise CalendarError(f"cannot read term {text!r}: expected e.g. '10 working days' or '30 дней'")
    n = int(m["n"])
    working = m["working"] is not None
    word = m["unit"].lower()
    if word in _DAY_WORDS:
        unit = Unit.WORKING_DAYS if working else Unit.CALENDAR_DAYS
    elif word in _HOUR_WORDS:
        unit = Unit.WORKING_HOURS if working else Unit.HOURS
    elif word in _MINUTE_WORDS:
        unit = Unit.WORKING_MINUTES if working else Unit.MINUTES
    else:
        raise CalendarError(f"cannot read term {text!r}: unknown unit {m['unit']!r}")
    return Term(n, unit)


# ---------------------------------------------------------------- overrides file


class _DayEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date
    reason: str = ""


class CalendarOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    working_days: list[_DayEntry] = []
    days_off: list[_DayEntry] = []
    shortened: list[_DayEntry] = []
    not_shortened: list[_DayEntry] = []


def load_overrides(path: Path | str = DEFAULT_OVERRIDES) -> CalendarOverrides:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
        return CalendarOverrides.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as e:
        raise CalendarError(f"{path}: {e}") from e


def parse_work_hours(spec: str) -> tuple[tuple[time, time], ...]:
    """'09:00-13:00,14:00-18:00' → the day's working intervals, in order, not overlapping."""
    out: list[tuple[time, time]] = []
    try:
        for part in spec.split(","):
            a, b = part.strip().split("-")
            out.append((time.fromisoformat(a.strip()), time.fromisoformat(b.strip())))
    except ValueError as e:
        raise CalendarError(f"cannot read working hours {spec!r}: expected 'HH:MM-HH:MM,...'") from e
    for (a, b), nxt in zip(out, [*out[1:], None], strict=True):
        if not a < b or (nxt is not None and not b <= nxt[0]):
            raise CalendarError(f"working hours {spec!r} must be increasing, non-overlapping intervals")
    if not out:
        raise CalendarError("working hours are empty")
    return tuple(out)

"""Building the SLA objects from settings, so the Faust app and the CLI make them the same way."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

from sla.calendar import DEFAULT_OVERRIDES, WorkingCalendar
from sla.policies import load_policies
from sla.timers import PENDING_MAX_CASES, SlaTimers


def make_calendar(settings: Any) -> WorkingCalendar:
    return WorkingCalendar(
        work_hours=settings.sla_work_hours,
        overrides=settings.sla_calendar_overrides_file or DEFAULT_OVERRIDES,
    )


def make_timers(settings: Any, store: MutableMapping[str, bytes] | None = None) -> SlaTimers:
    """Timers over ``store`` (a Faust table with ``value_serializer='raw'`` in the worker)."""
    return SlaTimers(
        load_policies(settings.sla_policies_file),
        make_calendar(settings),
        store,
        pending_max_cases=getattr(settings, "sla_pending_max_cases", PENDING_MAX_CASES),
        pending_max_age=timedelta(hours=getattr(settings, "sla_pending_max_age_hours", 168.0)),
    )

"""Building the SLA objects from settings, so the Faust app and the CLI make them the same way."""

from __future__ import annotations

from collections.abc import MutableMapping
from datetime import timedelta

from sla.calendar import DEFAULT_OVERRIDES, WorkingCalendar
from sla.policies import load_policies
from sla.settings import SlaSettings
from sla.timers import SlaTimers


def make_calendar(settings: SlaSettings) -> WorkingCalendar:
    return WorkingCalendar(
        work_hours=settings.work_hours,
        overrides=settings.calendar_overrides_file or DEFAULT_OVERRIDES,
    )


def make_timers(settings: SlaSettings, store: MutableMapping[str, bytes] | None = None) -> SlaTimers:
    """Timers over ``store`` (a Faust table with ``value_serializer='raw'`` in the worker)."""
    return SlaTimers(
        load_policies(settings.policies_file),
        make_calendar(settings),
        store,
        pending_max_cases=settings.pending_max_cases,
        pending_max_age=timedelta(hours=settings.pending_max_age_hours),
    )

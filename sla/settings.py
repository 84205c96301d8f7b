"""SLA section: ``MCU_SLA_*``, the terms, the working calendar and the timers' limits."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SlaSettings(BaseSettings):
    """Where the SLA terms and calendar come from, and how long the timers wait for late cases."""

    model_config = SettingsConfigDict(env_prefix="MCU_SLA_", env_file=None, extra="ignore", populate_by_name=True)

    policies_file: Path | None = Field(default=None, description="SLA terms YAML; default sla/data/policies.yaml")
    calendar_overrides_file: Path | None = Field(
        default=None, description="working-day corrections YAML; default sla/data/calendar_overrides.yaml"
    )
    work_hours: str = Field(default="09:00-13:00,14:00-18:00", description="working intervals of a day, Moscow time")
    pending_max_cases: int = Field(
        default=10_000,
        ge=1,
        description="cases known only by their events (the case not arrived yet) a worker keeps; "
        "events for more are dead letters (sla_pending_full)",
    )
    pending_max_age_hours: float = Field(
        default=168.0,
        gt=0,
        description="how long events wait for their case before they become dead letters (sla_pending_expired)",
    )
    tick_max_cases: int = Field(
        default=1000,
        ge=1,
        description="due cases one SLA tick (every second) fires at most, in chunks of 100 with the event loop "
        "free between them; the rest fire on the next ticks, so a backlog never starves the streams",
    )
    digest_cron: str = Field(
        default="0 8 * * 1-5", description="when block heads get the daily digest (cron, Europe/Moscow)"
    )

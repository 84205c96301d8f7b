"""How reports reach the data: a clickhouse-connect client, kept fresh, wrapped as a Query."""

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from reports.build import Query
from reports.worktime import calendar_is_current, sync_calendar

log = logging.getLogger(__name__)
EVERYTHING = date(1970, 1, 1)
RECENT_MONTHS = 3  # answers, ratings and reopenings mostly land within a term of 30 days


def client_query(client: Client) -> Query:
    def query(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        return client.query(sql, parameters=params).result_rows

    return query


def _partitions(client: Client, table: str) -> set[str]:
    rows = client.query(
        "SELECT DISTINCT partition_id FROM system.parts"
        " WHERE database = currentDatabase() AND table = %(t)s AND active",
        parameters={"t": table},
    ).result_rows
    return {str(r[0]) for r in rows}


_SUMS = [
    "messages", "cases", "complaints", "repeated", "with_deadline", "answered", "answered_in_time", "overdue",
    "overdue_days", "open", "open_overdue", "resolved", "reopened", "interim_only", "responded", "responded_8h",
    "responded_40h", "rated", "rating_sum", "rating_good",
]  # fmt: skip
_QUANTILES = ["registration_hours", "first_response_hours", "resolution_hours"]


def _rollup(period: str, keys: str) -> str:
    """Daily rows of ``{src}`` re-aggregated by ``period`` (a column or ``expr AS name``) and ``keys``."""
    name = period.rsplit(" AS ", 1)[-1]
    return (
        f"SELECT {period}, {keys}, "
        + ", ".join(f"sum({c})" for c in _SUMS[:2])
        + ", uniqExactMergeState(problems), "
        + ", ".join(f"sum({c})" for c in _SUMS[2:])
        + ", "
        + ", ".join(f"quantilesTDigestMergeState(0.5, 0.9)({c})" for c in _QUANTILES)
        + f", max(refreshed_at) FROM {{src}} GROUP BY {name}, {keys}"
    )


_BODY = "block, department, settlement, level"
_MONTH = "toStartOfMonth(day) AS month"
BODY_ROLLUP = _rollup("day", _BODY)
MONTHLY_BODY_ROLLUP = _rollup(_MONTH, _BODY)
MONTHLY_ROLLUP = _rollup(_MONTH, _BODY + ", channel, category")


def _swap_in(client: Client, target: str, staging: str, first_partition: str) -> None:
    fresh = _partitions(client, staging)
    for part in sorted(fresh):
        client.command(f"ALTER TABLE {target} REPLACE PARTITION ID '{part}' FROM {staging}")
    for part in sorted(_partitions(client, target) - fresh):
        if part >= first_partition:  # a month whose cases are all gone (re-routed, dropped)
            client.command(f"ALTER TABLE {target} DROP PARTITION ID '{part}'")


def refresh(client: Client, since: date | None = None) -> int:
    """Recompute daily_stats for the months from ``since`` (default: all) and swap them in.

    The result is built in a table of its own (so two refreshes never mix) and moved in month by
    month with REPLACE PARTITION: readers see each month either before or after, never half.
    Returns the number of daily rows written.
    """
    since = (since or EVERYTHING).replace(day=1)
    first_partition = f"{since:%Y%m}"
    suffix = uuid4().hex[:12]
    staging, body_staging = f"daily_stats_staging_{suffix}", f"daily_body_stats_staging_{suffix}"
    month_staging = f"monthly_stats_staging_{suffix}"
    month_body_staging = f"monthly_body_stats_staging_{suffix}"
    client.command(f"CREATE TABLE {staging} AS daily_stats")
    client.command(f"CREATE TABLE {body_staging} AS daily_body_stats")
    client.command(f"CREATE TABLE {month_staging} AS monthly_stats")
    client.command(f"CREATE TABLE {month_body_staging} AS monthly_body_stats")
    try:
        client.command(
            f"INSERT INTO {staging} SELECT * FROM daily_stats_source(since = {{since:Date}})",
            parameters={"since": since},
            settings={"async_insert": 0},
        )
        client.command(f"INSERT INTO {body_staging} " + BODY_ROLLUP.format(src=staging), settings={"async_insert": 0})
        client.command(
            f"INSERT INTO {month_staging} " + MONTHLY_ROLLUP.format(src=staging), settings={"async_insert": 0}
        )
        client.command(
            f"INSERT INTO {month_body_staging} " + MONTHLY_BODY_ROLLUP.format(src=body_staging),
            settings={"async_insert": 0},
        )
        _swap_in(client, "daily_stats", staging, first_partition)
        _swap_in(client, "daily_body_stats", body_staging, first_partition)
        _swap_in(client, "monthly_stats", month_staging, first_partition)
        _swap_in(client, "monthly_body_stats", month_body_staging, first_partition)
        return int(client.query(f"SELECT count() FROM {staging}").result_rows[0][0])
    finally:
        client.command(f"DROP TABLE IF EXISTS {staging}")
        client.command(f"DROP TABLE IF EXISTS {body_staging}")
        client.command(f"DROP TABLE IF EXISTS {month_staging}")
        client.command(f"DROP TABLE IF EXISTS {month_body_staging}")


def refresh_recent(client: Client, today: date | None = None) -> int:
    """Recompute the current month and the RECENT_MONTHS − 1 before it."""
    today = today or datetime.now(ZoneInfo("Europe/Moscow")).date()
    month = today.year * 12 + today.month - 1 - (RECENT_MONTHS - 1)
    return refresh(client, date(month // 12, month % 12 + 1, 1))


def prepare(client: Client) -> bool:
    """Make sure work_calendar holds today's calendar, then recompute the aggregates.

    Run once when a process takes the store (the worker at start, `mcu report` when it opens a
    free chdb path). Returns True when the calendar had to be written.
    """
    written = False
    if not calendar_is_current(client):
        log.info("work_calendar written: %d days", sync_calendar(client))
        written = True
    refresh(client)
    return written

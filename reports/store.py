"""How reports reach the data: a clickhouse-connect client, kept fresh, wrapped as a Query."""

import logging
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from reports.build import Query
from reports.worktime import calendar_is_current, sync_calendar

log = logging.getLogger(__name__)
REFRESH_VIEW = "daily_stats_refresh"


def client_query(client: Client) -> Query:
    def query(sql: str, params: dict[str, Any]) -> Sequence[Sequence[Any]]:
        return client.query(sql, parameters=params).result_rows

    return query


def refresh(client: Client) -> None:
    """Recompute daily_stats now and wait for it (the view also refreshes itself every 5 minutes)."""
    client.command(f"SYSTEM REFRESH VIEW {REFRESH_VIEW}")
    client.command(f"SYSTEM WAIT VIEW {REFRESH_VIEW}")


def prepare(client: Client) -> bool:
    """Make sure work_calendar holds today's calendar; recompute the aggregates if it changed.

    Run once when a process takes the store (the worker at start, `mcu report` when it opens a
    free chdb path). Returns True when the calendar had to be written.
    """
    if calendar_is_current(client):
        return False
    rows = sync_calendar(client)
    log.info("work_calendar written: %d days", rows)
    refresh(client)
    return True

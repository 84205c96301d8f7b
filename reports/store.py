"""How reports reach the data: a clickhouse-connect client, kept fresh, wrapped as a Query."""

import logging
import re
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


_AGGREGATES = ("daily_stats", "daily_body_stats", "monthly_stats", "monthly_body_stats")


def _distributed_over(client: Client, table: str) -> str | None:
    """The cluster ``table`` is a Distributed table over, or None for a table of this server."""
    rows = client.query(
        "SELECT engine, engine_full FROM system.tables WHERE database = currentDatabase() AND name = %(t)s",
        parameters={"t": table},
    ).result_rows
    if not rows or rows[0][0] != "Distributed":
        return None
    m = re.match(r"Distributed\('?([^',)]+)", str(rows[0][1]))
    return m[1] if m else None


def refresh(client: Client, since: date | None = None, shards: Sequence[Client] = ()) -> int:
    """Recompute daily_stats for the months from ``since`` (default: all) and swap them in.

    The result is built in a table of its own (so two refreshes never mix) and moved in month by
    month with REPLACE PARTITION: readers see each month either before or after, never half.
    On a cluster (the aggregates are Distributed tables) see _refresh_cluster; ``shards`` are a
    client per shard (MCU_CLICKHOUSE_SHARD_DSNS). Returns the number of daily rows written.
    """
    since = (since or EVERYTHING).replace(day=1)
    cluster = _distributed_over(client, "daily_stats")
    if cluster:
        return _refresh_cluster(client, since, cluster, shards)
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


class ClusterRefreshUnsupported(RuntimeError):
    """The aggregates are Distributed but no shard clients were given."""


def _refresh_cluster(client: Client, since: date, cluster: str, shards: Sequence[Client]) -> int:
    """The refresh on Distributed aggregates: computed once, swapped in shard by shard.

    REPLACE PARTITION works on MergeTree tables only, not on Distributed ones. So the source is
    computed once, on this node, through the Distributed tables (exact: a message and all its
    rows live on one shard, and the repeat window, which looks across authors' messages on every
    shard, runs here), inserted into a Distributed staging table over per-shard staging tables,
    and then each shard swaps its own months in: REPLACE PARTITION where its staging has the
    month, DROP PARTITION where only its old rows have it. Readers sum over shards (every report
    aggregates), so which shard holds a row does not matter. Each shard's swap is atomic per
    month, the shards one after another: a reader may see, for a few milliseconds, one shard
    refreshed and the other not, which a single server never shows.
    """
    if not shards:
        raise ClusterRefreshUnsupported(
            f"the report aggregates are Distributed tables (cluster {cluster}): the refresh swaps months on "
            "each shard and needs MCU_CLICKHOUSE_SHARD_DSNS (a DSN per shard); with Keeper and ON CLUSTER "
            "this is not implemented, see docs/operations.md"
        )
    first_partition = f"{since:%Y%m}"
    suffix = uuid4().hex[:12]
    staging = {t: f"{t}_staging_{suffix}" for t in _AGGREGATES}
    insert = {"async_insert": 0, "distributed_foreground_insert": 1}
    try:
        for table, stage in staging.items():
            for shard in shards:
                shard.command(f"CREATE TABLE {stage}_local AS {table}_local")
            spread = f"Distributed('{cluster}', currentDatabase(), {stage}_local, rand())"
            client.command(f"CREATE TABLE {stage} AS {table} ENGINE = {spread}")
        client.command(
            f"INSERT INTO {staging['daily_stats']} SELECT * FROM daily_stats_source(since = {{since:Date}})",
            parameters={"since": since},
            # The source's IN (SELECT … FROM cases) inside a read of case_progress: both are sharded by
            # message, so each shard answers it from its own cases_local ('local'), nothing crosses over.
            settings={**insert, "distributed_product_mode": "local"},
        )
        rollups = (
            ("daily_body_stats", BODY_ROLLUP, "daily_stats"),
            ("monthly_stats", MONTHLY_ROLLUP, "daily_stats"),
            ("monthly_body_stats", MONTHLY_BODY_ROLLUP, "daily_body_stats"),
        )
        for target, rollup, source in rollups:
            client.command(f"INSERT INTO {staging[target]} " + rollup.format(src=staging[source]), settings=insert)
        for shard in shards:
            for table, stage in staging.items():
                _swap_in(shard, f"{table}_local", f"{stage}_local", first_partition)
        return int(client.query(f"SELECT count() FROM {staging['daily_stats']}").result_rows[0][0])
    finally:
        for stage in staging.values():
            client.command(f"DROP TABLE IF EXISTS {stage}")
            for shard in shards:
                shard.command(f"DROP TABLE IF EXISTS {stage}")
                shard.command(f"DROP TABLE IF EXISTS {stage}_local")


def refresh_recent(client: Client, today: date | None = None, shards: Sequence[Client] = ()) -> int:
    """Recompute the current month and the RECENT_MONTHS − 1 before it."""
    today = today or datetime.now(ZoneInfo("Europe/Moscow")).date()
    month = today.year * 12 + today.month - 1 - (RECENT_MONTHS - 1)
    return refresh(client, date(month // 12, month % 12 + 1, 1), shards)


def prepare(client: Client, shards: Sequence[Client] = ()) -> bool:
    """Make sure work_calendar holds today's calendar, then recompute the aggregates.

    Run once when a process takes the store (the worker at start, `mcu report` when it opens a
    free chdb path). Returns True when the calendar had to be written.
    """
    written = False
    if not calendar_is_current(client):
        log.info("work_calendar written: %d days", sync_calendar(client))
        written = True
    refresh(client, shards=shards)
    return written

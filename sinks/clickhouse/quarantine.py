"""Repair: take one message out of the store, recompute the aggregates it touched, audit it.

For a record that must not stay (a poisoned time that breaks the aggregate refresh, a test message
sent to production, a court order): every row with its message_id goes from every table that has
one, the daily/monthly aggregates are recomputed from the case's month on (all of them when its
time is not representable), and quarantine_log (migration 0008) keeps who, when, why and how
many rows of each table went. The raw bytes stay in Kafka; a replay would bring the case back,
so replay only after the cause is fixed.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from clickhouse_connect.driver.client import Client

from sinks.clickhouse.client import mask_secrets

log = logging.getLogger(__name__)
# Every table whose rows belong to one message; case_progress is what its events left behind.
TABLES = ("cases", "case_events", "sla_events", "notifications", "case_progress", "corrections")
# Months a refresh can compute: toDate/toDateTime hold 1970 … 2106.
REPRESENTABLE = (datetime(1970, 1, 1, tzinfo=UTC), datetime(2106, 1, 1, tzinfo=UTC))


class NothingToQuarantine(LookupError):
    pass


@dataclass(frozen=True)
class QuarantineResult:
    message_id: str
    removed: dict[str, int]
    case_created_at: datetime | None
    refreshed_from: date | None  # None with refresh_error "": everything was recomputed
    refresh_error: str

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def _month_to_refresh(created_at: datetime | None) -> date | None:
    if created_at is None:
        return None
    created_at = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    if not REPRESENTABLE[0] <= created_at < REPRESENTABLE[1]:
        return None  # the poison itself: recompute everything
    return date(created_at.year, created_at.month, 1)


def _count(client: Client, table: str, params: dict[str, str]) -> int:
    sql = f"SELECT count() FROM {table} WHERE message_id = {{id:String}}"
    return int(client.query(sql, parameters=params).result_rows[0][0])


def quarantine(
    client: Client,
    message_id: str,
    reason: str,
    actor: str,
    recompute: Callable[[Client, date | None], object],
    cluster: str | None = None,
    shards: Sequence[Client] = (),
) -> QuarantineResult:
    """Remove ``message_id`` everywhere, recompute its aggregates with ``recompute(client, since)``.

    ``recompute`` is reports.store.refresh in production (passed in: the store layer does not
    import reports). A failing recompute does not undo the removal: it is recorded in the audit
    row and returned, so the caller can say so and exit non-zero.
    """
    params = {"id": message_id}
    present = {str(r[0]) for r in client.query("SHOW TABLES").result_rows}
    tables = [t for t in TABLES if t in present]
    counts = {t: _count(client, t, params) for t in tables}
    if not any(counts.values()):
        raise NothingToQuarantine(message_id)
    info = client.query(
        "SELECT min(created_at), any(channel), count() FROM cases WHERE message_id = {id:String}", parameters=params
    ).result_rows[0]
    created_at: datetime | None = info[0] if info[2] else None
    channel = str(info[1]) if info[2] else ""
    for t, n in counts.items():
        if not n:
            continue
        # A mutation cannot run on a Distributed table: on the local tables, ON CLUSTER with Keeper,
        # else on each shard (MCU_CLICKHOUSE_SHARD_DSNS); the message lives on one of them.
        if shards:
            targets = [(s, f"{t}_local") for s in shards]
        else:
            targets = [(client, f"{t}_local ON CLUSTER '{cluster}'" if cluster else t)]
        for target_client, target in targets:
            target_client.command(
                f"ALTER TABLE {target} DELETE WHERE message_id = {{id:String}}",
                parameters=params,
                settings={"mutations_sync": 2},
            )
    since = _month_to_refresh(created_at)
    error = ""
    try:
        recompute(client, since)
    except Exception as exc:  # recorded and returned: the removal itself has happened
        error = mask_secrets(f"{type(exc).__name__}: {exc}")[:2000]
        log.error("aggregates not recomputed after quarantining %s: %s", message_id, error)
    client.insert(
        "quarantine_log",
        [[message_id, actor, reason, counts, created_at, channel, since, error]],
        column_names=[
            "message_id", "actor", "reason", "removed", "case_created_at", "case_channel", "refreshed_from",
            "refresh_error",
        ],
        settings={"async_insert": 0},
    )  # fmt: skip
    return QuarantineResult(message_id, counts, created_at, since, error)

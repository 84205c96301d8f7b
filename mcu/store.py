"""The worker's one handle on ClickHouse (the local server by default, any server, or chdb://).

Every call goes through one thread: the event loop never blocks on an insert, and the embedded
chdb engine (one process per path, not meant for concurrent calls) gets the same treatment.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from mcu.settings import get_settings
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.preflight import connect_checked

log = logging.getLogger(__name__)
T = TypeVar("T")


class Store:
    def __init__(self, dsn: str, cluster: str | None = None, shard_dsns: Sequence[str] = ()) -> None:
        self.dsn = dsn
        self.cluster = cluster
        self.shard_dsns = list(shard_dsns)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None
        self._shards: list[Client] | None = None

    def shards(self) -> list[Client]:
        """A client per shard (MCU_CLICKHOUSE_SHARD_DSNS), empty otherwise; call on the store's thread."""
        if self._shards is None:
            self._shards = [connect_checked(d) for d in self.shard_dsns]
        return self._shards

    def _client_sync(self) -> Client:
        if self._client is None:
            # A bad DSN fails here as one line (StoreUnavailable) naming it, password masked.
            self._client = connect_checked(self.dsn)
            applied = migrate(self._client, self.cluster, self.shards())
            if applied:
                log.info("ClickHouse migrations applied: %s", ", ".join(applied))
        return self._client

    async def run(self, fn: Any, *args: Any) -> Any:
        """Run ``fn(client, *args)`` on the store's thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._client_sync(), *args))

    def client(self) -> Client:
        """The open client, connecting and migrating first; call only on the store's thread."""
        return self._client_sync()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the store's thread (for callables that fetch ``client()`` themselves)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args))

    async def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return await self.run(lambda c: c.query(sql, parameters=parameters or {}).result_rows)

    def open_sync(self) -> Client:
        return self._executor.submit(self._client_sync).result()


COUNTS_SQL = (
    "SELECT (SELECT count() FROM cases FINAL), (SELECT count() FROM dead_letters FINAL),"
    " (SELECT countIf(settlement = 'unresolved') FROM cases FINAL)"
)


def counts_sync(client: Client) -> dict[str, int]:
    """Rows as analysts see them (deduplicated): `mcu counts` and the worker's /counts."""
    cases, dead, unresolved = client.query(COUNTS_SQL).result_rows[0]
    return {"cases": int(cases), "dead_letters": int(dead), "unresolved_settlement": int(unresolved)}


@cache
def _store() -> Store:
    s = get_settings()
    return Store(s.store.resolved_dsn, s.store.cluster, s.store.shard_dsn_list)


def __getattr__(name: str) -> Any:
    """`store`: the process's one store handle (sinks write through it, HTTP views read through it),
    made on first use so that importing this module reads no settings (PEP 562)."""
    if name == "store":
        return _store()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

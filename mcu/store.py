"""The worker's one handle on ClickHouse.

chdb locks its data path per process and is not meant for concurrent calls, so every call goes
through one thread; the event loop never blocks on an insert.
"""

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

from mcu.settings import get_settings
from sinks.clickhouse.client import connect
from sinks.clickhouse.migrate import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")


class Store:
    def __init__(self, dsn: str, cluster: str | None = None) -> None:
        self.dsn = dsn
        self.cluster = cluster
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self._client: Client | None = None

    def _client_sync(self) -> Client:
        if self._client is None:
            self._client = connect(self.dsn)
            applied = migrate(self._client, self.cluster)
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


# The process's one store handle: sinks write through it, HTTP views read through it.
store = Store(get_settings().resolved_clickhouse_dsn, get_settings().clickhouse_cluster)

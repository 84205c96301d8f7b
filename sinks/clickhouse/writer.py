"""The batch writer: one synchronous insert per batch, idempotent under re-delivery."""

from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client


def dedup_token(table: str, spans: Sequence[tuple[str, int, int, int]]) -> str:
    """A token naming exactly which source offsets a batch holds.

    Re-delivering the same offsets after a crash yields the same token, so ClickHouse drops the
    repeat insert; spans are (topic, partition, first offset, last offset).
    """
    return table + "|" + ",".join(f"{t}:{p}:{a}-{b}" for t, p, a, b in sorted(spans))


def insert_batch(
    client: Client, table: str, columns: list[str], rows: list[list[Any]], token: str, distributed: bool = False
) -> None:
    # async_insert is on by default in ClickHouse 26.x: a batching sink wants a synchronous insert
    # so that "returned" means "stored" before offsets are committed.
    settings: dict[str, object] = {"async_insert": 0, "insert_deduplication_token": token}
    if distributed:
        # into a Distributed table: return only once the shards have the rows, as with one server
        settings["distributed_foreground_insert"] = 1
    client.insert(table, rows, column_names=columns, settings=settings)

"""The batch writer: one synchronous insert per batch, idempotent under re-delivery."""

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.driver.client import Client


def dedup_token(table: str, offsets: Iterable[tuple[str, int, int]]) -> str:
    """A token naming exactly which source offsets (topic, partition, offset) a batch holds.

    Re-delivering the same offsets after a crash yields the same token, so ClickHouse drops the
    repeat insert. The readable part gives each partition's first and last offset; the digest
    covers every offset, so a batch with a hole in a span never shares a token with the whole
    span (that would drop the rows the hole held).
    """
    exact = sorted(set(offsets))
    bounds: dict[tuple[str, int], tuple[int, int]] = {}
    for topic, partition, offset in exact:
        lo, _ = bounds.get((topic, partition), (offset, offset))
        bounds[(topic, partition)] = (lo, offset)
    spans = ",".join(f"{t}:{p}:{lo}-{hi}" for (t, p), (lo, hi) in sorted(bounds.items()))
    digest = hashlib.blake2b(repr(exact).encode(), digest_size=8).hexdigest()
    return f"{table}|{spans}|{digest}"


def insert_batch(
    client: Client,
    table: str,
    columns: list[str],
    rows: list[list[Any]],
    token: str,
    distributed: bool = False,
    column_types: Sequence[ClickHouseType] | None = None,
) -> None:
    """``column_types``: the columns' types as the server gave them before (``column_types_of``);
    without them clickhouse-connect asks the server (DESCRIBE TABLE) before every insert."""
    # async_insert is on by default in ClickHouse 26.x: a batching sink wants a synchronous insert
    # so that "returned" means "stored" before offsets are committed.
    settings: dict[str, object] = {"async_insert": 0, "insert_deduplication_token": token}
    if distributed:
        # into a Distributed table: return only once the shards have the rows, as with one server
        settings["distributed_foreground_insert"] = 1
    client.insert(table, rows, column_names=columns, column_types=column_types, settings=settings)


def column_types_of(client: Client, table: str, columns: list[str]) -> Sequence[ClickHouseType]:
    """The server's types of ``columns``, asked once (the DESCRIBE an insert would otherwise repeat)."""
    return client.create_insert_context(table, column_names=columns).column_types

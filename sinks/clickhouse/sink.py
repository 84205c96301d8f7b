"""ClickHouseSink: write one batch of rows, isolate the rows the server refuses, report both.

A batch is first inserted whole. When the server refuses it for its *data* (errors.Verdict.REJECT:
a value out of range, a violated constraint, too many partitions in one block), the batch is
split in halves and each half inserted on its own, recursively, until every refused row stands
alone: those rows come back in the report with the server's error, everything else is stored.
One bad row in n costs about 2·log2(n) inserts; the whole batch is never lost for one row.
Errors that a later attempt may cure (network, timeouts, memory, back-pressure, unknown) are
raised as ``RetryableInsertError``: the caller retries the whole write with backoff.

Idempotency, including a crash in the middle of a split:

- Every insert carries ``insert_deduplication_token`` = ``dedup_token(table, offsets)`` of the
  rows it holds (their topic, partition and offset), and nothing else: the split is a pure
  function of the batch, so the same batch always yields the same sub-batches with the same
  tokens. A retry after a transient error half-way through a split, or a re-delivery after a
  crash that re-forms the same batch, re-inserts the halves already stored with their old
  tokens and ClickHouse drops them (non_replicated_deduplication_window on every table).
- A refused insert stores nothing (ClickHouse checks a block's constraints and partition count
  before it writes a part; clickhouse-connect refuses a value before sending), so a whole-batch
  token that failed is never "used up" by a partial write.
- If a re-delivery forms different batch boundaries (take_events after a restart may cut the
  stream elsewhere), the sub-batches and their tokens differ and some rows are inserted twice.
  That is the at-least-once case the tables are built for: ReplacingMergeTree keys (cases by
  message_id and version, events by message_id and event_id, dead letters by source offset)
  fold the repeat in FINAL reads and merges, and case_progress keeps min/max states, so query
  results count each row once.
- A refused row is reported, not retried: the caller dead-letters it before its offset is
  released, and a re-delivered dead letter folds the same way (dead_letters is keyed by offset).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.datatypes.base import ClickHouseType
from clickhouse_connect.driver.client import Client

from sinks.clickhouse.errors import InsertError, Verdict, classify
from sinks.clickhouse.writer import column_types_of, dedup_token, insert_batch

Offset = tuple[str, int, int]  # topic, partition, offset the row was read from


@dataclass(frozen=True)
class SinkRow:
    source: Offset
    values: list[Any]


@dataclass(frozen=True)
class RejectedRow:
    source: Offset
    index: int  # position in the batch given to write()
    error: InsertError


@dataclass(frozen=True)
class DeliveryReport:
    table: str
    stored: int
    rejected: list[RejectedRow] = field(default_factory=list)
    inserts: int = 0  # insert statements issued, refused ones included

    @property
    def ok(self) -> bool:
        return not self.rejected


class RetryableInsertError(Exception):
    """The store, not the rows: retry the whole write later (stored parts are deduplicated)."""

    def __init__(self, table: str, error: InsertError) -> None:
        super().__init__(f"insert into {table} failed: {error.describe()}")
        self.table = table
        self.error = error


class ClickHouseSink:
    """Writes batches of one table. Not thread-safe: call from one thread (the store's)."""

    def __init__(
        self,
        client: Callable[[], Client],
        table: str,
        columns: list[str],
        distributed: bool = False,
    ) -> None:
        self._client = client
        self.table = table
        self.columns = columns
        self.distributed = distributed
        # Asked of the server once rather than before every insert (a round trip and a parse per
        # batch, and per half of a split); forgotten after an insert failed for any reason but its
        # rows, so a table changed under a running sink is asked again.
        self._types: Sequence[ClickHouseType] | None = None

    def write(self, batch: Sequence[SinkRow]) -> DeliveryReport:
        rejected: list[RejectedRow] = []
        stored = inserts = 0
        # Explicit stack instead of recursion; halves are pushed right first so rows are tried in order.
        pending: list[tuple[int, int]] = [(0, len(batch))] if batch else []
        while pending:
            lo, hi = pending.pop()
            rows = batch[lo:hi]
            inserts += 1
            try:
                client = self._client()
                if self._types is None:
                    self._types = column_types_of(client, self.table, self.columns)
                insert_batch(
                    client, self.table, self.columns, [r.values for r in rows],
                    dedup_token(self.table, [r.source for r in rows]), self.distributed, self._types,
                )  # fmt: skip
            except Exception as exc:
                error = classify(exc)
                if error.verdict is not Verdict.REJECT:  # the rows' fault says nothing of the table
                    self._types = None
                if error.verdict is Verdict.RETRY:
                    raise RetryableInsertError(self.table, error) from exc
                if hi - lo == 1:
                    rejected.append(RejectedRow(rows[0].source, lo, error))
                else:
                    mid = (lo + hi) // 2
                    pending.extend([(mid, hi), (lo, mid)])
                continue
            stored += hi - lo
        return DeliveryReport(self.table, stored, sorted(rejected, key=lambda r: r.index), inserts)

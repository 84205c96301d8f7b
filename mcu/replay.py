"""Re-processing history: the raw topics through today's normalise + classify + route into the store.

What it does to the store, and what it does not:

- It reads the raw topics (the payload bytes as received, the replay source of the design) with
  kafka-python outside any consumer group, from the offsets of ``since`` (``offsets_for_times``)
  or the beginning, up to the end offsets seen when it started, so a run always ends.
- Each record goes through the same pure functions as the worker (``normalize_record`` with the
  record's broker timestamp as "now", so the time window and the fallbacks of the first pass
  apply; ``Enricher.enrich`` with the model and directory installed now). Records the normaliser
  refuses are counted, not dead-lettered again: their dead letters are in the store already.
- A case is written only if its row differs from the stored one (all columns but ``enriched_at``
  and ``version``): a second run with the same model finds nothing to write, and a run cut short
  resumes where it stopped. A written row gets ``enriched_at`` = now, so its ``version`` is above
  the stored one and ``cases FINAL`` shows the new decision. Inserts go through
  ``ClickHouseSink``; their dedup tokens name this run and the raw offsets, so a retried batch is
  dropped by ClickHouse while a later run (another model) is never mistaken for a repeat.
- It never writes to Kafka. The SLA stage reads the ``cases`` topic, so replayed cases start no
  timers, move no deadlines and send no SLA notifications; ``case_events``, ``sla_events`` and the
  deadlines in ``case_progress`` stay as they are (keyed by message id, which a replay keeps).
  An open case whose block or department changed keeps its SLA owner until an operator's
  correction moves it (issue 17).
- ``open_only`` writes only cases not closed in the store (the reports' definition: no final
  answer, or reopened since, and not closed by merge, forwarding or cancelling).
"""

from __future__ import annotations

import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from clickhouse_connect.driver.client import Client
from kafka import KafkaConsumer, TopicPartition

from classify.enricher import Enricher
from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import decode_headers
from schemas import Case, NormalizedMessage
from sinks.clickhouse.rows import CASE_COLUMNS, case_row
from sinks.clickhouse.sink import ClickHouseSink, RejectedRow, SinkRow

# Columns that say when a row was written, not what it says: left out of the comparison.
_WHEN = ("enriched_at", "version")
COMPARED = [c for c in CASE_COLUMNS if c not in _WHEN]
_COMPARED_AT = [CASE_COLUMNS.index(c) for c in COMPARED]
_CREATED, _FETCHED = COMPARED.index("created_at"), COMPARED.index("fetched_at")
# The reports' "open" (migration 0010, daily_stats_source): its negation is "closed".
_CLOSED_SQL = (
    "SELECT message_id FROM case_state WHERE message_id IN {ids:Array(String)} AND NOT "
    "((last_answered_at IS NULL OR (last_reopened_at IS NOT NULL AND last_reopened_at > last_answered_at)) "
    "AND closed_at IS NULL)"
)


class RawRecord(Protocol):
    topic: str
    partition: int
    offset: int
    timestamp: int
    value: bytes
    headers: Any


@dataclass(frozen=True, slots=True)
class Limits:
    author_key: bytes
    max_payload_bytes: int
    max_text_chars: int
    topic_prefix: str = ""


Source = tuple[str, int, int]  # topic, partition, offset of the raw record
FirstSeen = tuple[datetime, datetime]  # created_at, fetched_at of a case as first stored


@dataclass(slots=True)
class Classified:
    """One batch through the pure stages: the cases by message id (last record wins, as in the
    live pipeline where the later write has the higher version) and what was refused, by reason."""

    cases: dict[str, tuple[Source, Case]] = field(default_factory=dict)
    refused: Counter[str] = field(default_factory=Counter)


def normalise_records(
    records: Iterable[RawRecord], limits: Limits, refused: Counter[str]
) -> dict[str, tuple[Source, NormalizedMessage]]:
    out: dict[str, tuple[Source, NormalizedMessage]] = {}
    for rec in records:
        try:
            message = normalize_record(
                rec.value,
                decode_headers(rec.headers),
                rec.topic.removeprefix(limits.topic_prefix),
                max_bytes=limits.max_payload_bytes,
                author_key=limits.author_key,
                max_text_chars=limits.max_text_chars,
                now=datetime.fromtimestamp(rec.timestamp / 1000, UTC),
            )
        except Rejected as rej:
            refused[rej.reason] += 1
            continue
        except Exception as exc:  # one bad record never stops the run; the worker dead-lettered it too
            refused[f"processing_error:{type(exc).__name__}"] += 1
            continue
        out.pop(message.message_id, None)  # keep arrival order: the last record of a message wins
        out[message.message_id] = ((rec.topic, rec.partition, rec.offset), message)
    return out


def enrich_messages(
    messages: dict[str, tuple[Source, NormalizedMessage]],
    enricher: Enricher,
    enriched_at: datetime,
    refused: Counter[str],
    first_seen: dict[str, FirstSeen] | None = None,
) -> dict[str, tuple[Source, Case]]:
    """Cases of today's model. A case already stored keeps the times of its first intake: a record
    without its own creation time got the worker's clock then, and a replay must not move a case
    to another day of the reports (nor into another duplicate cluster)."""
    out: dict[str, tuple[Source, Case]] = {}
    for mid, (source, message) in messages.items():
        if first_seen and mid in first_seen:
            created, fetched = first_seen[mid]
            message = message.model_copy(update={"created_at": created, "fetched_at": fetched})
        try:
            classification, routing = enricher.enrich(message)
            case = Case(message=message, classification=classification, routing=routing, enriched_at=enriched_at)
        except Exception as exc:
            refused[f"processing_error:{type(exc).__name__}"] += 1
            continue
        out[mid] = (source, case)
    return out


def classify_records(
    records: Iterable[RawRecord],
    enricher: Enricher,
    limits: Limits,
    enriched_at: datetime,
    first_seen: dict[str, FirstSeen] | None = None,
) -> Classified:
    out = Classified()
    out.cases = enrich_messages(normalise_records(records, limits, out.refused), enricher, enriched_at,
                                out.refused, first_seen)  # fmt: skip
    return out


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _f32(x: float) -> float:
    return float(struct.unpack("f", struct.pack("f", x))[0])


def canon(value: Any, ch_type: str) -> Any:
    """A value as the store gives it back, so a computed row compares equal to its stored copy."""
    if value is None:
        return None
    if isinstance(value, datetime):
        t = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(t.timestamp()) * 1000 + t.microsecond // 1000  # DateTime64(3) keeps milliseconds
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float) and "Float32" in ch_type:
        return _f32(value)
    if isinstance(value, list | tuple):
        return tuple(canon(v, ch_type) for v in value)
    return value


class StoreView:
    """What the store holds for a batch's message ids: their comparable rows and which are closed."""

    def __init__(self, client: Client) -> None:
        self.client = client
        types = dict((r[0], r[1]) for r in client.query("DESCRIBE TABLE cases").result_rows)
        self.types = [types[c] for c in COMPARED]

    def key(self, values: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(canon(v, t) for v, t in zip(values, self.types, strict=True))

    def stored(self, ids: list[str]) -> dict[str, tuple[FirstSeen, tuple[Any, ...]]]:
        """Per stored case: its first intake times and its comparable row."""
        sql = f"SELECT {', '.join(COMPARED)} FROM cases FINAL WHERE message_id IN {{ids:Array(String)}}"
        rows = self.client.query(sql, parameters={"ids": ids}).result_rows
        return {r[0]: ((_utc(r[_CREATED]), _utc(r[_FETCHED])), self.key(r)) for r in rows}

    def closed(self, ids: list[str]) -> set[str]:
        return {r[0] for r in self.client.query(_CLOSED_SQL, parameters={"ids": ids}).result_rows}


@dataclass(slots=True)
class Progress:
    total: int  # raw records in the planned offset ranges
    read: int = 0
    written: int = 0
    unchanged: int = 0
    skipped_closed: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    store_rejected: list[RejectedRow] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.read / max(time.monotonic() - self.started, 1e-9)


def plan(
    consumer: KafkaConsumer, topics: Iterable[str], since: datetime | None
) -> dict[TopicPartition, tuple[int, int]]:
    """[start, end) offsets per partition of the existing ``topics``; end is fixed now."""
    tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    if not tps:
        return {}
    end = consumer.end_offsets(tps)
    if since is None:
        start = consumer.beginning_offsets(tps)
    else:
        found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        start = {tp: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in tps}
    return {tp: (start[tp], end[tp]) for tp in tps if start[tp] < end[tp]}


def read_planned(
    consumer: KafkaConsumer, ranges: dict[TopicPartition, tuple[int, int]], batch: int, poll_timeout_s: float = 10.0
) -> Iterator[list[Any]]:
    """The planned records in batches of about ``batch``; stops at the planned end offsets."""
    if not ranges:
        return
    consumer.assign(list(ranges))
    for tp, (start, _) in ranges.items():
        consumer.seek(tp, start)
    remaining = set(ranges)
    pending: list[Any] = []
    while remaining:
        polled = consumer.poll(timeout_ms=int(poll_timeout_s * 1000), max_records=batch)
        if not polled:
            raise TimeoutError(
                f"Kafka не отдал записи за {poll_timeout_s:.0f} с; не дочитаны: "
                + ", ".join(f"{tp.topic}:{tp.partition}" for tp in sorted(remaining))
            )
        for tp, records in polled.items():
            end = ranges[tp][1]
            pending.extend(r for r in records if r.offset < end)
            if consumer.position(tp) >= end:
                remaining.discard(tp)
                consumer.pause(tp)
        if len(pending) >= batch:
            yield pending
            pending = []
    if pending:
        yield pending


class Replay:
    """One run: batches of raw records in, changed cases out through ``ClickHouseSink``."""

    def __init__(
        self,
        client: Client,
        enricher: Enricher,
        limits: Limits,
        *,
        open_only: bool = False,
        distributed: bool = False,
        write: Callable[[ClickHouseSink, list[SinkRow]], Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.view = StoreView(client)
        self.enricher = enricher
        self.limits = limits
        self.open_only = open_only
        self.sink = ClickHouseSink(lambda: client, "cases", CASE_COLUMNS, distributed)
        self.write = write or (lambda sink, rows: sink.write(rows))
        # Names this run in the insert dedup tokens: a retry of a batch is a repeat, a later run is not.
        self.run_id = run_id or uuid.uuid4().hex[:12]

    def batch(self, records: list[Any], progress: Progress) -> None:
        progress.read += len(records)
        messages = normalise_records(records, self.limits, progress.refused)
        if not messages:
            return
        ids = list(messages)
        stored = self.view.stored(ids)
        closed = self.view.closed(ids) if self.open_only else set()
        for mid in closed:
            messages.pop(mid, None)
        progress.skipped_closed += len(closed)
        first_seen = {mid: times for mid, (times, _) in stored.items()}
        cases = enrich_messages(messages, self.enricher, datetime.now(UTC), progress.refused, first_seen)
        rows: list[SinkRow] = []
        for mid, ((topic, partition, offset), case) in cases.items():
            values = case_row(case)
            if mid in stored and stored[mid][1] == self.view.key([values[i] for i in _COMPARED_AT]):
                progress.unchanged += 1
                continue
            rows.append(SinkRow((f"replay.{self.run_id}.{topic}", partition, offset), values))
        if rows:
            report = self.write(self.sink, rows)
            progress.written += report.stored
            progress.store_rejected.extend(report.rejected)

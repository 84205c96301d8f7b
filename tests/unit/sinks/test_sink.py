"""ClickHouseSink on the embedded ClickHouse (chdb), without Faust: poison rows, splits, retries."""

from datetime import UTC, datetime

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from schemas import SlaEvent, SlaEventKind
from sinks.clickhouse import rows
from sinks.clickhouse.client import mask_secrets
from sinks.clickhouse.errors import Verdict, classify
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.sink import ClickHouseSink, RetryableInsertError, SinkRow
from tests.unit.sinks.test_clickhouse_store import make_case

POISON_AT = datetime(2526, 1, 1, tzinfo=UTC)  # outside DateTime: broke the aggregate refresh (issue 11)


def case_rows(n: int, poison: set[int] = frozenset(), topic: str = "cases") -> list[SinkRow]:
    out = []
    for i in range(n):
        case = make_case(i)
        if i in poison:
            case.message.created_at = POISON_AT
        out.append(SinkRow((topic, 0, 1000 + i), rows.case_row(case)))
    return out


def count(client, sql: str) -> int:
    return int(client.query(sql).result_rows[0][0])


def test_one_poison_row_among_999_good_ones_is_rejected_alone_and_the_rest_stored(clickhouse):
    migrate(clickhouse)
    sink = ClickHouseSink(lambda: clickhouse, "cases", rows.CASE_COLUMNS)
    batch = case_rows(1000, poison={617})
    report = sink.write(batch)
    assert report.stored == 999
    assert [r.index for r in report.rejected] == [617]
    bad = report.rejected[0]
    assert bad.source == ("cases", 0, 1617)
    assert (bad.error.code, bad.error.name) == (469, "VIOLATED_CONSTRAINT")
    assert "created_at_representable" in bad.error.message  # the server's own words
    assert report.inserts <= 2 * 10 + 1  # bisection: about 2·log2(1000) inserts, not 1000
    assert count(clickhouse, "SELECT count() FROM cases FINAL") == 999
    assert count(clickhouse, "SELECT count() FROM cases WHERE message_id = 'm-617'") == 0
    # the sink moves on: the next batch goes in whole, in one insert
    after = sink.write(case_rows(1000, topic="cases-next")[:10])
    assert (after.stored, after.rejected, after.inserts) == (10, [], 1)


def test_the_same_batch_again_is_dropped_by_its_tokens_even_after_a_split(clickhouse):
    migrate(clickhouse)
    sink = ClickHouseSink(lambda: clickhouse, "cases", rows.CASE_COLUMNS)
    batch = case_rows(200, poison={3, 150})
    sink.write(batch)
    again = sink.write(batch)  # a re-delivery after a crash: same offsets, same split, same tokens
    assert [r.index for r in again.rejected] == [3, 150]
    assert count(clickhouse, "SELECT count() FROM cases") == 198  # not 396: no physical duplicate


class FailingAfter:
    """The real client whose n-th insert raises the error a dropped connection gives."""

    def __init__(self, client, n: int) -> None:
        self.client, self.n, self.calls = client, n, 0

    def __getattr__(self, name: str):
        return getattr(self.client, name)

    def insert(self, *args, **kwargs):
        self.calls += 1
        if self.calls == self.n:
            raise OperationalError("Error HTTPConnectionPool: connection reset by peer")
        return self.client.insert(*args, **kwargs)


def test_a_transient_error_mid_split_is_raised_and_the_retry_stores_each_row_once(clickhouse):
    migrate(clickhouse)
    flaky = FailingAfter(clickhouse, n=10)  # six inserts refused or split, then halves stored
    sink = ClickHouseSink(lambda: flaky, "cases", rows.CASE_COLUMNS)
    batch = case_rows(300, poison={7, 299})
    with pytest.raises(RetryableInsertError) as failed:
        sink.write(batch)
    assert failed.value.error.verdict is Verdict.RETRY
    stored_before = count(clickhouse, "SELECT count() FROM cases")
    assert 0 < stored_before < 298
    report = sink.write(batch)
    assert report.stored == 298 and [r.index for r in report.rejected] == [7, 299]
    assert count(clickhouse, "SELECT count() FROM cases") == 298


class CountingDescribes(FailingAfter):
    """The real client, counting how often the sink asks the server for the columns' types."""

    def __init__(self, client, n: int = 0) -> None:
        super().__init__(client, n)
        self.describes = 0

    def create_insert_context(self, *args, **kwargs):
        self.describes += 1
        return self.client.create_insert_context(*args, **kwargs)


def test_the_columns_types_are_asked_once_not_before_every_insert(clickhouse):
    migrate(clickhouse)
    counting = CountingDescribes(clickhouse)
    sink = ClickHouseSink(lambda: counting, "cases", rows.CASE_COLUMNS)
    assert sink.write(case_rows(50)).stored == 50
    report = sink.write(case_rows(100, poison={60}, topic="cases-2"))  # a split: 13 inserts
    assert report.inserts > 10 and [r.index for r in report.rejected] == [60]
    assert report.stored == 99
    assert counting.describes == 1
    # the ids m-0 … m-99 but the poison one (the first batch's 50 are among them)
    assert count(clickhouse, "SELECT count() FROM cases FINAL") == 99


def test_after_a_failure_of_the_store_the_types_are_asked_again(clickhouse):
    migrate(clickhouse)
    flaky = CountingDescribes(clickhouse, n=2)  # the second insert: a dropped connection
    sink = ClickHouseSink(lambda: flaky, "cases", rows.CASE_COLUMNS)
    sink.write(case_rows(10))
    with pytest.raises(RetryableInsertError):
        sink.write(case_rows(10, topic="cases-2"))
    assert sink.write(case_rows(10, topic="cases-2")).stored == 10
    assert flaky.describes == 2


def test_too_many_partitions_in_one_block_is_split_and_nothing_rejected(clickhouse):
    # A table still partitioned by a caller's time, as cases was before migration 0009.
    clickhouse.command(
        "CREATE TABLE by_month (id String, at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree "
        "PARTITION BY toYYYYMM(at) ORDER BY id SETTINGS non_replicated_deduplication_window = 100"
    )
    batch = [SinkRow(("t", 0, i), [f"r{i}", datetime(2000 + i // 12, i % 12 + 1, 1, tzinfo=UTC)]) for i in range(150)]
    report = ClickHouseSink(lambda: clickhouse, "by_month", ["id", "at"]).write(batch)
    assert (report.stored, report.rejected) == (150, [])
    assert report.inserts == 3  # refused whole (Code 252), then two halves of 75 months each
    assert count(clickhouse, "SELECT count() FROM by_month") == 150


def test_bulk_cases_over_many_months_fit_the_partition_limit_after_0009(clickhouse):
    migrate(clickhouse)
    batch = case_rows(300)
    for i, row in enumerate(batch):
        row.values[rows.CASE_COLUMNS.index("created_at")] = datetime(1990 + i // 12, i % 12 + 1, 1, tzinfo=UTC)
    report = ClickHouseSink(lambda: clickhouse, "cases", rows.CASE_COLUMNS).write(batch)
    assert (report.stored, report.inserts) == (300, 1)  # 300 distinct months, one insert


def test_a_value_its_column_cannot_hold_is_rejected_by_the_client_library(clickhouse):
    migrate(clickhouse)
    now = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    # model_construct: the schema now refuses level 300 itself; the sink must still survive such a row
    events = [
        SlaEvent.model_construct(dedup_key=f"k{i}", message_id=f"m{i}", kind=SlaEventKind.WARNING, term="resolution",
                                 deadline=now, share=0.5, level=300 if i == 2 else 0, block=1, department="d",
                                 settlement="s", at=now, channel="", rule="", started_at=None, reason=None)
        for i in range(5)
    ]  # fmt: skip
    batch = [SinkRow(("sla", 0, i), rows.sla_event_row(e)) for i, e in enumerate(events)]
    report = ClickHouseSink(lambda: clickhouse, "sla_events", rows.SLA_EVENT_COLUMNS).write(batch)
    assert report.stored == 4
    assert [(r.index, r.error.name, r.error.code) for r in report.rejected] == [(2, "DataError", None)]


def test_a_store_that_is_down_is_retried_not_rejected():
    import clickhouse_connect

    def down():
        return clickhouse_connect.get_client(dsn="http://mcu:s3cret@127.0.0.1:9/default", connect_timeout=1)

    with pytest.raises(RetryableInsertError):
        ClickHouseSink(down, "cases", rows.CASE_COLUMNS).write(case_rows(3))


@pytest.mark.parametrize(
    ("message", "code", "verdict"),
    [
        ("Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100).", 252, "reject"),
        ("Code: 252. DB::Exception: Too many parts (3001 with average size of 1.00 MiB). Merges are"
         " processing significantly slower than inserts. (TOO_MANY_PARTS)", 252, "retry"),
        ("Code: 241. DB::Exception: Memory limit (total) exceeded. (MEMORY_LIMIT_EXCEEDED)", 241, "retry"),
        ("Code: 407. DB::Exception: Convert overflow. (DECIMAL_OVERFLOW)", 407, "reject"),
        ("Code: 16. DB::Exception: No such column foo in table cases. (NO_SUCH_COLUMN_IN_TABLE)", 16, "retry"),
        ("Code: 159. DB::Exception: Timeout exceeded. (TIMEOUT_EXCEEDED)", 159, "retry"),
    ],
)  # fmt: skip
def test_server_errors_are_classified_by_code_and_for_252_by_message(message: str, code: int, verdict: str):
    got = classify(DatabaseError(message))  # the code is read back from the server's text too
    assert (got.code, got.verdict.value) == (code, verdict)


def test_passwords_are_masked_in_dsns_and_messages():
    assert mask_secrets("http://mcu:s3cret@ch.local:8123/db") == "http://mcu:***@ch.local:8123/db"
    text = "ClickHouse at https://admin:p%40ss@10.0.0.5:8443/mcu?secure=1 not available: password=hunter2 refused"
    masked = mask_secrets(text)
    assert "p%40ss" not in masked and "hunter2" not in masked
    assert masked == "ClickHouse at https://admin:***@10.0.0.5:8443/mcu?secure=1 not available: password=*** refused"
    assert mask_secrets("chdb:///var/lib/mcu/clickhouse") == "chdb:///var/lib/mcu/clickhouse"
    assert mask_secrets("http://ch.local:8123/db") == "http://ch.local:8123/db"  # a port is not a password

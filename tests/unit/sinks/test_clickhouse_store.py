from datetime import UTC, datetime

from schemas import Case, Classification, NormalizedMessage, Routing
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import available, migrate
from sinks.clickhouse.writer import dedup_token, insert_batch


def make_case(n: int, block: int = 3) -> Case:
    now = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    msg = NormalizedMessage(
        message_id=f"m-{n}", channel="webform", source_id=str(n), created_at=now, fetched_at=now,
        normalized_at=now, text=f"Нет воды {n}",
    )  # fmt: skip
    return Case(
        message=msg,
        classification=Classification(category="water", confidence=0.9),
        routing=Routing(block=block, department="zhkh", settlement="dzhubga"),
        enriched_at=now,
    )


def test_migrations_apply_once(clickhouse):
    client = clickhouse
    first = migrate(client)
    assert first == [m.name for m in available()]
    assert migrate(client) == []
    tables = {r[0] for r in client.query("SHOW TABLES").result_rows}
    assert {"cases", "dead_letters", "case_events", "sla_events", "schema_migrations"} <= tables


def test_redelivered_batch_and_re_enriched_case_count_once(clickhouse):
    client = clickhouse
    migrate(client)
    batch = [rows.case_row(make_case(n)) for n in range(5)]
    token = dedup_token("cases", [("cases", 0, o) for o in range(10, 15)])
    insert_batch(client, "cases", rows.CASE_COLUMNS, batch, token)
    insert_batch(client, "cases", rows.CASE_COLUMNS, batch, token)  # same offsets again: dropped
    assert client.query("SELECT count() FROM cases WHERE message_id LIKE 'm-%'").result_rows[0][0] == 5
    # the same messages in a different batch (a re-feed): folded by message_id in query results
    later = make_case(1, block=5)
    later = later.model_copy(update={"enriched_at": datetime(2026, 1, 12, 10, 0, tzinfo=UTC)})
    insert_batch(client, "cases", rows.CASE_COLUMNS, [rows.case_row(later)], "other")
    final = client.query("SELECT message_id, block FROM cases FINAL WHERE message_id LIKE 'm-%' ORDER BY 1")
    assert len(final.result_rows) == 5
    assert dict(final.result_rows)["m-1"] == 5  # the newer version wins


def test_a_token_names_every_offset_of_its_batch():
    whole = dedup_token("cases", [("t", 0, o) for o in range(10, 15)])
    assert whole.startswith("cases|t:0:10-14|")
    assert dedup_token("cases", [("t", 0, o) for o in (14, 12, 10, 11, 13, 12)]) == whole  # order, repeats
    holed = dedup_token("cases", [("t", 0, o) for o in (10, 11, 14)])
    assert holed.split("|")[1] == "t:0:10-14"
    assert holed != whole, "a batch with a hole must not be dropped as a repeat of the whole span"
    assert dedup_token("cases", [("t", 1, o) for o in range(10, 15)]) != whole

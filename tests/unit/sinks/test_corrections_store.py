"""Applying reclassified events to the store (chdb): the case re-routed, the correction recorded
with the model version that made the original decision, once however often it is re-delivered."""

from datetime import UTC, datetime, timedelta

from classify.taxonomy import load_taxonomy
from route.directory import default_directory
from schemas import Case, CaseEvent, Classification, NormalizedMessage, Routing
from schemas.events import CaseEventType
from sinks.clickhouse import rows
from sinks.clickhouse.corrections import apply_reclassified
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import insert_batch

DIRECTORY = default_directory()
TAXONOMY = load_taxonomy(DIRECTORY)
NOW = datetime.now(UTC).replace(microsecond=0)


def housing_case(n: int, created: datetime = NOW - timedelta(days=1)) -> Case:
    msg = NormalizedMessage(
        message_id=f"c-{n}", channel="vk", source_id=str(n), created_at=created, fetched_at=created,
        normalized_at=created, text=f"Яма на дороге во дворе {n}",
    )  # fmt: skip
    return Case(
        message=msg,
        classification=Classification(
            category="yards", category_name="Дворы", confidence=0.41, needs_review=True, model_version="rules-v3+m7"
        ),
        routing=Routing(block=3, block_name="ЖКХ", department="housing", settlement="tuapsinskoe", level="settlement"),
        enriched_at=created,
    )


def reclassified(n: int, event: str, **change: object) -> CaseEvent:
    return CaseEvent(
        event_id=f"api:{event}", message_id=f"c-{n}", type=CaseEventType.RECLASSIFIED, at=NOW,
        actor="Иванова", reason="дорога, не двор", **change,
    )  # fmt: skip


def store_cases(client, cases: list[Case]) -> None:
    insert_batch(client, "cases", rows.CASE_COLUMNS, [rows.case_row(c) for c in cases], f"t-{len(cases)}")


def case_of(client, n: int) -> tuple:
    return client.query(
        "SELECT category, block, department, settlement, needs_review, model_version FROM cases FINAL"
        " WHERE message_id = {id:String}",
        parameters={"id": f"c-{n}"},
    ).result_rows[0]


def test_a_correction_re_routes_the_case_and_lands_in_corrections(clickhouse):
    migrate(clickhouse)
    store_cases(clickhouse, [housing_case(1), housing_case(2)])
    out = apply_reclassified(clickhouse, [reclassified(1, "e1", category="roads")], TAXONOMY, DIRECTORY)
    assert len(out.stored) == 1 and not out.unknown_case and not out.refused
    assert case_of(clickhouse, 1) == ("roads", 5, "transport", "tuapsinskoe", 0, "rules-v3+m7")
    assert case_of(clickhouse, 2)[:3] == ("yards", 3, "housing")  # the other case is untouched
    (row,) = clickhouse.query(
        "SELECT source, actor, reason, model_version, old_category, new_category, old_block, new_block,"
        " old_department, new_department, needs_review FROM corrections FINAL"
    ).result_rows
    assert row == (
        "api",
        "Иванова",
        "дорога, не двор",
        "rules-v3+m7",
        "yards",
        "roads",
        3,
        5,
        "housing",
        "transport",
        1,
    )
    assert clickhouse.query("SELECT count() FROM cases FINAL").result_rows[0][0] == 2


def test_redelivery_keeps_the_original_old_values(clickhouse):
    migrate(clickhouse)
    store_cases(clickhouse, [housing_case(1)])
    ev = reclassified(1, "e1", category="roads", settlement="dzhubgskoe")
    apply_reclassified(clickhouse, [ev], TAXONOMY, DIRECTORY)
    again = apply_reclassified(clickhouse, [ev], TAXONOMY, DIRECTORY, now=NOW + timedelta(seconds=5))
    assert again.repeated == 1 and again.stored == []
    rows_ = clickhouse.query("SELECT old_category, old_settlement, new_settlement FROM corrections FINAL").result_rows
    assert rows_ == [("yards", "tuapsinskoe", "dzhubgskoe")]
    assert case_of(clickhouse, 1)[:4] == ("roads", 5, "transport", "dzhubgskoe")


def test_two_corrections_of_one_case_apply_in_event_order(clickhouse):
    migrate(clickhouse)
    store_cases(clickhouse, [housing_case(1)])
    first = reclassified(1, "e1", category="roads")
    second = reclassified(1, "e2", department="architecture").model_copy(update={"at": NOW + timedelta(minutes=1)})
    apply_reclassified(clickhouse, [second, first], TAXONOMY, DIRECTORY)
    assert case_of(clickhouse, 1)[:3] == ("roads", 3, "architecture")
    chain = clickhouse.query(
        "SELECT event_id, old_department, new_department FROM corrections FINAL ORDER BY corrected_at"
    ).result_rows
    assert chain == [("api:e1", "housing", "transport"), ("api:e2", "transport", "architecture")]


def test_unknown_case_and_unknown_code_are_reported_not_applied(clickhouse):
    migrate(clickhouse)
    store_cases(clickhouse, [housing_case(1)])
    out = apply_reclassified(
        clickhouse,
        [reclassified(9, "e9", category="roads"), reclassified(1, "e1", department="nowhere")],
        TAXONOMY,
        DIRECTORY,
    )
    assert [e.message_id for e in out.unknown_case] == ["c-9"]
    assert [(e.event_id, p) for e, p in out.refused] == [
        ("api:e1", ["неизвестный отдел 'nowhere' (список: route/data/directory.yaml)"])
    ]
    assert clickhouse.query("SELECT count() FROM corrections").result_rows[0][0] == 0
    assert case_of(clickhouse, 1)[:3] == ("yards", 3, "housing")


def test_correction_rates_per_block(clickhouse):
    migrate(clickhouse)
    # block 3: 4 cases this week, one corrected; 10 cases in the 4 weeks before, one corrected then
    week = [housing_case(n) for n in range(4)]
    before = [housing_case(100 + n, NOW - timedelta(days=14)) for n in range(10)]
    store_cases(clickhouse, week + before)
    apply_reclassified(clickhouse, [reclassified(0, "w", category="roads")], TAXONOMY, DIRECTORY)
    old = reclassified(100, "b", category="roads").model_copy(update={"at": NOW - timedelta(days=13)})
    apply_reclassified(clickhouse, [old], TAXONOMY, DIRECTORY)
    rates = {
        r[0]: r[1:]
        for r in clickhouse.query(
            "SELECT block, corrections_7d, cases_7d, rate_7d, corrections_baseline, cases_baseline, rate_baseline"
            " FROM correction_rates"
        ).result_rows
    }
    # the corrected cases count in block 3, the block the model chose, before and after
    assert rates[3][:2] == (1, 4) and abs(rates[3][2] - 1 / 4) < 1e-9
    assert rates[3][3:5] == (1, 10) and abs(rates[3][5] - 1 / 10) < 1e-9
    assert set(rates) == {3}


def test_the_confusion_matrix_queries_of_the_analytics_guide(clickhouse):
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "analytics.md").read_text(encoding="utf-8")
    part = doc.split("## Operators' corrections", 1)[1].split("\n## ", 1)[0]
    by_category, by_block, per_day = re.findall(r"```sql\n(.*?)```", part, flags=re.S)
    migrate(clickhouse)
    store_cases(clickhouse, [housing_case(n) for n in range(3)])
    apply_reclassified(clickhouse, [reclassified(0, "a", category="roads")], TAXONOMY, DIRECTORY)
    apply_reclassified(clickhouse, [reclassified(1, "b", category="roads")], TAXONOMY, DIRECTORY)
    apply_reclassified(clickhouse, [reclassified(2, "c", category="schools")], TAXONOMY, DIRECTORY)
    assert clickhouse.query(by_category).result_rows == [
        ("rules-v3+m7", "yards", "roads", 2),
        ("rules-v3+m7", "yards", "schools", 1),
    ]
    assert clickhouse.query(by_block).result_rows == [(3, 0, 0, 1, 0, 0, 2, 0, 3)]
    day = (NOW - timedelta(days=1)).date()
    rows = clickhouse.query(per_day).result_rows
    # the three cases now sit in blocks 5 and 2; they count in block 3, the model's choice
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [(day, 3, 3, 3)]


def test_a_connector_correction_is_applied_and_named_by_its_channel(clickhouse):
    from ingest.connectors.events import make_event

    migrate(clickhouse)
    case = housing_case(1)
    store_cases(clickhouse, [case])
    ev = make_event("vk", "1", CaseEventType.RECLASSIFIED, NOW, actor="ЦУР", reason="передано в транспорт",
                    department="transport").model_copy(update={"message_id": "c-1"})  # fmt: skip
    out = apply_reclassified(clickhouse, [ev], TAXONOMY, DIRECTORY)
    assert [r["source"] for r in out.stored] == ["vk"]
    assert case_of(clickhouse, 1)[:3] == ("yards", 5, "transport")


def test_a_later_re_enrichment_does_not_undo_the_correction(clickhouse):
    migrate(clickhouse)
    store_cases(clickhouse, [housing_case(1)])
    apply_reclassified(clickhouse, [reclassified(1, "e1", category="roads")], TAXONOMY, DIRECTORY)
    again = housing_case(1).model_copy(update={"enriched_at": NOW + timedelta(days=1)})  # replay after a promotion
    insert_batch(clickhouse, "cases", rows.CASE_COLUMNS, [rows.case_row(again)], "re-enriched")
    assert case_of(clickhouse, 1)[:3] == ("roads", 5, "transport")

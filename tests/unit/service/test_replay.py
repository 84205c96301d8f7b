"""The pure part of `mcu replay`: raw records through normalise + classify + route, and the row
comparison that makes a second run write nothing (no Kafka, no store here; see
tests/integration/test_replay.py for both)."""

import json
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from classify.enricher import Enricher
from kafkaio.wire import encode_headers
from mcu.commands.replay import parse_since
from mcu.replay import _COMPARED_AT, COMPARED, Limits, canon, classify_records
from schemas import message_id_for
from sinks.clickhouse.rows import case_row

LIMITS = Limits(b"unit-test-key", 1 << 20, 20_000, "p.")
T0 = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@dataclass
class Rec:
    value: bytes
    offset: int
    topic: str = "p.raw.webform"
    partition: int = 0
    timestamp: int = int(T0.timestamp() * 1000)
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def rec(body: dict[str, Any] | bytes, offset: int) -> Rec:
    value = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    sid = body["id"] if isinstance(body, dict) else "x"
    return Rec(value, offset, headers=encode_headers("webform", sid, None, T0))


@pytest.fixture(scope="module")
def enricher() -> Enricher:
    return Enricher.load()


def test_records_become_the_cases_the_worker_makes_and_refusals_are_counted(enricher: Enricher) -> None:
    records = [
        rec({"id": "r1", "text": "В Джубге нет воды на улице Советской"}, 10),
        rec(b"not json", 11),
        rec({"id": "r2", "text": ""}, 12),
        rec({"id": "r1", "text": "В Джубге нет воды на улице Советской, третий день"}, 13),  # re-sent, edited
    ]
    at = datetime.now(UTC)
    got = classify_records(records, enricher, LIMITS, at)
    mid = message_id_for("webform", "r1")
    assert list(got.cases) == [mid]
    source, case = got.cases[mid]
    assert source == ("p.raw.webform", 0, 13)  # the last record of a message wins, as in the live store
    assert case.message.text.endswith("третий день") and case.enriched_at == at
    classification, routing = enricher.enrich(case.message)
    assert (case.classification.category, case.routing.settlement) == (classification.category, routing.settlement)
    assert got.refused == {"bad_json": 1, "empty_text": 1}


def test_the_broker_timestamp_is_the_clock_of_the_time_window(enricher: Enricher) -> None:
    # Created a day and a half after the record reached the broker: refused as it was the first time,
    # although it is in the past by now.
    body = {"id": "r3", "text": "Яма на дороге", "created_at": (T0 + timedelta(days=1.5)).isoformat()}
    got = classify_records([rec(body, 1)], enricher, LIMITS, datetime.now(UTC))
    assert not got.cases and got.refused == {"bad_time": 1}


def test_a_row_compares_equal_to_what_the_store_gives_back(enricher: Enricher) -> None:
    records = [rec({"id": "r4", "text": "Не вывозят мусор в Новомихайловском", "lat": 44.25, "lon": 38.85}, 1)]
    case = classify_records(records, enricher, LIMITS, datetime.now(UTC)).cases[message_id_for("webform", "r4")][1]
    row = case_row(case)
    types = {"confidence": "Float32", "urgency_reasons": "Array(String)", "conflict": "Array(LowCardinality(String))"}
    key = [canon(row[i], types.get(c, "String")) for i, c in zip(_COMPARED_AT, COMPARED, strict=True)]
    # What clickhouse-connect returns: Float32 rounded, DateTime64(3) without microseconds, lists.
    back = list(row)
    i = COMPARED.index("confidence")
    back[_COMPARED_AT[i]] = struct.unpack("f", struct.pack("f", row[_COMPARED_AT[i]]))[0]
    c = COMPARED.index("created_at")
    back[_COMPARED_AT[c]] = row[_COMPARED_AT[c]].replace(microsecond=row[_COMPARED_AT[c]].microsecond // 1000 * 1000)
    assert [canon(back[i], types.get(col, "String")) for i, col in zip(_COMPARED_AT, COMPARED, strict=True)] == key
    changed = list(back)
    changed[_COMPARED_AT[COMPARED.index("block")]] = 9
    assert [canon(changed[i], types.get(col, "String")) for i, col in zip(_COMPARED_AT, COMPARED, strict=True)] != key


def test_since_without_a_zone_is_moscow_time() -> None:
    assert parse_since("2026-01-01") == datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=-3)
    assert parse_since("2026-01-01T12:00:00+00:00") == datetime(2026, 1, 1, 12, tzinfo=UTC)
    with pytest.raises(Exception, match="ГГГГ-ММ-ДД"):
        parse_since("вчера")


def test_a_stored_case_keeps_the_times_of_its_first_intake(enricher: Enricher) -> None:
    # No creation time in the payload and no received-at header: the worker's clock was the creation
    # time the first time; a replay must not move the case to another day.
    records = [rec({"id": "r5", "text": "Нет света на улице Ленина в Туапсе"}, 1)]
    mid = message_id_for("webform", "r5")
    first = datetime(2026, 3, 10, 9, 0, 7, 123000, tzinfo=UTC)
    kept = classify_records(records, enricher, LIMITS, datetime.now(UTC), {mid: (first, first)}).cases[mid][1]
    fresh = classify_records(records, enricher, LIMITS, datetime.now(UTC)).cases[mid][1]
    assert (kept.message.created_at, kept.message.fetched_at) == (first, first)
    assert fresh.message.created_at == T0  # the broker timestamp stands in for the worker's clock

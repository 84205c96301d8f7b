"""Open311 GeoReport v2: POST validation as the spec says, and reads of the case from the store
(embedded ClickHouse with the project's migrations). Requests here are synthetic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from ingest.connectors.events import make_event
from ingest.connectors.incident_push import incident_records
from ingest.connectors.open311 import Open311Error, accept_request, load_services
from ingest.connectors.open311_read import requests_query, service_requests
from schemas import Case, CaseEventType, Classification, NormalizedMessage, Routing
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import insert_batch

from .conftest import FakePublisher, normalize_delivered

CODES = {s["service_code"] for s in load_services()}
NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
DAYS_30 = timedelta(days=30)


def test_services_come_from_the_taxonomy():
    services = load_services()
    water = next(s for s in services if s["service_code"] == "water_supply")
    assert water["service_name"] == "Водоснабжение" and water["type"] == "realtime"
    # issue 18: a category with questions (here the settlement and the outage time) says so
    assert water["metadata"] is True
    heating = next(s for s in services if s["service_code"] == "heating")
    assert heating["metadata"] is False


@pytest.mark.parametrize(
    ("form", "code", "words"),
    [
        ({"lat": "44.1", "long": "39.08", "description": "x"}, 400, "service_code is required"),
        ({"service_code": "teleportation", "lat": "44.1", "long": "39.08", "description": "x"}, 404, "unknown"),
        ({"service_code": "roads", "description": "яма"}, 400, "location is required"),
        ({"service_code": "roads", "lat": "44.1", "description": "яма"}, 400, "together"),
        ({"service_code": "roads", "lat": "north", "long": "39", "description": "яма"}, 400, "not a number"),
        ({"service_code": "roads", "lat": "144", "long": "39", "description": "яма"}, 400, "out of range"),
        ({"service_code": "roads", "address_string": "Туапсе"}, 400, "description is required"),
    ],
)
def test_post_requests_refuses_what_the_spec_requires(form, code, words):
    with pytest.raises(Open311Error) as err:
        accept_request(form, CODES, NOW)
    assert err.value.code == code and words in err.value.description
    assert err.value.body() == [{"code": code, "description": err.value.description}]


def test_post_request_becomes_a_raw_record_that_normalises():
    form = {"service_code": "roads", "lat": "44.1053", "long": "39.0802", "description": "[синтетика] Яма у школы",
            "email": "resident@example.org", "api_key": "never-stored", "first_name": "Тест"}  # fmt: skip
    accepted = accept_request(form, CODES, NOW)
    [resp] = accepted.response
    assert set(resp) == {"service_request_id", "service_notice", "account_id"}
    assert b"never-stored" not in accepted.item.body
    pub = FakePublisher()
    pub.delivered.append(("open311", accepted.item.source_id, accepted.item.body, accepted.item.received_at))
    [msg], rejected = normalize_delivered(pub)
    assert rejected == []
    assert msg.message_id == resp["service_request_id"]  # the client follows exactly this case
    assert (msg.lat, msg.lon, msg.hints["rubric"]) == (44.1053, 39.0802, "roads")
    assert msg.created_at == NOW


def _case(message_id: str, settlement: str = "dzhubgskoe") -> Case:
    msg = NormalizedMessage(message_id=message_id, channel="open311", source_id=message_id, created_at=NOW,
                            fetched_at=NOW, normalized_at=NOW, text="[синтетика] Яма", lat=44.32, lon=38.7)  # fmt: skip
    return Case(
        message=msg,
        classification=Classification(category="roads", category_name="Ремонт и содержание дорог и тротуаров"),
        routing=Routing(
            block=5,
            block_name="Транспорт",
            department="transport",
            department_name="Отдел транспорта",
            settlement=settlement,
            settlement_name="Джубгское",
        ),
        enriched_at=NOW,
    )


def test_requests_read_from_the_store_with_status_deadline_and_agency(clickhouse):
    migrate(clickhouse)
    cases = [_case("r-open"), _case("r-answered"), _case("r-reopened", settlement="unresolved")]
    insert_batch(clickhouse, "cases", rows.CASE_COLUMNS, [rows.case_row(c) for c in cases], "t1")
    ev = [
        make_event("open311", "x", CaseEventType.EXTENDED, NOW + timedelta(days=5), new_deadline=NOW + DAYS_30),
        make_event("open311", "y", CaseEventType.ANSWERED, NOW + timedelta(days=2)),
        make_event("open311", "z", CaseEventType.ANSWERED, NOW + timedelta(days=1)),
        make_event("open311", "z", CaseEventType.REOPENED, NOW + timedelta(days=3)),
    ]  # fmt: skip
    for e, mid in zip(ev, ["r-open", "r-answered", "r-reopened", "r-reopened"], strict=True):
        e.message_id = mid
    insert_batch(clickhouse, "case_events", rows.CASE_EVENT_COLUMNS, [rows.case_event_row(e) for e in ev], "t2")
    sql, params = requests_query({"service_request_id": "r-open,r-answered,r-reopened,r-missing"})
    found = {r["service_request_id"]: r for r in service_requests(clickhouse.query(sql, parameters=params).result_rows)}
    assert set(found) == {"r-open", "r-answered", "r-reopened"}
    assert found["r-open"]["status"] == "open"
    assert found["r-open"]["expected_datetime"].startswith("2026-12-20T09:00")
    assert found["r-answered"]["status"] == "closed" and found["r-answered"]["status_notes"].startswith("Дан ответ")
    assert found["r-reopened"]["status"] == "open" and "Возобновлено" in found["r-reopened"]["status_notes"]
    assert found["r-open"]["agency_responsible"] == "Джубгское; Отдел транспорта"
    assert found["r-reopened"]["agency_responsible"] == "Транспорт; Отдел транспорта"
    assert found["r-open"]["service_code"] == "roads" and found["r-open"]["long"] == 38.7
    sql, params = requests_query({"start_date": "2026-11-01T00:00:00Z", "end_date": "2026-11-30T00:00:00Z",
                                  "service_code": "roads"})  # fmt: skip
    listed = service_requests(clickhouse.query(sql, parameters=params).result_rows, "closed")
    assert [r["service_request_id"] for r in listed] == ["r-answered"]
    sql, params = requests_query({"end_date": "2026-10-01T00:00:00Z"})
    assert clickhouse.query(sql, parameters=params).result_rows == []


def test_bad_filters_are_400():
    for args in ({"start_date": "вчера"}, {"status": "maybe"}):
        with pytest.raises(Open311Error) as err:
            requests_query(args)
        assert err.value.code == 400


def test_incident_push_records_and_their_statuses(cursors):
    first = {"id": "inc-9", "text": "[синтетика] Не убирают снег", "url": "https://ok.ru/x", "network": "OK",
             "created_at": "2026-11-20T10:00:00+03:00", "status": "Ответ дан", "answer": "Убрали",
             "answer_at": "2026-11-20T15:00:00+03:00"}  # fmt: skip
    body = json.dumps([first, "not an object", {"id": "inc-10", "created_at": "x"}], ensure_ascii=False).encode()
    items, events = incident_records(body)
    assert items[0].source_id == "inc-9" and len(items) == 3
    assert [e.type.value for e in events] == ["answered"]
    pub = FakePublisher()
    for i in items:
        pub.delivered.append(("incident", i.source_id, i.body, None))
    ok, rejected = normalize_delivered(pub)
    assert [m.source_url for m in ok] == ["https://ok.ru/x"]
    assert sorted(r.reason for r in rejected) == ["not_object", "validation"]
    truncated, _ = incident_records('{"id": "inc-11", "text": "обор'.encode())
    assert len(truncated) == 1

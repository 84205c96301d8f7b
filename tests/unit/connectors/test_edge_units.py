"""Pure parts of the HTTP edge and of Open311, without a server: depth scan, headers, tokens,
GeoReport XML, service definitions and their attributes, the date window, status notes."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.connectors.open311 import Open311Error, accept_request, load_catalogue, service_definition
from ingest.connectors.open311_format import render, to_xml
from ingest.connectors.open311_read import requests_query, status_of, token_query
from ingest.edge import EdgeRefusal, bearer_token, check_json_depth, header_text, json_depth
from sinks.clickhouse.client import mask_secrets

from .conftest import FakePublisher, normalize_delivered

NOW = datetime(2026, 11, 20, 9, tzinfo=UTC)
CATALOGUE = load_catalogue()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n'),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=30,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_depth_scan_agrees_with_the_structure(value):
    for body in (json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode()):
        assert json_depth(body) == _depth(value)


def test_depth_limit():
    check_json_depth(b"[" * 64 + b"]" * 64, 64)
    with pytest.raises(EdgeRefusal) as ref:
        check_json_depth(b"[" * 65 + b"]" * 65, 64)
    assert (ref.value.status, ref.value.reason) == (400, "too_deep")
    check_json_depth(b'["' + b"[" * 10_000 + b'"]', 64)  # brackets inside a string are text


def test_hostile_quotes_and_backslashes_scan_linearly():
    # Each of these once made a regex scan quadratic; the test finishes only if it stays linear.
    for body in (b'"' + b'\\"' * 200_000, b"\\" * 400_000 + b'"', b'["' * 200_000):
        json_depth(body)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc ", "abc"),
        ("abc", None),
        ("Basic abc", None),
        ("Bearer ", None),
        (None, None),
    ],
)
def test_bearer_token(header, token):
    assert bearer_token(header) == token


@pytest.mark.parametrize("value", ["\udcff", "x" * 300, "a\nb", "a\x00"])
def test_header_text_refuses(value):
    with pytest.raises(EdgeRefusal) as ref:
        header_text(value, "X-Source-Id", 256)
    assert ref.value.status == 400 and ref.value.reason == "bad_header"


def test_dsn_password_is_never_printed():
    assert mask_secrets("https://mcu:p%40ss@ch:8443/db") == "https://mcu:***@ch:8443/db"
    assert mask_secrets("chdb:///var/clickhouse") == "chdb:///var/clickhouse"


# ---- Open311 ---------------------------------------------------------------------------------------


def test_xml_follows_the_spec_examples():
    body, content_type = render("xml", "service_requests", [{"service_request_id": "1", "account_id": None,
                                                             "lat": 44.1, "flag": True}])  # fmt: skip
    assert content_type == "text/xml; charset=utf-8"
    root = ET.fromstring(body)
    assert root.tag == "service_requests" and [c.tag for c in root] == ["request"]
    request = root[0]
    assert request.findtext("account_id") == "" and request.find("account_id").text is None
    assert (request.findtext("lat"), request.findtext("flag")) == ("44.1", "true")
    definition = ET.fromstring(to_xml("service_definition", service_definition(CATALOGUE, "street_lighting")))
    attribute = definition.find("attributes/attribute")
    assert attribute.findtext("code") == "lamp_state" and attribute.find("values/value/key").text == "dark"


def test_definitions_only_where_a_category_asks_something():
    services = {s["service_code"]: s for s in CATALOGUE.services}
    assert services["roads"]["metadata"] is True and services["heating"]["metadata"] is False
    roads = service_definition(CATALOGUE, "roads")
    assert [a["code"] for a in roads["attributes"]] == ["defect", "settlement"]
    assert service_definition(CATALOGUE, "heating") == {"service_code": "heating", "attributes": []}
    with pytest.raises(Open311Error) as err:
        service_definition(CATALOGUE, "teleportation")
    assert err.value.code == 404


BASE = {"service_code": "waste", "address_string": "Туапсе, ул. Морская", "description": "[синтетика] Не вывозят"}


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ([("attribute[waste_kind][]", "household"), ("attribute[waste_kind][]", "nuclear")], "not one of its values"),
        ([("attribute[colour]", "red")], "no such attribute"),
        ([("attribute[settlement]", "atlantis")], "not one of its values"),
        ([("jurisdiction_id", "other.city")], "jurisdiction_id"),
        ([("media_url", "javascript:alert(1)")], "media_url"),
        ([("email", "x" * 300)], "email"),
    ],
)
def test_attributes_and_fields_are_checked(extra, words):
    with pytest.raises(Open311Error) as err:
        accept_request([*BASE.items(), *extra], CATALOGUE, NOW, jurisdiction="tuapse.mcu")
    assert words in err.value.description and err.value.code in (400, 404)


def test_required_attribute():
    form = {"service_code": "street_lighting", "lat": "44.1", "long": "39.07", "description": "[синтетика] темно"}
    with pytest.raises(Open311Error) as err:
        accept_request(form, CATALOGUE, NOW)
    assert err.value.code == 400 and "attribute[lamp_state] is required" in err.value.description


def test_attributes_reach_the_message_and_the_settlement_is_a_routing_hint():
    pairs = [*BASE.items(), ("attribute[waste_kind][]", "household"), ("attribute[waste_kind][]", "bulky"),
             ("attribute[settlement]", "dzhubgskoe"), ("phone", "+79180000000"), ("first_name", "Тест")]  # fmt: skip
    accepted = accept_request(pairs, CATALOGUE, NOW, service_type="batch")
    assert set(accepted.response[0]) == {"token", "service_notice", "account_id"}
    pub = FakePublisher()
    pub.delivered.append(("open311", accepted.item.source_id, accepted.item.body, accepted.item.received_at))
    [msg], rejected = normalize_delivered(pub)
    assert rejected == []
    assert msg.extra["attributes"] == {"waste_kind": ["household", "bulky"], "settlement": "dzhubgskoe"}
    assert msg.hints["settlement"] == "dzhubgskoe"
    assert msg.author_id and "79180000000" not in msg.model_dump_json() and "Тест" not in msg.model_dump_json()


def test_the_default_window_and_paging():
    _, params = requests_query({}, NOW)
    assert params["end"] - params["start"] == timedelta(days=90) and params["limit"] == 1000
    _, params = requests_query({"start_date": "2026-10-01T00:00:00+03:00", "page": "3", "page_size": "50"}, NOW)
    assert params["start"] == datetime(2026, 9, 30, 21) and params["end"] == NOW.replace(tzinfo=None)
    assert (params["limit"], params["offset"]) == (50, 100)


def test_tokens_are_checked_before_the_store():
    with pytest.raises(Open311Error):
        token_query("x" * 65)
    with pytest.raises(Open311Error):
        token_query("' OR 1=1 --")


def test_status_notes_never_say_none():
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    row = {"answered": epoch, "resolved": epoch, "reopened_at": None, "closed": epoch, "deadline": epoch}
    assert status_of(row, NOW) == ("open", "Зарегистрировано, в работе")
    row = {"answered": NOW, "deadline": NOW - timedelta(days=1), "breached": 1}
    status, notes = status_of(row, NOW)
    assert status == "closed" and notes == "Дан ответ 20.11.2026 12:00 (МСК)"
    status, notes = status_of({"deadline": NOW - timedelta(hours=1)}, NOW)
    assert status == "open" and "срок ответа истёк 20.11.2026 11:00 (МСК)" in notes

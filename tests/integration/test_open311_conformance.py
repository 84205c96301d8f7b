"""Open311 GeoReport v2 against a real worker and broker, driven by a client we did not write.

`georeport` (PyPI, pinned as a dev dependency) reads services, service definitions and requests
in both formats; POST and tokens go over plain HTTP, as the client has no POST. XML is parsed and
its element names compared with those of the specification's own examples
(http://wiki.open311.org/GeoReport_v2). The round trip: a request posted in batch mode gets a
token, the token resolves to the case's id once the pipeline has stored it, the case shows its
routing and deadline, and its status moves when POST /cases/<id>/events says it was answered.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from georeport import GeoReport

from tests.integration.harness import TOKEN, Worker, pipeline_env, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
API_KEY = "conformance-key"
JURISDICTION = "tuapse.mcu"

# Element names of the specification's examples, per document.
SPEC_SERVICE = {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
SPEC_DEFINITION = {"service_code", "attributes"}
SPEC_ATTRIBUTE = {"variable", "code", "datatype", "required", "datatype_description", "order", "description", "values"}
SPEC_VALUE = {"key", "name"}
SPEC_REQUEST = {
    "service_request_id", "status", "status_notes", "service_name", "service_code", "description",
    "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
    "address", "address_id", "zipcode", "lat", "long", "media_url",
}  # fmt: skip
SPEC_POST_BATCH = {"token", "service_notice", "account_id"}
SPEC_TOKEN = {"service_request_id", "token"}
SPEC_ERROR = {"code", "description"}


def children(element: ET.Element) -> set[str]:
    return {c.tag for c in element}


def xml(response: httpx.Response, root: str) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    assert response.content.startswith(b"<?xml") and b"utf-8" in response.content[:60].lower()
    doc = ET.fromstring(response.content)
    assert doc.tag == root, response.text[:300]
    return doc


def spec_error(response: httpx.Response, fmt: str) -> tuple[int, str]:
    if fmt == "xml":
        doc = xml(response, "errors")
        [error] = list(doc)
        assert error.tag == "error" and children(error) == SPEC_ERROR
        return int(error.findtext("code")), error.findtext("description") or ""
    [error] = response.json()
    assert set(error) == SPEC_ERROR
    return error["code"], error["description"]


@pytest.fixture
def worker(brokers: str, tmp_path: Path):
    env = pipeline_env(
        tmp_path / "var",
        brokers,
        MCU_OPEN311_API_KEY=API_KEY,
        MCU_OPEN311_SERVICE_TYPE="batch",
        MCU_OPEN311_JURISDICTION_ID=JURISDICTION,
        MCU_OPEN311_READ_RATE_LIMIT="100000/minute",
        MCU_OPEN311_POST_RATE_LIMIT="100000/minute",
        MCU_AUTH_FAILURE_RATE_LIMIT="100000/minute",
    )
    w = Worker(env, tmp_path / "worker.log").start()
    try:
        yield w
    finally:
        w.stop()


def test_open311_conformance_and_round_trip(worker: Worker):
    base = f"{worker.url}/open311/v2"
    as_json = GeoReport(base, jurisdiction=JURISDICTION, output_format="json")
    as_xml = GeoReport(base, jurisdiction=JURISDICTION, output_format="xml")

    # ---- GET services and service definitions, both formats, through georeport
    services = as_json.get_service_list()
    assert {s["service_code"] for s in services} >= {"roads", "heating", "street_lighting"}
    assert all(set(s) == SPEC_SERVICE for s in services)
    xml_services = as_xml.get_service_list()
    assert [s["service_code"] for s in xml_services] == [s["service_code"] for s in services]
    assert {s["metadata"] for s in xml_services} == {"true", "false"} and {s["type"] for s in xml_services} == {"batch"}
    doc = xml(httpx.get(f"{base}/services.xml"), "services")
    assert {c.tag for c in doc} == {"service"} and all(children(c) == SPEC_SERVICE for c in doc)

    lighting = as_json.get_service_definition("street_lighting")
    assert set(lighting) == SPEC_DEFINITION and lighting["service_code"] == "street_lighting"
    assert all(set(a) == SPEC_ATTRIBUTE for a in lighting["attributes"])
    lamp = next(a for a in lighting["attributes"] if a["code"] == "lamp_state")
    assert lamp["required"] is True and lamp["datatype"] == "singlevaluelist"
    assert all(set(v) == SPEC_VALUE for v in lamp["values"])
    xml_def = as_xml.get_service_definition("street_lighting")
    assert xml_def["service_code"] == "street_lighting"
    assert [a["code"] for a in xml_def["attributes"]["attribute"]] == [a["code"] for a in lighting["attributes"]]
    doc = xml(httpx.get(f"{base}/services/street_lighting.xml"), "service_definition")
    assert children(doc) == SPEC_DEFINITION
    for attribute in doc.find("attributes"):
        assert attribute.tag == "attribute" and children(attribute) == SPEC_ATTRIBUTE
        assert all(v.tag == "value" and children(v) == SPEC_VALUE for v in attribute.find("values"))

    # ---- spec errors, both formats, plain HTTP
    good = {"api_key": API_KEY, "jurisdiction_id": JURISDICTION, "service_code": "street_lighting",
            "attribute[lamp_state]": "dark", "lat": "44.0950", "long": "39.0750",
            "description": "[синтетика] Не горит фонарь у остановки, звоните 8 918 765-43-21"}  # fmt: skip
    broken = [
        ({k: v for k, v in good.items() if k != "service_code"}, 400),
        ({**good, "service_code": "teleportation"}, 404),
        ({k: v for k, v in good.items() if k not in ("lat", "long")}, 400),
        ({**good, "api_key": "wrong"}, 403),
        ({k: v for k, v in good.items() if k != "api_key"}, 403),
        ({**good, "jurisdiction_id": "other.city"}, 404),
        ({k: v for k, v in good.items() if k != "attribute[lamp_state]"}, 400),
        ({**good, "attribute[lamp_state]": "exploded"}, 400),
    ]
    for fmt in ("json", "xml"):
        for form, status in broken:
            r = httpx.post(f"{base}/requests.{fmt}", data=form)
            assert r.status_code == status, (form, r.text)
            code, description = spec_error(r, fmt)
            assert code == status and description
        for query in ("start_date=0001-01-01T00:00:00Z", "end_date=2026-13-01T00:00:00Z", "start_date=2026-01-01"):
            r = httpx.get(f"{base}/requests.{fmt}?{query}")
            assert r.status_code == 400 and spec_error(r, fmt)[0] == 400, r.text
        r = httpx.get(f"{base}/services/teleportation.{fmt}")
        assert r.status_code == 404 and spec_error(r, fmt)[0] == 404
        r = httpx.get(f"{base}/requests/unknown-id.{fmt}")
        assert r.status_code == 404 and spec_error(r, fmt)[0] == 404

    # ---- POST (batch: a token), the token resolves once the case is stored
    posted = httpx.post(f"{base}/requests.xml", data={**good, "email": "resident@example.org",
                        "first_name": "Иван", "last_name": "Иванов", "phone": "+79181112233",
                        "media_url": "https://example.org/lamp.jpg"})  # fmt: skip
    assert posted.status_code == 201, posted.text
    doc = xml(posted, "service_requests")
    [answer] = list(doc)
    assert answer.tag == "request" and children(answer) == SPEC_POST_BATCH
    token = answer.findtext("token")
    assert token
    early = httpx.get(f"{base}/tokens/{token}.json")
    assert early.status_code in (200, 404)  # 404 until the pipeline has stored the case

    def resolved() -> bool:
        return httpx.get(f"{base}/tokens/{token}.json").status_code == 200

    wait_for(resolved, 120, "the token to resolve to a stored case")
    [mapping] = httpx.get(f"{base}/tokens/{token}.json").json()
    assert set(mapping) == SPEC_TOKEN and mapping["token"] == token
    request_id = mapping["service_request_id"]
    doc = xml(httpx.get(f"{base}/tokens/{token}.xml"), "service_requests")
    assert children(doc[0]) == SPEC_TOKEN and doc[0].findtext("service_request_id") == request_id

    # ---- routed, with its deadline; personal data masked in every format
    def deadline_known() -> bool:
        return as_json.get_service_request(request_id)["expected_datetime"] is not None

    wait_for(deadline_known, 120, "the SLA deadline of the case in GET requests/<id>")
    case = as_json.get_service_request(request_id)
    assert set(case) == SPEC_REQUEST
    assert case["status"] == "open" and case["service_code"] == "street_lighting"
    assert case["agency_responsible"] and "None" not in case["status_notes"]
    assert "срок ответа" in case["status_notes"]
    assert datetime.fromisoformat(case["expected_datetime"]) > datetime.now(UTC)
    assert "[телефон]" in case["description"] and "765-43-21" not in case["description"]
    assert (case["lat"], case["long"]) == (44.095, 39.075)  # as posted
    xml_case = as_xml.get_service_request(request_id)
    assert xml_case["service_request_id"] == request_id and xml_case["status"] == "open"
    doc = xml(httpx.get(f"{base}/requests/{request_id}.xml"), "service_requests")
    assert children(doc[0]) == SPEC_REQUEST
    everything = httpx.get(f"{base}/requests/{request_id}.json").text + httpx.get(f"{base}/requests.xml").text
    for personal in ("resident@example.org", "Иванов", "79181112233", "765-43-21"):
        assert personal not in everything

    listed = as_json.get_service_requests(service_code="street_lighting", status="open")
    assert request_id in {r["service_request_id"] for r in listed}
    listed_xml = as_xml.get_service_requests(service_request_id=request_id)
    assert listed_xml["service_request_id"] == request_id

    # ---- the case is answered: its status moves
    event = {"type": "answered", "at": datetime.now(UTC).isoformat(), "comment": "Фонарь заменён"}
    r = httpx.post(f"{worker.url}/cases/{request_id}/events", json=event, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202, r.text

    def closed() -> bool:
        return as_json.get_service_request(request_id)["status"] == "closed"

    wait_for(closed, 120, "the answered case to read closed")
    case = as_json.get_service_request(request_id)
    assert case["status_notes"].startswith("Дан ответ") and "None" not in case["status_notes"]
    assert case["updated_datetime"] >= case["requested_datetime"]
    assert as_json.get_service_requests(service_code="street_lighting", status="open") == [] or request_id not in {
        r["service_request_id"] for r in as_json.get_service_requests(service_code="street_lighting", status="open")
    }

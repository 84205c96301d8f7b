"""Hostile and careless input at the HTTP edge (issue 11): every case ends in a 4xx with a reason.

Real HTTP against the worker's aiohttp app on a loopback port; raw sockets where a client library
would refuse to send the bytes (0xFF in a header). The broker side is replaced by a recorder:
nothing here is accepted, so nothing would be published.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

import mcu.connectors_web as cw
import mcu.edge_web as edge
import mcu.reports_web as rw
import mcu.web as web
from ingest.connectors.open311_read import COLUMNS

TOKEN = "edge-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEEP = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000


@pytest.fixture
def sent(monkeypatch):
    """What the views would put on the broker; the limiter forgets earlier tests."""
    out: list[Any] = []

    async def record(channel, items, events):
        out.append((channel.value, items, events))

    class Topic:
        async def send(self, key, value, headers=None):
            out.append((key, value))
            fut = asyncio.get_running_loop().create_future()
            fut.set_result(None)
            return fut

    monkeypatch.setattr(cw, "_publish", record)
    monkeypatch.setattr(web, "_raw_topics", {c: Topic() for c in web._raw_topics})
    monkeypatch.setattr(web, "case_events_topic", Topic())
    s = web.settings
    monkeypatch.setattr(s.intake, "token", SecretStr(TOKEN))
    monkeypatch.setattr(s.connectors, "vk_callback_secret", SecretStr("vk-secret"))
    monkeypatch.setattr(s.connectors, "vk_callback_confirmation", "conf")
    monkeypatch.setattr(s.connectors, "telegram_webhook_secret", SecretStr("tg-secret"))
    monkeypatch.setattr(s.connectors, "open311_api_key", SecretStr("o311-key"))
    monkeypatch.setattr(s.intake, "rate_limit", "1000/second")
    monkeypatch.setattr(s.web, "events_rate_limit", "1000/second")
    monkeypatch.setattr(s.web, "open311_read_rate_limit", "1000/second")
    monkeypatch.setattr(s.web, "open311_post_rate_limit", "1000/second")
    monkeypatch.setattr(s.web, "reports_rate_limit", "1000/second")
    monkeypatch.setattr(s.web, "auth_failure_rate_limit", "1000/second")
    edge._limiter.storage.reset()
    return out


@pytest.fixture
def raw(client):
    """Bytes as they are on the wire, for what an HTTP client library would not send."""
    loop, test_client = client

    def do(head: bytes, body: bytes = b"") -> tuple[int, str]:
        async def go() -> tuple[int, str]:
            reader, writer = await asyncio.open_connection(test_client.host, test_client.port)
            length = b"Content-Length: %d\r\n" % len(body)
            writer.write(head.rstrip(b"\r\n") + b"\r\n" + length + b"Connection: close\r\n\r\n" + body)
            await writer.drain()
            answer = await reader.read()
            writer.close()
            status = int(answer.split(b" ", 2)[1])
            return status, answer.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")

        return loop.run_until_complete(go())

    return do


def reason(text: str) -> str:
    return json.loads(text)["reason"]


# ---- intake and case events ------------------------------------------------------------------------


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT])
@pytest.mark.parametrize("path", ["/ingest/webform", "/cases/abc/events", "/reports", "/connectors/incident/push"])
def test_deep_json_is_refused_before_parsing(sent, call, monkeypatch, path, body):
    monkeypatch.setattr(web.settings.connectors, "incident_push_token", SecretStr(TOKEN))
    status, text = call("POST", path, data=body, headers=AUTH)
    assert (status, reason(text)) == (400, "too_deep")
    assert sent == []


def test_deep_json_inside_strings_is_not_depth(sent, call):
    text = "[синтетика] скобки " + "[" * 500
    status, answer = call("POST", "/ingest/webform", json={"id": "s-1", "text": text}, headers=AUTH)
    assert status == 202, answer


def test_vk_callback_checks_depth_before_its_secret(sent, call):
    status, text = call("POST", "/connectors/vk/callback", data=DEEP)
    assert status == 400 and text.startswith("too_deep")


def test_telegram_webhook_deep_json(sent, call):
    headers = {"X-Telegram-Bot-Api-Secret-Token": "tg-secret"}
    status, text = call("POST", "/connectors/telegram/webhook", data=DEEP_OBJECT, headers=headers)
    assert (status, reason(text)) == (400, "too_deep")


def test_authorization_with_byte_ff(sent, raw):
    head = b"POST /ingest/webform HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
    status, text = raw(head, b'{"id": "x", "text": "t"}')
    assert (status, reason(text)) == (400, "bad_header")


def test_source_id_not_utf8(sent, raw):
    head = b"POST /ingest/webform HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer edge-token\r\nX-Source-Id: \xc3\x28\r\n"
    status, text = raw(head, b'{"id": "x", "text": "t"}')
    assert (status, reason(text)) == (400, "bad_header")
    assert sent == []


def test_source_id_too_long(sent, call):
    headers = {**AUTH, "X-Source-Id": "s" * 8000}
    status, text = call("POST", "/ingest/webform", json={"id": "x", "text": "[синтетика] t"}, headers=headers)
    assert status == 400 and reason(text) == "bad_header" and "limit 256" in json.loads(text)["error"]


def test_token_without_bearer_is_refused(sent, call):
    status, text = call("POST", "/ingest/webform", json={"text": "t"}, headers={"Authorization": TOKEN})
    assert (status, reason(text)) == (401, "unauthorized")
    status, _ = call("POST", "/cases/abc/events", json={"type": "answered"}, headers={"Authorization": TOKEN})
    assert status == 401


def test_wrong_token_flood_gets_429(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.web, "auth_failure_rate_limit", "5/minute")
    bad = {"Authorization": "Bearer guess"}
    answers = [call("POST", "/ingest/webform", json={"text": "t"}, headers=bad)[0] for _ in range(8)]
    assert answers[:5] == [401] * 5 and set(answers[5:]) == {429}
    # locked out: even the right token waits for the window to pass
    assert call("POST", "/ingest/webform", json={"text": "t"}, headers=AUTH)[0] == 429


def test_text_longer_than_the_pipeline_takes_is_refused_at_the_edge(sent, call):
    long_text = "[синтетика] " + "я" * web.settings.intake.max_text_chars
    status, text = call("POST", "/ingest/webform", json={"id": "long", "text": long_text}, headers=AUTH)
    assert (status, reason(text)) == (413, "too_large")
    assert sent == []


@pytest.mark.parametrize(
    "payload",
    [
        {"id": 1, "owner_id": -1, "from_id": 5, "date": 10**15, "text": "[синтетика] x"},
        {"id": 1, "owner_id": -1, "from_id": 5, "date": 1790000000, "text": "[синтетика] x", "attachments": 5},
        {"id": 1, "owner_id": -1, "from_id": 5, "date": -(10**15), "text": "[синтетика] x"},
    ],
)
def test_vk_intake_odd_shapes_are_4xx_or_accepted_never_500(sent, call, payload):
    status, text = call("POST", "/ingest/vk", json=payload, headers=AUTH)
    assert status in (202, 400, 413), text
    if status != 202:
        assert reason(text)


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "message": {"message_id": 3, "chat": {"id": -5}, "date": 10**15, "text": "[синтетика] x"}},
        {"update_id": 2, "message": {"message_id": 4, "chat": {"id": -5}, "date": 1, "text": "x", "photo": 5}},
    ],
)
def test_telegram_odd_shapes_never_500(sent, call, update):
    headers = {"X-Telegram-Bot-Api-Secret-Token": "tg-secret"}
    status, _ = call("POST", "/connectors/telegram/webhook", json=update, headers=headers)
    assert status == 200  # Telegram retries anything else; the normaliser dead-letters what it cannot read
    status, text = call("POST", "/ingest/telegram", json=update, headers=AUTH)
    assert status in (202, 400), text


def test_vk_callback_date_and_attachments_never_500(sent, call):
    for obj in ({"id": 7, "from_id": 5, "date": 10**15, "text": "x"}, {"id": 8, "from_id": 5, "attachments": 5}):
        body = {"type": "wall_post_new", "group_id": 1, "secret": "vk-secret", "object": obj}
        assert call("POST", "/connectors/vk/callback", json=body) == (200, "ok")


def test_case_event_with_a_lone_surrogate(sent, call):
    body = b'{"type": "answered", "at": "2026-11-27T10:00:00+03:00", "comment": "\\udcff"}'
    status, text = call("POST", "/cases/abc/events", data=body, headers=AUTH)
    assert status in (202, 400) and (status == 202 or reason(text))


def test_case_events_are_rate_limited(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.web, "events_rate_limit", "3/minute")
    event = {"type": "answered", "at": "2026-11-27T10:00:00+03:00"}
    got = [call("POST", "/cases/abc/events", json=event, headers=AUTH)[0] for _ in range(5)]
    assert got[:3] != [429] * 3 and got[3:] == [429, 429]


# ---- reports -------------------------------------------------------------------------------------


def test_reports_need_the_token(sent, call):
    status, text = call("POST", "/reports", json={"kind": "workload"})
    assert (status, reason(text)) == (401, "unauthorized")


@pytest.mark.parametrize("dates", [{"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}, {"date_from": "1900-01-01"}])
def test_report_dates_out_of_the_store_are_400(sent, call, monkeypatch, dates):
    async def never(fn):
        raise AssertionError("the store was asked")

    monkeypatch.setattr(rw.store, "run", never)
    status, text = call("POST", "/reports", json={"kind": "workload", **dates}, headers=AUTH)
    assert (status, reason(text)) == (400, "validation")


def test_reports_are_rate_limited(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.web, "reports_rate_limit", "2/minute")
    got = [call("POST", "/reports", json={"kind": "nonsense"}, headers=AUTH)[0] for _ in range(4)]
    assert got == [400, 400, 429, 429]


def test_reports_wait_their_turn_then_503(sent, call, client, monkeypatch):
    monkeypatch.setattr(web.settings.web, "store_read_wait_seconds", 0.2)
    loop, _ = client

    async def hold() -> None:
        async with edge.store_read():
            await asyncio.sleep(1.0)

    async def both() -> tuple[int, str]:
        holder = asyncio.ensure_future(hold())
        await asyncio.sleep(0.05)
        _, test_client = client
        resp = await test_client.post("/reports", json={"kind": "workload"}, headers=AUTH)
        answer = resp.status, await resp.text()
        await holder
        return answer

    status, text = loop.run_until_complete(both())
    assert (status, reason(text)) == (503, "busy")


# ---- Open311 ---------------------------------------------------------------------------------------


def spec_error(text: str, fmt: str = "json") -> tuple[int, str]:
    if fmt == "xml":
        root = ET.fromstring(text.encode())
        assert root.tag == "errors" and [e.tag for e in root] == ["error"]
        return int(root.find("error/code").text), root.find("error/description").text
    [err] = json.loads(text)
    assert set(err) == {"code", "description"}
    return err["code"], err["description"]


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "query",
    [
        "start_date=0001-01-01T00:00:00Z",
        "end_date=9999-12-31T00:00:00Z",
        "start_date=2026-01-01T00:00:00",  # no timezone: the spec requires one
        "start_date=вчера",
        "start_date=2026-01-01T00:00:00Z&end_date=2026-11-01T00:00:00Z",  # more than 90 days
        "page_size=100000",
        "status=maybe",
    ],
)
def test_open311_bad_filters_are_spec_errors(sent, call, monkeypatch, fmt, query):
    async def never(sql, params=None):
        raise AssertionError("the store was asked")

    monkeypatch.setattr(cw.store, "query", never)
    status, text = call("GET", f"/open311/v2/requests.{fmt}?{query}")
    code, description = spec_error(text, fmt)
    assert status == 400 == code and description


def test_open311_post_is_off_without_a_key(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.connectors, "open311_api_key", None)
    form = {"service_code": "roads", "description": "[синтетика] яма", "lat": "44.1", "long": "39.08"}
    for fmt in ("json", "xml"):
        status, text = call("POST", f"/open311/v2/requests.{fmt}", data=form)
        code, description = spec_error(text, fmt)
        assert status == 403 == code and "off" in description
    assert sent == []


def test_open311_bad_key_flood_gets_429(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.web, "auth_failure_rate_limit", "3/minute")
    form = {"api_key": "guess", "service_code": "roads", "description": "[синтетика] яма", "address_string": "Туапсе"}
    got = [call("POST", "/open311/v2/requests.json", data=form)[0] for _ in range(5)]
    assert got == [403, 403, 403, 429, 429]


def test_open311_description_over_the_spec_limit(sent, call):
    form = {"api_key": "o311-key", "service_code": "roads", "address_string": "Туапсе",
            "description": "[синтетика] " + "я" * 25_001}  # fmt: skip
    status, text = call("POST", "/open311/v2/requests.json", data=form)
    code, description = spec_error(text)
    assert status == 400 == code and "4000" in description
    assert sent == []


def test_open311_posts_are_rate_limited(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.web, "open311_post_rate_limit", "2/minute")
    form = {
        "api_key": "o311-key",
        "service_code": "roads",
        "description": "[синтетика] яма",
        "address_string": "Туапсе",
    }
    got = [call("POST", "/open311/v2/requests.json", data=form)[0] for _ in range(3)]
    assert got == [201, 201, 429]


def _row(**values: Any) -> tuple[Any, ...]:
    now = datetime(2026, 11, 20, 9, tzinfo=UTC)
    base = dict.fromkeys(COLUMNS)
    base.update(message_id="m-1", source_id="s-1", category="roads", category_name="Дороги", created_at=now,
                text="[синтетика] Яма у дома, звоните Иванову Ивану Петровичу +7 918 123-45-67, ivan@example.org",
                address="ул. Ленина, 5, кв. 7, Петров Пётр Петрович", lat=44.1, lon=39.08, block=5,
                block_name="Транспорт", settlement="tuapse", settlement_name="Туапсе",
                department_name="Отдел транспорта", answered=datetime(1970, 1, 1, tzinfo=UTC),
                deadline=now + timedelta(days=30), breached=0)  # fmt: skip
    base.update(values)
    return tuple(base[c] for c in COLUMNS)


@pytest.mark.parametrize("path", ["/open311/v2/requests.json", "/open311/v2/requests/m-1.json"])
def test_open311_reads_are_masked_and_name_no_author(sent, call, monkeypatch, path):
    async def rows(sql, params=None):
        return [_row()]

    monkeypatch.setattr(cw.store, "query", rows)
    status, text = call("GET", path)
    assert status == 200
    [req] = json.loads(text)
    dumped = json.dumps(req, ensure_ascii=False)
    for personal in ("918", "ivan@example.org", "Иванову", "Петровичу", "Петров Пётр"):
        assert personal not in dumped
    assert "[телефон]" in req["description"] and "[email]" in req["description"]
    assert not {"email", "phone", "first_name", "last_name", "author_id", "account_id", "device_id"} & set(req)
    assert "None" not in req["status_notes"] and req["status"] == "open"  # the epoch is "never answered"
    assert "срок ответа" in req["status_notes"]


@pytest.mark.parametrize(("path", "fmt"), [("services", "json"), ("services.csv", "json"), ("requests/x.yaml", "json"),
                                           ("nothing.xml", "xml")])  # fmt: skip
def test_open311_unknown_resources_are_spec_404s(sent, call, path, fmt):
    status, text = call("GET", f"/open311/v2/{path}")
    assert status == 404 and spec_error(text, fmt)[0] == 404
    assert call("GET", "/open311/v2/services.json")[0] == 200


def test_push_secret_floods_get_429(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.web, "auth_failure_rate_limit", "2/minute")
    update = {"update_id": 1, "message": {"message_id": 3, "chat": {"id": -5}, "date": 1, "text": "x"}}
    wrong = {"X-Telegram-Bot-Api-Secret-Token": "guess"}
    got = [call("POST", "/connectors/telegram/webhook", json=update, headers=wrong)[0] for _ in range(2)]
    body = {"type": "wall_post_new", "group_id": 1, "secret": "guess", "object": {"id": 1, "from_id": 5}}
    got.append(call("POST", "/connectors/vk/callback", json=body)[0])
    assert got == [401, 401, 429] and sent == []


def test_incident_push_shape_errors_are_not_called_too_large(sent, call, monkeypatch):
    monkeypatch.setattr(web.settings.connectors, "incident_push_token", SecretStr(TOKEN))
    body = [{"id": f"i-{i}", "text": "[синтетика] x"} for i in range(1001)]
    status, text = call("POST", "/connectors/incident/push", json=body, headers=AUTH)
    assert (status, reason(text)) == (413, "too_large")

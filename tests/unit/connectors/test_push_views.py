"""The push and Open311 views over real HTTP (the worker's aiohttp app on a loopback port).

The broker side is replaced by a recorder of what the views would publish (the wire format is
tested elsewhere); the protocol answers (status codes, bodies, handshakes) are what is tested.
"""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

import mcu.connectors_web as cw


@pytest.fixture
def published(monkeypatch):
    out: list[tuple[str, list, list]] = []

    async def record(channel, items, events):
        out.append((channel.value, items, events))

    monkeypatch.setattr(cw, "_publish", record)
    monkeypatch.setattr(cw.settings.connectors, "vk_callback_secret", SecretStr("vk-secret"))
    monkeypatch.setattr(cw.settings.connectors, "vk_callback_confirmation", "conf-123")
    monkeypatch.setattr(cw.settings.connectors, "telegram_webhook_secret", SecretStr("tg-secret"))
    monkeypatch.setattr(cw.settings.connectors, "incident_push_token", SecretStr("inc-token"))
    monkeypatch.setattr(cw.settings.connectors, "open311_api_key", SecretStr("o311-key"))
    return out


def test_vk_callback_handshake_secret_and_event(published, call):
    assert call("POST", "/connectors/vk/callback", data=b'{"type": "confirmation", "group_id": 1}') == (200, "conf-123")
    bad = {"type": "wall_post_new", "group_id": 1, "secret": "wrong", "object": {"id": 1, "from_id": 5}}
    assert call("POST", "/connectors/vk/callback", data=json.dumps(bad))[0] == 403
    post = {"id": 7, "from_id": 5, "owner_id": -1, "date": 1790000000, "text": "[синтетика] пост"}
    ok = {"type": "wall_post_new", "group_id": 1, "secret": "vk-secret", "object": post}
    assert call("POST", "/connectors/vk/callback", data=json.dumps(ok)) == (200, "ok")
    assert [(c, [i.source_id for i in items]) for c, items, _ in published] == [("vk", ["-1_7"])]


def test_telegram_webhook_needs_the_secret_header(published, call):
    update = json.dumps({"update_id": 1, "message": {"message_id": 3, "chat": {"id": -5}, "date": 1, "text": "x"}})
    assert call("POST", "/connectors/telegram/webhook", data=update)[0] == 401
    status, _ = call("POST", "/connectors/telegram/webhook", data=update,
                     headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret"})  # fmt: skip
    assert status == 200 and published[0][1][0].source_id == "-5:3"


def test_incident_push_needs_the_token_and_takes_arrays(published, call):
    body = json.dumps([{"id": "i-1", "text": "[синтетика] a"}, {"id": "i-2", "text": "[синтетика] b"}])
    assert call("POST", "/connectors/incident/push", data=body)[0] == 401
    status, text = call("POST", "/connectors/incident/push", data=body, headers={"Authorization": "Bearer inc-token"})
    assert status == 202 and json.loads(text) == {"accepted": ["i-1", "i-2"]}


def test_open311_services_and_post(published, call):
    status, text = call("GET", "/open311/v2/services.json")
    assert status == 200 and any(s["service_code"] == "roads" for s in json.loads(text))
    no_place = {"api_key": "o311-key", "service_code": "roads", "description": "x"}
    status, text = call("POST", "/open311/v2/requests.json", data=no_place)
    assert status == 400 and json.loads(text)[0]["code"] == 400
    form = {"api_key": "o311-key", "service_code": "roads", "description": "[синтетика] яма", "lat": "44.1",
            "long": "39.08"}  # fmt: skip
    status, text = call("POST", "/open311/v2/requests.json", data=form)
    assert status == 201
    [resp] = json.loads(text)
    assert published[0][0] == "open311" and resp["service_request_id"]


def test_open311_request_not_in_the_store_is_404(published, monkeypatch, call):
    async def no_rows(sql, params=None):
        return []

    monkeypatch.setattr(cw.store, "query", no_rows)
    status, text = call("GET", "/open311/v2/requests/abc.json")
    assert status == 404 and json.loads(text)[0]["code"] == 404

"""Telegram connector against a local HTTP peer speaking the Bot API (synthetic chats)."""

from __future__ import annotations

import json

import httpx
import pytest

from ingest.connectors.base import PermanentError, RateLimiter, Runner, retrying
from ingest.connectors.telegram import SECRET_HEADER, TelegramPoller, check_webhook, webhook_item

from .conftest import Crash, FakeEvents, FakePublisher, normalize_delivered
from .fake_apis import FakeTelegram, serve


def poller(base: str, token: str = "123:tg-test", limit: int = 100) -> TelegramPoller:
    return TelegramPoller(token, base, RateLimiter(1000), httpx.Client(timeout=5), timeout=0, limit=limit)


def run(conn, pub, cursors) -> Runner:
    r = Runner(conn, pub, cursors, FakeEvents(), retry=retrying(attempts=4, initial=0.01, maximum=0.05))
    r.drain()
    return r


def test_long_polling_confirms_offsets_only_after_the_broker_has_them(cursors):
    tg = FakeTelegram()
    for u in range(1, 251):
        tg.add_message(u, -500, u, f"[синтетика] сообщение {u}")
    with serve(tg) as base:
        pub = FakePublisher()
        run(poller(base), pub, cursors)
        assert len(pub.delivered) == 250
        assert cursors.load("telegram") == {"offset": 251}
        tg.add_message(251, -500, 251, "[синтетика] ещё")
        tg.add_message(252, -500, 7, "[синтетика] исправленный текст", edited=True)
        run(poller(base), pub, cursors)
    ids = pub.source_ids()
    assert ids[-2:] == ["-500:251", "-500:7"]  # an edit keeps the message's source id: it replaces it
    assert [c.get("offset") for c in tg.calls[:3]] == [None, "101", "201"]
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    assert messages[0].source_url == "https://t.me/synthetic_chat/1"
    assert messages[-1].text == "[синтетика] исправленный текст"


def test_429_with_retry_after_and_5xx_are_retried(cursors):
    tg = FakeTelegram()
    tg.add_message(1, -1, 1, "[синтетика] x")
    tg.faults = [429, 502]
    with serve(tg) as base:
        pub = FakePublisher()
        run(poller(base), pub, cursors)
    assert pub.source_ids() == ["-1:1"]


@pytest.mark.parametrize("code", [401, 409])
def test_wrong_token_or_webhook_conflict_stops_with_a_reason(cursors, code):
    tg = FakeTelegram()
    tg.faults = [code]
    with serve(tg) as base, pytest.raises(PermanentError, match=str(code)):
        run(poller(base), FakePublisher(), cursors)


def test_restart_after_crash_takes_each_update_exactly_once(cursors):
    tg = FakeTelegram()
    for u in range(1, 61):
        tg.add_message(u, -9, u, f"[синтетика] {u}")
    with serve(tg) as base:
        pub = FakePublisher(crash_after=25)
        with pytest.raises(Crash):
            run(poller(base, limit=10), pub, cursors)
        pub.crash_after = None
        run(poller(base, limit=10), pub, cursors)
    ids = pub.source_ids()
    assert sorted(ids) == sorted(f"-9:{u}" for u in range(1, 61)) and len(ids) == 60


def test_webhook_secret_header():
    assert check_webhook({SECRET_HEADER: "tok"}, "tok")
    assert check_webhook({SECRET_HEADER.lower(): "tok"}, "tok")
    assert not check_webhook({SECRET_HEADER: "bad"}, "tok")
    assert not check_webhook({}, "tok")
    assert not check_webhook({SECRET_HEADER: "tok"}, None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"update_id": 5, "message": {"message_id": 1, "chat": {"id": 1}, "date": 17', "bad_json"),
        (b'{"update_id": 5, "my_chat_member": {"chat": {"id": 1}}}', "unsupported"),
        (b'{"update_id": 5, "message": {"message_id": 1, "chat": {"id": 1}, "date": 1790000000, "sticker": {}}}',
         "empty_text"),
        (b'{"update_id": 5, "message": {"message_id": 1, "chat": {"id": 1}, "date": null, "text": "x"}}', "validation"),
        (json.dumps({"update_id": 5, "message": {"text": "привет"}}, ensure_ascii=False).encode("koi8-r"),
         "invalid_utf8"),
    ],
)  # fmt: skip
def test_bad_updates_are_rejected_with_reasons(body, reason):
    item = webhook_item(body)
    pub = FakePublisher()
    pub.delivered.append(("telegram", item.source_id, item.body, None))
    _ok, rejected = normalize_delivered(pub)
    assert [r.reason for r in rejected] == [reason]

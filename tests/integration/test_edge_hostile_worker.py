"""Issue 11's malformed inputs against a real worker and broker: each is a 4xx with a reason (or,
for the push channels, taken whole for the dead letters), none a 500, the worker stays healthy,
and everything accepted is accounted for exactly (a case or a dead letter)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import TOKEN, Worker, loop_lag, pipeline_env, wait_for, worst_lag_bound

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEEP = b"[" * 5000 + b"]" * 5000


def raw_status(port: int, head: bytes, body: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer.split(b"\r\n\r\n", 1)[1]


def test_hostile_inputs_end_in_4xx_with_reasons_and_nothing_is_lost(brokers: str, tmp_path: Path):
    env = pipeline_env(
        tmp_path / "var",
        brokers,
        MCU_VK_CALLBACK_SECRET="vk-secret",
        MCU_TELEGRAM_WEBHOOK_SECRET="tg-secret",
        MCU_AUTH_FAILURE_RATE_LIMIT="5/minute",
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    url = worker.url
    accepted = 0
    try:
        wait_for(lambda: loop_lag(worker.scrape())["count"] > 0, 10, "the loop-lag probe's first observation")
        lag_before = loop_lag(worker.scrape())
        for path in ("/ingest/webform", "/cases/x/events", "/reports"):
            r = httpx.post(url + path, content=DEEP, headers=AUTH)
            assert (r.status_code, r.json()["reason"]) == (400, "too_deep"), (path, r.text)
        r = httpx.post(url + "/connectors/vk/callback", content=DEEP)
        assert r.status_code == 400 and r.text.startswith("too_deep")

        auth_ff = b"POST /ingest/webform HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\r\n"
        status, body = raw_status(worker.port, auth_ff, b'{"text": "x"}')
        assert (status, json.loads(body)["reason"]) == (400, "bad_header")
        bad_id = b"POST /ingest/webform HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nX-Source-Id: \xc3\x28\r\n"
        status, body = raw_status(worker.port, bad_id % TOKEN.encode(), b'{"text": "x"}')
        assert (status, json.loads(body)["reason"]) == (400, "bad_header")
        r = httpx.post(
            url + "/ingest/webform", json={"text": "[синтетика] x"}, headers={**AUTH, "X-Source-Id": "s" * 8000}
        )
        assert (r.status_code, r.json()["reason"]) == (400, "bad_header")

        for payload in (
            {"id": 1, "owner_id": -1, "from_id": 5, "date": 10**15, "text": "[синтетика] яма на дороге"},
            {
                "id": 2,
                "owner_id": -1,
                "from_id": 5,
                "date": 1790000000,
                "text": "[синтетика] нет воды",
                "attachments": 5,
            },
        ):
            r = httpx.post(url + "/ingest/vk", json=payload, headers=AUTH)
            assert r.status_code in (202, 400), r.text
            accepted += r.status_code == 202
        update = {
            "update_id": 9,
            "message": {"message_id": 3, "chat": {"id": -5}, "date": 10**15, "text": "[синтетика] x"},
        }
        r = httpx.post(
            url + "/connectors/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "tg-secret"}
        )
        assert r.status_code == 200
        accepted += 1  # taken whole: a case or a dead letter

        assert httpx.post(url + "/reports", json={"kind": "workload"}).status_code == 401
        for dates in ({"date_to": "9999-12-31"}, {"date_from": "0001-01-01"}):
            r = httpx.post(url + "/reports", json={"kind": "workload", **dates}, headers=AUTH)
            assert (r.status_code, r.json()["reason"]) == (400, "validation"), r.text
        r = httpx.get(url + "/open311/v2/requests.json?start_date=0001-01-01T00:00:00Z")
        assert r.status_code == 400 and r.json()[0]["code"] == 400
        form = {"service_code": "roads", "address_string": "Туапсе", "description": "[синтетика] " + "я" * 25_001}
        r = httpx.post(url + "/open311/v2/requests.json", data=form)
        assert r.status_code == 403 and "off" in r.json()[0]["description"]  # no MCU_OPEN311_API_KEY here

        assert httpx.get(url + "/health").json()["status"] == "ok"
        settled = lambda: sum(worker.counts()[k] for k in ("cases", "dead_letters")) == accepted  # noqa: E731
        wait_for(settled, 120, lambda: f"{accepted} accepted records as cases or dead letters: {worker.counts()}")

        # last, since it locks this client address out: a wrong-token flood
        bare = httpx.post(url + "/ingest/webform", json={"text": "x"}, headers={"Authorization": TOKEN})
        assert (bare.status_code, bare.json()["reason"]) == (401, "unauthorized")
        statuses = [httpx.post(url + "/ingest/webform", json={}, headers={"Authorization": "Bearer no"}).status_code
                    for _ in range(6)]  # fmt: skip
        # three failures came before (the 0xFF header, /reports without a token, the bare token): 5/minute
        assert statuses == [401, 401, 429, 429, 429, 429]
        assert httpx.post(url + "/ingest/webform", json={"text": "x"}, headers=AUTH).status_code == 429

        # mcu/loop_lag.py: no wake-up of the probe more than 1 s late during all of the above
        lag_after = loop_lag(worker.scrape())
        assert lag_after["count"] > lag_before["count"]
        bound = worst_lag_bound(lag_before, lag_after)
        assert bound <= 1.0, f"a wake-up of the probe more than 1 s late: {lag_before} → {lag_after}"
        print(f"\nevent-loop lag during the hostile requests: every wake-up within {bound * 1000:g} ms")
    finally:
        worker.stop()
    assert "Error handling request" not in (tmp_path / "worker.log").read_text(errors="replace")  # aiohttp's 500

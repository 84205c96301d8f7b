"""POST /cases/<id>/events: token, validation, and an out-of-order event applied when the case arrives."""

import json
from pathlib import Path

import httpx
import pytest

from schemas import message_id_for
from tests.integration.harness import TOKEN, Worker, pipeline_env, query_store, wait_for
from tests.integration.test_pipeline import publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_events_api_checks_its_input_and_events_reach_the_timers_and_the_store(brokers, tmp_path: Path):
    env = pipeline_env(tmp_path / "var", brokers)
    worker = Worker(env, tmp_path / "worker.log").start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        mid = message_id_for("webform", "api-1")
        url = f"{worker.url}/cases/{mid}/events"
        answered = {"type": "answered", "at": "2026-11-27T10:00:00+03:00", "comment": "Водоснабжение восстановлено"}
        assert httpx.post(url, json=answered).status_code == 401
        assert httpx.post(url, content=b"{oops", headers=auth).status_code == 400
        bad = httpx.post(url, json={"type": "teleported", "at": "2026-11-27T10:00:00Z"}, headers=auth)
        assert bad.status_code == 400 and "type" in bad.json()["error"]
        assert httpx.post(url, json={**answered, "message_id": "other"}, headers=auth).status_code == 400
        # Times outside 2000-01-01 … now + 1 day (schemas/times.py) are refused at the edge.
        for at in ("9999-12-31T00:00:00Z", "1900-01-01T00:00:00Z", "2526-01-01T00:00:00+00:00", "0001-01-01"):
            far = httpx.post(url, json={**answered, "at": at}, headers=auth)
            assert far.status_code == 400 and "at:" in far.json()["error"], (at, far.text)
        intake = httpx.post(
            f"{worker.url}/ingest/webform", json={"text": "x", "created_at": "9999-12-31T23:59:59"}, headers=auth
        )
        assert intake.status_code == 400 and intake.json()["reason"] == "bad_time", intake.text
        metrics = httpx.get(f"{worker.url}/metrics").text
        for reason in ("per_case", "cases", "age"):  # present at 0 before anything was dropped
            assert f'mcu_sla_pending_dropped_total{{reason="{reason}"}} 0.0' in metrics

        # the answer arrives before the case itself: kept, applied when the case comes
        first = httpx.post(url, json=answered, headers=auth)
        assert first.status_code == 202
        again = httpx.post(url, json=answered, headers=auth)  # a retried POST is the same event
        assert again.json()["event_id"] == first.json()["event_id"]
        publish(env, [json.dumps({"id": "api-1", "text": "В Джубге нет воды"}, ensure_ascii=False).encode()])
        closed = lambda: sum(worker.metric("mcu_sla_events_total", kind=k) for k in ("met", "stopped"))  # noqa: E731
        wait_for(lambda: closed() >= 1, 60, "the answer to meet or stop the case's terms")
        wait_for(lambda: worker.metric("mcu_sink_rows_total", table="case_events") >= 1, 30, "the event stored")
    finally:
        worker.stop()
    rows = query_store(tmp_path / "var", "SELECT type, count() FROM case_events FINAL GROUP BY type")
    assert rows == [["answered", 1]]

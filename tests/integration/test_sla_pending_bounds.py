"""Events for cases that never come: bounded in number and age on a real worker, each refusal a dead letter."""

from pathlib import Path

import httpx
import pytest

from schemas import message_id_for
from tests.integration.harness import TOKEN, Worker, pipeline_env, query_store, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_waiting_events_are_bounded_in_number_and_age(brokers, tmp_path: Path):
    env = pipeline_env(
        tmp_path / "var",
        brokers,
        MCU_SLA_PENDING_MAX_CASES="2",
        MCU_SLA_PENDING_MAX_AGE_HOURS="0.004",  # 14.4 s
    )
    worker = Worker(env, tmp_path / "worker.log").start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    dropped = lambda reason: worker.metric("mcu_sla_pending_dropped_total", reason=reason)  # noqa: E731
    try:
        assert (dropped("per_case"), dropped("cases"), dropped("age")) == (0, 0, 0)
        for i in range(3):  # three cases that never arrive; the worker keeps events of two
            mid = message_id_for("webform", f"never-{i}")
            event = {"type": "answered", "at": "2026-11-27T10:00:00+03:00", "event_id": f"never-{i}"}
            assert httpx.post(f"{worker.url}/cases/{mid}/events", json=event, headers=auth).status_code == 202
            # one at a time, so which one is refused is known
            wait_for(lambda i=i: worker.metric("mcu_sla_pending_events") + dropped("cases") >= i + 1, 60, "taken")
        assert dropped("cases") == 1 and worker.metric("mcu_sla_pending_events") == 2
        wait_for(lambda: dropped("age") >= 2, 90, "the two waiting events to expire")
        assert worker.metric("mcu_sla_pending_events") == 0
        wait_for(
            lambda: worker.metric("mcu_sink_rows_total", table="dead_letters") >= 3, 60, "the three dead letters stored"
        )
    finally:
        worker.stop()
    rows = query_store(
        tmp_path / "var",
        "SELECT reason, count() FROM dead_letters FINAL WHERE stage = 'sla' GROUP BY reason ORDER BY reason",
    )
    assert rows == [["sla_pending_expired", 2], ["sla_pending_full", 1]]

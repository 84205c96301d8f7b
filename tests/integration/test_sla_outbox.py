"""No SLA lifecycle event is lost when the worker dies between the state write and the send.

The test hook MCU_TEST_KILL_BEFORE_SLA_SEND makes the worker exit right after the `reopened` event
of one case changed its SLA state on the broker (changelog flushed) and before the `started` event
was sent. The restarted worker restores the state, sees the re-delivered `reopened` as a duplicate,
and must still deliver `started` from the state's outbox: once, as the store's queries see it.
"""

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from schemas import message_id_for
from tests.integration.harness import TOKEN, Worker, pipeline_env, query_store, wait_for
from tests.integration.test_pipeline import good_records, publish
from tests.integration.test_sla_restart import FAST_POLICIES

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

MARKER = "outbox-kill-7f3a"
N = 4  # case 0 is the marked one; the others go through the same lifecycle unharmed


def _post(worker: Worker, mid: str, kind: str, event_id: str) -> None:
    event = {"type": kind, "at": datetime.now(UTC).isoformat(), "event_id": event_id}
    r = httpx.post(f"{worker.url}/cases/{mid}/events", json=event, headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 202, r.text


def _lifecycle_rows(var_dir: Path, mids: list[str]) -> dict[str, list[tuple[str, str, int]]]:
    """Per case: (dedup key without the message id, kind, rows) of its met/started/stopped events."""
    ids = ", ".join(f"'{m}'" for m in mids)
    rows = query_store(
        var_dir,
        "SELECT message_id, dedup_key, kind, count() FROM sla_events FINAL"
        f" WHERE message_id IN ({ids}) AND kind IN ('met', 'started', 'stopped')"
        " GROUP BY message_id, dedup_key, kind ORDER BY message_id, dedup_key",
    )
    out: dict[str, list[tuple[str, str, int]]] = {m: [] for m in mids}
    for mid, key, kind, count in rows:
        out[mid].append((key.removeprefix(mid + ":"), kind, count))
    return out


def test_a_kill_between_the_state_write_and_the_send_loses_no_sla_event(brokers, tmp_path: Path):
    var = tmp_path / "var"
    env = pipeline_env(var, brokers, MCU_SLA_POLICIES_FILE=str(FAST_POLICIES))
    mids = [message_id_for("webform", f"ob-{i}") for i in range(N)]
    first = Worker({**env, "MCU_TEST_KILL_BEFORE_SLA_SEND": MARKER}, tmp_path / "worker1.log").start()
    publish(env, good_records(N, prefix="ob"))
    wait_for(lambda: first.counts()["cases"] >= N, 120, f"{N} cases")
    for i, mid in enumerate(mids):
        _post(first, mid, "answered", f"ob-answered-{i}")
    wait_for(lambda: first.metric("mcu_sla_events_total", kind="met") >= N, 60, "the first answers met")
    for i, mid in reversed(list(enumerate(mids))):  # the marked one last: the others are processed first
        _post(first, mid, "reopened", f"{MARKER}-{i}" if i == 0 else f"ob-reopened-{i}")
    assert first.proc is not None
    first.proc.wait(60)  # the hook's os._exit, after the state change of case 0 reached the changelog
    assert first.proc.returncode == 17, first.log_tail()
    assert "exiting before the SLA events of " + mids[0] in first.log_path.read_text()

    second = Worker(env, tmp_path / "worker2.log").start()  # no hook: the restart as ops would do it
    try:
        # started of case 0 can only come from the restored outbox: its reopened is a duplicate now
        wait_for(lambda: second.metric("mcu_sla_events_total", kind="started") >= 1, 60, "started from the outbox")
        for i, mid in enumerate(mids):
            _post(second, mid, "answered", f"ob-answered-again-{i}")
        wait_for(lambda: second.metric("mcu_sla_events_total", kind="met") >= N, 60, "the second answers met")
        # every SLA event this worker sent is stored (the sink may also store some the first one
        # sent and did not store: hence also the lag, committed by the sink only after its insert)
        stored = lambda: second.metric("mcu_sink_rows_total", table="sla_events")  # noqa: E731
        wait_for(lambda: stored() >= second.metric("mcu_sla_events_total"), 60, "SLA events stored")
        wait_for(lambda: second.metric("mcu_consumer_lag") == 0, 60, "no lag")
        # The lag gauge is refreshed every 5 s and the stored-rows count includes the first worker's
        # re-sent rows, so both can pass before the second answers' rows are in: wait for those rows.
        wait_for(lambda: _has_every_met(var, mids), 60, "the second answers' met rows stored")
    finally:
        second.stop()

    # Each case: met (cycle 0), started (cycle 1), met (cycle 1), once each in query results.
    assert _lifecycle_rows(var, mids) == {mid: WANT for mid in mids}


WANT = [("resolution:0:met", "met", 1), ("resolution:1:met", "met", 1), ("resolution:1:started", "started", 1)]


def _has_every_met(var_dir: Path, mids: list[str]) -> bool:
    rows = _lifecycle_rows(var_dir, mids)
    return all(("resolution:1:met", "met", 1) in rows[m] for m in mids)

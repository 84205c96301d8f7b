"""SLA timers survive a killed worker: state from the table's changelog, each breach once downstream."""

from pathlib import Path

import pytest

from tests.integration.harness import ROOT, Worker, pipeline_env, query_store, wait_for
from tests.integration.test_pipeline import good_records, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FAST_POLICIES = ROOT / "tests" / "integration" / "data" / "fast_policies.yaml"  # a 1-minute term


def test_timers_fire_once_after_the_worker_is_killed_and_restarted(brokers, tmp_path: Path):
    n = 40
    env = pipeline_env(tmp_path / "var", brokers, MCU_SLA_POLICIES_FILE=str(FAST_POLICIES))
    first = Worker(env, tmp_path / "worker1.log").start()
    publish(env, good_records(n, prefix="sla"))
    # the 50 % warnings come 30 s after intake; the breach at 60 s, after the restart
    wait_for(lambda: first.metric("mcu_sla_events_total", kind="warning") >= n, 90, "the 50 % warnings")
    assert first.metric("mcu_sla_events_total", kind="breach") == 0
    first.kill()

    second = Worker(env, tmp_path / "worker2.log").start()
    try:
        wait_for(lambda: second.metric("mcu_sla_events_total", kind="breach") >= n, 120, "every breach")
        # The breaches themselves in the store, not just any SLA row: a worker stopped between the
        # breach and its insert stores it only after its next start (the batch is not committed).
        breaches = "SELECT count() FROM sla_events FINAL WHERE kind = 'breach'"
        wait_for(lambda: query_store(tmp_path / "var", breaches)[0][0] >= n, 30, "the breaches stored")
    finally:
        second.stop()

    rows = query_store(
        tmp_path / "var",
        "SELECT kind, toUInt8(round(share * 10)) AS tenths, count(), uniqExact(message_id) FROM sla_events FINAL"
        " WHERE kind IN ('warning', 'breach') GROUP BY kind, tenths ORDER BY kind, tenths",
    )
    # each case: its 50 % and 80 % warnings and its breach, once each as analysts see them
    assert rows == [["breach", 10, n, n], ["warning", 5, n, n], ["warning", 8, n, n]]

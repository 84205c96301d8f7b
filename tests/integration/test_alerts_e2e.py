"""Alerts end to end: real workers, a real Prometheus and Alertmanager, a webhook that must hear them.

Faults are induced one after another, each through the real path, and each named alert must
reach the webhook as firing and then as resolved once the fault is over:

- dead letters: 60 records that are not JSON published to raw.webform the way `mcu ingest` does
  -> MCUDeadLettersGrowing, MCUDeadLetterRatioHigh (stage normalize);
- a store that refuses writes: a sink worker whose ClickHouse DSN is a port that drops every
  connection (as in test_faults.py), then restarted on the harness's working store
  -> MCUClickHouseInsertsFailing;
- the broker unreachable: a worker on a second broker of this test's own (deploy/kafka.sh on free
  ports, own MCU_VAR_DIR); that broker is stopped and started again, the shared one is never
  touched -> MCUKafkaUnreachable;
- a worker SIGKILLed, then started again on the same port -> MCUWorkerDown;
- an offset gap: the test hook MCU_TEST_DROP_MARKER drops marked records before any stream, the
  real offset-gap sensor counts the jump -> MCUStreamSkippedOffsets;
- an SLA breach: cases under the 1-minute test policy (tests/integration/data/fast_policies.yaml)
  breach after 60 s -> MCUOverdueSpike.

Rules run with every duration divided by 60 (tests/integration/alerting.py: fast_rules). Alerts
over counters may flap while a fault lasts (the sink's retry backoff grows past the compressed
5-second window), so "resolved" means: the last notification of that alert, after the fault
ended, is a resolved one.
"""

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.alerting import Monitoring, Webhook
from tests.integration.harness import ROOT, Worker, free_port, pipeline_env, publisher_of, wait_for
from tests.integration.test_faults import DroppingServer
from tests.integration.test_pipeline import good_records, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FAST_POLICIES = ROOT / "tests" / "integration" / "data" / "fast_policies.yaml"
DROP_MARKER = "mcu-test-drop-offset"
FIRE_TIMEOUT = 60
RESOLVE_TIMEOUT = 120
SETTLE = 8.0


@pytest.fixture
def second_broker(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A broker of this test's own, so that stopping it does not disturb the shared one on 9092."""
    env = {
        "MCU_KAFKA_PORT": str(free_port()),
        "MCU_KAFKA_CONTROLLER_PORT": str(free_port()),
        "MCU_VAR_DIR": str(tmp_path / "broker2"),
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
    }
    script = str(ROOT / "deploy" / "kafka.sh")
    subprocess.run([script, "start"], env=env, check=True, capture_output=True)
    env["script"] = script
    try:
        yield env
    finally:
        subprocess.run([script, "stop"], env=env, check=False, capture_output=True)


def _fired_and_resolved(
    monitoring: Monitoring, alert: str, fault_start: float, end_fault: Callable[[], object] | None, **labels: str
) -> None:
    """`alert` reaches the webhook firing; the fault ends; then its last notification is resolved.

    "Resolved" is checked once the fault is over and for at least SETTLE seconds after, with
    Prometheus itself showing the alert inactive: in compressed time an alert over a counter may
    already have flapped to resolved while the fault lasted (see the module docstring).
    """
    hook = monitoring.webhook
    wait_for(lambda: hook.saw(alert, "firing", fault_start, **labels), FIRE_TIMEOUT,
             lambda: f"{alert} {labels} firing at the webhook; received:\n{hook.summary()}")  # fmt: skip
    fired = hook.events(alert, fault_start, **labels)[0].at
    # A burst (no end action) is over as soon as it was sent; otherwise the fault ends here.
    ended = fault_start
    if end_fault is not None:
        ended = time.time()
        end_fault()
    selector = ",".join([f'alertname="{alert}"', 'alertstate="firing"', *(f'{k}="{v}"' for k, v in labels.items())])

    def resolved() -> bool:
        events = hook.events(alert, fault_start, **labels)
        return (
            events[-1].status == "resolved"
            and time.time() >= ended + SETTLE
            and not monitoring.query(f"ALERTS{{{selector}}}")
        )

    wait_for(resolved, RESOLVE_TIMEOUT, lambda: f"{alert} {labels} resolved; received:\n{hook.summary()}")
    last = hook.events(alert, fault_start, **labels)[-1].at
    print(f"  {alert}: firing {fired - fault_start:.0f}s after the fault began; resolved notification"
          f" {last - ended:+.0f}s from the fault's end")  # fmt: skip


def test_each_fault_reaches_the_webhook_firing_then_resolved(brokers, second_broker, tmp_path: Path):
    started = time.monotonic()
    # Worker A: every stage on the shared broker, the test hook on, SLA terms of one minute.
    env_a = pipeline_env(tmp_path / "a-var", brokers, MCU_TEST_DROP_MARKER=DROP_MARKER,
                         MCU_SLA_POLICIES_FILE=str(FAST_POLICIES))  # fmt: skip
    # Worker S: a second sink over A's topics (its own group and store), for the refusing store.
    env_s = {**pipeline_env(tmp_path / "s-var", brokers), "MCU_ROLES": "sink",
             "MCU_TOPIC_PREFIX": env_a["MCU_TOPIC_PREFIX"], "MCU_APP_ID": env_a["MCU_APP_ID"] + "-sink2"}  # fmt: skip
    # Worker K: normalize only, on the test's own broker.
    env_k = {**pipeline_env(tmp_path / "k-var", f"127.0.0.1:{second_broker['MCU_KAFKA_PORT']}"),
             "MCU_ROLES": "normalize"}  # fmt: skip
    refusing = DroppingServer()
    a = Worker(env_a, tmp_path / "a.log")
    s = Worker({**env_s, "MCU_CLICKHOUSE_DSN": f"http://127.0.0.1:{refusing.port}/default"}, tmp_path / "s.log")
    k = Worker(env_k, tmp_path / "k.log")
    hook = Webhook().start()
    monitoring = Monitoring(tmp_path / "monitoring", [f"127.0.0.1:{w.port}" for w in (a, s, k)], hook)
    monitoring.check()  # promtool check rules/config and amtool check-config on the generated files
    try:
        a.start()
        k.start()
        monitoring.start()
        a_target, s_target, k_target = (f"127.0.0.1:{w.port}" for w in (a, s, k))
        wait_for(lambda: len(monitoring.query('up{job="mcu-worker"} == 1')) == 2, 30, "Prometheus scraping A and K")
        print(f"\nset-up {time.monotonic() - started:.0f}s")

        print("dead letters")
        t0 = time.time()
        publish(env_a, [b"this is not json %d" % i for i in range(60)])
        for alert in ("MCUDeadLettersGrowing", "MCUDeadLetterRatioHigh"):
            _fired_and_resolved(monitoring, alert, t0, None, stage="normalize")

        print("a store that refuses writes")
        t0 = time.time()
        s.start()
        publish(env_a, good_records(3, prefix="store"))

        def store_accepts_writes() -> None:
            s.kill()  # a sink in its retry loop takes a minute to stop; its offsets are not committed
            s.env = {**env_s, "MCU_WEB_PORT": str(s.port)}  # the harness's own store, same target port
            s.start()

        _fired_and_resolved(monitoring, "MCUClickHouseInsertsFailing", t0, store_accepts_writes, table="cases")

        print("the broker unreachable")
        t0 = time.time()
        script = second_broker["script"]
        subprocess.run([script, "stop"], env=second_broker, check=True, capture_output=True)
        _fired_and_resolved(monitoring, "MCUKafkaUnreachable", t0,
                            lambda: subprocess.run([script, "start"], env=second_broker, check=True,
                                                   capture_output=True),
                            instance=k_target)  # fmt: skip

        print("a worker SIGKILLed")
        t0 = time.time()
        s.kill()
        _fired_and_resolved(monitoring, "MCUWorkerDown", t0, s.start, instance=s_target)

        print("an offset gap")
        t0 = time.time()
        with publisher_of(env_a) as publisher:
            before = a.metric("mcu_stage_processed_total", stage="normalize")
            publisher.publish("webform", json.dumps({"id": "gap-0", "text": "В Джубге нет воды"}).encode(),
                              source_id="gap")  # fmt: skip
            publisher.flush()
            wait_for(lambda: a.metric("mcu_stage_processed_total", stage="normalize") > before, 60, "gap-0")
            for i in range(3):  # same source id: same partition, right behind gap-0
                publisher.publish("webform", json.dumps({"id": f"gap-drop-{i}", "text": DROP_MARKER}).encode(),
                                  source_id="gap")  # fmt: skip
            publisher.publish("webform", json.dumps({"id": "gap-1", "text": "В Джубге нет света"}).encode(),
                              source_id="gap")  # fmt: skip
            publisher.flush()
        _fired_and_resolved(monitoring, "MCUStreamSkippedOffsets", t0, None, instance=a_target, stage="enrich")
        assert a.metric("mcu_stream_offset_gaps_total", stage="enrich") == 3

        print("an SLA breach")
        t0 = time.time()
        publish(env_a, good_records(8, prefix="sla-breach"))  # breach 60 s after intake
        wait_for(lambda: a.metric("mcu_sla_events_total", kind="breach") >= 8, 120, "8 breaches")
        _fired_and_resolved(monitoring, "MCUOverdueSpike", t0, None)
    finally:
        for w in (a, s, k):
            w.stop()
        monitoring.stop()
        hook.stop()
        refusing.close()
        print(f"wall time {time.monotonic() - started:.0f}s; webhook received:\n{hook.summary()}")

"""Throughput with one and with two stage workers, and recovery after one is killed.

Usage: .venv/bin/python bench/scale.py [--messages 20000]   (needs `deploy/kafka.sh start`)

Each run gets its own topics. A backlog of N messages is published first, then the workers
start, so the figure is how fast the workers drain it, not how fast one producer can write.
With the embedded store one sink worker owns ClickHouse (MCU_ROLES=sink) and the stage workers
(normalize, enrich, sla) scale out in their own consumer group.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e import bodies
from ingest.producer import RawPublisher
from tests.integration.harness import Worker, pipeline_env, settings_of, wait_for


def run(brokers: str, n: int, stage_workers: int, kill_after: float | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mcu-scale-") as tmp:
        base = pipeline_env(Path(tmp) / "sink", brokers, MCU_SINK_BATCH_SECONDS="0.2")
        app = base["MCU_APP_ID"]
        with RawPublisher(settings_of(base)) as publisher:
            for body in bodies(n, base["MCU_TOPIC_PREFIX"]):
                publisher.publish("webform", body)
        sink = Worker({**base, "MCU_ROLES": "sink", "MCU_APP_ID": f"{app}-sink"}, Path(tmp) / "sink.log").start()
        stage_env = {**base, "MCU_ROLES": "normalize,enrich,sla", "MCU_APP_ID": f"{app}-stages"}
        stages = [
            Worker({**stage_env, "MCU_VAR_DIR": str(Path(tmp) / f"w{i}")}, Path(tmp) / f"w{i}.log")
            for i in range(stage_workers)
        ]
        try:
            t0 = time.perf_counter()
            for w in stages:
                w.start()
            out: dict[str, float] = {}
            if kill_after is not None:
                wait_for(lambda: sink.counts()["cases"] >= kill_after * n, 600, "part of the backlog", 0.2)
                before = sink.counts()["cases"]
                survivor = stages[1]
                owned = survivor.metric("mcu_worker_assigned_partitions")
                t_kill = time.perf_counter()
                stages[0].kill()
                wait_for(lambda: survivor.metric("mcu_worker_assigned_partitions") > owned
                         and survivor.metric("mcu_worker_rebalancing") == 0, 120,
                         "the survivor to take over the dead worker's partitions", 0.2)  # fmt: skip
                out["takeover_s"] = time.perf_counter() - t_kill
                wait_for(lambda: sink.counts()["cases"] > before + 100, 120, "progress after the kill", 0.2)
                out["back_to_progress_s"] = time.perf_counter() - t_kill
            wait_for(lambda: sink.counts()["cases"] >= n, 900, f"{n} cases", 0.2)
            out["drain_s"] = time.perf_counter() - t0
            out["msg_per_s"] = n / out["drain_s"]
            return out
        finally:
            for w in [*stages, sink]:
                w.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    args = parser.parse_args()
    one = run(args.brokers, args.messages, 1)
    print(f"1 stage worker + sink: {args.messages} in {one['drain_s']:.1f} s = {one['msg_per_s']:,.0f} msg/s")
    two = run(args.brokers, args.messages, 2)
    print(f"2 stage workers + sink: {args.messages} in {two['drain_s']:.1f} s = {two['msg_per_s']:,.0f} msg/s")
    killed = run(args.brokers, args.messages, 2, kill_after=0.3)
    print(
        f"2 stage workers, one SIGKILLed at 30 %: survivor owns all partitions after {killed['takeover_s']:.1f} s,"
        f" rows flow again after {killed['back_to_progress_s']:.1f} s; all {args.messages} in"
        f" {killed['drain_s']:.1f} s = {killed['msg_per_s']:,.0f} msg/s"
    )


if __name__ == "__main__":
    main()

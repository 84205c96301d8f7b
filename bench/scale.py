"""Throughput with one and with two stage workers, and recovery after one of them or a broker is killed.

Usage: .venv/bin/python bench/scale.py [--messages 20000]   (needs `deploy/kafka.sh start`)
       .venv/bin/python bench/scale.py --cluster [--messages 5000]

With --cluster the runs go to a three-node cluster of the script's own (deploy/kafka.sh on free
ports, its own var dir, replication 3, min.insync.replicas 2; stopped at the end), and a further
run SIGKILLs the broker leading most `cases` partitions at 30 % of the backlog. Without it,
MCU_KAFKA_BROKERS (or --brokers) is used as it is, and the broker kill is skipped.

Each run gets its own topics. A backlog of N messages is published first, then the workers
start, so the figure is how fast the workers drain it, not how fast one producer can write.
With the embedded store one sink worker owns ClickHouse (MCU_ROLES=sink) and the stage workers
(normalize, enrich, sla) scale out in their own consumer group.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.e2e import bodies
from tests.integration import harness
from tests.integration.cluster import Cluster
from tests.integration.harness import Worker, pipeline_env, publisher_of, wait_for


def run(
    brokers: str,
    n: int,
    stage_workers: int,
    kill_after: float | None = None,
    cluster: Cluster | None = None,
    kill_broker_after: float | None = None,
) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="mcu-scale-") as tmp:
        extra = {"MCU_TOPIC_REPLICATION_FACTOR": "3"} if cluster else {}
        base = pipeline_env(Path(tmp) / "sink", brokers, MCU_SINK_BATCH_SECONDS="0.2", **extra)
        app = base["MCU_APP_ID"]
        with publisher_of(base) as publisher:
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
            if kill_broker_after is not None:
                assert cluster is not None
                wait_for(lambda: sink.counts()["cases"] >= kill_broker_after * n, 600, "part of the backlog", 0.2)
                cases = base["MCU_TOPIC_PREFIX"] + "cases"
                victim = cluster.busiest_leader(cases)
                before = sink.counts()["cases"]
                t_kill = time.perf_counter()
                cluster.sh("kill", "--node", str(victim))
                wait_for(lambda: victim not in cluster.leaders(cases).values(), 120, "new leaders", 0.2)
                out["new_leaders_s"] = time.perf_counter() - t_kill
                wait_for(lambda: sink.counts()["cases"] > before + 100, 300, "progress after the broker kill", 0.2)
                out["back_to_progress_s"] = time.perf_counter() - t_kill
            try:
                # After a broker kill, records whose inputs were committed may never arrive (see the
                # README): wait a bounded time and report how many are missing rather than hang.
                wait_for(
                    lambda: sink.counts()["cases"] >= n, 900 if kill_broker_after is None else 240, f"{n} cases", 0.2
                )
            except AssertionError:
                if kill_broker_after is None:
                    raise
                out["missing"] = n - sink.counts()["cases"]
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
    parser.add_argument("--cluster", action="store_true", help="start a 3-node cluster of its own for the runs")
    parser.add_argument("--runs", default="one,two,worker-kill,broker-kill", help="which runs, comma-separated")
    parser.add_argument("--clickhouse-url", default=os.environ.get("MCU_IT_CLICKHOUSE_URL", "http://127.0.0.1:8123"),
                        help="the ClickHouse server (deploy/clickhouse.sh); a database per run")  # fmt: skip
    args = parser.parse_args()
    harness.CLICKHOUSE["url"] = args.clickhouse_url
    runs = set(args.runs.split(","))
    n = args.messages
    with contextlib.ExitStack() as stack:
        cluster = None
        if args.cluster:
            var = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mcu-scale-cluster-")))
            cluster = Cluster(var)
            stack.callback(cluster.stop)
            t0 = time.perf_counter()
            cluster.start()
            args.brokers = cluster.bootstrap
            print(f"3-node cluster (replication 3, min.insync.replicas 2) up in {time.perf_counter() - t0:.1f} s")
        if "one" in runs:
            one = run(args.brokers, n, 1, cluster=cluster)
            print(f"1 stage worker + sink: {n} in {one['drain_s']:.1f} s = {one['msg_per_s']:,.0f} msg/s", flush=True)
        if "two" in runs:
            two = run(args.brokers, n, 2, cluster=cluster)
            print(f"2 stage workers + sink: {n} in {two['drain_s']:.1f} s = {two['msg_per_s']:,.0f} msg/s", flush=True)
        if "worker-kill" in runs:
            killed = run(args.brokers, n, 2, kill_after=0.3, cluster=cluster)
            print(
                f"2 stage workers, one SIGKILLed at 30 %: survivor owns all partitions after"
                f" {killed['takeover_s']:.1f} s,"
                f" rows flow again after {killed['back_to_progress_s']:.1f} s; all {n} in"
                f" {killed['drain_s']:.1f} s = {killed['msg_per_s']:,.0f} msg/s",
                flush=True,
            )
        if cluster is not None and "broker-kill" in runs:
            broker = run(args.brokers, n, 2, cluster=cluster, kill_broker_after=0.3)
            cluster.all_up()
            head = (
                f"2 stage workers, the broker leading most `cases` partitions SIGKILLed at 30 %: new leaders after"
                f" {broker['new_leaders_s']:.1f} s, rows flow again after {broker['back_to_progress_s']:.1f} s;"
            )
            if "missing" in broker:
                print(f"{head} {int(broker['missing'])} of {n} NEVER reached `cases` (waited 240 s)", flush=True)
            else:
                print(f"{head} all {n} in {broker['drain_s']:.1f} s = {broker['msg_per_s']:,.0f} msg/s", flush=True)


if __name__ == "__main__":
    main()

"""Does a burst of /reports delay intake? Intake-to-store latency with and without 100 report callers.

Usage: .venv/bin/python bench/edge.py [--seed 3000] [--probes 20] [--callers 100]   (needs the broker)

One worker on the real local broker (embedded store). After seeding the store, it posts probe
messages through POST /ingest/webform one at a time and times each from the 202 to the sink's row
counter (mcu_sink_rows_total, read from /metrics, which does not touch the store). First alone,
then while `--callers` clients send POST /reports back to back. The store has one thread shared
by reports and the sinks; the edge lets MCU_STORE_READ_CONCURRENCY report queries at a time and
answers 503 to the rest after MCU_STORE_READ_WAIT_SECONDS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from tests.integration.harness import TOKEN, Worker, pipeline_env, publisher_of, wait_for

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def sink_rows(worker: Worker) -> float:
    return worker.metric("mcu_sink_rows_total", table="cases")


async def probes(worker: Worker, n: int, tag: str) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=60) as http:
        for i in range(n):
            before = await asyncio.to_thread(sink_rows, worker)
            body = {"id": f"probe-{tag}-{i}", "text": f"[синтетика] В Джубге нет воды, проверка №{i}"}
            r = await http.post("/ingest/webform", json=body)
            assert r.status_code == 202, r.text
            t0 = time.perf_counter()
            while await asyncio.to_thread(sink_rows, worker) < before + 1:
                await asyncio.sleep(0.05)
            latencies.append(time.perf_counter() - t0)
            await asyncio.sleep(0.3)
    return latencies


async def report_callers(worker: Worker, callers: int, stop: asyncio.Event, answers: Counter[int]) -> None:
    async def one(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            r = await http.post("/reports", json={"kind": "breakdown", "by": "block,settlement,channel"})
            answers[r.status_code] += 1

    async with httpx.AsyncClient(base_url=worker.url, headers=AUTH, timeout=120,
                                 limits=httpx.Limits(max_connections=callers)) as http:  # fmt: skip
        await asyncio.gather(*(one(http) for _ in range(callers)))


async def loaded(worker: Worker, n: int, callers: int) -> tuple[list[float], Counter[int]]:
    stop, answers = asyncio.Event(), Counter[int]()
    load = asyncio.create_task(report_callers(worker, callers, stop, answers))
    await asyncio.sleep(2)
    latencies = await probes(worker, n, "loaded")
    stop.set()
    await load
    return latencies, answers


def summary(name: str, xs: list[float]) -> str:
    return f"{name}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s over {len(xs)} probes"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", default="127.0.0.1:9092")
    ap.add_argument("--seed", type=int, default=3000)
    ap.add_argument("--probes", type=int, default=20)
    ap.add_argument("--callers", type=int, default=100)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = pipeline_env(Path(tmp) / "var", args.brokers, MCU_SINK_BATCH_SECONDS="0.2",
                           MCU_REPORTS_RATE_LIMIT="1000000/minute")  # fmt: skip
        worker = Worker(env, Path(tmp) / "worker.log").start()
        try:
            with publisher_of(env) as publisher:
                for i in range(args.seed):
                    body = {"id": f"seed-{i}", "text": f"[синтетика] Не вывозят мусор в Туапсе, улица {i % 40}"}
                    publisher.publish("webform", json.dumps(body, ensure_ascii=False).encode())
            wait_for(lambda: sink_rows(worker) >= args.seed, 600, "the seed in the store")
            alone = asyncio.run(probes(worker, args.probes, "alone"))
            under, answers = asyncio.run(loaded(worker, args.probes, args.callers))
        finally:
            worker.stop()
    print(summary("intake→store, no reports", alone))
    print(summary(f"intake→store, {args.callers} report callers", under))
    print(f"report answers during the load: {dict(sorted(answers.items()))}")


if __name__ == "__main__":
    main()

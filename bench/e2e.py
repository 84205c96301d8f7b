"""End-to-end throughput and ingest→ClickHouse latency on the real local broker and store.

    .venv/bin/python bench/e2e.py [--messages 20000]       # backlog: three rates side by side, then the ratio
    .venv/bin/python bench/e2e.py --rate 500 --seconds 60  # steady load: p50/p99 ingest→ClickHouse

Needs `deploy/kafka.sh start` and a ClickHouse server (`deploy/clickhouse.sh start`, or
--clickhouse-url); each run gets its own topics, consumer groups and database; topics and database
are dropped at the end.

The backlog run measures, in one run over the same synthetic records:
- the pipeline: one worker, every stage, publish → every case in ClickHouse;
- the transport's ceiling: a bare aiokafka consume→produce pass over the same raw topic;
- the enrichment bound: normalise + classify + route + serialise the same records in one
  process pinned to one core (what one worker's CPU-bound stage can do at most);
and prints last `e2e/enrichment ratio: X` (pipeline rate / enrichment rate).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The repository instead of bench/ itself: bench/sla_calendar.py would shadow the standard library's.
sys.path.remove(sys.path[0])
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration import harness
from tests.integration.harness import Worker, pipeline_env, query_store, read_metric, wait_for

TEXTS = [
    "В Джубге на улице Советской нет воды третий день, когда дадут?",
    "Прошу отремонтировать дорогу в посёлке Новомихайловский, ямы по колено после дождей",
    "Не вывозят мусор в Туапсе на улице Карла Маркса уже неделю, контейнеры переполнены",
    "В Шепси бродячие собаки нападают на детей возле школы, примите меры",
    "Спасибо администрации Небугского поселения за новую детскую площадку во дворе",
]


def bodies(n: int, run: str) -> list[bytes]:
    return [
        json.dumps({"id": f"{run}-{i}", "text": f"{TEXTS[i % len(TEXTS)]} №{i}", "synthetic": True},
                   ensure_ascii=False).encode()
        for i in range(n)
    ]  # fmt: skip


async def pass_through(brokers: str, source: str, sink: str, n: int) -> float:
    """Consume n records from `source` and produce each to `sink`; seconds from first to last."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=brokers, auto_offset_reset="earliest",
                                group_id=f"ceiling-{source}", enable_auto_commit=True)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    seen, started = 0, None
    try:
        async for record in consumer:
            started = started or time.perf_counter()
            await producer.send(sink, key=record.key, value=record.value, headers=list(record.headers))
            seen += 1
            if seen >= n:
                break
        await producer.flush()
        return time.perf_counter() - (started or time.perf_counter())
    finally:
        await consumer.stop()
        await producer.stop()


def enrichment_only(n: int) -> tuple[float, float]:
    """Messages per CPU second and per wall second of normalise + classify + route + serialise, on one core.

    Per CPU second is what one core delivers; on a shared machine the wall figure is lower by
    however much of the core others took.
    """
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from datetime import UTC, datetime

    from pydantic import TypeAdapter

    from classify.enricher import Enricher
    from ingest.normalize import normalize_record
    from kafkaio.wire import decode_headers, derive_source_id, encode_headers
    from schemas import Case

    enricher = Enricher.load()
    dump = TypeAdapter(Case).dump_json
    data = bodies(n, "enrich-only")

    def one_pass(records: list[bytes], tag: str) -> None:
        now = datetime.now(UTC)
        for body in records:
            # headers as the publisher writes them and the agent reads them (decoded per record there too)
            headers = decode_headers(encode_headers("webform", tag + derive_source_id(body), now, now))
            m = normalize_record(body, headers, "raw.webform", max_bytes=1 << 20, author_key=b"bench",
                                 max_text_chars=20_000, now=now)  # fmt: skip
            c, r = enricher.enrich(m)
            dump(Case(message=m, classification=c, routing=r, enriched_at=now))

    one_pass(data[: min(n, 2000)], "warm")  # as a running worker's caches would be
    t0, c0 = time.perf_counter(), time.process_time()
    one_pass(data, "timed")
    return n / (time.process_time() - c0), n / (time.perf_counter() - t0)


class Trace:
    """--trace: once a second, what each stage finished since the last sample and the worker's CPU.

    Shows where a backlog waits: a stage whose count stands still while another runs is starved,
    a worker far under 100 % CPU while records wait is waiting on something other than its code.
    """

    STAGES = ("enrich", "sla", "sink")

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Trace:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _cpu(self) -> float:
        assert self.worker.proc is not None
        fields = Path(f"/proc/{self.worker.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[float, float, dict[str, float], float]:
        text = self.worker.scrape()
        counts = {s: read_metric(text, "mcu_stage_processed_total", stage=s) for s in self.STAGES}
        rows = read_metric(text, "mcu_sink_rows_total", table="cases")
        return time.monotonic(), self._cpu(), counts, rows

    def _run(self) -> None:
        self.lines.append("  t s | worker CPU % | " + " | ".join(f"{s}/s" for s in self.STAGES) + " | cases rows/s")
        last = None
        start = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                now = self._sample()
            except Exception:  # the worker is starting or stopping
                continue
            if last is not None:
                dt = now[0] - last[0]
                rates = " | ".join(f"{(now[2][s] - last[2][s]) / dt:7,.0f}" for s in self.STAGES)
                self.lines.append(f"{now[0] - start:5.0f} | {100 * (now[1] - last[1]) / dt:12.0f} | {rates}"
                                  f" | {(now[3] - last[3]) / dt:7,.0f}")  # fmt: skip
            last = now


def _assigned(workers: list[Worker]) -> int:
    """How many of the workers hold partitions after the group's rebalance."""
    return sum(1 for w in workers if read_metric(w.scrape(), "mcu_worker_assigned_partitions") > 0)


async def last_first_write(brokers: str, topic: str, keys: int) -> float:
    """The latest of the keys' first writes to a changelog, epoch seconds (the record timestamps)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=brokers, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    first: dict[bytes | None, int] = {}
    try:
        deadline = time.monotonic() + 120
        while len(first) < keys and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                for r in records:
                    first.setdefault(r.key, r.timestamp)
    finally:
        await consumer.stop()
    if len(first) < keys:
        raise RuntimeError(f"{topic}: {len(first)} of {keys} keys written")
    return max(first.values()) / 1000


@contextmanager
def _admin(brokers: str) -> Iterator[Any]:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=brokers)
    try:
        yield admin
    finally:
        admin.close()


def topic_count(brokers: str) -> int:
    """Topics on the broker: a run on a broker that holds hundreds left by tests is a few per cent
    slower (README, issue 14 sixth round), so the figure says what it was measured on."""
    with _admin(brokers) as admin:
        return len(admin.list_topics())


def drop_topics(brokers: str, *prefixes: str) -> None:
    """The run's topics, deleted at the end: leftovers of earlier runs slow the next ones."""
    with _admin(brokers) as admin:
        mine = [t for t in admin.list_topics() if t.startswith(prefixes)]
        if mine:
            admin.delete_topics(mine, timeout_ms=60_000)


def _store_env(var: Path, brokers: str, **extra: str) -> dict[str, str]:
    return pipeline_env(var, brokers, **extra)


def backlog(args: argparse.Namespace) -> None:
    n = args.messages
    topics_before = topic_count(args.brokers)
    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        var = Path(tmp) / "var"
        env = _store_env(var, args.brokers)
        # More workers: one consumer group, the partitions shared out; each its own state directory.
        workers = [
            Worker({**env, "MCU_VAR_DIR": str(var) + ("" if i == 0 else f"-{i}")}, Path(tmp) / f"worker{i}.log")
            for i in range(args.workers)
        ]
        for w in workers:
            w.start()
        worker = workers[0]
        if len(workers) > 1:  # every partition assigned before the clock starts
            wait_for(lambda: _assigned(workers) == len(workers), 120, "partitions on every worker")
        trace = Trace(worker).start() if args.trace else None
        data = bodies(n, env["MCU_TOPIC_PREFIX"])
        try:
            t0, t0_wall = time.perf_counter(), time.time()
            with harness.publisher_of(env) as publisher:
                for body in data:
                    publisher.publish("webform", body)
            t_published = time.perf_counter() - t0
            # Polled once a second (each poll is a query through the worker, which costs it CPU); the
            # end is the last insert's time on the store's clock, this machine's clock too.
            wait_for(lambda: worker.counts()["cases"] >= n, 1800, f"{n} cases", interval=1.0)
            # Every stage: the SLA stage reads `cases` too and may still be behind the sink; its end
            # counts if it is the later one. It is when the stage wrote the last case's first timer
            # state (the changelog record's time, set on this machine's clock when the stage hands
            # its batch to the producer), not when a poll saw it: the polls above overstate by up
            # to their interval.
            sla_done = lambda: sum(read_metric(w.scrape(), "mcu_stage_processed_total", stage="sla") for w in workers)  # noqa: E731
            wait_for(lambda: sla_done() >= n, 1800, f"SLA stage through {n} cases", interval=0.5)
            t_sla = asyncio.run(last_first_write(args.brokers, f"{env['MCU_APP_ID']}-sla_timers-changelog", n))
        finally:
            if trace is not None:
                trace.stop()
                print("\n".join(trace.lines))
            for w in workers:
                w.stop()
        p50, p99, span, last = query_store(
            var,
            "SELECT quantileExact(0.5)(dateDiff('millisecond', fetched_at, inserted_at)),"
            " quantileExact(0.99)(dateDiff('millisecond', fetched_at, inserted_at)),"
            " dateDiff('millisecond', min(fetched_at), max(inserted_at)), toUnixTimestamp64Milli(max(inserted_at))"
            " FROM cases FINAL",
        )[0]
        t_cases = int(last) / 1000 - t0_wall
        t_total = max(t_cases, t_sla - t0_wall)
        raw = env["MCU_TOPIC_PREFIX"] + "raw.webform"
        try:
            ceiling = asyncio.run(pass_through(args.brokers, raw, env["MCU_TOPIC_PREFIX"] + "ceiling", n))
        finally:
            drop_topics(args.brokers, env["MCU_TOPIC_PREFIX"], env["MCU_APP_ID"] + "-")
    enrich_out = subprocess.run(
        [sys.executable, __file__, "--enrichment-only", str(n)], capture_output=True, text=True, check=True
    )
    enrich_rate, enrich_wall = map(float, enrich_out.stdout.split()[-2:])
    pipeline_rate = n / t_total
    print(f"messages:                           {n} (synthetic)")
    print(f"publish (kafka-python, acks=all):   {t_published:.2f} s = {n / t_published:,.0f} msg/s")
    who = "one worker" if args.workers == 1 else f"{args.workers} workers"
    print(f"pipeline publish→all in ClickHouse: {t_total:.2f} s = {pipeline_rate:,.0f} msg/s ({who}, all stages)")
    print(f"  every case in ClickHouse after {t_cases:.2f} s; SLA stage through all after {t_sla - t0_wall:.2f} s")
    print(f"  first fetch→last insert (store clock): {int(span) / 1000:.2f} s")
    print(f"  ingest→ClickHouse latency of the backlog: p50 {int(p50)} ms, p99 {int(p99)} ms")
    print(f"bare consume→produce (aiokafka, acks=all): {ceiling:.2f} s = {n / ceiling:,.0f} msg/s")
    print(f"enrichment only, one core (normalise+classify+route+serialise): {enrich_rate:,.0f} msg/s per CPU second"
          f" ({enrich_wall:,.0f} msg/s wall)")  # fmt: skip
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores;"
          f" {topics_before} topics on the broker before the run")  # fmt: skip
    print(f"e2e/enrichment ratio: {pipeline_rate / enrich_rate:.2f}")


def steady(args: argparse.Namespace) -> None:
    total = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        var = Path(tmp) / "var"
        env = _store_env(var, args.brokers)
        worker = Worker(env, Path(tmp) / "worker.log").start()
        data = bodies(total, env["MCU_TOPIC_PREFIX"])
        late = 0.0
        try:
            with harness.publisher_of(env) as publisher:
                start = time.perf_counter()
                for i, body in enumerate(data):
                    due = start + i / args.rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    else:
                        late = max(late, -wait)
                    publisher.publish("webform", body)
                    if i % 50 == 0:
                        publisher.flush()  # a steady trickle, not one burst at the end
            wait_for(lambda: worker.counts()["cases"] >= total, 600, f"{total} cases", interval=0.5)
            t_cases = time.perf_counter()
            sla = lambda: read_metric(worker.scrape(), "mcu_stage_processed_total", stage="sla")  # noqa: E731
            wait_for(lambda: sla() >= total, 600, f"SLA stage through {total} cases", interval=0.5)
            sla_after = time.perf_counter() - t_cases
        finally:
            worker.stop()
            drop_topics(args.brokers, env["MCU_TOPIC_PREFIX"], env["MCU_APP_ID"] + "-")
        p50, p99, worst = query_store(
            var,
            "SELECT quantileExact(0.5)(dateDiff('millisecond', fetched_at, inserted_at)),"
            " quantileExact(0.99)(dateDiff('millisecond', fetched_at, inserted_at)),"
            " max(dateDiff('millisecond', fetched_at, inserted_at)) FROM cases FINAL",
        )[0]
    print(f"steady load: {args.rate:g} msg/s for {args.seconds:g} s = {total} messages (synthetic), one worker")
    print(f"publisher behind schedule at most {late:.2f} s")
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    print(f"ingest→ClickHouse: p50 {int(p50) / 1000:.2f} s, p99 {int(p99) / 1000:.2f} s, max {int(worst) / 1000:.2f} s")
    print(f"SLA stage through every case {sla_after:.2f} s after the last case was stored (polled every 0.5 s)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000, help="backlog size")
    parser.add_argument("--rate", type=float, help="steady mode: messages per second offered")
    parser.add_argument("--seconds", type=float, default=60, help="steady mode: how long")
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--clickhouse-url", default=os.environ.get("MCU_IT_CLICKHOUSE_URL", "http://127.0.0.1:8123"))
    parser.add_argument("--workers", type=int, default=1, help="backlog mode: workers in one consumer group")
    parser.add_argument("--trace", action="store_true", help="backlog mode: print per-second stage rates and CPU")
    parser.add_argument("--enrichment-only", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.enrichment_only:
        print(*enrichment_only(args.enrichment_only))
        return
    harness.CLICKHOUSE["url"] = args.clickhouse_url
    try:
        steady(args) if args.rate else backlog(args)
    finally:
        harness.drop_databases(args.clickhouse_url)


if __name__ == "__main__":
    main()

"""End-to-end throughput and ingest→ClickHouse latency on the real local broker and store.

    .venv/bin/python bench/e2e.py [--messages 20000]       # backlog: three rates side by side, then the ratio
    .venv/bin/python bench/e2e.py --rate 500 --seconds 60  # steady load: p50/p99 ingest→ClickHouse

Needs `deploy/kafka.sh start` and a ClickHouse server (`deploy/clickhouse.sh start`, or
--clickhouse-url); each run gets its own topics, consumer group and database, dropped at the end.

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
import time
from pathlib import Path

# The repository instead of bench/ itself: bench/sla_calendar.py would shadow the standard library's.
sys.path.remove(sys.path[0])
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.integration import harness
from tests.integration.harness import Worker, pipeline_env, query_store, wait_for

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


def _store_env(var: Path, brokers: str, **extra: str) -> dict[str, str]:
    return pipeline_env(var, brokers, **extra)


def backlog(args: argparse.Namespace) -> None:
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        var = Path(tmp) / "var"
        env = _store_env(var, args.brokers)
        worker = Worker(env, Path(tmp) / "worker.log").start()
        data = bodies(n, env["MCU_TOPIC_PREFIX"])
        try:
            t0 = time.perf_counter()
            with harness.publisher_of(env) as publisher:
                for body in data:
                    publisher.publish("webform", body)
            t_published = time.perf_counter() - t0
            wait_for(lambda: worker.counts()["cases"] >= n, 1800, f"{n} cases", interval=0.2)
            t_total = time.perf_counter() - t0
        finally:
            worker.stop()
        p50, p99, span = query_store(
            var,
            "SELECT quantileExact(0.5)(dateDiff('millisecond', fetched_at, inserted_at)),"
            " quantileExact(0.99)(dateDiff('millisecond', fetched_at, inserted_at)),"
            " dateDiff('millisecond', min(fetched_at), max(inserted_at)) FROM cases FINAL",
        )[0]
        raw = env["MCU_TOPIC_PREFIX"] + "raw.webform"
        ceiling = asyncio.run(pass_through(args.brokers, raw, env["MCU_TOPIC_PREFIX"] + "ceiling", n))
    enrich_out = subprocess.run(
        [sys.executable, __file__, "--enrichment-only", str(n)], capture_output=True, text=True, check=True
    )
    enrich_rate, enrich_wall = map(float, enrich_out.stdout.split()[-2:])
    pipeline_rate = n / t_total
    print(f"messages:                           {n} (synthetic)")
    print(f"publish (kafka-python, acks=all):   {t_published:.2f} s = {n / t_published:,.0f} msg/s")
    print(f"pipeline publish→all in ClickHouse: {t_total:.2f} s = {pipeline_rate:,.0f} msg/s (one worker, all stages)")
    print(f"  first fetch→last insert (store clock): {int(span) / 1000:.2f} s")
    print(f"  ingest→ClickHouse latency of the backlog: p50 {int(p50)} ms, p99 {int(p99)} ms")
    print(f"bare consume→produce (aiokafka, acks=all): {ceiling:.2f} s = {n / ceiling:,.0f} msg/s")
    print(f"enrichment only, one core (normalise+classify+route+serialise): {enrich_rate:,.0f} msg/s per CPU second"
          f" ({enrich_wall:,.0f} msg/s wall)")  # fmt: skip
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
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
        finally:
            worker.stop()
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000, help="backlog size")
    parser.add_argument("--rate", type=float, help="steady mode: messages per second offered")
    parser.add_argument("--seconds", type=float, default=60, help="steady mode: how long")
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--clickhouse-url", default=os.environ.get("MCU_IT_CLICKHOUSE_URL", "http://127.0.0.1:8123"))
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

"""End-to-end throughput and ingest→ClickHouse latency on the real local broker.

Usage: .venv/bin/python bench/e2e.py [--messages 20000]   (needs `deploy/kafka.sh start`)

Next to the pipeline it runs a bare consume→produce pass-through (aiokafka, the client Faust
itself uses) over the same records on the same broker: the transport's ceiling on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from kafkaio.producer import RawPublisher
from tests.integration.harness import Worker, pipeline_env, query_store, settings_of, wait_for

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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    args = parser.parse_args()
    n = args.messages

    with tempfile.TemporaryDirectory(prefix="mcu-bench-") as tmp:
        var = Path(tmp) / "var"
        env = pipeline_env(var, args.brokers, MCU_SINK_BATCH_SECONDS="0.2")
        settings = settings_of(env)
        worker = Worker(env, Path(tmp) / "worker.log").start()
        data = bodies(n, env["MCU_TOPIC_PREFIX"])
        try:
            t0 = time.perf_counter()
            with RawPublisher(settings.kafka, settings.topics) as publisher:
                for body in data:
                    publisher.publish("webform", body)
            t_published = time.perf_counter() - t0
            wait_for(lambda: worker.counts()["cases"] >= n, 600, f"{n} cases", interval=0.2)
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

    print(f"messages:                        {n}")
    print(f"publish (kafka-python, acks=all): {t_published:.2f} s = {n / t_published:,.0f} msg/s")
    print(f"pipeline publish→all in ClickHouse: {t_total:.2f} s = {n / t_total:,.0f} msg/s")
    print(f"  first fetch→last insert (store clock): {int(span) / 1000:.2f} s")
    print(f"ingest→ClickHouse latency: p50 {int(p50)} ms, p99 {int(p99)} ms")
    print(f"ceiling, bare consume→produce (aiokafka, acks=all): {ceiling:.2f} s = {n / ceiling:,.0f} msg/s")


if __name__ == "__main__":
    main()

"""Replay throughput: N raw records stored in Kafka → `mcu replay`'s path → ClickHouse.

Usage: .venv/bin/python bench/replay.py [--messages 100000] [--clickhouse-url http://127.0.0.1:8123]
(needs `deploy/kafka.sh start` and `deploy/clickhouse.sh start`)

It publishes N synthetic records to raw topics of their own (a fresh topic prefix), then runs
the replay twice into a fresh database: the first run writes every case (an empty store: the
most work), the second finds every case unchanged (reads, classifies, compares, writes nothing).
Printed per run: seconds and records per second, and the share of time in classify + route. Topics
and database are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import clickhouse_connect

from classify.enricher import Enricher
from kafkaio import clients
from kafkaio.producer import RawPublisher
from kafkaio.topic_admin import ensure_topics
from mcu import replay as replay_mod
from mcu.replay import Limits, Progress, Replay, plan, read_planned
from mcu.settings import Settings
from schemas.topics import RAW_TOPICS
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.preflight import connect_checked

TEXTS = [
    "В Джубге на улице Советской нет воды третий день, когда дадут?",
    "Прошу отремонтировать дорогу в посёлке Новомихайловский, ямы по колено после дождей",
    "Не вывозят мусор в Туапсе на улице Карла Маркса уже неделю, контейнеры переполнены",
    "В Шепси бродячие собаки нападают на детей возле школы, примите меры",
    "Спасибо администрации Небугского поселения за новую детскую площадку во дворе",
    "На улице Звездной в Тенгинке второй вечер не горят фонари, дети идут из школы в темноте",
    "Автобус 120 не пришёл утром в Лермонтово, люди опоздали на работу",
]
CHANNELS = ["webform", "vk", "telegram", "pos"]


def body(i: int, run: str, channel: str) -> bytes:
    text = f"{TEXTS[i % len(TEXTS)]} №{i}"
    if channel == "vk":
        payload = {"owner_id": -1, "post_id": 7, "id": i, "text": text, "from_id": i % 5000, "date": 1767225600 + i}
    elif channel == "telegram":
        message = {"message_id": i, "text": text, "from": {"id": i % 5000}, "chat": {"id": 1, "type": "private"},
                   "date": 1767225600 + i}  # fmt: skip
        payload = {"update_id": i, "message": message}
    else:
        payload = {"id": f"{run}-{i}", "text": text, "author": f"a{i % 5000}"}
    return json.dumps({**payload, "synthetic": True}, ensure_ascii=False).encode()


def run_once(settings: Settings, client: object, enricher: Enricher, batch: int) -> tuple[Progress, float]:
    limits = Limits(
        b"bench-key", settings.intake.max_payload_bytes, settings.intake.max_text_chars, settings.topics.prefix
    )
    spent = {"enrich": 0.0}
    inner = replay_mod.enrich_messages

    def timed(*a, **k):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return inner(*a, **k)
        finally:
            spent["enrich"] += time.perf_counter() - t

    replay_mod.enrich_messages = timed
    consumer = clients.consumer(settings.kafka, group_id=None, enable_auto_commit=False, max_poll_records=batch,
                                max_partition_fetch_bytes=8 << 20, fetch_max_bytes=32 << 20)  # fmt: skip
    try:
        run = Replay(client, enricher, limits)  # type: ignore[arg-type]
        ranges = plan(consumer, [settings.topics.prefix + t for t in RAW_TOPICS], None)
        progress = Progress(total=sum(e - s for s, e in ranges.values()))
        for records in read_planned(consumer, ranges, batch):
            run.batch(records, progress)
    finally:
        consumer.close()
        replay_mod.enrich_messages = inner
    return progress, spent["enrich"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    parser.add_argument("--clickhouse-url", default=os.environ.get("MCU_IT_CLICKHOUSE_URL", "http://127.0.0.1:8123"))
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    db = f"bench_replay_{run}"
    clickhouse_connect.get_client(dsn=args.clickhouse_url + "/default").command(f"CREATE DATABASE {db}")
    settings = Settings.from_env(kafka_brokers=args.brokers, topic_prefix=f"benchreplay{run}.",
                        clickhouse_dsn=f"{args.clickhouse_url}/{db}")  # fmt: skip
    created = ensure_topics(settings.kafka, settings.topics)
    try:
        t0 = time.perf_counter()
        with RawPublisher(settings.kafka, settings.topics) as publisher:
            for i in range(args.messages):
                channel = CHANNELS[i % len(CHANNELS)]
                publisher.publish(channel, body(i, run, channel))
        print(f"published {args.messages} records in {time.perf_counter() - t0:.1f} s", flush=True)
        client = connect_checked(settings.store.resolved_dsn)
        migrate(client, None)
        t0 = time.perf_counter()
        enricher = Enricher.load()
        print(f"enricher loaded in {time.perf_counter() - t0:.1f} s ({enricher.model_version})", flush=True)
        for name in ("first run (empty store: every case written)", "second run (nothing changed: nothing written)"):
            t0 = time.perf_counter()
            progress, enrich_s = run_once(settings, client, enricher, args.batch_size)
            took = time.perf_counter() - t0
            print(
                f"{name}: {progress.read} records in {took:.1f} s = {progress.read / took:,.0f} records/s; "
                f"written {progress.written}, unchanged {progress.unchanged}, refused {dict(progress.refused)}; "
                f"classify+route {enrich_s:.1f} s ({100 * enrich_s / took:.0f} %)",
                flush=True,
            )
    finally:
        clickhouse_connect.get_client(dsn=args.clickhouse_url + "/default").command(f"DROP DATABASE IF EXISTS {db}")
        admin = clients.admin(settings.kafka)
        try:
            admin.delete_topics(created)
        finally:
            admin.close()


if __name__ == "__main__":
    main()

"""How long a worker takes over SLA partitions: restoring the timers' changelog from the real broker.

A worker that is given SLA partitions (start, fail-over, scaling) reads their changelog before it
handles any of their records (kafkaio/changelog_table.py). This fills a compacted topic with N
SYNTHETIC states (message ids of made-up cases, values of the size bench/sla.py measured for real
timer states, 186 B), then times ``ChangelogTable.restore`` over every partition (what every
rebalance costs the worker that gets them).

    deploy/kafka.sh start
    .venv/bin/python bench/sla_restore.py [--n 200000] [--partitions 12]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from kafkaio import KafkaSettings  # noqa: E402
from kafkaio.changelog_table import ChangelogTable  # noqa: E402

STATE_BYTES = 186


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run(n: int, partitions: int, brokers: str) -> None:
    kafka = KafkaSettings(brokers=brokers)
    topic = f"bench-sla-restore-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})])
        producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", linger_ms=20, max_batch_size=512 * 1024)
        await producer.start()
        started = time.monotonic()
        try:
            value = b"x" * STATE_BYTES
            futures = [await producer.send(topic, value, key=f"webform:{uuid.uuid4()}".encode()) for _ in range(n)]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        print(f"filled {topic}: {n:,} synthetic states of {STATE_BYTES} B in {time.monotonic() - started:.1f} s")

        table = ChangelogTable(topic, partitions)
        rss = _rss_mib()
        started = time.monotonic()
        read = await table.restore(kafka, range(partitions))
        took = time.monotonic() - started
        print(f"restore of {partitions} partitions: {read:,} records, {len(table):,} keys in {took:.2f} s "
              f"= {read / took:,.0f} records/s; peak RSS +{_rss_mib() - rss:.0f} MiB")  # fmt: skip

    finally:
        await admin.delete_topics([topic])
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000, help="states in the changelog")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    args = parser.parse_args()
    asyncio.run(run(args.n, args.partitions, args.brokers))


if __name__ == "__main__":
    main()

"""What handing a record to aiokafka costs the worker: per-record ``send`` against record batches.

The batch stages send two or three records per message (a case, the SLA timers' changelog write,
dead letters). This times, on the real local broker, the CPU one process spends per record for
N SYNTHETIC keyed records of a case's size (1.3 KB) into a 12-partition topic, acks=all and
idempotence as the worker's producer:

- ``send`` per record with aiokafka's default 16 KiB batches (the worker before 5 Dec);
- ``send`` per record with 256 KiB batches (mcu/app.py, PRODUCER_BATCH_BYTES);
- one record batch per partition (``create_batch``/``send_batch``), the partition from
  kafkaio/partitioner.py, as mcu/agents/stage.py hands a batch's outputs over;
- the same with aiokafka's pure-Python murmur2 for the partition, to show what the C one saves.

    deploy/kafka.sh start
    .venv/bin/python bench/producer.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.partitioner import murmur2

from kafkaio.partitioner import partition_of

PARTITIONS = 12
VALUE = b"x" * 1300


async def per_record(brokers: str, topic: str, keys: list[bytes], batch_bytes: int) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", enable_idempotence=True,
                                max_batch_size=batch_bytes)  # fmt: skip
    await producer.start()
    try:
        await producer.send_and_wait(topic, VALUE, key=b"warm-up")
        started = time.process_time()
        futures = [await producer.send(topic, VALUE, key=k) for k in keys]
        await asyncio.gather(*futures)
        return (time.process_time() - started) / len(keys) * 1e6
    finally:
        await producer.stop()


async def batched(brokers: str, topic: str, keys: list[bytes], partition: Callable[[bytes, int], int]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=brokers, acks="all", enable_idempotence=True,
                                max_batch_size=256 * 1024)  # fmt: skip
    await producer.start()
    try:
        await producer.send_and_wait(topic, VALUE, key=b"warm-up")
        started = time.process_time()
        by_partition: dict[int, list[bytes]] = {}
        for k in keys:
            by_partition.setdefault(partition(k, PARTITIONS), []).append(k)
        futures = []
        for p, group in by_partition.items():
            batch = producer.create_batch()
            for k in group:
                if batch.append(key=k, value=VALUE, timestamp=None) is None:
                    batch.close()
                    futures.append(await producer.send_batch(batch, topic, partition=p))
                    batch = producer.create_batch()
                    batch.append(key=k, value=VALUE, timestamp=None)
            batch.close()
            futures.append(await producer.send_batch(batch, topic, partition=p))
        await asyncio.gather(*futures)
        return (time.process_time() - started) / len(keys) * 1e6
    finally:
        await producer.stop()


def pure_python(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def main(brokers: str, n: int) -> None:
    topic = f"bench-producer-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=brokers)
    await admin.start()
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    keys = [str(uuid.uuid4()).encode() for _ in range(n)]
    try:
        print(f"{n} synthetic records of {len(VALUE)} B, {PARTITIONS} partitions, acks=all + idempotence")
        print("CPU µs a record:")
        print(f"  send per record, 16 KiB batches:         {await per_record(brokers, topic, keys, 16 * 1024):6.1f}")
        print(f"  send per record, 256 KiB batches:        {await per_record(brokers, topic, keys, 256 * 1024):6.1f}")
        print(f"  record batch per partition, C murmur2:   {await batched(brokers, topic, keys, partition_of):6.1f}")
        print(f"  record batch per partition, Python one:  {await batched(brokers, topic, keys, pure_python):6.1f}")
    finally:
        await admin.delete_topics([topic])
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--brokers", default=os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092"))
    args = parser.parse_args()
    asyncio.run(main(args.brokers, args.n))

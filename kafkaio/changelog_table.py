"""A stage's keyed state in memory, backed by a compacted changelog topic: state that outlives its worker.

The SLA timers need a table that follows the input partitions from worker to worker. Faust's table
did that at the price of Faust's per-record stream path; this one is driven by the batch stage
that owns the partitions (kafkaio/batch_consumer.py), and is stricter about when a write is safe.

Contract:

- a key's partition is Kafka's default partitioner's (murmur2 of the key), the same as that of the
  input records keyed alike, so changelog partition p holds exactly the state of input partition p;
- ``restore(p…)`` reads those changelog partitions from their beginning to the end offsets they had
  when it began (a tombstone deletes), and only then are they owned; the stage handles no record of
  a partition before that;
- a write (set or delete) of an owned key is kept as pending; ``take_writes()`` hands the stage the
  last value of every key written since, which the stage sends *with the batch that caused them*,
  so input is committed only after its state is on the brokers (Faust sent changelog records
  unconfirmed, ``acks=False``);
- a write of a key whose partition is not owned (a timer tick finishing after a rebalance took the
  partition away) is dropped and counted: the partition's new owner holds the newer state;
- ``drop(p…)`` forgets revoked partitions, after the stage confirmed their writes. A partition
  assigned again is read again: keeping it would be right only if nobody wrote to its changelog
  meanwhile, and a worker dropped from the group (session timeout) learns of the revocation after
  the next owner has written. Reading costs ≈ 2.7 s per million states (bench/sla_restore.py).

The key's partition is computed only for a key the table does not hold: a held key's partition is
owned by construction, since ``drop`` removes every key of a partition that stops being owned.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, MutableMapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from kafkaio.partitioner import kafka_partition
from kafkaio.security import KafkaSettings, client_options

log = logging.getLogger(__name__)
RESTORE_FETCH_MS = 500


class ChangelogTable(MutableMapping[str, bytes]):
    def __init__(self, topic: str, partitions: int) -> None:
        self.topic = topic
        self.partitions = partitions
        self.owned: set[int] = set()
        self.refused_writes = 0  # writes of keys not owned, dropped
        self._data: dict[str, bytes] = {}
        self._keys: dict[int, set[str]] = {}
        self._pending: dict[str, bytes | None] = {}

    # -- the mapping the stage's logic reads and writes -----------------------------------------
    def __getitem__(self, key: str) -> bytes:
        return self._data[key]

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setitem__(self, key: str, value: bytes) -> None:
        if key not in self._data:
            p = kafka_partition(key, self.partitions)
            if p not in self.owned:
                self.refused_writes += 1
                log.info("changelog %s: write of %s dropped, partition %d is not owned here", self.topic, key, p)
                return
            self._keys[p].add(key)
        self._data[key] = value
        self._pending[key] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]
        self._keys[kafka_partition(key, self.partitions)].discard(key)
        self._pending[key] = None

    # -- what the stage does around batches and rebalances --------------------------------------
    def take_writes(self) -> list[tuple[str, bytes | None]]:
        """Every key written since the last call, with its last value (None: deleted)."""
        writes, self._pending = list(self._pending.items()), {}
        return writes

    def drop(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            for key in self._keys.pop(p, ()):
                del self._data[key]
                self._pending.pop(key, None)
            self.owned.discard(p)

    async def restore(self, kafka: KafkaSettings, partitions: Iterable[int]) -> int:
        """Own these partitions and only these, each read from the changelog unless owned already;
        returns the records read."""
        wanted = set(partitions)
        self.drop(self.owned - wanted)
        todo = sorted(wanted - self.owned)
        if not todo:
            return 0
        started = time.monotonic()
        tps = [TopicPartition(self.topic, p) for p in todo]
        consumer = _consumer(kafka, f"mcu-restore-{self.topic}")
        read = 0
        state: dict[int, dict[str, bytes]] = {p: {} for p in todo}
        await consumer.start()
        try:
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            left = {tp for tp in tps if ends[tp] > 0}
            while left:
                fetched = await consumer.getmany(*left, timeout_ms=RESTORE_FETCH_MS)
                for tp, records in fetched.items():
                    part = state[tp.partition]
                    for r in records:
                        if r.offset >= ends[tp]:
                            break
                        read += 1
                        key = r.key.decode() if isinstance(r.key, bytes) else str(r.key)
                        if r.value is None:
                            part.pop(key, None)
                        else:
                            part[key] = r.value
                for tp in list(left):
                    if await consumer.position(tp) >= ends[tp]:
                        left.discard(tp)
        finally:
            await consumer.stop()
        for p, part in state.items():
            self._data.update(part)
            self._keys[p] = set(part)
            self.owned.add(p)
        log.info("changelog %s: restored partitions %s, %d records read, %d keys in %.1f s",
                 self.topic, todo, read, sum(len(s) for s in state.values()), time.monotonic() - started)  # fmt: skip
        return read


def _consumer(kafka: KafkaSettings, client_id: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=kafka.broker_list,
        group_id=None,
        enable_auto_commit=False,
        # No group, so no committed offsets: every partition starts at its beginning. (An explicit
        # seek_to_beginning raced with the default reset to "latest" and sometimes lost.)
        auto_offset_reset="earliest",
        client_id=client_id,
        **client_options(kafka),
    )

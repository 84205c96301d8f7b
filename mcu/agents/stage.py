"""What every agent shares, so that an agent is only glue: the stage sensor and batch delivery.

Offset discipline (the loss of issue 15). In Faust's own path an output record can be lost after
its input was committed:

- ``await topic.send(...)`` only hands the record to aiokafka's accumulator; its fate is decided
  later, and a failed batch only reaches ``Topic._on_published``, which logs
  ``_on_published error`` and carries on;
- before committing, ``Consumer._commit_offsets`` does flush the producer, but aiokafka's
  ``flush()`` is ``asyncio.wait`` over the batch futures: a batch that *failed* is "done" too, so
  the commit goes ahead;
- the stream acks an event in a ``finally``: an exception in the agent body (a send that raised)
  acks the input it was processing, and the supervisor restarts the agent past it.

So an agent here holds a batch's input (one extra reference per message: never committable while
held), sends every output of the batch, waits until Kafka confirmed each one (acks=all), re-sends
what failed until it is confirmed, and only then lets the input go. Nothing in the body raises
out of it: a failure of one record is a dead letter, a failure of the transport is a retry.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.structs import ConsumerRecord
from faust.transport.drivers.aiokafka import Producer as AIOKafkaProducerService
from faust.types import TP, EventT, ProducerT, TopicT
from tenacity import AsyncRetrying, RetryCallState, wait_exponential

from kafkaio import KafkaSettings
from kafkaio.batch_consumer import BatchConsumer
from kafkaio.partitioner import partition_of
from mcu.metrics import STAGE_BATCH_RECORDS, STAGE_PROCESSED, STAGE_SECONDS, STAGE_SEND_RETRIES, STREAM_OFFSET_GAPS
from mcu.offset_gaps import OffsetGapSensor
from mcu.settings import ServiceSettings
from mcu.test_hooks import drop_marked

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 30.0


class StageSensor:
    """Counts and timing of one stage, recorded once per batch (one clock read at each end).

    ``mcu_stage_seconds`` keeps its meaning, the time one record takes: one observation per batch
    of the batch's time divided by its records.
    """

    def __init__(self, stage: str) -> None:
        self.stage = stage
        self._processed = STAGE_PROCESSED.labels(stage=stage)
        self._seconds = STAGE_SECONDS.labels(stage=stage)
        self._records = STAGE_BATCH_RECORDS.labels(stage=stage)

    @contextmanager
    def batch(self, records: int) -> Iterator["BatchCount"]:
        count = BatchCount()
        started = time.perf_counter()
        try:
            yield count
        finally:
            if records:
                self._seconds.observe((time.perf_counter() - started) / records)
                self._records.observe(records)
            if count.processed:
                self._processed.inc(count.processed)


@dataclass
class BatchCount:
    processed: int = 0  # failures are counted where they are dead-lettered (mcu/dead_letters.py)


@dataclass
class _Output:
    topic: TopicT
    key: bytes | None
    value: bytes | None  # None: a tombstone
    # What the producer returned for it, a future shared by its record batch or the error that kept
    # it from being handed over; None while it waits for the next hand_over().
    result: "Awaitable[Any] | BaseException | None" = None


@dataclass
class DeliveryFailure:
    """One output Kafka did not confirm: where it was going and why (a structured report, not a string)."""

    topic: str
    key: bytes | None
    error: BaseException


@dataclass
class Deliveries:
    """The outputs of one batch, confirmed together before the batch's input is released.

    ``send`` only queues: ``hand_over`` gives the queued outputs to the producer (with the app's
    producer, as one record batch per partition), and ``confirm`` hands over what is left first. A
    stage that returns ``confirm()`` for later must ``await hand_over()`` before it returns, so its
    outputs reach the producer before those of its next fetch (the changelog's last write wins).
    """

    stage: str
    # The batch stages hand records straight to the app's producer (same durability, acks=all and
    # idempotence), past the channel and sensor layers of Topic.send that every record paid for.
    producer: ProducerT | None = None
    outputs: list[_Output] = field(default_factory=list)
    attempts: int = 0
    _handed: int = 0  # outputs[:_handed] are with the producer

    def send(self, topic: TopicT, key: bytes | None, value: bytes | None) -> None:
        self.outputs.append(_Output(topic, key, value))

    async def hand_over(self) -> None:
        """Give the queued outputs to the producer, in the order they were sent."""
        queued, self._handed = self.outputs[self._handed :], len(self.outputs)
        if queued:
            await _hand_over(self.producer, queued)

    async def confirm(self) -> None:
        """Return once Kafka confirmed every output; re-send the failed ones, backing off, until then.

        Retrying for ever is deliberate, as in the ClickHouse sink: giving up would mean releasing
        input whose output is not stored. Outputs are keyed and idempotent downstream (the store
        folds by message id, the SLA stage by dedup keys), so a re-send that duplicates a record
        the broker did keep is harmless. Ops see a stall through mcu_stage_send_retries_total and
        the consumer lag.
        """
        await self.hand_over()
        pending = self.outputs
        delay = 0.5
        while pending:
            self.attempts += 1
            failures = await _wait(pending)
            if not failures:
                break
            STAGE_SEND_RETRIES.labels(stage=self.stage).inc(len(failures))
            first = failures[0][1]
            log.warning(
                "stage %s: Kafka did not confirm %d of %d outputs (first: %s to %s: %s); re-sending in %.1fs",
                self.stage, len(failures), len(pending), first.key, first.topic, _describe(first.error), delay,
            )  # fmt: skip
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            pending = [_Output(o.topic, o.key, o.value) for o, _ in failures]
            await _hand_over(self.producer, pending)
        self.outputs, self._handed = [], 0


async def _start(topic: TopicT, key: bytes | None, value: bytes | None) -> "Awaitable[Any] | BaseException":
    try:
        return await topic.send(key=key, value=value)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # ProducerSendError and the like: the record never left; retried in confirm()
        return exc


async def _hand_over(producer: ProducerT | None, outputs: Sequence[_Output]) -> None:
    """Give ``outputs`` to Kafka; each gets its future or the error that kept it back.

    Per-record ``send`` cost more than the records (a future, pure-Python murmur2 and two copies of
    the topic's metadata for each one; bench/producer.py), so keyed outputs go to aiokafka as
    one record batch per partition, straight to the client under Faust's wrapper, with the partition
    aiokafka's default partitioner would pick (kafkaio/partitioner.py) and the same durability
    (acks=all, idempotence: the batch gets its sequence number when the sender drains it).
    """
    if producer is None:  # a lone dead letter (mcu/dead_letters.py): Faust's own path
        for o in outputs:
            o.result = await _start(o.topic, o.key, o.value)
        return
    client: AIOKafkaProducer = cast(AIOKafkaProducerService, producer)._ensure_producer()
    by_partition: dict[tuple[str, int], list[_Output]] = {}
    counts: dict[str, int] = {}
    for o in outputs:
        topic = o.topic.get_topic_name()
        try:
            if topic not in counts:
                counts[topic] = len(await client.partitions_for(topic))
            if o.key is None:  # no partition it must go to: aiokafka picks one
                o.result = await client.send(topic, o.value)
                continue
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the record never left; retried in confirm()
            o.result = exc
            continue
        by_partition.setdefault((topic, partition_of(o.key, counts[topic])), []).append(o)
    for (topic, partition), group in by_partition.items():
        batch, members = client.create_batch(), []
        for o in group:
            if batch.append(key=o.key, value=o.value, timestamp=None) is None:  # full: the first always fits
                await _submit(client, batch, topic, partition, members)
                batch, members = client.create_batch(), []
                batch.append(key=o.key, value=o.value, timestamp=None)
            members.append(o)
        await _submit(client, batch, topic, partition, members)


async def _submit(
    client: AIOKafkaProducer, batch: BatchBuilder, topic: str, partition: int, members: list[_Output]
) -> None:
    batch.close()  # only these records: aiokafka's per-record send must not add to it
    result: Awaitable[Any] | BaseException
    try:
        result = await client.send_batch(batch, topic, partition=partition)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # KafkaTimeoutError, ProducerClosed: the batch never left; retried in confirm()
        result = exc
    for o in members:
        o.result = result


async def _wait(outputs: Sequence[_Output]) -> list[tuple[_Output, DeliveryFailure]]:
    # A batch's future once, however many of its records wait on it.
    waiting = list({id(o.result): o.result for o in outputs if not isinstance(o.result, BaseException)}.values())
    outcomes = dict(zip(map(id, waiting), await asyncio.gather(*waiting, return_exceptions=True), strict=True))
    failures = []
    for o in outputs:
        outcome = o.result if isinstance(o.result, BaseException) else outcomes[id(o.result)]
        if isinstance(outcome, asyncio.CancelledError):
            raise outcome
        if isinstance(outcome, BaseException):
            failures.append((o, DeliveryFailure(o.topic.get_topic_name(), o.key, outcome)))
    return failures


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def hold(events: Sequence[EventT]) -> None:
    """Keep these offsets uncommittable, whatever the stream acks, until :func:`release`.

    take_events acks a batch in a ``finally``, even when the body raised or the worker was
    cancelled mid-retry; the extra reference keeps those offsets from being committed.
    """
    for e in events:
        e.message.incref()


def release(events: Sequence[EventT]) -> None:
    """Drop the extra reference; the last one to go marks the offset committable.

    Released inside the agent's body, the stream's own ack comes after and is the last one. A batch
    released later was already acked by the stream, so this ack is the last: it does what the
    stream's would have (the consumer's ack and Faust's message-out sensor). A bare decref there
    would leave the offset uncommitted for good.
    """
    for e in events:
        if e.ack():
            msg = e.message
            e.app.sensors.on_message_out(msg.tp, msg.offset, msg)


async def run_batches(
    stage: str,
    make: Callable[[], BatchConsumer],
    handle: Callable[[list[ConsumerRecord], int], Awaitable[Awaitable[None]]],
    drop_marker: str | None = None,
) -> None:
    """Run a batch stage for the worker's life; a consumer that failed is replaced, never given up.

    What Faust's supervisor does for an agent: an error that escapes the loop (a bug, or a client
    that cannot recover) restarts the stage from the committed offsets after a pause, loudly.
    What Faust's sensors did for every stream is done here for every batch stage: the skipped-offsets
    alarm (``mcu_stream_offset_gaps_total{stage=…}``, at 0 from the start) and the test hook
    ``MCU_TEST_DROP_MARKER`` (marked records never reach the stage).
    """
    gaps = OffsetGapSensor()

    async def checked(records: list[ConsumerRecord], generation: int) -> Awaitable[None]:
        if drop_marker:
            records = drop_marked(records, drop_marker)
        for r in records:
            gaps.check(stage, TP(r.topic, r.partition), r.offset, generation)
        return await handle(records, generation)

    while True:
        consumer = make()
        for topic in consumer.topics:
            STREAM_OFFSET_GAPS.labels(stage=stage, topic=topic)
        BATCH_CONSUMERS.append(consumer)
        try:
            await consumer.run(lambda records, c=consumer: checked(records, c.generation))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("batch stage %s failed; restarting it from the committed offsets in 5 s", consumer.group_id)
            await asyncio.sleep(5)
        finally:
            BATCH_CONSUMERS.remove(consumer)


# The batch consumers running in this worker, for the lag and assignment gauges (mcu/web.py).
BATCH_CONSUMERS: list[BatchConsumer] = []

# Topics this worker has declared, by name; one declaration at a time (see declare).
_DECLARED: set[tuple[str, ...]] = set()
_DECLARING = asyncio.Lock()


async def declare(*topics: TopicT) -> None:
    """Create what is missing of a stage's topics, retried until the cluster answers; never raises.

    A declaration asks the cluster's controller. Raised out of a stage's task, a lost broker (a
    fail-over or a rolling restart while the worker starts) stopped the whole worker: Faust stops
    the app for a task that raised (a CI run, two brokers killed 4 s after the start). Since the
    producer tracks only the topics it writes to (kafkaio/tracking_producer.py), Faust no longer
    sees every existing topic in its metadata, so even an existing topic's declaration asks. Declarations
    go one at a time and each topic once per worker, because the stampede guard behind Faust's
    ``maybe_declare`` and topic creation leaves the callers that waited on a failed call waiting for
    ever. Only a cancellation (the worker stopping) ends the retries.
    """
    async with _DECLARING:
        for topic in topics:
            names = tuple(sorted(topic.topics))
            if names in _DECLARED:
                continue
            retries = AsyncRetrying(
                wait=wait_exponential(multiplier=0.5, max=MAX_BACKOFF_SECONDS), before_sleep=_declare_failed(names)
            )
            async for attempt in retries:
                with attempt:
                    await topic.declare()
            _DECLARED.add(names)


def _declare_failed(names: tuple[str, ...]) -> Callable[[RetryCallState], None]:
    def log_it(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("declaring %s failed (attempt %d: %s); retrying", ", ".join(names), state.attempt_number,
                    _describe(error) if error else "")  # fmt: skip

    return log_it


class RecordEvent:
    """A fetched record in the shape the shared helpers read from Faust's events (``.message``, ``.value``)."""

    __slots__ = ("message",)

    def __init__(self, record: ConsumerRecord) -> None:
        self.message = record

    @property
    def value(self) -> bytes:
        return self.message.value


def batch_consumer(
    kafka: KafkaSettings,
    service: ServiceSettings,
    topics: Sequence[str],
    stage: str,
    *,
    max_records: int,
    fetch_wait: float,
    fill_wait: float = 0.0,
    **hooks: Any,
) -> BatchConsumer:
    """A batch stage's consumer in its own group, ``<MCU_APP_ID>-<stage>``, with the worker's settings
    (``hooks``: the assignors and partition hooks of :class:`BatchConsumer`)."""
    return BatchConsumer(
        kafka,
        topics,
        f"{service.app_id}-{stage}",
        max_records=max_records,
        depth=service.stage_confirm_depth,
        commit_interval=service.commit_interval,
        session_timeout=kafka.session_timeout,
        max_fetch_bytes=kafka.max_record_bytes * 2,
        fetch_wait=fetch_wait,
        fill_wait=fill_wait,
        **hooks,
    )

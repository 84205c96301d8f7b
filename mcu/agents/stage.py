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
from collections import deque
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from faust.types import EventT, TopicT

from mcu.metrics import STAGE_BATCH_RECORDS, STAGE_PROCESSED, STAGE_SECONDS, STAGE_SEND_RETRIES

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
    value: bytes
    result: "Awaitable[Any] | BaseException"


@dataclass
class DeliveryFailure:
    """One output Kafka did not confirm: where it was going and why (a structured report, not a string)."""

    topic: str
    key: bytes | None
    error: BaseException


@dataclass
class Deliveries:
    """The outputs of one batch, confirmed together before the batch's input is released."""

    stage: str
    outputs: list[_Output] = field(default_factory=list)
    attempts: int = 0

    async def send(self, topic: TopicT, key: bytes | None, value: bytes) -> None:
        self.outputs.append(_Output(topic, key, value, await _start(topic, key, value)))

    async def confirm(self) -> None:
        """Return once Kafka confirmed every output; re-send the failed ones, backing off, until then.

        Retrying for ever is deliberate, as in the ClickHouse sink: giving up would mean releasing
        input whose output is not stored. Outputs are keyed and idempotent downstream (the store
        folds by message id, the SLA stage by dedup keys), so a re-send that duplicates a record
        the broker did keep is harmless. Ops see a stall through mcu_stage_send_retries_total and
        the consumer lag.
        """
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
            pending = [_Output(o.topic, o.key, o.value, await _start(o.topic, o.key, o.value)) for o, _ in failures]
        self.outputs = []


async def _start(topic: TopicT, key: bytes | None, value: bytes) -> "Awaitable[Any] | BaseException":
    try:
        return await topic.send(key=key, value=value)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # ProducerSendError and the like: the record never left; retried in confirm()
        return exc


async def _wait(outputs: Sequence[_Output]) -> list[tuple[_Output, DeliveryFailure]]:
    waiting = [o.result for o in outputs if not isinstance(o.result, BaseException)]
    results = iter(await asyncio.gather(*waiting, return_exceptions=True))
    failures = []
    for o in outputs:
        outcome = o.result if isinstance(o.result, BaseException) else next(results)
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
    released later (ConfirmWindow) was already acked by the stream, so this ack is the last: it does
    what the stream's would have (the consumer's ack and Faust's message-out sensor). A bare decref
    there would leave the offset uncommitted for good.
    """
    for e in events:
        if e.ack():
            msg = e.message
            e.app.sensors.on_message_out(msg.tp, msg.offset, msg)


class ConfirmWindow:
    """Batches whose outputs Kafka is still confirming, while the agent goes on with the next.

    Waiting for acks=all after every batch left the stage idle for a broker round trip per batch.
    Here a batch's confirmation runs beside the next batches' work; each batch's input is released
    only once its own outputs are confirmed (offsets commit out of order safely: Faust commits up to
    the lowest offset still held). At most ``depth`` batches are unconfirmed, the one the agent
    works on included (1: wait after every batch), so a broker that stops confirming stops the
    stage after ``depth`` batches instead of filling memory. On a stop or a
    crash the waiting batches stay held: never committed, fetched again by whoever owns them next.
    """

    def __init__(self, depth: int) -> None:
        self.depth = max(1, depth)
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def add(self, out: Deliveries, events: Sequence[EventT]) -> None:
        self._waiting.append(asyncio.ensure_future(self._confirm_then_release(out, events)))
        while self._waiting and (len(self._waiting) >= self.depth or self._waiting[0].done()):
            await self._waiting.popleft()

    async def drain(self) -> None:
        while self._waiting:
            await self._waiting.popleft()

    @staticmethod
    async def _confirm_then_release(out: Deliveries, events: Sequence[EventT]) -> None:
        await out.confirm()
        release(events)

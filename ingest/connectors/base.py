"""The one contract every connector keeps, and the loop that runs it.

A connector only knows its source: ``fetch(cursor)`` returns what is new since ``cursor`` and the
cursor to resume from. The runner publishes, waits for the broker (``flush``), and only then
writes the cursor file, so a restart resumes right after the last batch the broker confirmed:
a stop between batches neither skips nor repeats anything.

A process killed while a batch is in flight (records sent, cursor not yet written) would repeat
that batch on restart. With a ``Probe`` (the topic's end offsets), the runner writes an intent
(the end offsets before the batch) first; a restart that finds the intent reads the topic from
those offsets and leaves out the source ids already there, so even ``kill -9`` repeats nothing.
Status events are not probed: they carry their own event_id, which the store folds on.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from ingest.metrics import CHANNEL_LAST_SEEN
from schemas import CaseEvent, Channel

log = logging.getLogger(__name__)

Cursor = dict[str, Any]


@dataclass(frozen=True)
class RawItem:
    """One source record: the bytes to publish and the source's own id."""

    source_id: str
    body: bytes
    received_at: datetime | None = None


@dataclass
class Batch:
    """What one ``fetch`` found. ``cursor`` is where the next fetch starts once this batch is stored."""

    items: list[RawItem] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)
    cursor: Cursor | None = None
    more: bool = False  # the source has more right now: fetch again without waiting


class Connector(Protocol):
    name: str
    channel: Channel

    def fetch(self, cursor: Cursor | None) -> Batch: ...


class Publisher(Protocol):
    """The sink side: ``kafkaio.producer.RawPublisher`` or a test double with the same methods."""

    def publish(
        self,
        channel: Channel | str,
        body: bytes,
        *,
        source_id: str | None = None,
        received_at: datetime | None = None,
    ) -> str: ...

    def flush(self, timeout: float | None = 60) -> None: ...


class EventSink(Protocol):
    def publish_event(self, event: CaseEvent) -> None: ...

    def flush(self, timeout: float | None = 60) -> None: ...


class Probe(Protocol):
    """What is already on a raw topic: its end offsets, and the source ids written since offsets."""

    def end_offsets(self, channel: Channel) -> dict[str, int]: ...

    def source_ids_since(self, channel: Channel, offsets: dict[str, int]) -> set[str]:
        """Raises TimeoutError when the topic cannot be read back in time (retried as transient)."""
        ...


class TransientError(Exception):
    """Worth retrying: network trouble, 5xx, the source's "too many requests per second"."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Throttled(Exception):
    """The source's quota is spent for a while (VK error 29, a daily method limit): pause, keep the cursor."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Retrying will not help (bad token, access denied, wrong config): stop and say so."""


class CursorStore:
    """One JSON file per connector under ``<var_dir>/connectors``; written atomically (rename)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.cursor.json"

    def load(self, name: str) -> Cursor | None:
        p = self.path(name)
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text("utf-8"))
        except ValueError as exc:
            # Guessing a cursor could skip or repeat a whole history: refuse and let a person decide.
            raise PermanentError(f"cursor file {p} is unreadable ({exc}); fix or remove it") from exc

    def save(self, name: str, cursor: Cursor) -> None:
        self._write(self.path(name), cursor)

    def intent_path(self, name: str) -> Path:
        return self.directory / f"{name}.intent.json"

    def load_intent(self, name: str) -> dict[str, Any] | None:
        p = self.intent_path(name)
        try:
            return json.loads(p.read_text("utf-8")) if p.exists() else None
        except ValueError:
            return None  # torn while being written: the batch it announced was never sent

    def save_intent(self, name: str, intent: dict[str, Any]) -> None:
        self._write(self.intent_path(name), intent)

    def clear_intent(self, name: str) -> None:
        self.intent_path(name).unlink(missing_ok=True)

    def _write(self, path: Path, obj: Any) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=self.directory)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, ensure_ascii=False, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


class RateLimiter:
    """At most ``rate`` calls a second, spaced evenly (VK allows 3/s for a user token, 20 for a group)."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


def _wait_for(state: RetryCallState, base: Callable[[RetryCallState], float]) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        return exc.retry_after
    return base(state)


def retrying(attempts: int = 6, initial: float = 0.5, maximum: float = 30.0) -> Retrying:
    """tenacity policy shared by connectors: exponential backoff with jitter, honouring retry_after."""
    base = wait_exponential_jitter(multiplier=initial, max=maximum)
    return Retrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(attempts),
        wait=lambda s: _wait_for(s, base),
        reraise=True,
        before_sleep=lambda s: log.warning(
            "attempt %d failed (%s); retrying", s.attempt_number, s.outcome.exception() if s.outcome else ""
        ),
    )


@dataclass
class RunStats:
    batches: int = 0
    records: int = 0
    events: int = 0
    skipped: int = 0  # already on the topic from a run that died mid-batch


class Runner:
    """Runs one connector: fetch → publish → flush → save cursor → metric, batch after batch."""

    def __init__(
        self,
        connector: Connector,
        publisher: Publisher,
        cursors: CursorStore,
        events: EventSink | None = None,
        retry: Retrying | None = None,
        clock: Callable[[], float] = time.time,
        probe: Probe | None = None,
    ) -> None:
        self.probe = probe
        self.connector = connector
        self.publisher = publisher
        self.cursors = cursors
        self.events = events
        self.retry = retry or retrying()
        self.clock = clock
        self.stats = RunStats()

    def step(self) -> Batch:
        """One batch, stored and acknowledged; raises if it could not be stored (cursor untouched)."""
        name, channel = self.connector.name, self.connector.channel
        cursor = self.cursors.load(name)
        batch: Batch = self.retry(self.connector.fetch, cursor)
        already: set[str] = set()
        if self.probe is not None and batch.items:
            intent = self.cursors.load_intent(name)
            if intent is not None and intent.get("cursor") == cursor:
                # The previous run died with this very batch in flight: what reached the topic stays.
                offsets = intent["offsets"]
                try:
                    already = self.probe.source_ids_since(channel, offsets)
                except TimeoutError as exc:  # a partial read-back would repeat records: retry it whole
                    raise TransientError(str(exc)) from exc
            else:
                offsets = self.probe.end_offsets(channel)
                self.cursors.save_intent(name, {"cursor": cursor, "offsets": offsets})
        skipped = 0
        for item in batch.items:
            if item.source_id in already:
                skipped += 1
                continue
            self.publisher.publish(
                self.connector.channel, item.body, source_id=item.source_id, received_at=item.received_at
            )
        if batch.events:
            if self.events is None:
                raise PermanentError(f"{self.connector.name} produced status events but no event sink is set")
            for event in batch.events:
                self.events.publish_event(event)
        if batch.items:
            self.publisher.flush()
        if batch.events and self.events is not None:
            self.events.flush()
        if batch.cursor is not None and batch.cursor != cursor:
            self.cursors.save(name, batch.cursor)
        if self.probe is not None and batch.items:
            self.cursors.clear_intent(name)
        if batch.items or batch.events:
            CHANNEL_LAST_SEEN.labels(channel=self.connector.channel.value).set(self.clock())
        self.stats.batches += 1
        self.stats.records += len(batch.items) - skipped
        self.stats.skipped += skipped
        self.stats.events += len(batch.events)
        return batch

    def drain(self, stop: threading.Event | None = None) -> RunStats:
        """Fetch until the source has nothing more right now (file imports, one polling round)."""
        while stop is None or not stop.is_set():
            if not self.step().more:
                break
        return self.stats

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> RunStats:
        """Round after round; a connector with its own ``poll_seconds`` (long polling) overrides it."""
        own = getattr(self.connector, "poll_seconds", None)
        if own is not None:
            poll_seconds = own
        while not stop.is_set():
            try:
                self.drain(stop)
            except PermanentError:
                raise
            except Throttled as exc:
                log.warning("connector %s throttled: %s; pausing %.0fs", self.connector.name, exc, exc.retry_after)
                stop.wait(exc.retry_after)
                continue
            except Exception:
                # The cursor was not moved: the same batch is fetched again next round.
                log.exception("connector %s failed a round; next try in %.0fs", self.connector.name, poll_seconds)
            stop.wait(poll_seconds)
        return self.stats


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON: how connectors that receive parsed objects put them on the wire."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")

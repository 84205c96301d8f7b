"""Test doubles of the sink side (same interface as RawPublisher / EventPublisher) and helpers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from ingest.connectors.base import CursorStore
from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import encode_headers
from schemas import CaseEvent, Channel, NormalizedMessage
from schemas.topics import raw_topic


class Crash(Exception):
    """Stands for the process dying at a chosen point."""


@dataclass
class FakePublisher:
    """Records are 'delivered' only by flush(), as with acks=all; ``crash_after`` kills a publish."""

    delivered: list[tuple[str, str, bytes, datetime | None]] = field(default_factory=list)
    pending: list[tuple[str, str, bytes, datetime | None]] = field(default_factory=list)
    crash_after: int | None = None
    published: int = 0
    # Dies inside flush() after this many of the pending records reached the broker: the case of a
    # kill landing while a batch is on the wire.
    crash_in_flush: int | None = None

    def publish(
        self, channel: Any, body: bytes, *, source_id: str | None = None, received_at: datetime | None = None
    ) -> str:
        if self.crash_after is not None and self.published >= self.crash_after:
            self.pending.clear()  # a dead process's unflushed buffer never reaches the broker
            raise Crash("killed mid-batch")
        self.published += 1
        self.pending.append((Channel(channel).value, source_id or "", body, received_at))
        return source_id or ""

    def flush(self, timeout: float | None = 60) -> None:
        if self.crash_in_flush is not None and len(self.pending) > self.crash_in_flush:
            self.delivered.extend(self.pending[: self.crash_in_flush])
            self.pending.clear()
            raise Crash("killed while the batch was on the wire")
        self.delivered.extend(self.pending)
        self.pending.clear()

    def source_ids(self) -> list[str]:
        return [d[1] for d in self.delivered]


@dataclass
class FakeProbe:
    """Reads back a FakePublisher's 'topic' (one partition per channel, offset = position)."""

    publisher: FakePublisher

    def _records(self, channel: Channel) -> list[str]:
        return [sid for ch, sid, _b, _r in self.publisher.delivered if ch == Channel(channel).value]

    def end_offsets(self, channel: Channel) -> dict[str, int]:
        return {"0": len(self._records(channel))}

    def source_ids_since(self, channel: Channel, offsets: dict[str, int]) -> set[str]:
        return set(self._records(channel)[offsets.get("0", 0) :])


@dataclass
class FakeEvents:
    delivered: list[CaseEvent] = field(default_factory=list)
    pending: list[CaseEvent] = field(default_factory=list)

    def publish_event(self, event: CaseEvent) -> None:
        self.pending.append(event)

    def flush(self, timeout: float | None = 60) -> None:
        self.delivered.extend(self.pending)
        self.pending.clear()


def normalize_delivered(pub: FakePublisher) -> tuple[list[NormalizedMessage], list[Rejected]]:
    """Run what was published through the real normaliser, as the worker would."""
    ok, bad = [], []
    for channel, sid, body, received in pub.delivered:
        headers = {k: v.decode() for k, v in encode_headers(channel, sid, received, datetime.now().astimezone())}
        try:
            ok.append(
                normalize_record(
                    body, headers, raw_topic(channel), max_bytes=1 << 20, author_key=b"k", max_text_chars=20_000
                )
            )
        except Rejected as rej:
            bad.append(rej)
    return ok, bad


@pytest.fixture
def cursors(tmp_path: Any) -> CursorStore:
    return CursorStore(tmp_path / "connectors")


@pytest.fixture(scope="module")
def client():
    """A test server over the worker's HTTP views; the aiohttp app belongs to the Faust app's loop."""
    import asyncio

    from aiohttp.test_utils import TestClient, TestServer

    from mcu.app import app  # not at import: the app reads its settings when first imported

    loop = app.loop
    asyncio.set_event_loop(loop)

    async def start() -> TestClient:
        test_client = TestClient(TestServer(app.web.web_app))
        await test_client.start_server()
        return test_client

    test_client = loop.run_until_complete(start())
    yield loop, test_client
    loop.run_until_complete(test_client.close())


@pytest.fixture
def call(client):
    """``call(method, path, **kw)`` → (status, body text) against the module's test server."""
    loop, test_client = client

    def do(method: str, path: str, **kw: Any) -> tuple[int, str]:
        async def go() -> tuple[int, str]:
            resp = await test_client.request(method, path, **kw)
            return resp.status, await resp.text()

        return loop.run_until_complete(go())

    return do

"""The stage helpers without Kafka: re-sending until confirmed, and the commit guard's arithmetic."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from faust.types import TP

from mcu.agents.stage import Deliveries, StageSensor
from mcu.commit_guard import _guarded_new_offset
from mcu.metrics import STAGE_PROCESSED, STAGE_SEND_RETRIES


class FlakyTopic:
    """Refuses the first ``failures`` sends of each key (the future fails, or send() itself raises)."""

    def __init__(self, failures: int, raise_on_send: bool = False) -> None:
        self.failures = failures
        self.raise_on_send = raise_on_send
        self.tries: dict[bytes | None, int] = {}
        self.stored: list[tuple[bytes | None, bytes]] = []

    def get_topic_name(self) -> str:
        return "t.cases"

    async def send(self, key: bytes | None, value: bytes) -> "asyncio.Future[Any]":
        n = self.tries[key] = self.tries.get(key, 0) + 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if n <= self.failures:
            if self.raise_on_send:
                raise RuntimeError("no metadata")
            fut.set_exception(ConnectionError("broker gone"))
        else:
            self.stored.append((key, value))
            fut.set_result(n)
        return fut


@pytest.mark.parametrize("raise_on_send", [False, True])
def test_confirm_resends_only_what_failed_until_every_output_is_confirmed(monkeypatch, raise_on_send: bool) -> None:
    monkeypatch.setattr("mcu.agents.stage.asyncio.sleep", _no_sleep)
    ok, flaky = FlakyTopic(0), FlakyTopic(2, raise_on_send)
    before = STAGE_SEND_RETRIES.labels(stage="t")._value.get()

    async def run() -> Deliveries:
        out = Deliveries("t")
        await out.send(ok, b"a", b"1")  # type: ignore[arg-type]
        await out.send(flaky, b"b", b"2")  # type: ignore[arg-type]
        await out.send(flaky, b"c", b"3")  # type: ignore[arg-type]
        await out.confirm()
        return out

    out = asyncio.run(run())
    assert ok.stored == [(b"a", b"1")] and ok.tries == {b"a": 1}
    assert sorted(flaky.stored) == [(b"b", b"2"), (b"c", b"3")] and flaky.tries == {b"b": 3, b"c": 3}
    assert out.attempts == 3 and out.outputs == []
    assert STAGE_SEND_RETRIES.labels(stage="t")._value.get() - before == 4


def test_confirm_does_not_return_while_an_output_keeps_failing(monkeypatch) -> None:
    monkeypatch.setattr("mcu.agents.stage.asyncio.sleep", _no_sleep)
    never = FlakyTopic(10**9)

    async def run() -> None:
        out = Deliveries("t")
        await out.send(never, b"k", b"v")  # type: ignore[arg-type]
        await asyncio.wait_for(out.confirm(), timeout=0.5)

    with pytest.raises(TimeoutError):
        asyncio.run(run())
    assert never.tries[b"k"] > 5 and never.stored == []


class FakeApp:
    """What release() reaches through an event: the consumer's acks and Faust's message-out sensor."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.out: list[int] = []
        self.sensors = SimpleNamespace(on_message_out=lambda _tp, offset, _msg: self.out.append(offset))


class FakeEvent:
    """A Faust event's reference counting: the stream holds one reference, the last ack commits."""

    def __init__(self, app: FakeApp, offset: int) -> None:
        self.app = app
        self.message = SimpleNamespace(tp="t-0", offset=offset, refcount=1, acked=False)
        self.message.incref = self._incref

    def _incref(self) -> None:
        self.message.refcount += 1

    def ack(self) -> bool:
        m = self.message
        if m.acked:
            return False
        m.refcount -= 1
        if m.refcount == 0:
            m.acked = True
            self.app.acked.append(m.offset)
            return True
        return False


def test_released_inside_the_body_the_streams_own_ack_is_the_last() -> None:
    from mcu.agents.stage import hold, release

    app = FakeApp()
    events = [FakeEvent(app, i) for i in range(3)]
    hold(events)  # type: ignore[arg-type]
    release(events)  # type: ignore[arg-type]
    assert app.acked == [] and app.out == []
    for e in events:
        e.ack()
    assert app.acked == [0, 1, 2]


_real_sleep = asyncio.sleep


async def _no_sleep(_seconds: float) -> None:  # asyncio.sleep itself is patched: keep the real one
    await _real_sleep(0)


def test_the_sensor_counts_per_batch() -> None:
    sensor = StageSensor("t-sensor")
    before = STAGE_PROCESSED.labels(stage="t-sensor")._value.get()
    with sensor.batch(10) as counted:
        counted.processed = 7
    with sensor.batch(0):
        pass
    assert STAGE_PROCESSED.labels(stage="t-sensor")._value.get() - before == 7


TP0 = TP("raw.webform", 0)


def _consumer(acked: list[int], committed: int | None, held: list[int], generation: int = 5) -> Any:
    messages = [SimpleNamespace(tp=TP0, offset=o, acked=False, generation_id=generation) for o in held]
    return SimpleNamespace(
        app=SimpleNamespace(consumer_generation_id=5),
        _acked={TP0: list(acked)},
        _acked_index={TP0: set(acked)},
        _committed_offset={TP0: committed},
        _gap={TP0: []},
        _unacked_messages=messages,
    )


@pytest.mark.parametrize(
    ("acked", "committed", "held", "expected"),
    [
        # Faust alone would commit 13 here: the held 10 sits one past the committed offset.
        ([11, 12], 10, [10], None),
        # ... and 4 here, before the partition's first commit, over the held 0.
        ([1, 2, 3], None, [0], None),
        # what lies below a held record is committed up to it
        ([5, 6, 7, 9, 10], 5, [8], 8),
        # nothing held: Faust's own answer
        ([5, 6, 7], 5, [], 8),
        # a record held from an earlier generation (its partition was revoked since) does not block
        ([11, 12], 10, [10], 13),
    ],
)
def test_the_commit_guard_never_passes_a_held_record(acked, committed, held, expected) -> None:
    generation = 4 if expected == 13 else 5
    consumer = _consumer(acked, committed, held, generation)
    assert _guarded_new_offset(consumer, TP0) == expected
    if expected is None:
        assert sorted(consumer._acked[TP0]) == acked, "acked offsets above the held one were dropped"


class RecordingProducer:
    """Faust's producer as the batch stages call it: send(topic name, key, value, partition, timestamp, headers)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, *rest: Any) -> "asyncio.Future[Any]":
        assert rest == (None, None, None)
        self.sent.append((topic, key, value))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(len(self.sent))
        return fut


def test_with_a_producer_outputs_go_to_it_by_topic_name_not_through_topic_send() -> None:
    producer, topic = RecordingProducer(), FlakyTopic(10)  # the topic would refuse: it must not be used

    async def run() -> None:
        out = Deliveries("t", producer=producer)  # type: ignore[arg-type]
        await out.send(topic, b"k", b"v")  # type: ignore[arg-type]
        await out.confirm()

    asyncio.run(run())
    assert producer.sent == [("t.cases", b"k", b"v")] and topic.tries == {}

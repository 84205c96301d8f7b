"""The stage helpers without Kafka: re-sending until confirmed, and the commit guard's arithmetic."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch
from faust.types import TP

from kafkaio.partitioner import partition_of
from mcu.agents import stage
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
        out.send(ok, b"a", b"1")  # type: ignore[arg-type]
        out.send(flaky, b"b", b"2")  # type: ignore[arg-type]
        out.send(flaky, b"c", b"3")  # type: ignore[arg-type]
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
        out.send(never, b"k", b"v")  # type: ignore[arg-type]
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


class FakeKafka:
    """aiokafka's producer as Deliveries uses it: its own record batches, whose records are read back."""

    def __init__(self, partitions: int = 4, failing_batches: int = 0) -> None:
        self.partitions = partitions
        self.failing_batches = failing_batches
        self.batches: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []
        self.unkeyed: list[tuple[str, bytes | None]] = []

    def _ensure_producer(self) -> "FakeKafka":  # what Faust's wrapper hands out
        return self

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(2048, 0)  # small: a batch of big records fills up

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> "asyncio.Future[Any]":
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.failing_batches:
            self.failing_batches -= 1
            fut.set_exception(ConnectionError("broker gone"))
            return fut
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]
        self.batches.append((topic, partition, records))
        fut.set_result(len(self.batches))
        return fut

    async def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> "asyncio.Future[Any]":
        self.unkeyed.append((topic, value))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        fut.set_result(0)
        return fut


def test_with_a_producer_outputs_go_as_one_batch_per_partition_where_the_key_hashes() -> None:
    kafka, topic, other = FakeKafka(), FlakyTopic(10), SimpleNamespace(get_topic_name=lambda: "t.other")
    keys = [f"m{i}".encode() for i in range(40)]

    async def run() -> None:
        out = Deliveries("t", producer=kafka)  # type: ignore[arg-type]
        for i, k in enumerate(keys):
            out.send(topic, k, b"v%d" % i)  # type: ignore[arg-type]
        out.send(other, b"m0", None)  # type: ignore[arg-type]  # a tombstone
        out.send(topic, None, b"no key")  # type: ignore[arg-type]
        assert kafka.batches == [], "send only queues"
        await out.hand_over()
        await out.confirm()

    asyncio.run(run())
    assert topic.tries == {}, "Faust's Topic.send is not used with a producer"
    assert kafka.unkeyed == [("t.cases", b"no key")]
    got: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
    for name, partition, records in kafka.batches:
        got.setdefault((name, partition), []).extend(records)
    expected: dict[tuple[str, int], list[tuple[bytes | None, bytes | None]]] = {}
    for i, k in enumerate(keys):
        expected.setdefault(("t.cases", partition_of(k, 4)), []).append((k, b"v%d" % i))
    expected[("t.other", partition_of(b"m0", 4))] = [(b"m0", None)]
    assert got == expected, "each record in its key's partition, in the order sent"
    assert len({p for (name, p) in got if name == "t.cases"}) == 4


def test_a_failed_batch_is_sent_again_whole_until_confirmed(monkeypatch) -> None:
    monkeypatch.setattr("mcu.agents.stage.asyncio.sleep", _no_sleep)
    kafka, topic = FakeKafka(partitions=1, failing_batches=2), FlakyTopic(0)
    before = STAGE_SEND_RETRIES.labels(stage="t")._value.get()

    async def run() -> Deliveries:
        out = Deliveries("t", producer=kafka)  # type: ignore[arg-type]
        for i in range(3):
            out.send(topic, b"k%d" % i, b"x" * 900)  # type: ignore[arg-type]  # two records a batch
        await out.confirm()
        return out

    out = asyncio.run(run())
    stored = [r for _, _, records in kafka.batches for r in records]
    # both batches of the first try failed: every record of them went again, once
    assert sorted(stored) == [(b"k%d" % i, b"x" * 900) for i in range(3)]
    assert [len(records) for _, _, records in kafka.batches] == [2, 1], "re-sent in batches as well"
    assert out.outputs == [] and out.attempts == 2
    assert STAGE_SEND_RETRIES.labels(stage="t")._value.get() - before == 3


class UndeclaredTopic:
    """A topic whose declaration fails ``failures`` times, as when the controller was just killed."""

    def __init__(self, *names: str, failures: int = 0) -> None:
        self.topics = list(names)
        self.failures = failures
        self.calls = 0

    async def declare(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise KafkaConnectionError("Connection at 127.0.0.1:54725 closed")


def test_declare_retries_a_lost_controller_and_declares_each_topic_once_per_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stage, "MAX_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(stage, "_DECLARED", set())
    monkeypatch.setattr(stage, "_DECLARING", asyncio.Lock())  # of this test's event loop
    flaky = UndeclaredTopic("t.raw.a", "t.raw.b", failures=3)
    cases, cases_again = UndeclaredTopic("t.cases"), UndeclaredTopic("t.cases")

    async def start() -> None:
        # Two stages declaring at once, as the worker's tasks do; neither may raise.
        await asyncio.gather(stage.declare(flaky, cases), stage.declare(cases_again, flaky))

    asyncio.run(start())
    assert flaky.calls == 4  # three refusals, then created
    assert (cases.calls, cases_again.calls) == (1, 0)  # the same topic, declared once
    retries = [r.getMessage() for r in caplog.records if "declaring" in r.getMessage()]
    assert len(retries) == 3 and "t.raw.a, t.raw.b failed (attempt 1: KafkaConnectionError" in retries[0]

"""The connector contract itself: cursor only after flush, retries, rate limit, last-seen gauge."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ingest.connectors.base import (
    Batch,
    CursorStore,
    PermanentError,
    RateLimiter,
    RawItem,
    Runner,
    TransientError,
    retrying,
)
from ingest.metrics import CHANNEL_LAST_SEEN
from schemas import Channel

from .conftest import Crash, FakeEvents, FakeProbe, FakePublisher


@dataclass
class Counter:
    """A source of records 1..total, ``page`` at a time, failing on cue."""

    total: int = 10
    page: int = 3
    failures: list[Exception] = field(default_factory=list)
    name: str = "counter"
    channel: Channel = Channel.WEBFORM
    calls: int = 0

    def fetch(self, cursor):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        start = (cursor or {}).get("next", 1)
        ids = list(range(start, min(start + self.page, self.total + 1)))
        items = [RawItem(str(i), b'{"text": "%d"}' % i) for i in ids]
        nxt = start + len(ids)
        return Batch(items=items, cursor={"next": nxt}, more=nxt <= self.total)


class FailingFlush(FakePublisher):
    def flush(self, timeout=60):
        self.pending.clear()
        raise RuntimeError("broker unreachable")


def fast():
    return retrying(attempts=3, initial=0.001, maximum=0.002)


def test_cursor_is_not_written_when_the_broker_did_not_confirm(cursors):
    with pytest.raises(RuntimeError, match="broker"):
        Runner(Counter(), FailingFlush(), cursors, retry=fast()).step()
    assert cursors.load("counter") is None
    pub = FakePublisher()
    Runner(Counter(), pub, cursors, retry=fast()).drain()
    assert pub.source_ids() == [str(i) for i in range(1, 11)]


def test_transient_errors_are_retried_then_given_up(cursors):
    src = Counter(failures=[TransientError("net"), TransientError("net")])
    pub = FakePublisher()
    Runner(src, pub, cursors, retry=fast()).drain()
    assert len(pub.delivered) == 10
    src = Counter(failures=[TransientError("net")] * 3)
    with pytest.raises(TransientError):
        Runner(src, FakePublisher(), CursorStore(cursors.directory / "b"), retry=fast()).step()
    assert src.calls == 3


def test_permanent_errors_are_not_retried(cursors):
    src = Counter(failures=[PermanentError("bad token")])
    with pytest.raises(PermanentError):
        Runner(src, FakePublisher(), cursors, retry=fast()).step()
    assert src.calls == 1


def test_retry_after_is_honoured():
    waits = []
    policy = retrying(attempts=2, initial=0.001, maximum=0.002)
    policy.sleep = waits.append
    calls = iter([TransientError("429", retry_after=7.0), None])

    def fn():
        exc = next(calls)
        if exc:
            raise exc
        return "ok"

    assert policy(fn) == "ok" and waits == [7.0]


def test_rate_limiter_spaces_calls():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.wait()
    assert slept == [0.25] * 4


def test_unreadable_cursor_stops_instead_of_guessing(cursors):
    cursors.save("counter", {"next": 4})
    cursors.path("counter").write_text("{trunc")
    with pytest.raises(PermanentError, match="unreadable"):
        Runner(Counter(), FakePublisher(), cursors).step()


def test_last_seen_gauge_is_set_per_channel(cursors):
    Runner(Counter(), FakePublisher(), cursors, FakeEvents(), clock=lambda: 1234.5).drain()
    assert CHANNEL_LAST_SEEN.labels(channel="webform")._value.get() == 1234.5


def test_a_kill_while_the_batch_is_on_the_wire_repeats_it_without_a_probe(cursors):
    pub = FakePublisher(crash_in_flush=2)
    with pytest.raises(Crash):
        Runner(Counter(), pub, cursors, retry=fast()).drain()
    pub.crash_in_flush = None
    Runner(Counter(), pub, cursors, retry=fast()).drain()
    ids = pub.source_ids()
    assert sorted(set(ids), key=int) == [str(i) for i in range(1, 11)]
    assert len(ids) == 12  # "1" and "2" twice: what the probe is for


@pytest.mark.parametrize("dies_after", [0, 1, 2])
def test_with_a_probe_the_restart_leaves_out_what_reached_the_topic(cursors, dies_after):
    pub = FakePublisher()
    src = Counter(page=3)
    runner = Runner(src, pub, cursors, retry=fast(), probe=FakeProbe(pub))
    runner.step()  # batch 1..3 stored
    pub.crash_in_flush = dies_after
    with pytest.raises(Crash):
        runner.step()  # batch 4..6 dies on the wire after `dies_after` records
    pub.crash_in_flush = None
    restarted = Runner(Counter(page=3), pub, cursors, retry=fast(), probe=FakeProbe(pub))
    restarted.drain()
    ids = pub.source_ids()
    assert ids == [str(i) for i in range(1, 11)]  # each exactly once, in order
    assert restarted.stats.skipped == dies_after
    assert not cursors.intent_path("counter").exists()


def test_the_probe_resumes_from_the_first_intent_even_after_a_second_death(cursors):
    pub = FakePublisher(crash_in_flush=1)
    with pytest.raises(Crash):
        Runner(Counter(), pub, cursors, retry=fast(), probe=FakeProbe(pub)).step()
    pub.crash_in_flush = 1  # the restart dies too, after one more record of the same batch
    with pytest.raises(Crash):
        Runner(Counter(), pub, cursors, retry=fast(), probe=FakeProbe(pub)).step()
    pub.crash_in_flush = None
    Runner(Counter(), pub, cursors, retry=fast(), probe=FakeProbe(pub)).drain()
    assert pub.source_ids() == [str(i) for i in range(1, 11)]

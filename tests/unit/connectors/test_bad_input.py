"""Bad input on every channel ends as a rejection with a reason (→ dead letters), never a crash.

Starts from a valid synthetic record of each channel (the simulator's) and breaks it the ways
real feeds break: truncated JSON, a legacy encoding, an oversized body, unknown fields, wrong types.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from ingest.connectors.base import json_bytes
from ingest.simulator import SimConfig, simulate
from schemas import Channel

from .conftest import FakePublisher, normalize_delivered

END = datetime(2026, 11, 27, 12, tzinfo=UTC)


def one_per_channel() -> dict[Channel, tuple[str, dict]]:
    found: dict[Channel, tuple[str, dict]] = {}
    for r in simulate(SimConfig(days=10, per_day=300, seed=11, end=END)):
        if r.payload is not None and r.channel not in found:
            found[r.channel] = (r.source_id, r.payload)
    assert set(found) == set(Channel)
    return found


SAMPLES = one_per_channel()


def run(channel: Channel, body: bytes):
    pub = FakePublisher()
    pub.delivered.append((channel.value, SAMPLES[channel][0], body, None))
    return normalize_delivered(pub)


@pytest.mark.parametrize("channel", list(Channel))
def test_the_valid_sample_passes(channel):
    ok, rejected = run(channel, json_bytes(SAMPLES[channel][1]))
    assert rejected == [] and len(ok) == 1


@pytest.mark.parametrize("channel", list(Channel))
def test_truncated_json(channel):
    body = json_bytes(SAMPLES[channel][1])
    _ok, rejected = run(channel, body[: len(body) // 2])
    assert [r.reason for r in rejected] in (["bad_json"], ["invalid_utf8"])  # a cut may split a UTF-8 letter


@pytest.mark.parametrize("channel", list(Channel))
def test_legacy_encoding(channel):
    body = json.dumps(SAMPLES[channel][1], ensure_ascii=False).encode("cp1251", errors="replace")
    _ok, rejected = run(channel, body)
    assert [r.reason for r in rejected] == ["invalid_utf8"]


@pytest.mark.parametrize("channel", list(Channel))
def test_oversized_body(channel):
    payload = dict(SAMPLES[channel][1], padding="x" * (1 << 20))
    _ok, rejected = run(channel, json_bytes(payload))
    assert [r.reason for r in rejected] == ["too_large"]


@pytest.mark.parametrize("channel", list(Channel))
def test_unknown_fields_are_tolerated(channel):
    payload = dict(SAMPLES[channel][1], новое_поле={"nested": [1, 2]}, future_api_field=True)
    ok, rejected = run(channel, json_bytes(payload))
    assert rejected == [] and len(ok) == 1


@pytest.mark.parametrize("channel", list(Channel))
def test_not_an_object(channel):
    _ok, rejected = run(channel, json_bytes([SAMPLES[channel][1]]))
    assert [r.reason for r in rejected] == ["not_object"]


@pytest.mark.parametrize("channel", list(Channel))
def test_text_of_the_wrong_type(channel):
    payload = SAMPLES[channel][1]
    broken = json.loads(json.dumps(payload))
    # The resident's text is the longest string of the record.
    text_key = max((kv for kv in _walk(broken) if isinstance(kv[1], str)), key=lambda kv: len(kv[1]))[0]
    _set(broken, text_key, {"not": "text"})
    _ok, rejected = run(channel, json_bytes(broken))
    assert [r.reason for r in rejected] == ["validation"]


def _walk(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "synthetic_truth":
                continue
            yield from _walk(v, (*prefix, k))
    else:
        yield prefix, obj


def _set(obj, path, value):
    for k in path[:-1]:
        obj = obj[k]
    obj[path[-1]] = value

"""The simulator: every record it makes is marked synthetic, normalises cleanly, follows the census
weights, and its status events come after their message."""

from __future__ import annotations

import collections
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from ingest.connectors.open311 import load_services
from ingest.simulator import SimConfig, simulate
from ingest.simulator.places import load_places
from ingest.simulator.texts import TOPICS
from mcu.commands.connector import simulate_cmd
from schemas import Channel, message_id_for

from .conftest import FakePublisher, normalize_delivered

END = datetime(2026, 11, 27, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def records():
    return list(simulate(SimConfig(days=14, per_day=400, seed=7, end=END)))


def test_same_seed_same_traffic():
    a = [(r.at, r.source_id) for r in simulate(SimConfig(days=1, per_day=300, seed=3, end=END))]
    b = [(r.at, r.source_id) for r in simulate(SimConfig(days=1, per_day=300, seed=3, end=END))]
    c = [(r.at, r.source_id) for r in simulate(SimConfig(days=1, per_day=300, seed=4, end=END))]
    assert a == b and a != c


def test_every_message_is_marked_synthetic_and_normalises(records):
    pub = FakePublisher()
    from ingest.connectors.base import json_bytes

    for r in records:
        if r.payload is not None:
            assert r.payload["synthetic"] is True
            pub.delivered.append((r.channel.value, r.source_id, json_bytes(r.payload), r.at))
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    assert {m.channel for m in messages} == set(Channel)
    assert all(m.extra.get("synthetic") is True for m in messages)


def test_settlements_follow_census_population(records):
    places = load_places()
    total_pop = sum(p for _c, _n, p in places.settlements)
    counts = collections.Counter(r.truth["settlement"] for r in records if r.payload)
    n = sum(counts.values())
    for code, _name, pop in places.settlements:
        expected = pop / total_pop
        assert abs(counts[code] / n - expected) < 0.03, (code, counts[code] / n, expected)


def test_events_follow_their_messages_and_stay_in_the_span(records):
    born = {}
    for r in records:
        if r.payload is not None:
            born[message_id_for(r.channel.value, r.source_id)] = r.at
    events = [r.event for r in records if r.event is not None]
    assert events
    kinds = collections.Counter(e.type.value for e in events)
    assert kinds["answered"] > kinds["reopened"] > 0 and kinds["rated"] > 0
    for e in events:
        assert e.message_id in born and born[e.message_id] < e.at <= END
    times = [r.at for r in records]
    assert times == sorted(times)


def test_topics_are_categories_of_the_taxonomy():
    codes = {s["service_code"] for s in load_services()}
    assert set(TOPICS) <= codes


def test_cli_writes_jsonl_without_kafka(tmp_path):
    result = CliRunner().invoke(simulate_cmd, ["--days", "0.5", "--seed", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "синтетических обращений" in result.output
    assert (tmp_path / "raw.pos.jsonl").read_text().count('"synthetic": true') > 0


def test_outcomes_follow_the_measured_shares():
    """Each case's ending is drawn from data/outcomes.yaml (real portal histories): with enough
    cases the simulated shares land near the file's, and every status kind real sources emit shows up."""
    import random

    from ingest.simulator.traffic import _lifecycle, load_outcomes

    shares = load_outcomes()
    rng = random.Random(11)
    at = datetime(2026, 1, 12, 10, tzinfo=UTC)
    n = 6000
    ends: collections.Counter[str] = collections.Counter()
    forwarded = 0
    for i in range(n):
        kinds = [e.type.value for e in _lifecycle(rng, Channel.POS, f"s{i}", at, "tuapsinskoe")]
        forwarded += "forwarded" in kinds
        if "resolved" in kinds:
            assert kinds.index("resolved") > kinds.index("answered")
            ends["resolved"] += 1
        elif "rejected" in kinds:
            ends["rejected"] += 1
        elif "answered" in kinds:
            ends["answered"] += 1
        elif "interim_answer" in kinds:
            ends["interim_only"] += 1
        else:
            assert kinds == []
            ends["open"] += 1
    for outcome, share in shares.outcomes.items():
        assert abs(ends[outcome] / n - share) < 0.02, (outcome, ends[outcome] / n, share)
    assert abs(forwarded / n - shares.forwarded_share) < 0.02


def test_a_month_of_traffic_has_resolved_cases_in_every_settlement():
    # What the demo's ratings read: «решено» is not 0 % anywhere once answers have had time.
    recs = list(simulate(SimConfig(days=30, per_day=300, seed=5, end=END)))
    settlement = {message_id_for(r.channel.value, r.source_id): r.truth["settlement"] for r in recs if r.payload}
    resolved = collections.Counter(
        settlement[r.event.message_id] for r in recs if r.event and r.event.type == "resolved"
    )
    assert set(resolved) == set(settlement.values())
    kinds = collections.Counter(r.event.type.value for r in recs if r.event)
    assert kinds["resolved"] and kinds["rejected"] and kinds["forwarded"] and kinds["interim_answer"]

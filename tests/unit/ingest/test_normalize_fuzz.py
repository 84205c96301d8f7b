"""Property tests: whatever bytes arrive, the normaliser returns a message or a reasoned Rejected."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.normalize import Rejected, normalize_record
from schemas import NormalizedMessage
from tests.bad_inputs import bad_input

KNOWN_REASONS = {
    "bad_json", "invalid_utf8", "not_object", "validation", "empty_text", "too_large", "bad_envelope", "bad_time",
}  # fmt: skip


def outcome(body: bytes) -> str:
    try:
        msg = normalize_record(body, {}, "raw.webform", max_bytes=4096, author_key=b"k", max_text_chars=1000)
    except Rejected as rej:
        assert rej.reason in KNOWN_REASONS, rej.reason
        assert rej.detail
        return rej.reason
    assert isinstance(msg, NormalizedMessage) and msg.text.strip()
    return "ok"


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    outcome(body)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)


@settings(max_examples=2000, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(["id", "text", "lat", "lon", "created_at", "author", "title"]), json_values))
def test_arbitrary_json_objects_never_crash(payload: dict) -> None:
    import json

    outcome(json.dumps(payload).encode())


def test_ten_thousand_bad_inputs_are_all_rejected_with_a_reason() -> None:
    rng = random.Random(965)
    reasons = [outcome(bad_input(rng)[0]) for _ in range(10_000)]
    assert "ok" not in reasons
    assert set(reasons) <= KNOWN_REASONS

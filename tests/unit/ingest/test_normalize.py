import json

import pytest

from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import H_CHANNEL, H_SOURCE_ID, derive_source_id
from schemas import Channel, message_id_for

KEY = b"test-key"


def run(body: bytes, headers: dict[str, str] | None = None, topic: str = "raw.webform"):
    return normalize_record(body, headers or {}, topic, max_bytes=1024 * 1024, author_key=KEY, max_text_chars=5000)


def reason(body: bytes) -> str:
    with pytest.raises(Rejected) as info:
        run(body)
    return info.value.reason


def test_a_good_record_keeps_source_id_and_gets_a_stable_message_id():
    body = json.dumps({"id": "42", "text": "Нет воды в Джубге", "author": "+79001234567"}).encode()
    msg = run(body, {H_CHANNEL: "webform", H_SOURCE_ID: "42"})
    assert msg.channel is Channel.WEBFORM
    assert msg.source_id == "42"
    assert msg.message_id == message_id_for("webform", "42")
    assert msg.text == "Нет воды в Джубге"
    # the author is pseudonymised, never carried in clear
    assert msg.author_id and "7900" not in msg.author_id


def test_channel_comes_from_the_topic_when_headers_are_missing():
    msg = run(json.dumps({"text": "привет"}).encode(), topic="raw.vk")
    assert msg.channel is Channel.VK


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe\x00bad", "invalid_utf8"),
        (b"[1, 2]", "not_object"),
        (json.dumps({"text": "   "}).encode(), "empty_text"),
        (json.dumps({"id": "x"}).encode(), "empty_text"),
        (json.dumps({"text": 123}).encode(), "validation"),
        (json.dumps({"text": "ok", "lat": "north"}).encode(), "validation"),
        (json.dumps({"text": "ok", "created_at": "yesterday"}).encode(), "validation"),
        (json.dumps({"text": "x" * 2_000_000}).encode(), "too_large"),
    ],
)
def test_bad_records_are_rejected_with_a_reason(body: bytes, expected: str):
    assert reason(body) == expected


def test_source_id_falls_back_to_a_digest_so_refeeding_is_idempotent():
    body = b'{"text": "no id here"}'
    assert derive_source_id(body) == derive_source_id(body)
    assert derive_source_id(body).startswith("sha256:")
    assert derive_source_id(b'{"id": 7, "text": "x"}') == "7"

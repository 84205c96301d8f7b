from datetime import UTC, datetime

import pytest

from kafkaio.wire import H_CHANNEL, H_RECEIVED_AT, H_SOURCE_ID, RecordTooLarge, raw_record
from schemas import message_id_for


def test_raw_record_keys_by_message_id_and_carries_the_envelope_in_headers() -> None:
    when = datetime(2026, 11, 1, 10, tzinfo=UTC)
    rec = raw_record("vk", b'{"id": 7, "text": "yama"}', max_record_bytes=100, received_at=when)
    assert rec.topic == "raw.vk" and rec.source_id == "7"
    assert rec.key == message_id_for("vk", "7").encode() == rec.message_id.encode()
    headers = dict(rec.headers)
    assert headers[H_CHANNEL] == b"vk" and headers[H_SOURCE_ID] == b"7"
    assert headers[H_RECEIVED_AT] == when.isoformat().encode()


def test_every_builder_call_checks_the_record_limit() -> None:
    assert raw_record("webform", b"x" * 10, max_record_bytes=10).value == b"x" * 10
    with pytest.raises(RecordTooLarge, match="11 bytes"):
        raw_record("webform", b"x" * 11, max_record_bytes=10)


def test_an_unknown_channel_is_refused() -> None:
    with pytest.raises(ValueError):
        raw_record("pigeon", b"{}", max_record_bytes=10)

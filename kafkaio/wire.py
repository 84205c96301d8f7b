"""How a raw record travels on ``raw.<channel>``.

The value is the payload exactly as the channel gave it (bytes, possibly not even valid UTF-8 or
JSON: a bad record must still reach the dead letters whole). The envelope's other fields ride in
Kafka headers, so nothing has to be re-encoded to carry them.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas import Channel, message_id_for
from schemas.topics import raw_topic

H_CHANNEL = "mcu-channel"
H_SOURCE_ID = "mcu-source-id"
H_RECEIVED_AT = "mcu-received-at"
H_FETCHED_AT = "mcu-fetched-at"

ID_FIELDS = ("id", "source_id", "message_id")


def derive_source_id(body: bytes) -> str:
    """The source's own id when the payload carries one, else a digest of the bytes.

    A digest keeps re-feeding the same file idempotent even for records without an id.
    """
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        obj = None
    if isinstance(obj, dict):
        for field in ID_FIELDS:
            value = obj.get(field)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def encode_headers(
    channel: str, source_id: str, received_at: datetime | None, fetched_at: datetime
) -> list[tuple[str, bytes]]:
    headers = [
        (H_CHANNEL, channel.encode()),
        (H_SOURCE_ID, source_id.encode()),
        (H_FETCHED_AT, fetched_at.isoformat().encode()),
    ]
    if received_at is not None:
        headers.append((H_RECEIVED_AT, received_at.isoformat().encode()))
    return headers


def decode_headers(headers: object) -> dict[str, str]:
    """Faust gives headers as a list of pairs or a mapping; both become a str→str dict."""
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    out: dict[str, str] = {}
    for key, value in items:  # type: ignore[union-attr]
        k = key.decode() if isinstance(key, bytes) else str(key)
        v = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        out[k] = v
    return out


class RecordTooLarge(ValueError):
    """The payload is over MCU_MAX_RECORD_BYTES: the broker would refuse it, so nobody sends it."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record for ``raw.<channel>``, ready for any producer (kafka-python or Faust)."""

    topic: str  # without the deployment's topic prefix
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    message_id: str
    source_id: str


def raw_record(
    channel: Channel | str,
    body: bytes,
    *,
    max_record_bytes: int,
    source_id: str | None = None,
    received_at: datetime | None = None,
    fetched_at: datetime | None = None,
) -> RawRecord:
    """The one way a raw record is built: every intake path gets the same key, headers and size check."""
    if len(body) > max_record_bytes:
        raise RecordTooLarge(f"{len(body)} bytes, Kafka limit here is {max_record_bytes}")
    channel = Channel(channel)
    source_id = source_id or derive_source_id(body)
    message_id = message_id_for(channel.value, source_id)
    headers = encode_headers(channel.value, source_id, received_at, fetched_at or datetime.now(UTC))
    return RawRecord(raw_topic(channel), message_id.encode(), body, headers, message_id, source_id)

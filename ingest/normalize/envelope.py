import json
from datetime import UTC, datetime

from pydantic import ValidationError

from ingest.normalize.rejected import Rejected
from ingest.wire import H_CHANNEL, H_FETCHED_AT, H_RECEIVED_AT, H_SOURCE_ID, derive_source_id
from schemas import RawEnvelope
from schemas.topics import RAW_PREFIX


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Rejected("bad_header", f"not an ISO time: {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def envelope_from_record(value: bytes, headers: dict[str, str], topic: str, max_bytes: int) -> RawEnvelope:
    """Rebuild the envelope of a raw record; every way it can be wrong is a ``Rejected``."""
    if len(value) > max_bytes:
        raise Rejected("too_large", f"{len(value)} bytes, limit {max_bytes}")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected("invalid_utf8", str(exc)) from exc
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Rejected("bad_json", f"{exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(payload, dict):
        raise Rejected("not_object", f"payload is a JSON {type(payload).__name__}, expected an object")
    channel = headers.get(H_CHANNEL) or topic.removeprefix(RAW_PREFIX)
    try:
        return RawEnvelope(
            channel=channel,
            source_id=headers.get(H_SOURCE_ID) or derive_source_id(value),
            received_at=_parse_time(headers.get(H_RECEIVED_AT)) or datetime.now(UTC),
            fetched_at=_parse_time(headers.get(H_FETCHED_AT)) or datetime.now(UTC),
            payload=payload,
        )
    except ValidationError as exc:
        raise Rejected("bad_envelope", _short(exc)) from exc


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])

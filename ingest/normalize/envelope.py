import json
from datetime import UTC, datetime

from pydantic import ValidationError

from ingest.normalize.rejected import Rejected
from kafkaio.wire import H_CHANNEL, H_FETCHED_AT, H_RECEIVED_AT, H_SOURCE_ID, derive_source_id
from schemas import RawEnvelope
from schemas.times import BAD_TIME, TIME_CONTEXT, BadTime, check_time, is_bad_time
from schemas.topics import RAW_PREFIX


def _parse_time(value: str | None, header: str, now: datetime) -> datetime | None:
    """Our connectors write these headers in UTC; a zone-less one is still read as UTC, not Moscow."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Rejected("bad_header", f"not an ISO time: {value[:60]!r}") from exc
    try:
        return check_time(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC), header, now=now)
    except BadTime as exc:
        raise Rejected(exc.reason, str(exc)) from exc


def envelope_from_record(
    value: bytes, headers: dict[str, str], topic: str, max_bytes: int, *, now: datetime | None = None
) -> RawEnvelope:
    """Rebuild the envelope of a raw record; every way it can be wrong is a ``Rejected``."""
    now = datetime.now(UTC) if now is None else now
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
        return RawEnvelope.model_validate(
            {
                "channel": channel,
                "source_id": headers.get(H_SOURCE_ID) or derive_source_id(value),
                "received_at": _parse_time(headers.get(H_RECEIVED_AT), H_RECEIVED_AT, now) or now,
                "fetched_at": _parse_time(headers.get(H_FETCHED_AT), H_FETCHED_AT, now) or now,
                "payload": payload,
            },
            context={TIME_CONTEXT: now},
        )
    except ValidationError as exc:
        if is_bad_time(exc.errors()):
            raise Rejected(BAD_TIME, _short(exc)) from exc
        raise Rejected("bad_envelope", _short(exc)) from exc


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:5])

"""Raw record → NormalizedMessage: the first stage, pure and Kafka-free."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ingest.normalize.envelope import envelope_from_record
from ingest.normalize.generic import generic_fields
from ingest.normalize.rejected import Rejected
from ingest.pseudonymize import pseudonymize
from schemas import Channel, NormalizedMessage, RawEnvelope
from schemas.times import BAD_TIME, TIME_CONTEXT, BadTime, check_time, is_bad_time

FieldMapper = Callable[[RawEnvelope], dict[str, Any]]

# Channels whose payload differs from the generic shape register their own mapper here.
MAPPERS: dict[Channel, FieldMapper] = {}


def normalize(
    env: RawEnvelope, *, author_key: bytes, max_text_chars: int, now: datetime | None = None
) -> NormalizedMessage:
    """``now`` is the clock the time window is checked against (schemas/times.py); wall clock if None."""
    now = datetime.now(UTC) if now is None else now
    mapper = MAPPERS.get(env.channel, generic_fields)
    fields = mapper(env)
    text = fields.get("text")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise Rejected("empty_text", "the message has no text")
    if isinstance(text, str) and len(text) > max_text_chars:
        raise Rejected("too_large", f"text of {len(text)} characters, limit {max_text_chars}")
    author = fields.pop("author", None)
    fields["created_at"] = _created_at(fields, now)
    try:
        return NormalizedMessage.model_validate(
            {
                "message_id": env.message_id,
                "channel": env.channel,
                "source_id": env.source_id,
                "fetched_at": env.fetched_at,
                "normalized_at": now,
                "author_id": pseudonymize(author, author_key) if author else None,
                **fields,
            },
            context={TIME_CONTEXT: now},
        )
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise Rejected(BAD_TIME if is_bad_time(exc.errors()) else "validation", detail) from exc


def _created_at(fields: dict[str, Any], now: datetime) -> datetime:
    """The source's time in the window, or the mapper's fallback (e-mail: when we received it)."""
    fallback = fields.pop("created_at_fallback", None)
    value = fields.get("created_at")
    if not isinstance(value, datetime):
        raise Rejected("validation", f"created_at: expected a date-time, got {type(value).__name__}")
    try:
        return check_time(value, "created_at", now=now)
    except BadTime as exc:
        if fallback is None:
            raise Rejected(exc.reason, str(exc)) from exc
        try:
            return check_time(fallback, "received_at", now=now)
        except BadTime:
            raise Rejected(exc.reason, str(exc)) from exc


def normalize_record(
    value: bytes,
    headers: dict[str, str],
    topic: str,
    *,
    max_bytes: int,
    author_key: bytes,
    max_text_chars: int,
    now: datetime | None = None,
) -> NormalizedMessage:
    now = datetime.now(UTC) if now is None else now
    env = envelope_from_record(value, headers, topic, max_bytes, now=now)
    return normalize(env, author_key=author_key, max_text_chars=max_text_chars, now=now)


__all__ = ["MAPPERS", "Rejected", "envelope_from_record", "normalize", "normalize_record"]

# Channel mappers register themselves into MAPPERS; imported last because they import MAPPERS.
from ingest.normalize import channels as _channels  # noqa: E402, F401

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

FieldMapper = Callable[[RawEnvelope], dict[str, Any]]

# Channels whose payload differs from the generic shape register their own mapper here.
MAPPERS: dict[Channel, FieldMapper] = {}


def normalize(env: RawEnvelope, *, author_key: bytes, max_text_chars: int) -> NormalizedMessage:
    mapper = MAPPERS.get(env.channel, generic_fields)
    fields = mapper(env)
    text = fields.get("text")
    if text is None or (isinstance(text, str) and not text.strip()):
        raise Rejected("empty_text", "the message has no text")
    if isinstance(text, str) and len(text) > max_text_chars:
        raise Rejected("too_large", f"text of {len(text)} characters, limit {max_text_chars}")
    author = fields.pop("author", None)
    try:
        return NormalizedMessage(
            message_id=env.message_id,
            channel=env.channel,
            source_id=env.source_id,
            fetched_at=env.fetched_at,
            normalized_at=datetime.now(UTC),
            author_id=pseudonymize(author, author_key) if author else None,
            **fields,
        )
    except ValidationError as exc:
        detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise Rejected("validation", detail) from exc


def normalize_record(
    value: bytes,
    headers: dict[str, str],
    topic: str,
    *,
    max_bytes: int,
    author_key: bytes,
    max_text_chars: int,
) -> NormalizedMessage:
    env = envelope_from_record(value, headers, topic, max_bytes)
    return normalize(env, author_key=author_key, max_text_chars=max_text_chars)


__all__ = ["MAPPERS", "Rejected", "envelope_from_record", "normalize", "normalize_record"]

# Channel mappers register themselves into MAPPERS; imported last because they import MAPPERS.
from ingest.normalize import channels as _channels  # noqa: E402, F401

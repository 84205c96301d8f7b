"""The field names most channels' JSON uses; a channel with its own shape gets its own mapper."""

from datetime import UTC, datetime
from typing import Any

from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope

TEXT_FIELDS = ("text", "message", "body", "description", "content")
TIME_FIELDS = ("created_at", "date", "created", "requested_datetime")
AUTHOR_FIELDS = ("author_id", "author", "from", "user_id")
HINT_FIELDS = ("settlement", "rubric", "community", "addressee")


def first(payload: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if payload.get(name) not in (None, ""):
            return payload[name]
    return None


def parse_time(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError) as exc:
            raise Rejected("validation", f"{field}: {value!r} is not a usable Unix time") from exc
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise Rejected("validation", f"{field}: not an ISO date-time: {value[:40]!r}") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise Rejected("validation", f"{field}: expected a date-time, got {type(value).__name__}")


def generic_fields(env: RawEnvelope) -> dict[str, Any]:
    """Map a payload to NormalizedMessage fields; types are left to the model to check."""
    p = env.payload
    author = first(p, AUTHOR_FIELDS)
    return {
        "text": first(p, TEXT_FIELDS),
        "title": p.get("title"),
        "created_at": parse_time(first(p, TIME_FIELDS), "created_at") or env.received_at,
        "source_url": p.get("url") or p.get("link"),
        "author": None if author is None else str(author),
        "lat": p.get("lat"),
        "lon": p.get("lon", p.get("long")),
        "address": p.get("address") or p.get("address_string"),
        "hints": {k: str(p[k]) for k in HINT_FIELDS if isinstance(p.get(k), str | int) and p.get(k) != ""},
    }

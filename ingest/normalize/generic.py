"""The field names most channels' JSON uses; a channel with its own shape gets its own mapper."""

from datetime import datetime
from typing import Any

from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope
from schemas.times import BadTime, UnreadableTime, from_epoch, read_time

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
    """A source's time as aware UTC (zone-less: Moscow time); ``normalize`` checks the window."""
    try:
        return read_time(value, field)
    except BadTime as exc:
        raise Rejected(exc.reason, str(exc)) from exc
    except UnreadableTime as exc:
        raise Rejected("validation", str(exc)) from exc


def epoch_time(value: Any, field: str) -> datetime:
    """A Unix time an API gives (VK, Telegram ``date``); overflow is ``bad_time``, never OverflowError."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise Rejected("validation", f"{field}: expected unix time, got {str(value)[:40]!r}")
    try:
        return from_epoch(value, field)
    except BadTime as exc:
        raise Rejected(exc.reason, str(exc)) from exc


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

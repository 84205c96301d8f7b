"""VK post or comment object (as the API and the Callback API give it) → NormalizedMessage fields."""

from __future__ import annotations

from typing import Any

from ingest.normalize.generic import epoch_time
from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope


def _geo(p: dict[str, Any]) -> tuple[float | None, float | None]:
    geo = p.get("geo")
    if not isinstance(geo, dict):
        return None, None
    coords = geo.get("coordinates")
    try:
        if isinstance(coords, str):  # "44.1053 39.0802" in the classic API versions
            lat, lon = (float(x) for x in coords.split()[:2])
            return lat, lon
        if isinstance(coords, dict):
            return float(coords["latitude"]), float(coords["longitude"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Rejected("validation", f"geo.coordinates: unreadable {str(coords)[:40]!r}") from exc
    return None, None


def fields(env: RawEnvelope) -> dict[str, Any]:
    p = env.payload
    text = p.get("text")
    if text is not None and not isinstance(text, str):
        raise Rejected("validation", f"text: expected a string, got {type(text).__name__}")
    created_at = epoch_time(p.get("date"), "date")
    owner = p.get("owner_id", p.get("post_owner_id"))
    is_comment = "post_id" in p
    try:
        if is_comment:
            url = f"https://vk.com/wall{int(owner)}_{int(p['post_id'])}?reply={int(p['id'])}"
        else:
            url = f"https://vk.com/wall{int(owner)}_{int(p['id'])}"
    except (TypeError, ValueError, KeyError) as exc:
        raise Rejected("validation", f"owner_id/post_id/id missing or not integers: {exc}") from exc
    lat, lon = _geo(p)
    raw_attachments = p.get("attachments")
    if raw_attachments is not None and not isinstance(raw_attachments, list):
        raise Rejected("validation", f"attachments: expected a list, got {type(raw_attachments).__name__}")
    attachments = [a.get("type") for a in raw_attachments or [] if isinstance(a, dict)]
    extra: dict[str, Any] = {"kind": "comment" if is_comment else "post"}
    if attachments:
        extra["attachments"] = attachments
    if p.get("synthetic") is True:
        extra["synthetic"] = True
    author = p.get("from_id") or p.get("signer_id")
    return {
        "text": text,
        "created_at": created_at,
        "source_url": url,
        "author": None if author is None else f"vk:{author}",
        "lat": lat,
        "lon": lon,
        "hints": {"community": str(owner)},
        "extra": extra,
    }

"""Open311 GeoReport v2 request (as ``POST requests`` took it) → NormalizedMessage fields."""

from __future__ import annotations

from typing import Any

from ingest.normalize.generic import parse_time
from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope


def fields(env: RawEnvelope) -> dict[str, Any]:
    p = env.payload
    text = p.get("description")
    if text is not None and not isinstance(text, str):
        raise Rejected("validation", f"description: expected a string, got {type(text).__name__}")
    # The author is known by the first contact given; only its pseudonym is kept (with the key of the
    # pipeline), names and the other contacts stay in the raw topic for its retention only.
    author = next((p[k] for k in ("email", "phone", "account_id", "device_id") if p.get(k)), None)
    extra: dict[str, Any] = {"service_request_id": p.get("service_request_id")}
    if p.get("media_url"):
        extra["media_url"] = p["media_url"]
    if p.get("synthetic") is True:
        extra["synthetic"] = True
    attributes = p.get("attributes")
    if attributes is not None and not isinstance(attributes, dict):
        raise Rejected("validation", f"attributes: expected an object, got {type(attributes).__name__}")
    hints = {"rubric": str(p["service_code"])} if p.get("service_code") else {}
    if attributes:
        extra["attributes"] = attributes
        if isinstance(attributes.get("settlement"), str):
            hints["settlement"] = attributes["settlement"]  # the resident's own answer: a routing hint
    return {
        "text": text,
        "created_at": parse_time(p.get("requested_datetime"), "requested_datetime") or env.received_at,
        "author": None if author is None else str(author),
        "lat": p.get("lat"),
        "lon": p.get("long"),
        "address": p.get("address_string"),
        "hints": hints,
        "extra": extra,
    }

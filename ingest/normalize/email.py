"""The record the IMAP connector publishes (ingest.connectors.email_imap.parse_message) → fields."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope


def fields(env: RawEnvelope) -> dict[str, Any]:
    p = env.payload
    if p.get("oversized"):
        raise Rejected("too_large", f"message of {p['oversized']} bytes as JSON (attachments stripped)")
    text = p.get("text")
    if text is not None and not isinstance(text, str):
        raise Rejected("validation", f"text: expected a string, got {type(text).__name__}")
    if p.get("clean") is False:
        raise Rejected("bad_encoding", f"body undecodable in {p.get('charsets')} and the fallbacks")
    created = env.received_at
    if isinstance(p.get("date"), str):
        try:
            created = datetime.fromisoformat(p["date"])
            if created.tzinfo is None:  # "Date: ... -0000" means UTC of unknown origin (RFC 5322)
                created = created.replace(tzinfo=UTC)
        except ValueError:
            pass  # a broken Date: header is common; when we received it is the honest fallback
    extra: dict[str, Any] = {
        "attachments": p.get("attachments") or [],
        "charsets": p.get("charsets") or [],
        "truncated": bool(p.get("truncated")),
    }
    if p.get("synthetic") is True:
        extra["synthetic"] = True
    return {
        "text": text,
        "title": p.get("subject"),
        "created_at": created,
        # A sender's clock set to 1980 or 2099 is as common as a broken header: same fallback.
        "created_at_fallback": env.received_at,
        "author": p.get("from"),
        "hints": {k: str(p[k]) for k in ("mailbox",) if p.get(k)},
        "extra": extra,
    }

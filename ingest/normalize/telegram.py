"""Telegram Bot API update → NormalizedMessage fields (message, edited message, channel post)."""

from __future__ import annotations

from typing import Any

from ingest.connectors.telegram import MESSAGE_KINDS
from ingest.normalize.generic import epoch_time
from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope


def fields(env: RawEnvelope) -> dict[str, Any]:
    p = env.payload
    kind = next((k for k in MESSAGE_KINDS if isinstance(p.get(k), dict)), None)
    if kind is None:
        raise Rejected("unsupported", "the update carries no message (only message kinds are taken)")
    msg = p[kind]
    text = msg.get("text", msg.get("caption"))
    if text is not None and not isinstance(text, str):
        raise Rejected("validation", f"{kind}.text: expected a string, got {type(text).__name__}")
    created_at = epoch_time(msg.get("date"), f"{kind}.date")
    chat = msg.get("chat") if isinstance(msg.get("chat"), dict) else {}
    sender = msg.get("from") if isinstance(msg.get("from"), dict) else {}
    username = chat.get("username")
    url = f"https://t.me/{username}/{msg.get('message_id')}" if username else None
    loc = msg.get("location") if isinstance(msg.get("location"), dict) else {}
    hints = {"community": str(chat.get("title") or username)} if (chat.get("title") or username) else {}
    extra: dict[str, Any] = {"kind": kind, "chat_type": chat.get("type")}
    if p.get("synthetic") is True:
        extra["synthetic"] = True
    author = sender.get("id") or chat.get("id")
    return {
        "text": text,
        "created_at": created_at,
        "source_url": url,
        "author": None if author is None else f"tg:{author}",
        "lat": loc.get("latitude"),
        "lon": loc.get("longitude"),
        "hints": hints,
        "extra": extra,
    }

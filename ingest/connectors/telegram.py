"""Telegram Bot API: updates by long polling (``getUpdates`` with offsets) or by webhook.

The offset is the cursor: Telegram forgets an update once a later call passes an offset above its
``update_id``, so the next offset is written only after the broker has the batch. In webhook
mode Telegram sends the configured secret in ``X-Telegram-Bot-Api-Secret-Token``.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from ingest.connectors.base import Batch, Cursor, PermanentError, RateLimiter, RawItem, TransientError, json_bytes
from schemas import Channel

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MESSAGE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post")
ALLOWED_UPDATES = list(MESSAGE_KINDS)


def update_source_id(update: dict[str, Any]) -> str:
    """chat:message, so an edit replaces the message it edits; other updates keep their update id."""
    for kind in MESSAGE_KINDS:
        msg = update.get(kind)
        if isinstance(msg, dict) and isinstance(msg.get("chat"), dict) and "message_id" in msg:
            return f"{msg['chat'].get('id')}:{msg['message_id']}"
    return f"update:{update.get('update_id')}"


def update_item(update: dict[str, Any]) -> RawItem:
    msg = next((update[k] for k in MESSAGE_KINDS if isinstance(update.get(k), dict)), {})
    date = msg.get("edit_date") or msg.get("date")
    try:
        received = datetime.fromtimestamp(date, UTC) if isinstance(date, int) else None
    except (ValueError, OverflowError, OSError):
        received = None  # a date no clock can hold: the normaliser judges the record's own date
    return RawItem(update_source_id(update), json_bytes(update), received)


@dataclass
class TelegramPoller:
    token: str
    base_url: str
    limiter: RateLimiter
    client: httpx.Client
    timeout: int = 25  # seconds Telegram holds a long poll open
    limit: int = 100
    poll_seconds: float = 0.0  # getUpdates itself waits up to `timeout` for news: no pause between calls
    name: str = "telegram"
    channel: Channel = Channel.TELEGRAM

    def fetch(self, cursor: Cursor | None) -> Batch:
        offset = (cursor or {}).get("offset")
        params: dict[str, Any] = {"timeout": self.timeout, "limit": self.limit,
                                  "allowed_updates": json.dumps(ALLOWED_UPDATES)}  # fmt: skip
        if offset is not None:
            params["offset"] = offset
        self.limiter.wait()
        url = f"{self.base_url.rstrip('/')}/bot{self.token}/getUpdates"
        try:
            resp = self.client.get(url, params=params, timeout=self.timeout + 10)
        except httpx.TransportError as exc:
            raise TransientError(f"getUpdates: {type(exc).__name__}") from exc  # the URL holds the token
        try:
            data = resp.json()
        except ValueError as exc:
            raise TransientError(f"getUpdates: HTTP {resp.status_code}, not JSON") from exc
        if not data.get("ok"):
            code = int(data.get("error_code", resp.status_code))
            desc = str(data.get("description", ""))
            if code == 429:
                retry_after = (data.get("parameters") or {}).get("retry_after")
                raise TransientError(f"getUpdates: {desc}", retry_after=float(retry_after or 1))
            if code >= 500:
                raise TransientError(f"getUpdates: {code} {desc}")
            # 401 wrong token, 409 a webhook is set or another poller runs: a person must act.
            raise PermanentError(f"getUpdates: {code} {desc}")
        updates = data.get("result") or []
        items = [update_item(u) for u in updates if isinstance(u, dict)]
        ids = [int(u["update_id"]) for u in updates if isinstance(u, dict) and "update_id" in u]
        new_cursor = {"offset": max(ids) + 1} if ids else cursor
        return Batch(items=items, cursor=new_cursor, more=len(updates) >= self.limit)


def check_webhook(headers: dict[str, str], secret: str | None) -> bool:
    if secret is None:
        return False
    given = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER.lower()), "")
    return hmac.compare_digest(given.encode(), secret.encode())


def webhook_item(body: bytes) -> RawItem:
    """The update as Telegram posted it; a body that is not an update still goes on (to dead letters)."""
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        update = None
    if isinstance(update, dict):
        return RawItem(update_source_id(update), body, update_item(update).received_at)
    from kafkaio.wire import derive_source_id

    return RawItem(derive_source_id(body), body)

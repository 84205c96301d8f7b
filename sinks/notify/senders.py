"""Delivery over real sockets: SMTP, the Telegram Bot API and signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import aiosmtplib
import httpx

from sinks.notify.contacts import Address
from sinks.notify.settings import NotifySettings
from sinks.notify.templates import Rendered

TELEGRAM_LIMIT = 4096
SIGNATURE_HEADER = "X-MCU-Signature"
TIMESTAMP_HEADER = "X-MCU-Timestamp"


class PermanentError(Exception):
    """Retrying cannot help (bad address, unknown chat, rejected request): dead-letter at once."""


class TransientError(Exception):
    """Worth another try later (server down, timeout, rate limited by the other side)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Sender(Protocol):
    channel: str

    async def send(self, to: Address, msg: Rendered, key: str, payload: dict[str, Any]) -> None: ...

    async def aclose(self) -> None: ...


class EmailSender:
    channel = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        security: str = "none",
        timeout: float = 10.0,
    ) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError(f"smtp security must be none|starttls|tls, not {security!r}")
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.security, self.timeout = username, password, security, timeout

    async def send(self, to: Address, msg: Rendered, key: str, payload: dict[str, Any]) -> None:
        m = EmailMessage()
        m["From"] = self.sender
        m["To"] = to.target
        m["Subject"] = msg.subject
        m["Date"] = formatdate(localtime=False)
        m["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or "mcu.local")
        m["X-MCU-Event"] = key  # lets a mailbox rule or a second look spot re-sends
        m.set_content(msg.text, charset="utf-8")
        m.add_alternative(msg.html, subtype="html", charset="utf-8")
        try:
            await aiosmtplib.send(
                m,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.security == "tls",
                start_tls=True if self.security == "starttls" else False,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as e:
            raise PermanentError(f"SMTP refused {to.target}: {e}") from e
        except aiosmtplib.SMTPResponseException as e:
            if 500 <= e.code < 600:
                raise PermanentError(f"SMTP {e.code}: {e.message}") from e
            raise TransientError(f"SMTP {e.code}: {e.message}") from e
        except (aiosmtplib.SMTPException, OSError) as e:
            raise TransientError(f"SMTP {self.host}:{self.port}: {e}") from e

    async def aclose(self) -> None:
        return None


def _http_error(what: str, r: httpx.Response) -> Exception:
    if r.status_code == 429 or r.status_code >= 500:
        retry_after = None
        try:
            retry_after = float(r.json().get("parameters", {}).get("retry_after"))
        except (ValueError, TypeError, AttributeError):
            ra = r.headers.get("Retry-After")
            retry_after = float(ra) if ra and ra.isdigit() else None
        return TransientError(f"{what}: HTTP {r.status_code} {r.text[:200]}", retry_after)
    return PermanentError(f"{what}: HTTP {r.status_code} {r.text[:200]}")


class TelegramSender:
    """Bot API ``sendMessage``; ``api_base`` points at api.telegram.org or at a local test server."""

    channel = "telegram"

    def __init__(self, token: str, api_base: str = "https://api.telegram.org", timeout: float = 10.0) -> None:
        self.url = f"{api_base.rstrip('/')}/bot{token}/sendMessage"
        self.client = httpx.AsyncClient(timeout=timeout)

    async def send(self, to: Address, msg: Rendered, key: str, payload: dict[str, Any]) -> None:
        text = msg.telegram
        if len(text) > TELEGRAM_LIMIT:
            text = text[: TELEGRAM_LIMIT - 60].rsplit("\n", 1)[0] + "\n… (полный текст — в письме)"
        body = {"chat_id": to.target, "text": text, "parse_mode": "HTML", "disable_web_page_preview": True}
        try:
            r = await self.client.post(self.url, json=body)
        except httpx.HTTPError as e:
            raise TransientError(f"Telegram: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise _http_error("Telegram", r)
        data = r.json()
        if not data.get("ok"):
            raise PermanentError(f"Telegram: {data.get('description', data)}")

    async def aclose(self) -> None:
        await self.client.aclose()


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over ``<timestamp>.<body>``: binding the time stops replays of old bodies."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookSender:
    channel = "webhook"

    def __init__(self, secret: str, timeout: float = 10.0) -> None:
        if not secret:
            raise ValueError("a webhook needs a secret (MCU_WEBHOOK_SECRET) to sign its bodies")
        self.secret = secret.encode()
        self.client = httpx.AsyncClient(timeout=timeout)

    async def send(self, to: Address, msg: Rendered, key: str, payload: dict[str, Any]) -> None:
        doc = {"dedup_key": key, "subject": msg.subject, "text": msg.text, **payload}
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: sign(self.secret, ts, body),
            "Idempotency-Key": key,
        }
        try:
            r = await self.client.post(to.target, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise TransientError(f"webhook {to.target}: {type(e).__name__}: {e}") from e
        if not 200 <= r.status_code < 300:
            raise _http_error(f"webhook {to.target}", r)

    async def aclose(self) -> None:
        await self.client.aclose()


def senders_from_settings(settings: NotifySettings) -> dict[str, Sender]:
    """Every channel the settings make possible (Telegram only with a token, webhook with a secret)."""
    out: dict[str, Sender] = {
        "email": EmailSender(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_sender,
            settings.smtp_username,
            settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            settings.smtp_security,
            settings.timeout_seconds,
        )
    }
    if settings.telegram_bot_token:
        out["telegram"] = TelegramSender(
            settings.telegram_bot_token.get_secret_value(),
            settings.telegram_api_url,
            settings.timeout_seconds,
        )
    if settings.webhook_secret:
        out["webhook"] = WebhookSender(settings.webhook_secret.get_secret_value(), settings.timeout_seconds)
    return out

"""Which connectors exist and how each is built from the MCU_* settings."""

from __future__ import annotations

from pathlib import Path

import httpx

from ingest.connectors.base import Connector, CursorStore, RateLimiter
from ingest.connectors.email_imap import ImapMailbox
from ingest.connectors.file_import import FileImport
from ingest.connectors.formats import FORMATS
from ingest.connectors.settings import ConnectorSettings
from ingest.connectors.telegram import TelegramPoller
from ingest.connectors.vk import VkApi, VkWall
from schemas import Channel

POLLED = ("vk", "telegram", "email")
IMPORTS = tuple(c.value for c in FORMATS)


class NotConfigured(ValueError):
    pass


def cursor_store(var_dir: Path) -> CursorStore:
    return CursorStore(var_dir / "connectors")


def _need(settings: ConnectorSettings, *names: str) -> None:
    missing = [f"MCU_{n.upper()}" for n in names if getattr(settings, n) in (None, "")]
    if missing:
        raise NotConfigured("set " + ", ".join(missing))


def polled_connector(name: str, settings: ConnectorSettings) -> Connector:
    if name == "vk":
        _need(settings, "vk_token", "vk_owner_ids")
        owners = [int(x) for x in settings.vk_owner_ids.split(",") if x.strip()]
        api = VkApi(settings.vk_token.get_secret_value(), settings.vk_api_url,
                    RateLimiter(settings.vk_requests_per_second))  # fmt: skip
        return VkWall(api, owners, own_posts=settings.vk_own_posts)
    if name == "telegram":
        _need(settings, "telegram_bot_token")
        return TelegramPoller(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url,
                              RateLimiter(20), httpx.Client())  # fmt: skip
    if name == "email":
        _need(settings, "imap_host", "imap_user", "imap_password")
        return ImapMailbox(settings.imap_host, settings.imap_port, settings.imap_user,
                           settings.imap_password.get_secret_value(), mailbox=settings.imap_mailbox,
                           ssl=settings.imap_ssl, limiter=RateLimiter(1.0))  # fmt: skip
    raise NotConfigured(f"unknown polled connector {name!r}; known: {', '.join(POLLED)}")


def file_import(name: str, path: Path, batch_size: int = 500) -> FileImport:
    try:
        fmt = FORMATS[Channel(name)]
    except (ValueError, KeyError) as exc:
        raise NotConfigured(f"no file import for {name!r}; known: {', '.join(IMPORTS)}") from exc
    return FileImport(fmt, path, batch_size=batch_size)

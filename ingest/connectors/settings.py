"""Connectors section: each channel's credentials and addresses (``MCU_VK_*``, ``MCU_TELEGRAM_*``,
``MCU_IMAP_*``, ``MCU_OPEN311_*``, ``MCU_INCIDENT_PUSH_TOKEN``) and the polling pause.

``MCU_TELEGRAM_BOT_TOKEN`` is the intake bot (the poller and the webhook). Notifications may use another
bot (``MCU_NOTIFY_TELEGRAM_BOT_TOKEN``, sinks/notify/settings.py) and fall back to this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Open311ServiceType = Literal["realtime", "batch"]


class ConnectorSettings(BaseSettings):
    """Credentials and addresses of the intake channels; the pollers' cursors live in <var_dir>/connectors."""

    model_config = SettingsConfigDict(env_prefix="MCU_", env_file=None, extra="ignore", populate_by_name=True)

    poll_seconds: float = Field(
        default=60.0, gt=0, validation_alias="MCU_CONNECTOR_POLL_SECONDS", description="pause between polling rounds"
    )
    vk_token: SecretStr | None = Field(default=None, description="VK API access token (community or service)")
    vk_api_url: str = Field(default="https://api.vk.com/method", description="VK API base URL")
    vk_owner_ids: str = Field(default="", description="comma-separated walls to poll; communities are negative")
    vk_requests_per_second: float = Field(default=3.0, gt=0, description="VK allows 3/s for user tokens")
    vk_own_posts: bool = Field(default=False, description="also take the communities' own posts")
    vk_callback_secret: SecretStr | None = Field(
        default=None, description="secret VK sends with every Callback API event; unset: the callback is off"
    )
    vk_callback_confirmation: str | None = Field(default=None, description="string VK expects on confirmation")
    vk_callback_group_ids: str = Field(default="", description="comma-separated group ids the callback accepts")
    telegram_bot_token: SecretStr | None = Field(
        default=None, description="token of the intake bot (getUpdates poller); notifications fall back to it"
    )
    telegram_api_url: str = Field(default="https://api.telegram.org", description="Bot API base URL of the intake")
    telegram_webhook_secret: SecretStr | None = Field(
        default=None, description="X-Telegram-Bot-Api-Secret-Token of the webhook; unset: the webhook is off"
    )
    imap_host: str | None = Field(default=None, description="IMAP server of the e-mail channel")
    imap_port: int = Field(default=993, ge=1, le=65535, description="IMAP port")
    imap_ssl: bool = Field(default=True, description="IMAP over TLS (port 993); false: plain IMAP")
    imap_user: str | None = Field(default=None, description="IMAP login")
    imap_password: SecretStr | None = Field(default=None, description="IMAP password")
    imap_mailbox: str = Field(default="INBOX", description="mailbox polled for messages")
    incident_push_token: SecretStr | None = Field(default=None, description="bearer token of the incident push")
    open311_api_key: SecretStr | None = Field(
        default=None, description="api_key Open311 POST requests must carry; unset: Open311 POST is off (403)"
    )
    open311_services_file: Path | None = Field(default=None, description="taxonomy YAML for GET services")
    open311_service_type: Open311ServiceType = Field(
        default="realtime",
        description="realtime: POST answers the service_request_id; batch: a token, resolved by GET tokens/<token>",
    )
    open311_jurisdiction_id: str | None = Field(
        default=None, description="jurisdiction_id this endpoint answers for; unset: the parameter is ignored"
    )

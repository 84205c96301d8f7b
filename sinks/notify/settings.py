"""Notify section: ``MCU_NOTIFY_*`` plus the channels' own variables (``MCU_SMTP_*``, ``MCU_WEBHOOK_SECRET``).

The notifications' Telegram bot is its own: ``MCU_NOTIFY_TELEGRAM_BOT_TOKEN``. Until this section existed
intake and notifications shared one ``MCU_TELEGRAM_BOT_TOKEN``, so a deployment that sets only that one keeps
working: it is the fallback when ``MCU_NOTIFY_TELEGRAM_BOT_TOKEN`` is unset (one bot for both, as before).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

SmtpSecurity = Literal["none", "starttls", "tls"]


class NotifySettings(BaseSettings):
    """Who gets SLA notifications, over what, and how hard the sender tries."""

    model_config = SettingsConfigDict(env_prefix="MCU_NOTIFY_", env_file=None, extra="ignore", populate_by_name=True)

    contacts_file: Path | None = Field(
        default=None,
        validation_alias="MCU_CONTACTS_FILE",
        description="who gets SLA notifications; see sinks/notify/data/contacts.example.yaml",
    )
    max_attempts: int = Field(default=5, ge=1, description="tries per message before the dead letter")
    backoff_seconds: float = Field(default=1.0, gt=0, description="first retry delay, doubling")
    rate_per_minute: int = Field(default=20, ge=1, description="messages per recipient per minute")
    timeout_seconds: float = Field(default=10.0, gt=0, description="seconds one delivery attempt may take")
    smtp_host: str = Field(default="127.0.0.1", validation_alias="MCU_SMTP_HOST", description="mail relay host")
    smtp_port: int = Field(default=25, ge=1, le=65535, validation_alias="MCU_SMTP_PORT", description="mail relay port")
    smtp_security: SmtpSecurity = Field(
        default="none",
        validation_alias="MCU_SMTP_SECURITY",
        description="none, starttls (upgrade on the port) or tls (TLS from the first byte, usually port 465)",
    )
    smtp_username: str | None = Field(
        default=None, validation_alias="MCU_SMTP_USERNAME", description="SMTP login; unset: no AUTH"
    )
    smtp_password: SecretStr | None = Field(
        default=None, validation_alias="MCU_SMTP_PASSWORD", description="SMTP password"
    )
    smtp_sender: str = Field(
        default="mcu@localhost", validation_alias="MCU_SMTP_SENDER", description="From: of notification e-mails"
    )
    telegram_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("MCU_NOTIFY_TELEGRAM_BOT_TOKEN", "MCU_TELEGRAM_BOT_TOKEN"),
        description="token of the bot that sends notifications; unset: MCU_TELEGRAM_BOT_TOKEN (the intake bot), "
        "as before the two were separate; neither: no Telegram notifications",
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        validation_alias=AliasChoices("MCU_NOTIFY_TELEGRAM_API_URL", "MCU_TELEGRAM_API_URL", "MCU_TELEGRAM_API_BASE"),
        description="Bot API base URL for notifications; unset: MCU_TELEGRAM_API_URL "
        "(MCU_TELEGRAM_API_BASE, its old duplicate, is still read)",
    )
    webhook_secret: SecretStr | None = Field(
        default=None, validation_alias="MCU_WEBHOOK_SECRET", description="HMAC-SHA256 key of webhook bodies"
    )
    case_link_template: str = Field(
        default="",
        validation_alias="MCU_CASE_LINK_TEMPLATE",
        description="link to a case in notifications, e.g. https://mcu.example/cases/{message_id}",
    )

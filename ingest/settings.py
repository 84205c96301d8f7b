"""Intake section: the HTTP intake (``MCU_INGEST_*``), the limits every raw record is checked against and
the pseudonym key. The variables outside ``MCU_INGEST_`` keep the names deployments already set.
"""

from __future__ import annotations

from typing import Annotated

from limits import parse
from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# The built-in pseudonym key: anyone with the source code can recompute an author_id from an e-mail
# address, so a production worker refuses it (mcu.settings.check_author_key).
DEVELOPMENT_AUTHOR_KEY = "mcu-development-key-change-me"


def _rate_limit(v: str) -> str:
    try:
        parse(v)
    except ValueError as exc:
        raise ValueError(f"{v!r} is not a rate limit like 50/second or 1000/minute") from exc
    return v


# A limit in the `limits` library's notation, checked when the settings are read, not on the first request.
RateLimit = Annotated[str, AfterValidator(_rate_limit)]


class IntakeSettings(BaseSettings):
    """What the intake accepts and how it answers."""

    model_config = SettingsConfigDict(env_prefix="MCU_INGEST_", env_file=None, extra="ignore", populate_by_name=True)

    token: SecretStr | None = Field(
        default=None,
        description="bearer token (Authorization: Bearer, nothing else) of POST /ingest/<channel>, "
        "POST /cases/<id>/events and POST /reports; unset: those are off",
    )
    rate_limit: RateLimit = Field(
        default="50/second", description="per client address on the HTTP intake, e.g. 50/second, 1000/minute"
    )
    ack_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds the HTTP intake and events API wait for Kafka to confirm a record (acks=all); "
        "then 503 with Retry-After (nothing acknowledged that was not stored)",
    )
    max_payload_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        validation_alias="MCU_MAX_PAYLOAD_BYTES",
        description="larger raw payloads are dead letters (too_large)",
    )
    max_text_chars: int = Field(
        default=20_000,
        ge=1,
        validation_alias="MCU_MAX_TEXT_CHARS",
        description="longer message texts are dead letters",
    )
    max_json_depth: int = Field(
        default=64,
        ge=2,
        le=512,
        validation_alias="MCU_MAX_JSON_DEPTH",
        description="deeper JSON bodies get 400 too_deep, checked before parsing",
    )
    max_source_id_chars: int = Field(
        default=256,
        ge=8,
        le=512,
        validation_alias="MCU_MAX_SOURCE_ID_CHARS",
        description="longest X-Source-Id accepted (UTF-8, no control characters)",
    )
    author_hmac_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_AUTHOR_KEY),
        validation_alias="MCU_AUTHOR_HMAC_KEY",
        description="key that pseudonymises authors; a worker without it refuses to start unless MCU_ENV=development",
    )

    @property
    def uses_development_author_key(self) -> bool:
        return self.author_hmac_key.get_secret_value() == DEVELOPMENT_AUTHOR_KEY

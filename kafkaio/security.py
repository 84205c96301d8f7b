"""How every Kafka client of the project authenticates: one validated settings section, one translation.

The project talks to the broker through two client libraries: kafka-python (publishers, connectors,
topic admin, readers) and aiokafka (under Faust, in the worker). Both accept the same keyword
arguments for security — ``security_protocol``, ``ssl_context``, ``sasl_mechanism``,
``sasl_plain_username``, ``sasl_plain_password`` — so :func:`client_options` builds that dict once
and both get it (Faust through ``mcu.app._credentials``, which only re-wraps it into Faust's
credential objects). Earlier each side translated the settings itself and they disagreed: a
lower-case ``sasl_ssl`` connected in plain text through kafka-python, a missing mechanism became
PLAIN in Faust and nothing in kafka-python.

Every combination that would connect with less protection than the settings suggest is refused
at start-up, naming the ``MCU_`` variable: SASL without TLS (the password in clear text) unless
``MCU_KAFKA_ALLOW_SASL_PLAINTEXT`` says so, SASL without a mechanism or credentials, credentials
or certificate files with a protocol that would ignore them.

Mechanisms: the three both libraries implement with a username and password alone. GSSAPI and
OAUTHBEARER need a Kerberos setup or a token provider the settings cannot describe.
"""

from __future__ import annotations

import ssl
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, FilePath, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SecurityProtocol(StrEnum):
    PLAINTEXT = "PLAINTEXT"
    SSL = "SSL"
    SASL_PLAINTEXT = "SASL_PLAINTEXT"
    SASL_SSL = "SASL_SSL"

    @property
    def uses_tls(self) -> bool:
        return self in (SecurityProtocol.SSL, SecurityProtocol.SASL_SSL)

    @property
    def uses_sasl(self) -> bool:
        return self in (SecurityProtocol.SASL_PLAINTEXT, SecurityProtocol.SASL_SSL)


class SaslMechanism(StrEnum):
    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


def _protocol_spelling(v: object) -> object:
    # "sasl_ssl" and "sasl-ssl" mean SASL_SSL; kafka-python compared the raw string and fell back
    # to plain text on anything but the exact upper-case spelling.
    return v.strip().upper().replace("-", "_") if isinstance(v, str) else v


def _mechanism_spelling(v: object) -> object:
    if isinstance(v, str):
        v = v.strip().upper().replace("_", "-")
        return v or None
    return v


Protocol = Annotated[SecurityProtocol, BeforeValidator(_protocol_spelling)]
Mechanism = Annotated[SaslMechanism | None, BeforeValidator(_mechanism_spelling)]

# Variables that only mean something with TLS; set with PLAINTEXT/SASL_PLAINTEXT they would be ignored.
_TLS_ONLY = ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password")
_SASL_ONLY = ("sasl_mechanism", "sasl_username", "sasl_password")


ENV_PREFIX = "MCU_KAFKA_"


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


class KafkaSettings(BaseSettings):
    """Kafka connection section: ``MCU_KAFKA_*`` (one field, ``MCU_MAX_RECORD_BYTES``, keeps its older name)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore", populate_by_name=True)

    brokers: str = Field(default="127.0.0.1:9092", description="bootstrap servers, comma-separated host:port")
    security_protocol: Protocol = Field(
        default=SecurityProtocol.PLAINTEXT,
        description="PLAINTEXT, SSL, SASL_SSL or SASL_PLAINTEXT (any case); SASL_PLAINTEXT needs the opt-in below",
    )
    sasl_mechanism: Mechanism = Field(
        default=None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; required with SASL_*"
    )
    sasl_username: str | None = Field(default=None, description="SASL user; required with SASL_*")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password; required with SASL_*")
    ssl_cafile: FilePath | None = Field(
        default=None, description="PEM CA bundle the broker certificate is checked against (SSL, SASL_SSL only)"
    )
    ssl_certfile: FilePath | None = Field(
        default=None, description="PEM client certificate for mutual TLS (SSL, SASL_SSL only)"
    )
    ssl_keyfile: FilePath | None = Field(
        default=None, description="PEM private key of the client certificate, if not in the certificate file"
    )
    ssl_key_password: SecretStr | None = Field(default=None, description="password of an encrypted client key")
    allow_sasl_plaintext: bool = Field(
        default=False,
        description="allow SASL_PLAINTEXT, i.e. the SASL password over an unencrypted connection",
    )
    session_timeout: float = Field(
        default=10.0, gt=0, description="seconds before a silent worker's partitions go to the others"
    )
    max_record_bytes: int = Field(
        default=4 * 1024 * 1024,
        ge=1024,
        validation_alias="MCU_MAX_RECORD_BYTES",
        description="largest record sent to Kafka (producers, consumers, max.message.bytes; the local broker "
        "takes 8 MiB)",
    )

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSettings:
        protocol = self.security_protocol
        named = f"{env_name('security_protocol')}={protocol.value}"
        problems: list[str] = []
        if protocol.uses_sasl:
            if self.sasl_mechanism is None:
                choices = ", ".join(m.value for m in SaslMechanism)
                problems.append(f"{env_name('sasl_mechanism')} is required with {named} (one of {choices})")
            for field in ("sasl_username", "sasl_password"):
                if not getattr(self, field):
                    problems.append(f"{env_name(field)} is required with {named}")
            if protocol is SecurityProtocol.SASL_PLAINTEXT and not self.allow_sasl_plaintext:
                problems.append(
                    f"{named} sends the SASL password unencrypted: use SASL_SSL, "
                    f"or set {env_name('allow_sasl_plaintext')}=true on a trusted network"
                )
        else:
            problems += [
                f"{env_name(f)} is set but {named} does not use SASL; use SASL_SSL or unset it"
                for f in _SASL_ONLY
                if getattr(self, f) is not None
            ]
        if not protocol.uses_tls:
            problems += [
                f"{env_name(f)} is set but {named} does not use TLS; use SSL or SASL_SSL, or unset it"
                for f in _TLS_ONLY
                if getattr(self, f) is not None
            ]
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            problems.append(f"{env_name('ssl_keyfile')} needs {env_name('ssl_certfile')}")
        if self.ssl_key_password is not None and self.ssl_certfile is None:
            problems.append(f"{env_name('ssl_key_password')} needs {env_name('ssl_certfile')}")
        if problems:
            raise ValueError("; ".join(problems))
        if protocol.uses_tls:
            self._build_ssl_context()  # unreadable PEM files fail here, naming the variable
        return self

    @property
    def broker_list(self) -> list[str]:
        return [b.strip() for b in self.brokers.split(",") if b.strip()]

    def _build_ssl_context(self) -> ssl.SSLContext:
        try:
            # Verifies the broker's certificate and host name against the CA (or the system store).
            context = ssl.create_default_context(cafile=str(self.ssl_cafile) if self.ssl_cafile else None)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"{env_name('ssl_cafile')}: cannot load {self.ssl_cafile}: {exc}") from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ssl_certfile is not None:
            password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else None
            try:
                context.load_cert_chain(
                    str(self.ssl_certfile),
                    str(self.ssl_keyfile) if self.ssl_keyfile else None,
                    password=password,
                )
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(
                    f"{env_name('ssl_certfile')}/{env_name('ssl_keyfile')}/"
                    f"{env_name('ssl_key_password')}: cannot load the client certificate "
                    f"{self.ssl_certfile}: {exc}"
                ) from exc
        return context

    @cached_property
    def ssl_context(self) -> ssl.SSLContext | None:
        """One context per settings object, shared by every client built from it."""
        return self._build_ssl_context() if self.security_protocol.uses_tls else None


def client_options(s: KafkaSettings) -> dict[str, Any]:
    """Security keyword arguments for kafka-python's and aiokafka's clients (the names are the same)."""
    protocol = s.security_protocol
    opts: dict[str, Any] = {"security_protocol": protocol.value}
    if protocol.uses_tls:
        opts["ssl_context"] = s.ssl_context
    if protocol.uses_sasl:
        assert s.sasl_mechanism is not None and s.sasl_password is not None  # the validator saw to it
        opts["sasl_mechanism"] = s.sasl_mechanism.value
        opts["sasl_plain_username"] = s.sasl_username
        opts["sasl_plain_password"] = s.sasl_password.get_secret_value()
    return opts

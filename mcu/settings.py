from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from kafkaio.security import KafkaSettings

# With a ClickHouse server (the default: deploy/clickhouse.sh) every worker sinks. Only the
# embedded chdb:// store, which one process may open, needs "sink" in one worker of its own.
ROLES = {"normalize", "enrich", "sla", "notify", "sink"}
# The database deploy/clickhouse.sh creates and the default DSN names.
LOCAL_DATABASE = "mcu"


# The built-in pseudonym key: anyone with the source code can recompute an author_id from an e-mail
# address, so a production worker refuses it (check_author_key).
DEVELOPMENT_AUTHOR_KEY = "mcu-development-key-change-me"


class Settings(KafkaSettings):
    """Every knob of the service, read from ``MCU_*`` environment variables.

    The Kafka connection section (``MCU_KAFKA_*`` brokers and security) is ``kafkaio.KafkaSettings``.
    """

    model_config = SettingsConfigDict(env_prefix="MCU_", env_file=None, extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="state, logs and the embedded store")
    env: Literal["production", "development"] = Field(
        default="production",
        description="development allows the built-in pseudonym key (with a warning); production requires a key",
    )
    topic_prefix: str = Field(default="", description="prepended to every topic name (environments, tests)")
    topic_partitions: int = Field(default=4, ge=1)
    topic_replication_factor: int = Field(
        default=1, ge=1, description="replicas of every topic the worker creates: 1 on one broker, 3 on a cluster"
    )
    topic_min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of the topics the worker creates (and Faust's own); unset: one fewer "
        "than the replication factor, at least 1 (2 of 3: one broker may be lost, an ack is on two)",
    )
    app_id: str = Field(default="mcu", description="Kafka consumer group and Faust app id")
    roles: str = Field(
        default="all",
        description="stages this worker runs: all, or a comma list of normalize, enrich, sla, notify, sink",
    )
    clickhouse_dsn: str | None = Field(
        default=None,
        description="http(s)://user:pw@host:port/db (default: the local server, http://127.0.0.1:<http port>/mcu)"
        " or chdb://<path> (embedded, one process)",
    )
    clickhouse_http_port: int = Field(
        default=8123, ge=1, le=65535, description="HTTP port of the local server (deploy/clickhouse.sh, default DSN)"
    )
    clickhouse_tcp_port: int = Field(
        default=9000, ge=1, le=65535, description="native port of the local server (clickhouse-client, DBeaver)"
    )
    clickhouse_cluster: str | None = Field(
        default=None, description="cluster name from remote_servers: Replicated + Distributed DDL variant"
    )
    clickhouse_shard_dsns: str | None = Field(
        default=None,
        description="comma-separated DSN of every shard of MCU_CLICKHOUSE_CLUSTER, for a cluster without Keeper "
        "(deploy/clickhouse.sh start --shards 2): plain MergeTree shards, DDL and the aggregate swap run on each",
    )
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    ingest_token: SecretStr | None = Field(default=None, description="bearer token for the HTTP intake")
    ingest_rate_limit: str = Field(
        default="50/second", description="per client address on the HTTP intake, e.g. 50/second, 1000/minute"
    )
    ingest_ack_timeout: float = Field(
        default=10.0,
        gt=0,
        description="seconds the HTTP intake waits for Kafka to confirm a record (acks=all) before answering 503",
    )
    raw_retention_hours: int = Field(
        default=168, ge=1, description="how long raw topics (personal data as sent) are kept; set at creation"
    )
    max_record_bytes: int = Field(default=4 * 1024 * 1024, description="largest raw record Kafka is asked to carry")
    max_payload_bytes: int = Field(default=1024 * 1024, description="larger raw payloads go to the dead letters")
    max_text_chars: int = Field(default=20_000, description="longer message text goes to the dead letters")
    author_hmac_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_AUTHOR_KEY),
        description="key for pseudonymising authors; required unless MCU_ENV=development",
    )
    sink_batch_size: int = Field(default=1000, ge=1)
    sink_batch_seconds: float = Field(default=1.0, gt=0)
    sla_digest_cron: str = Field(
        default="0 8 * * 1-5", description="when block heads get the daily digest (cron, Europe/Moscow)"
    )
    kafka_session_timeout: float = Field(
        default=10.0, gt=0, description="seconds before a silent worker's partitions go to the others"
    )
    commit_interval: float = Field(default=1.0, gt=0, description="seconds between offset commits")
    log_level: str = Field(default="info", description="crit, error, warn, info or debug")
    # Connectors (ingest/connectors): cursors live in <var_dir>/connectors.
    connector_poll_seconds: float = Field(default=60.0, gt=0, description="pause between polling rounds")
    vk_token: SecretStr | None = Field(default=None, description="VK API access token (community or service)")
    vk_api_url: str = "https://api.vk.com/method"
    vk_owner_ids: str = Field(default="", description="comma-separated walls to poll; communities are negative")
    vk_requests_per_second: float = Field(default=3.0, gt=0, description="VK allows 3/s for user tokens")
    vk_own_posts: bool = Field(default=False, description="also take the communities' own posts")
    vk_callback_secret: SecretStr | None = None
    vk_callback_confirmation: str | None = Field(default=None, description="string VK expects on confirmation")
    vk_callback_group_ids: str = Field(default="", description="comma-separated group ids the callback accepts")
    telegram_bot_token: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_secret: SecretStr | None = None
    imap_host: str | None = None
    imap_port: int = 993
    imap_ssl: bool = True
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_mailbox: str = "INBOX"
    incident_push_token: SecretStr | None = Field(default=None, description="bearer token of the incident push")
    open311_api_key: SecretStr | None = Field(
        default=None, description="api_key Open311 POST requests must carry; unset: Open311 POST is off (403)"
    )
    open311_services_file: Path | None = Field(default=None, description="taxonomy YAML for GET services")
    open311_service_type: Literal["realtime", "batch"] = Field(
        default="realtime",
        description="realtime: POST answers the service_request_id; batch: a token, resolved by GET tokens/<token>",
    )
    open311_jurisdiction_id: str | None = Field(
        default=None, description="jurisdiction_id this endpoint answers for; unset: the parameter is ignored"
    )
    # The HTTP edge (mcu/edge_web.py): limits per client address, checks before parsing.
    max_json_depth: int = Field(default=64, ge=2, le=512, description="deeper JSON bodies get 400 too_deep")
    max_source_id_chars: int = Field(default=256, ge=8, le=512, description="longest X-Source-Id accepted")
    events_rate_limit: str = Field(default="50/second", description="POST /cases/<id>/events per client address")
    open311_post_rate_limit: str = Field(default="30/minute", description="Open311 POST requests per client address")
    open311_read_rate_limit: str = Field(default="300/minute", description="Open311 GETs per client address")
    reports_rate_limit: str = Field(default="30/minute", description="POST /reports per client address")
    auth_failure_rate_limit: str = Field(
        default="10/minute",
        description="failed token or api_key checks per client address before every request from it gets 429",
    )
    store_read_concurrency: int = Field(
        default=1, ge=1, le=8, description="report and Open311 store queries at once (the store thread is the sinks')"
    )
    store_read_wait_seconds: float = Field(
        default=2.0, ge=0, description="how long a store query waits for its turn before the answer is 503"
    )
    # SLA timers and notifications (sla/, sinks/notify/)
    sla_policies_file: Path | None = Field(default=None, description="SLA terms YAML; default sla/data/policies.yaml")
    sla_calendar_overrides_file: Path | None = Field(
        default=None, description="working-day corrections YAML; default sla/data/calendar_overrides.yaml"
    )
    sla_work_hours: str = Field(
        default="09:00-13:00,14:00-18:00", description="working intervals of a day, Moscow time"
    )
    sla_pending_max_cases: int = Field(
        default=10_000,
        ge=1,
        description="cases known only by their events (the case not arrived yet) a worker keeps; "
        "events for more are dead letters (sla_pending_full)",
    )
    sla_pending_max_age_hours: float = Field(
        default=168.0,
        gt=0,
        description="how long events wait for their case before they become dead letters (sla_pending_expired)",
    )
    contacts_file: Path | None = Field(
        default=None, description="who gets SLA notifications; see sinks/notify/data/contacts.example.yaml"
    )
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: str = Field(default="none", description="none|starttls|tls")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = Field(default="mcu@localhost", description="From: of notification e-mails")
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = Field(default="https://api.telegram.org", description="Bot API base URL")
    webhook_secret: SecretStr | None = Field(default=None, description="HMAC-SHA256 key of webhook bodies")
    notify_max_attempts: int = Field(default=5, ge=1, description="tries per message before the dead letter")
    notify_backoff_seconds: float = Field(default=1.0, gt=0, description="first retry delay, doubling")
    notify_rate_per_minute: int = Field(default=20, ge=1, description="messages per recipient per minute")
    notify_timeout_seconds: float = Field(default=10.0, gt=0)
    case_link_template: str = Field(
        default="", description="link to a case in notifications, e.g. https://mcu.example/cases/{message_id}"
    )
    test_drop_marker: str | None = Field(
        default=None,
        description="TEST HOOK, never in production: fetched records containing this text are dropped"
        " before any stream (mcu/test_hooks.py), to prove the skipped-offsets alert end to end",
    )
    test_kill_before_sla_send: str | None = Field(
        default=None,
        description="TEST HOOK, never in production: the worker exits (os._exit) after the SLA state change of a"
        " record containing this text is on the broker and before its SLA events are sent (mcu/test_hooks.py),"
        " to prove the outbox (sla/README.md)",
    )

    @field_validator("log_level")
    @classmethod
    def _faust_level(cls, v: str) -> str:
        # Faust's worker accepts only its own spellings; take the usual Python ones too.
        level = {"warning": "warn", "critical": "crit"}.get(v.lower(), v.lower())
        if level not in {"crit", "error", "warn", "info", "debug"}:
            raise ValueError(f"MCU_LOG_LEVEL: {v!r} is not one of crit, error, warn, info, debug")
        return level

    @field_validator(
        "ingest_rate_limit",
        "events_rate_limit",
        "open311_post_rate_limit",
        "open311_read_rate_limit",
        "reports_rate_limit",
        "auth_failure_rate_limit",
    )
    @classmethod
    def _rate_limit(cls, v: str) -> str:
        from limits import parse

        try:
            parse(v)
        except ValueError as exc:
            raise ValueError(f"{v!r} is not a rate limit like 50/second or 1000/minute") from exc
        return v

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.resolve()

    @model_validator(mode="after")
    def _insync_fits(self) -> "Settings":
        if (
            self.topic_min_insync_replicas is not None
            and self.topic_min_insync_replicas > self.topic_replication_factor
        ):
            raise ValueError(
                f"MCU_TOPIC_MIN_INSYNC_REPLICAS={self.topic_min_insync_replicas} is more than "
                f"MCU_TOPIC_REPLICATION_FACTOR={self.topic_replication_factor}: no write could ever be acknowledged"
            )
        return self

    @property
    def min_insync_replicas(self) -> int:
        """What topics are created with: acks=all then means "stored on this many replicas"."""
        if self.topic_min_insync_replicas is not None:
            return self.topic_min_insync_replicas
        return max(1, self.topic_replication_factor - 1)

    @property
    def resolved_clickhouse_dsn(self) -> str:
        return self.clickhouse_dsn or f"http://127.0.0.1:{self.clickhouse_http_port}/{LOCAL_DATABASE}"

    @property
    def clickhouse_shard_dsn_list(self) -> list[str]:
        return [d.strip() for d in (self.clickhouse_shard_dsns or "").split(",") if d.strip()]

    @property
    def role_set(self) -> set[str]:
        wanted = {r.strip() for r in self.roles.split(",") if r.strip()}
        unknown = wanted - ROLES - {"all"}
        if unknown:
            raise ValueError(f"MCU_ROLES: unknown role(s) {sorted(unknown)}; known: all, {', '.join(sorted(ROLES))}")
        return set(ROLES) if "all" in wanted else wanted

    @property
    def owns_embedded_store(self) -> bool:
        """May this worker open the store? Always with a server; with chdb:// only the sink worker."""
        return "sink" in self.role_set or not self.resolved_clickhouse_dsn.startswith("chdb://")

    @property
    def uses_development_author_key(self) -> bool:
        return self.author_hmac_key.get_secret_value() == DEVELOPMENT_AUTHOR_KEY


class SettingsError(ValueError):
    """A setting that stops the service from starting; the message is one line, for people."""


def describe_settings_error(exc: ValidationError) -> str:
    """One line per problem, each naming its ``MCU_`` variable (pydantic names the field)."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(part) for part in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"MCU_{field.upper()}: {message}" if field else message)
    return "; ".join(lines)


def check_author_key(s: Settings) -> str | None:
    """Refuse the built-in pseudonym key in production; return a warning to log in development."""
    if not s.uses_development_author_key:
        return None
    if s.env == "production":
        raise SettingsError(
            "MCU_AUTHOR_HMAC_KEY не задан или равен встроенному ключу разработки: псевдонимы авторов обратимы. "
            "Задайте секретный ключ (python -c 'import secrets; print(secrets.token_urlsafe(48))') "
            "или MCU_ENV=development для локального запуска"
        )
    return (
        "MCU_ENV=development: авторы псевдонимизируются встроенным ключом разработки; "
        "в эксплуатации задайте MCU_AUTHOR_HMAC_KEY"
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(describe_settings_error(exc)) from exc

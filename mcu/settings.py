"""The service's settings: one typed section per package, combined here.

Each section is a pydantic-settings class in the package that uses it and reads its own ``MCU_*``
variables, so a lower package (``ingest``, ``sla``, ``sinks``, ``kafkaio``) takes its section without
importing ``mcu``. The variable names are the ones deployments have always set; a field whose
variable does not follow its section's prefix names it with ``validation_alias``. The README's table
of every variable is generated from these classes (``python -m mcu.settings_doc --write``).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from classify.settings import ClassifySettings
from ingest.connectors.settings import ConnectorSettings
from ingest.settings import DEVELOPMENT_AUTHOR_KEY, IntakeSettings, RateLimit
from kafkaio import KafkaSettings, TopicSettings
from sinks.clickhouse.settings import LOCAL_DATABASE, StoreSettings
from sinks.notify.settings import NotifySettings
from sla.settings import SlaSettings

__all__ = [
    "DEVELOPMENT_AUTHOR_KEY",
    "LOCAL_DATABASE",
    "ROLES",
    "Role",
    "ServiceSettings",
    "Settings",
    "SettingsError",
    "WebSettings",
    "check_author_key",
    "env_names",
    "get_settings",
]


class Role(StrEnum):
    """A stage a worker may run. With a ClickHouse server (the default: deploy/clickhouse.sh) every worker
    sinks; only the embedded chdb:// store, which one process may open, needs "sink" in one worker of its own."""

    NORMALIZE = "normalize"
    ENRICH = "enrich"
    SLA = "sla"
    NOTIFY = "notify"
    SINK = "sink"


ROLES = frozenset(Role)
LogLevel = Literal["crit", "error", "warn", "info", "debug"]


def _roles(v: object) -> object:
    # MCU_ROLES is a comma list, not JSON; "all" is every stage.
    if isinstance(v, str):
        wanted = {r.strip().lower() for r in v.split(",") if r.strip()}
        unknown = wanted - set(ROLES) - {"all"}
        if unknown:
            raise ValueError(f"unknown role(s) {sorted(unknown)}; known: all, {', '.join(sorted(ROLES))}")
        return ROLES if "all" in wanted else wanted
    return v


def _faust_level(v: object) -> object:
    # Faust's worker accepts only its own spellings; take the usual Python ones too.
    if isinstance(v, str):
        return {"warning": "warn", "critical": "crit"}.get(v.strip().lower(), v.strip().lower())
    return v


class ServiceSettings(BaseSettings):
    """The worker process: which stages it runs, its Kafka group, its state directory and logging."""

    model_config = SettingsConfigDict(env_prefix="MCU_", env_file=None, extra="ignore", populate_by_name=True)

    env: Literal["production", "development"] = Field(
        default="production",
        description="development allows the built-in pseudonym key (the worker warns; make run sets it); "
        "production requires MCU_AUTHOR_HMAC_KEY",
    )
    var_dir: Path = Field(default=Path("var"), description="state, logs, connector cursors and the embedded store")
    app_id: str = Field(default="mcu", description="Kafka consumer group and Faust app id")
    roles: Annotated[frozenset[Role], NoDecode, BeforeValidator(_roles)] = Field(
        default=ROLES,
        description="stages this worker runs: all, or a comma list of enrich (raw → cases: normalise, classify,"
        " route; `normalize` is the same agent), sla, notify, sink",
    )
    stage_batch_size: int = Field(
        default=500,
        ge=1,
        description="most records the enrich and SLA agents take into one batch (one confirmation per batch)",
    )
    stage_batch_seconds: float = Field(
        default=0.2,
        gt=0,
        description="longest wait of the enrich and SLA agents for a batch to fill before they process it",
    )
    stage_confirm_depth: int = Field(
        default=4,
        ge=1,
        description="fetches of the enrich stage whose outputs Kafka has not confirmed yet, the one in work"
        " included (1: wait for the confirmation after every fetch); a fetch is committed only once confirmed",
    )
    log_level: Annotated[LogLevel, BeforeValidator(_faust_level)] = Field(
        default="info", description="crit, error, warn (warning), info or debug"
    )
    commit_interval: float = Field(default=1.0, gt=0, description="seconds between offset commits")
    poll_records: int = Field(
        default=500,
        ge=1,
        description="most records one fetch hands to the stages (Faust's broker_max_poll_records): Faust"
        " delivers a fetch record by record and waits at a full stage, so one huge fetch of a backlog"
        " would starve the other topics' stages until it is through",
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

    @field_validator("var_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.resolve()

    @field_validator("roles")
    @classmethod
    def _some_role(cls, v: frozenset[Role]) -> frozenset[Role]:
        if not v:
            raise ValueError("no stage named; use all or a comma list of " + ", ".join(sorted(ROLES)))
        return v


class WebSettings(BaseSettings):
    """The worker's HTTP server: address, per-client limits of the endpoints, and store reads."""

    model_config = SettingsConfigDict(env_prefix="MCU_WEB_", env_file=None, extra="ignore", populate_by_name=True)

    host: str = Field(
        default="127.0.0.1", description="address of the worker's HTTP server: intake, /health, /counts, /metrics"
    )
    port: int = Field(default=6066, ge=1, le=65535, description="port of the worker's HTTP server")
    events_rate_limit: RateLimit = Field(
        default="50/second",
        validation_alias="MCU_EVENTS_RATE_LIMIT",
        description="POST /cases/<id>/events and the incident push per client address",
    )
    open311_post_rate_limit: RateLimit = Field(
        default="30/minute",
        validation_alias="MCU_OPEN311_POST_RATE_LIMIT",
        description="Open311 POST requests per client address",
    )
    open311_read_rate_limit: RateLimit = Field(
        default="300/minute",
        validation_alias="MCU_OPEN311_READ_RATE_LIMIT",
        description="Open311 GETs per client address",
    )
    reports_rate_limit: RateLimit = Field(
        default="30/minute", validation_alias="MCU_REPORTS_RATE_LIMIT", description="POST /reports per client address"
    )
    auth_failure_rate_limit: RateLimit = Field(
        default="10/minute",
        validation_alias="MCU_AUTH_FAILURE_RATE_LIMIT",
        description="failed token or api_key checks per client address before every request from it gets 429",
    )
    store_read_concurrency: int = Field(
        default=1,
        ge=1,
        le=8,
        validation_alias="MCU_STORE_READ_CONCURRENCY",
        description="report and Open311 store queries at once (the store thread is the sinks')",
    )
    store_read_wait_seconds: float = Field(
        default=2.0,
        ge=0,
        validation_alias="MCU_STORE_READ_WAIT_SECONDS",
        description="how long a store query waits for its turn before the answer is 503",
    )
    quality_refresh_seconds: float = Field(
        default=300.0,
        gt=0,
        validation_alias="MCU_QUALITY_REFRESH_SECONDS",
        description="seconds between refreshes of the correction-rate gauges (mcu_correction_rate) from the store",
    )


class SettingsError(ValueError):
    """A setting that stops the service from starting; the message is one line, for people."""


def env_names(section: type[BaseSettings], field: str) -> list[str]:
    """The variables a field is read from, first the one to set (later ones are older names still read)."""
    info = section.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [str(section.model_config.get("env_prefix", "")) + field.upper()]


def describe_settings_error(exc: ValidationError, section: type[BaseSettings]) -> str:
    """One line per problem, each naming its ``MCU_`` variable (pydantic names the field)."""
    # A field read through an alias is reported under the alias it was read from, the others by name.
    by_loc = {field: env_names(section, field)[0] for field in section.model_fields}
    by_loc |= {var.lower(): var for field in section.model_fields for var in env_names(section, field)}
    lines = []
    for err in exc.errors():
        loc = str(err["loc"][0]) if err["loc"] else ""
        message = err["msg"].removeprefix("Value error, ")
        variable = by_loc.get(loc) or by_loc.get(loc.lower())
        # Without a variable it is a check across fields, whose message names the variables itself.
        lines.append(f"{variable}: {message}" if variable else message)
    return "; ".join(lines)


class Settings(BaseModel):
    """Every knob of the service, one section per package. Build it with :meth:`load` (the environment)
    or :meth:`from_env` (the environment plus some variables, as a test or a deployment script sets them)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    service: ServiceSettings
    web: WebSettings
    kafka: KafkaSettings
    topics: TopicSettings
    store: StoreSettings
    intake: IntakeSettings
    connectors: ConnectorSettings
    sla: SlaSettings
    notify: NotifySettings
    classify: ClassifySettings

    @classmethod
    def sections(cls) -> dict[str, type[BaseSettings]]:
        return {name: info.annotation for name, info in cls.model_fields.items()}  # type: ignore[misc]

    @classmethod
    def variables(cls) -> set[str]:
        """Every ``MCU_*`` variable some section reads, older names still read included."""
        return {
            var for section in cls.sections().values() for f in section.model_fields for var in env_names(section, f)
        }

    @classmethod
    def from_env(
        cls, variables: Mapping[str, Any] | None = None, /, *, ignore_unknown: bool = False, **more: Any
    ) -> Settings:
        """Read every section, with ``variables`` (``MCU_KAFKA_BROKERS`` or ``kafka_brokers``, any case)
        over the process environment. Raises :class:`SettingsError` naming every bad variable; a variable
        no section reads is one too (a typo), unless ``ignore_unknown`` (a whole process environment)."""
        given = {_variable(k): v for k, v in {**(variables or {}), **more}.items()}
        built: dict[str, BaseSettings] = {}
        problems: list[str] = []
        claimed: set[str] = set()
        for name, section in cls.sections().items():
            kwargs: dict[str, Any] = {}
            for field in section.model_fields:
                present = [var for var in env_names(section, field) if var in given]
                if present:
                    kwargs[field] = given[present[0]]  # the newest name wins, as in the environment
                    claimed.update(present)
            try:
                built[name] = section(**kwargs)
            except ValidationError as exc:
                problems.append(describe_settings_error(exc, section))
        unknown = sorted(v for v in given if v not in claimed)
        if unknown and not ignore_unknown:
            problems.append("unknown setting(s): " + ", ".join(unknown))
        if problems:
            raise SettingsError("; ".join(problems))
        return cls(**built)

    @classmethod
    def load(cls) -> Settings:
        return cls.from_env()

    @property
    def role_set(self) -> frozenset[Role]:
        return self.service.roles

    @property
    def owns_embedded_store(self) -> bool:
        """May this worker open the store? Always with a server; with chdb:// only the sink worker."""
        return Role.SINK in self.service.roles or not self.store.embedded

    @property
    def resolved_model_registry_dir(self) -> Path:
        """Where model versions live: MCU_MODEL_REGISTRY_DIR, else <MCU_VAR_DIR>/models."""
        return self.classify.resolved_registry_dir(self.service.var_dir)


def _variable(key: str) -> str:
    key = key.upper()
    return key if key.startswith("MCU_") else "MCU_" + key


def check_author_key(s: Settings) -> str | None:
    """Refuse the built-in pseudonym key in production; return a warning to log in development."""
    if not s.intake.uses_development_author_key:
        return None
    if s.service.env == "production":
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
    return Settings.load()

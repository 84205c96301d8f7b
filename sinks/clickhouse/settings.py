"""Store section: ``MCU_CLICKHOUSE_*`` (where the store is) and ``MCU_SINK_BATCH_*`` (how rows are written)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The database deploy/clickhouse.sh creates and the default DSN names.
LOCAL_DATABASE = "mcu"


class StoreSettings(BaseSettings):
    """The ClickHouse store and the sink's batching."""

    model_config = SettingsConfigDict(
        env_prefix="MCU_CLICKHOUSE_", env_file=None, extra="ignore", populate_by_name=True
    )

    dsn: str | None = Field(
        default=None,
        description="http(s)://user:pw@host:port/db (default: the local server, http://127.0.0.1:<http port>/mcu)"
        " or chdb://<path> (embedded, one process)",
    )
    http_port: int = Field(
        default=8123, ge=1, le=65535, description="HTTP port of the local server (deploy/clickhouse.sh, default DSN)"
    )
    tcp_port: int = Field(
        default=9000, ge=1, le=65535, description="native port of the local server (clickhouse-client, DBeaver)"
    )
    cluster: str | None = Field(
        default=None, description="cluster name from remote_servers: Replicated + Distributed DDL variant"
    )
    shard_dsns: str | None = Field(
        default=None,
        description="comma-separated DSN of every shard of MCU_CLICKHOUSE_CLUSTER, for a cluster without Keeper "
        "(deploy/clickhouse.sh start --shards 2): plain MergeTree shards, DDL and the aggregate swap run on each",
    )
    batch_size: int = Field(
        default=1000, ge=1, validation_alias="MCU_SINK_BATCH_SIZE", description="rows the sink writes in one insert"
    )
    batch_seconds: float = Field(
        default=1.0,
        gt=0,
        validation_alias="MCU_SINK_BATCH_SECONDS",
        description="longest a row waits in the sink's batch before the insert",
    )

    @property
    def shard_dsn_list(self) -> list[str]:
        return [d.strip() for d in (self.shard_dsns or "").split(",") if d.strip()]

    @property
    def resolved_dsn(self) -> str:
        return self.dsn or f"http://127.0.0.1:{self.http_port}/{LOCAL_DATABASE}"

    @property
    def embedded(self) -> bool:
        """chdb:// — one process may open the store."""
        return self.resolved_dsn.startswith("chdb://")

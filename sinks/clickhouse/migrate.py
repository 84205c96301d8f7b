"""Versioned schema migrations, applied in order and recorded, the same on chdb:// and http://."""

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

from clickhouse_connect.driver.client import Client

from sinks.clickhouse import cluster as cluster_ddl

log = logging.getLogger(__name__)

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version UInt32,
    name String,
    checksum String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]

    def statements(self) -> list[str]:
        body = "\n".join(line for line in self.sql.splitlines() if not line.lstrip().startswith("--"))
        return [s.strip() for s in re.split(r";\s*(?:\n|$)", body) if s.strip()]


def available() -> list[Migration]:
    folder = resources.files("sinks.clickhouse") / "migrations"
    found = []
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise RuntimeError(f"two migration files share a version in {folder}: {sorted(versions)}")
    return sorted(found, key=lambda m: m.version)


def applied(client: Client, cluster: str | None = None, shards: Sequence[Client] = ()) -> dict[int, str]:
    if cluster and not shards:
        client.command(cluster_ddl.ledger_ddl(cluster) or LEDGER_DDL)
    else:  # one server, or shards without Keeper: each keeps its own ledger, the same rows
        for target in shards or [client]:
            target.command(LEDGER_DDL)
    rows = client.query("SELECT version, checksum FROM schema_migrations FINAL").result_rows
    return {int(v): str(c) for v, c in rows}


def planned(
    migrations: list[Migration], cluster: str | None, replicated: bool = True
) -> list[tuple[Migration, list[str]]]:
    """Each migration with the statements it runs: as written, or their cluster variant."""
    tables: dict[str, str] = {}
    plan = []
    for mig in migrations:
        statements = mig.statements()
        if cluster:
            statements = [out for st in statements for out in cluster_ddl.rewrite(st, cluster, tables, replicated)]
        plan.append((mig, statements))
    return plan


def migrate(client: Client, cluster: str | None = None, shards: Sequence[Client] = ()) -> list[str]:
    """Apply what is not applied yet; return the names applied now.

    Statements are written IF NOT EXISTS, so a crash half-way through a file is repaired by
    simply running the file again. With ``cluster`` (MCU_CLICKHOUSE_CLUSTER) the cluster variant
    runs: Replicated local tables, Distributed tables over them, DDL ON CLUSTER. With ``shards``
    too (MCU_CLICKHOUSE_SHARD_DSNS: a client per shard, no Keeper) the local tables keep plain
    engines and each DDL statement runs on every shard in turn; ``client`` (one of them) runs the
    data statements, through the Distributed tables.
    """
    if shards and not cluster:
        raise ValueError("shard DSNs without a cluster name (MCU_CLICKHOUSE_CLUSTER)")
    done = applied(client, cluster, shards)
    newly: list[str] = []
    # The whole plan is built even for applied files: later files refer to earlier tables.
    for mig, statements in planned(available(), cluster, replicated=not shards):
        if mig.version in done:
            if done[mig.version] != mig.checksum:
                log.warning("migration %s changed after it was applied (checksum differs)", mig.name)
            continue
        # An INSERT … SELECT through a Distributed table returns only when the shards have the rows.
        on_cluster = {"distributed_foreground_insert": 1} if cluster else None
        for statement in statements:
            for target in shards if shards and cluster_ddl.per_shard(statement) else [client]:
                target.command(statement, settings=on_cluster)
        for target in shards or [client]:
            target.insert(
                "schema_migrations",
                [[mig.version, mig.name, mig.checksum]],
                column_names=["version", "name", "checksum"],
                settings={"async_insert": 0},
            )
        newly.append(mig.name)
        log.info("applied migration %s", mig.name)
    return newly

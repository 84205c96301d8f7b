"""The cluster variant of the migrations (MCU_CLICKHOUSE_CLUSTER): the same DDL, rewritten.

Every table T becomes T_local (Replicated* engine, ON CLUSTER) plus T, a Distributed table over
it sharded by message; materialized views read and write the local tables (also when their query is
modified); plain views, ALTERs and the migration ledger run ON CLUSTER; a column added to a table
is added to its Distributed table too. The single-server files stay the one source of truth.

Without Keeper (``replicated=False``: shards listed in MCU_CLICKHOUSE_SHARD_DSNS, e.g. the local
servers of ``deploy/clickhouse.sh start --shards 2``) there is no ON CLUSTER and no replication:
T_local keeps the file's own engine, and migrate() runs every DDL statement on each shard itself
(``per_shard``) and the rest (INSERT … SELECT through the Distributed names) once. Table swaps
(DROP/RENAME, migration 0009) have a variant in this mode only.
"""

import re

_CREATE_TABLE = re.compile(
    r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+)\s*(?P<body>\(.*?\))\s*ENGINE\s*=\s*(?P<engine>\w*MergeTree)"
    r"(?:\((?P<args>[^)]*)\))?(?P<rest>.*)$",
    re.S,
)
_CREATE_AS = re.compile(r"^CREATE TABLE IF NOT EXISTS (?P<name>\w+) AS (?P<source>\w+)\s*$", re.S)
_CREATE_MV = re.compile(
    r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (?P<name>\w+) TO (?P<target>\w+) AS(?P<select>.*)$", re.S
)
_CREATE_VIEW = re.compile(r"^CREATE (?P<verb>VIEW IF NOT EXISTS|OR REPLACE VIEW) (?P<name>\w+)(?P<rest>\s+AS.*)$", re.S)
_MODIFY_QUERY = re.compile(r"^ALTER TABLE (?P<name>\w+) MODIFY QUERY(?P<select>.*)$", re.S)
_ALTER = re.compile(r"^ALTER TABLE (?P<name>\w+)(?P<rest>\s.*)$", re.S)
# Only columns added keep a Distributed table in step with its local one: it reads by name, so a
# column missing there cannot be selected. Other ALTERs (TTL, constraints) concern storage only.
_ADD_COLUMN = re.compile(r"^\s+ADD COLUMN\b", re.S)
# Swapping a table in (0009) needs DROP/RENAME of local tables ON CLUSTER and fresh ZooKeeper
# paths; that is not written yet, so on a cluster such a migration stops before its first step.
_NO_CLUSTER_VARIANT = re.compile(r"^(DROP|RENAME)\s", re.S)
NO_CLUSTER_VARIANT = (
    "SELECT throwIf(1, 'this migration swaps tables (DROP/RENAME) and has no cluster variant yet: "
    "apply it by hand on each shard, see docs/runbook.md')"
)


def shard_key(body: str, engine: str = "", rest: str = "") -> str:
    # All versions of one message on one shard: ReplacingMergeTree folds them and FINAL is exact.
    if re.search(r"\bmessage_id\b", body):
        return "cityHash64(message_id)"
    # Other replacing tables (dead letters by source offset, the calendar by day): by their key,
    # for the same reason: FINAL through a Distributed table folds only within a shard.
    order = re.search(r"\bORDER BY\s+(\([^)]*\)|\w+)", rest)
    if engine.startswith("Replacing") and order:
        return f"cityHash64({order[1].strip('()')})"
    return "rand()"


def _local_sources(select: str, tables: set[str]) -> str:
    # A materialized view fires on inserts into the table it reads, and those land in the local
    # tables on each shard: it must read the local names.
    return re.sub(r"\b(FROM|JOIN)\s+(\w+)\b", lambda x: f"{x[1]} {x[2]}_local" if x[2] in tables else x[0], select)


def _distributed(name: str, cluster: str, key: str, on: str = "") -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {name}{on} AS {name}_local "
        f"ENGINE = Distributed('{cluster}', currentDatabase(), {name}_local, {key})"
    )


def per_shard(statement: str) -> bool:
    """DDL runs on every shard; data statements (INSERT … SELECT, SELECT) once, through Distributed names."""
    return not re.match(r"^\s*(INSERT|SELECT|WITH)\b", statement, re.I)


def rewrite(statement: str, cluster: str, tables: dict[str, str], replicated: bool = True) -> list[str]:
    """One single-server statement → its cluster statements; ``tables`` collects table → sharding key."""
    on = f" ON CLUSTER '{cluster}'" if replicated else ""
    if m := _CREATE_TABLE.match(statement):
        name, args = m["name"], (m["args"] or "").strip()
        key = tables[name] = shard_key(m["body"], m["engine"], m["rest"])
        if replicated:
            path = f"'/clickhouse/tables/{{shard}}/{{database}}/{name}', '{{replica}}'"
            engine = f"Replicated{m['engine']}({path}{', ' + args if args else ''})"
        else:  # no Keeper: each shard keeps the file's engine (and its insert deduplication window)
            engine = f"{m['engine']}({args})" if m["args"] is not None else m["engine"]
        return [
            f"CREATE TABLE IF NOT EXISTS {name}_local{on} {m['body']} ENGINE = {engine}{m['rest']}",
            _distributed(name, cluster, key, on),
        ]
    if m := _CREATE_AS.match(statement):
        name, source = m["name"], m["source"]
        tables[name] = "rand()"
        return [
            f"CREATE TABLE IF NOT EXISTS {name}_local{on} AS {source}_local",
            f"CREATE TABLE IF NOT EXISTS {name}{on} AS {source} "
            f"ENGINE = Distributed('{cluster}', currentDatabase(), {name}_local, rand())",
        ]
    if m := _CREATE_MV.match(statement):
        select = _local_sources(m["select"], tables)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {m['name']}{on} TO {m['target']}_local AS{select}"]
    if m := _CREATE_VIEW.match(statement):
        # Plain views read the Distributed names: a query through them sees every shard.
        return [f"CREATE {m['verb']} {m['name']}{on}{m['rest']}"]
    if m := _MODIFY_QUERY.match(statement):
        # The view exists on every shard (created ON CLUSTER) and keeps reading the local tables.
        return [f"ALTER TABLE {m['name']}{on} MODIFY QUERY{_local_sources(m['select'], tables)}"]
    if m := _ALTER.match(statement):
        if m["name"] not in tables:
            return [f"ALTER TABLE {m['name']}{on}{m['rest']}"]
        out = [f"ALTER TABLE {m['name']}_local{on}{m['rest']}"]
        if _ADD_COLUMN.match(m["rest"]):
            out.append(f"ALTER TABLE {m['name']}{on}{m['rest']}")  # after the local one: reads go there
        return out
    if _NO_CLUSTER_VARIANT.match(statement):
        return [NO_CLUSTER_VARIANT] if replicated else _swap_per_shard(statement, cluster, tables)
    return [statement]  # INSERT ... SELECT and the like go through the Distributed names


_DROP_TABLE = re.compile(r"^DROP TABLE (?:IF EXISTS )?(?P<name>\w+)\s*$", re.S)
_RENAME = re.compile(r"^RENAME TABLE (?P<pairs>.*)$", re.S)


def _swap_per_shard(statement: str, cluster: str, tables: dict[str, str]) -> list[str]:
    """DROP/RENAME on shards without Keeper: the local tables move, the Distributed ones are rebuilt.

    A Distributed table names its local table in its engine arguments, so it cannot follow a
    rename: each name a RENAME touches loses its Distributed table, and each target gets a new
    one over the renamed local table, with the sharding key of the table it came from.
    Everything IF EXISTS / IF NOT EXISTS, so a half-applied swap re-runs (as the file promises).
    """
    if m := _DROP_TABLE.match(statement):
        name = m["name"]
        return [f"DROP TABLE IF EXISTS {name} SYNC", f"DROP TABLE IF EXISTS {name}_local SYNC"]
    if m := _RENAME.match(statement):
        pairs = [tuple(p.split()[::2]) for p in m["pairs"].split(",")]  # "a TO b" -> (a, b)
        if not all(len(p) == 2 for p in pairs):
            return [NO_CLUSTER_VARIANT]
        keys = {new: tables.get(old, "rand()") for old, new in pairs}
        for new, key in keys.items():
            tables[new] = key
        moved = ", ".join(f"{old}_local TO {new}_local" for old, new in pairs)
        touched = dict.fromkeys(n for pair in pairs for n in pair)
        return (
            [f"RENAME TABLE {moved}"]
            + [f"DROP TABLE IF EXISTS {n} SYNC" for n in touched]
            + [_distributed(new, cluster, key) for new, key in keys.items()]
        )
    if statement.startswith("DROP VIEW"):
        return [statement]  # a materialized view lives on each shard under its own name
    return [NO_CLUSTER_VARIANT]


def ledger_ddl(cluster: str, replicated: bool = True) -> str | None:
    """The migration ledger on a cluster; None without Keeper (each shard keeps the plain one)."""
    if not replicated:
        return None
    return (
        f"CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER '{cluster}' "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/schema_migrations', "
        "'{replica}') ORDER BY version"
    )

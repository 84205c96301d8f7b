"""The analyst role for a ClickHouse server (reports/data/analyst_role.sql)."""

import re
from xml.sax.saxutils import escape

from clickhouse_connect.driver.client import Client

from common.yaml_load import package_file

ROLE_FILE = package_file("reports", "data/analyst_role.sql")


def role_sql(database: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", database):
        raise ValueError(f"not a plain database name: {database!r}")
    return ROLE_FILE.read_text(encoding="utf-8").replace("{db}", database)


def role_statements(database: str) -> list[str]:
    body = "\n".join(ln for ln in role_sql(database).splitlines() if not ln.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";") if s.strip()]


def apply_role(client: Client, database: str) -> None:
    for statement in role_statements(database):
        client.command(statement)


def role_grants(database: str) -> list[str]:
    """The role file's privileges as ``GRANT <what> ON <table>`` statements, without ``TO mcu_analyst``."""
    return [
        re.sub(r"\s+TO\s+mcu_analyst\s*$", "", s, flags=re.IGNORECASE)
        for s in role_statements(database)
        if s.upper().startswith("GRANT ") and re.search(r"\s+TO\s+mcu_analyst\s*$", s, re.IGNORECASE)
    ]


def definer_statements(database: str) -> list[str]:
    """The role file's ``ALTER TABLE … MODIFY DEFINER`` statements, run by the admin that owns the tables."""
    return [s for s in role_statements(database) if s.upper().startswith("ALTER TABLE ")]


def users_fragment(database: str, user: str, password_sha256_hex: str) -> str:
    """A ``<user>`` for a server whose users live in users.xml only (the local server of
    deploy/clickhouse.sh has no writable access storage, so CREATE ROLE/USER fail there): the
    role's grants given to one read-only user. Add it with MCU_CLICKHOUSE_USERS_FRAGMENT."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", user):
        raise ValueError(f"not a plain user name: {user!r}")
    if not re.fullmatch(r"[0-9a-f]{64}", password_sha256_hex):
        raise ValueError("password_sha256_hex must be 64 lower-case hex digits")
    grants = "\n".join(f"                <query>{escape(g)}</query>" for g in role_grants(database))
    return f"""        <{user}>
            <password_sha256_hex>{password_sha256_hex}</password_sha256_hex>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>readonly</profile>
            <quota>default</quota>
            <grants>
{grants}
            </grants>
        </{user}>
"""

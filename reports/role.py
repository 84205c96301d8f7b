"""The analyst role for a ClickHouse server (reports/data/analyst_role.sql)."""

import re
from pathlib import Path

from clickhouse_connect.driver.client import Client

ROLE_FILE = Path(__file__).parent / "data" / "analyst_role.sql"


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

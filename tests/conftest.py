"""Fixtures shared by every test area.

chdb opens one data path per process, so the whole pytest process shares one embedded store;
each test that needs ClickHouse gets its own database inside it.
"""

import re
from collections.abc import Callable, Iterator

import clickhouse_connect
import pytest
from clickhouse_connect.driver.client import Client


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("chdb") / "store")


@pytest.fixture
def clickhouse(chdb_path: str, request: pytest.FixtureRequest) -> Iterator[Client]:
    """A client on a fresh, empty database of the session's embedded store."""
    name = "t_" + re.sub(r"\W+", "_", request.node.name)[:60].lower()
    admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
    admin.command(f"DROP DATABASE IF EXISTS {name}")
    admin.command(f"CREATE DATABASE {name}")
    yield clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}", database=name)
    admin.command(f"DROP DATABASE IF EXISTS {name}")


@pytest.fixture
def clickhouse_factory(chdb_path: str) -> Callable[[str], Client]:
    """For tests that need several databases (e.g. two periods, two tenants)."""

    def make(name: str) -> Client:
        admin = clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}")
        admin.command(f"CREATE DATABASE IF NOT EXISTS {name}")
        return clickhouse_connect.get_client(dsn=f"chdb://{chdb_path}", database=name)

    return make

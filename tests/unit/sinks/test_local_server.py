"""The local ClickHouse server (deploy/clickhouse.sh) and the analyst role on it, for real."""

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from reports.role import definer_statements, role_grants, users_fragment
from sinks.clickhouse.client import mask_secrets
from sinks.clickhouse.local_server import render_config, render_users
from sinks.clickhouse.migrate import migrate
from tests.integration.harness import LocalClickHouse

PASSWORD = "analyst-pw-1"


def test_the_config_listens_on_loopback_only_with_the_given_ports(tmp_path: Path):
    config = render_config(tmp_path, 18123, 19000)
    assert "<listen_host>127.0.0.1</listen_host>" in config and config.count("<listen_host>") == 1
    assert "<http_port>18123</http_port>" in config and "<tcp_port>19000</tcp_port>" in config
    assert "<ip>127.0.0.1</ip>" in render_users() and "::/0" not in render_users()


def test_masked_dsn_hides_only_the_password():
    assert mask_secrets("https://mcu:p%40ss@ch.example:8443/mcu") == "https://mcu:***@ch.example:8443/mcu"
    assert mask_secrets("http://127.0.0.1:8123/mcu") == "http://127.0.0.1:8123/mcu"


def test_the_users_fragment_carries_every_grant_of_the_role_file():
    grants = role_grants("mcu")
    assert grants and all(g.startswith("GRANT SELECT ON mcu.") and "TO" not in g for g in grants)
    fragment = users_fragment("mcu", "analyst", hashlib.sha256(b"x").hexdigest())
    assert all(g in fragment for g in grants)
    assert "<profile>readonly</profile>" in fragment


@pytest.fixture(scope="module")
def server_with_analyst(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalClickHouse, str]]:
    var = Path(tmp_path_factory.mktemp("chrole"))
    fragment = var / "analyst.xml"
    fragment.write_text(users_fragment("mcu", "analyst", hashlib.sha256(PASSWORD.encode()).hexdigest()))
    server = LocalClickHouse(var)
    server.env["MCU_CLICKHOUSE_USERS_FRAGMENT"] = str(fragment)
    server.start()  # creates database mcu
    try:
        admin = clickhouse_connect.get_client(dsn=f"{server.url}/mcu")
        migrate(admin)
        for statement in definer_statements("mcu"):
            admin.command(statement)
        admin.command(
            "INSERT INTO cases (message_id, channel, created_at, text, author_id, source_id, version) VALUES "
            "('m1', 'webform', now64(3), 'Позвоните мне +7 918 123-45-67, ivan@example.ru',"
            " 'author-hmac-1', 'vk:42', 1)"
        )
        yield server, f"http://analyst:{PASSWORD}@127.0.0.1:{server.http_port}/mcu"
    finally:
        server.stop()


def test_the_analyst_reads_the_masked_views(server_with_analyst: tuple[LocalClickHouse, str]):
    _, analyst_dsn = server_with_analyst
    analyst = clickhouse_connect.get_client(dsn=analyst_dsn)
    rows = analyst.query("SELECT message_id, text_masked FROM analyst_cases").result_rows
    assert rows == [("m1", "Позвоните мне [телефон], [e-mail]")]
    assert analyst.query("SELECT count() FROM case_state").result_rows[0][0] >= 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT text FROM cases",
        "SELECT author_id FROM cases",
        "SELECT original FROM dead_letters",
        "SELECT * FROM case_events",
        "INSERT INTO cases (message_id) VALUES ('x')",
        "CREATE TABLE mine (x UInt8) ENGINE = Memory",
        "DROP TABLE analyst_cases",
        "ALTER TABLE cases DELETE WHERE 1",
    ],
)
def test_the_analyst_cannot_read_raw_text_or_authors_nor_write(
    server_with_analyst: tuple[LocalClickHouse, str], sql: str
):
    _, analyst_dsn = server_with_analyst
    analyst = clickhouse_connect.get_client(dsn=analyst_dsn)
    with pytest.raises(DatabaseError) as denied:
        analyst.command(sql)
    assert "ACCESS_DENIED" in str(denied.value) or "READONLY" in str(denied.value), str(denied.value)[:300]


def test_the_analyst_cannot_lift_readonly(server_with_analyst: tuple[LocalClickHouse, str]):
    _, analyst_dsn = server_with_analyst
    analyst = clickhouse_connect.get_client(dsn=analyst_dsn)
    with pytest.raises(DatabaseError):
        analyst.query("SELECT text FROM cases SETTINGS readonly = 0")


def test_the_native_port_serves_the_analyst_as_clickhouse_client_and_grafana_would(
    server_with_analyst: tuple[LocalClickHouse, str],
):
    from clickhouse_driver import Client as NativeClient

    server, _ = server_with_analyst
    native = NativeClient(host="127.0.0.1", port=server.tcp_port, user="analyst", password=PASSWORD, database="mcu")
    assert native.execute("SELECT count() FROM analyst_cases") == [(1,)]
    with pytest.raises(Exception, match=r"ACCESS_DENIED|Not enough privileges"):
        native.execute("SELECT text FROM cases")


def test_the_worked_queries_of_docs_analytics_run_as_the_analyst(server_with_analyst: tuple[LocalClickHouse, str]):
    text = (Path(__file__).resolve().parents[3] / "docs" / "analytics.md").read_text(encoding="utf-8")
    part = text.split("## Connecting while the pipeline runs", 1)[1].split("\n## ", 1)[0]
    python_query = re.search(r'query_df\("""(.*?)"""\)', part, re.S)
    client_query = re.search(r'--query "(.*?)"', part, re.S)
    backticked = re.findall(r"`(SELECT [^`]*)`", part)
    assert python_query and client_query and len(backticked) == 2
    queries = [python_query.group(1), client_query.group(1), *backticked]
    # Grafana expands its macro into a time condition before sending the query.
    queries = [q.replace("$__timeFilter(created_at)", "created_at >= now() - INTERVAL 1 DAY") for q in queries]
    analyst = clickhouse_connect.get_client(dsn=server_with_analyst[1])
    for sql in queries:
        analyst.query(sql)  # raises on a wrong column, a missing grant or bad syntax

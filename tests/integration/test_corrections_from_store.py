"""`train --from-store` reads the latest correction of each case with the case's text (real ClickHouse server)."""

import clickhouse_connect
import pytest

from classify.learning import corrections_from_store
from tests.integration import harness
from tests.integration.harness import new_database

pytestmark = [pytest.mark.slow]


def test_the_latest_correction_of_each_case_comes_with_its_text() -> None:
    dsn = new_database(harness.CLICKHOUSE["url"], prefix="itcorr")
    c = clickhouse_connect.get_client(dsn=dsn)
    # the columns this query reads, as 0001_core.sql (cases) and 0011_corrections.sql define them
    c.command(
        "CREATE TABLE cases (message_id String, text String, version UInt64) ENGINE = ReplacingMergeTree(version) "
        "ORDER BY message_id"
    )
    c.command(
        "CREATE TABLE corrections (event_id String, message_id String, corrected_at DateTime64(3, 'UTC'), "
        "new_category LowCardinality(String)) ENGINE = ReplacingMergeTree ORDER BY (message_id, event_id)"
    )
    c.insert(
        "cases",
        [["m1", "яма на дороге", 1], ["m2", "нет воды", 1], ["m3", "без исправлений", 1]],
        column_names=["message_id", "text", "version"],
    )
    c.command(
        "INSERT INTO corrections VALUES ('e1', 'm1', '2026-11-27 10:00:00', 'yards'), "
        "('e2', 'm1', '2026-11-27 11:00:00', 'roads'), ('e3', 'm2', '2026-11-27 09:00:00', 'water_supply'), "
        "('e3', 'm2', '2026-11-27 09:00:00', 'water_supply'), ('e4', 'm9', '2026-11-27 09:00:00', 'roads')"
    )
    try:
        got = corrections_from_store(dsn)
    finally:
        c.command(f"DROP DATABASE {dsn.rsplit('/', 1)[1]} SYNC")
    assert got == [
        {"id": "m2", "text": "нет воды", "category": "water_supply"},
        {"id": "m1", "text": "яма на дороге", "category": "roads"},
    ]

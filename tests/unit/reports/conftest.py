from collections.abc import Callable

import pytest
from clickhouse_connect.driver.client import Client

from reports.store import refresh
from reports.worktime import sync_calendar
from sinks.clickhouse import rows
from sinks.clickhouse.migrate import migrate
from sinks.clickhouse.writer import insert_batch
from tests.unit.reports.dataset import SPECS, case_of, events_of, sla_of


def load(client: Client, token: str = "t1") -> None:
    insert_batch(client, "cases", rows.CASE_COLUMNS, [rows.case_row(case_of(s)) for s in SPECS], token + "c")
    events = [rows.case_event_row(e) for s in SPECS for e in events_of(s)]
    insert_batch(client, "case_events", rows.CASE_EVENT_COLUMNS, events, token + "e")
    slas = [rows.sla_event_row(e) for s in SPECS for e in sla_of(s)]
    insert_batch(client, "sla_events", rows.SLA_EVENT_COLUMNS, slas, token + "s")


@pytest.fixture
def loaded(clickhouse: Client) -> Client:
    migrate(clickhouse)
    sync_calendar(clickhouse)
    load(clickhouse)
    refresh(clickhouse)
    return clickhouse


@pytest.fixture
def query(loaded: Client) -> Callable:
    from reports.store import client_query

    return client_query(loaded)

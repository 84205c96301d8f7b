import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import harness
from tests.integration.harness import ROOT, LocalClickHouse


def _reachable(brokers: str) -> bool:
    host, _, port = brokers.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def brokers() -> str:
    """The real local broker; started by `make test`, or here if it is not running yet."""
    brokers = os.environ.get("MCU_KAFKA_BROKERS", "127.0.0.1:9092")
    if not _reachable(brokers):
        subprocess.run([str(ROOT / "deploy" / "kafka.sh"), "start"], check=True, cwd=ROOT)
        time.sleep(1)
    assert _reachable(brokers), f"no Kafka broker at {brokers}: run deploy/kafka.sh start"
    return brokers


@pytest.fixture(scope="session", autouse=True)
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ClickHouse server every pipeline of the session stores into, one database per test.

    `make test` starts the local server (deploy/clickhouse.sh) and names it in
    MCU_IT_CLICKHOUSE_URL: one engine for the whole suite on a small machine, and the suite runs
    against exactly what `make run` uses. Without it (pytest run by hand, one file), the session
    starts a server of its own on free ports and a temporary var dir, so it never depends on, or
    disturbs, a server someone else is using. Tests that kill a server start their own.
    """
    url = os.environ.get("MCU_IT_CLICKHOUSE_URL")
    own: LocalClickHouse | None = None
    if not url:
        own = LocalClickHouse(Path(tmp_path_factory.mktemp("clickhouse-server"))).start()
        url = own.url
    harness.CLICKHOUSE["url"] = url
    try:
        yield url
    finally:
        harness.CLICKHOUSE.pop("url", None)
        if own is not None:
            own.stop()
        else:
            harness.drop_databases(url)


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test() -> Iterator[None]:
    yield
    while harness.STARTED:
        harness.STARTED.pop().kill()  # a no-op for the ones the test stopped itself


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """On a failure, show the end of every worker log the test wrote: CI keeps nothing else."""
    report = yield
    tmp_path = getattr(item, "funcargs", {}).get("tmp_path")
    if report.failed and tmp_path is not None:
        for log in sorted(tmp_path.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()
            report.sections.append((f"worker log {log.name} (last 80 of {len(lines)} lines)", "\n".join(lines[-80:])))
    return report

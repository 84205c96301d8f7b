import os
import socket
import subprocess
import time

import pytest

from tests.integration.harness import ROOT


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

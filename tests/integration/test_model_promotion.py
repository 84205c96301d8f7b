"""A promoted model version reaches a running enrich worker without a restart (real broker and store)."""

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from classify.model import load_model
from classify.registry import ModelRegistry, VersionInfo
from tests.integration.harness import ROOT, Worker, pipeline_env, query_store, wait_for
from tests.integration.test_pipeline import good_records, publish

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def _add(reg: ModelRegistry, version: str) -> None:
    # the shipped model under two version ids: the answers stay sane, the recorded version tells them apart
    model = load_model()
    assert model is not None
    model.version = version
    reg.add(model, VersionInfo(version=version, created_at=datetime.now(UTC), data_hash="0" * 64, n_examples=0))


def _versions(var: Path, batch: str) -> dict[str, int]:
    rows = query_store(
        var,
        f"SELECT model_version, count() FROM cases FINAL WHERE source_id LIKE '{batch}-%' GROUP BY model_version",
    )
    return {str(v).rpartition("+")[2]: int(n) for v, n in rows}


def test_a_running_worker_switches_to_the_promoted_version(brokers: str, tmp_path: Path) -> None:
    var = tmp_path / "var"
    reg_dir = tmp_path / "models"
    reg = ModelRegistry(reg_dir)
    _add(reg, "it-v1")
    _add(reg, "it-v2")
    reg.promote("it-v1")
    env = pipeline_env(var, brokers, MCU_MODEL_REGISTRY_DIR=str(reg_dir), MCU_MODEL_CHECK_SECONDS="1")
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        assert worker.proc is not None
        pid = worker.proc.pid
        publish(env, good_records(20, "before"))
        wait_for(
            lambda: _versions(var, "before") == {"it-v1": 20}, 120, lambda: f"20 by it-v1: {_versions(var, 'before')}"
        )
        out = subprocess.run(
            [sys.executable, "-m", "mcu", "classify", "promote", "it-v2"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        # the worker looks every second; a few seconds on a loaded machine before the new messages
        time.sleep(5)
        publish(env, good_records(20, "after"))
        wait_for(
            lambda: sum(_versions(var, "after").values()) == 20,
            120,
            lambda: f"20 new cases, got {_versions(var, 'after')}; log:\n{worker.log_tail()}",
        )
        assert _versions(var, "after") == {"it-v2": 20}
        assert _versions(var, "before") == {"it-v1": 20}  # what it-v1 classified keeps its version
        # the same process all along: no restart
        assert worker.proc.poll() is None and worker.proc.pid == pid
    finally:
        worker.stop()

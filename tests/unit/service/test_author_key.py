"""The pseudonym key: required in production, the built-in one allowed (with a warning) only in development."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcu.settings import DEVELOPMENT_AUTHOR_KEY, Settings, SettingsError, check_author_key

ROOT = Path(__file__).resolve().parents[3]


def test_production_is_the_default_and_refuses_the_built_in_key() -> None:
    s = Settings.load()
    assert s.service.env == "production"
    with pytest.raises(SettingsError, match="MCU_AUTHOR_HMAC_KEY"):
        check_author_key(s)
    with pytest.raises(SettingsError, match="MCU_AUTHOR_HMAC_KEY"):
        check_author_key(Settings.from_env(author_hmac_key=DEVELOPMENT_AUTHOR_KEY))  # set explicitly: just as bad


def test_a_real_key_passes_silently_in_both_modes() -> None:
    assert check_author_key(Settings.from_env(author_hmac_key="a-real-secret-key")) is None
    assert check_author_key(Settings.from_env(env="development", author_hmac_key="a-real-secret-key")) is None


def test_development_mode_allows_the_built_in_key_with_a_warning() -> None:
    warning = check_author_key(Settings.from_env(env="development"))
    assert warning is not None and "MCU_AUTHOR_HMAC_KEY" in warning


def _worker(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MCU_")}
    return subprocess.run(
        [sys.executable, "-m", "mcu", "worker"],
        env={**clean, "MCU_KAFKA_BROKERS": "127.0.0.1:1", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("key", [None, DEVELOPMENT_AUTHOR_KEY])
def test_a_production_worker_with_the_development_key_refuses_to_start(key: str | None, tmp_path: Path) -> None:
    env = {"MCU_VAR_DIR": str(tmp_path)} | ({"MCU_AUTHOR_HMAC_KEY": key} if key else {})
    done = _worker(**env)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "MCU_AUTHOR_HMAC_KEY" in lines[0] and "Traceback" not in done.stderr
    assert not (tmp_path / "faust").exists()  # refused before anything started


def test_unsafe_kafka_settings_stop_the_worker_with_one_line(tmp_path: Path) -> None:
    done = _worker(
        MCU_VAR_DIR=str(tmp_path),
        MCU_AUTHOR_HMAC_KEY="k",
        MCU_KAFKA_SECURITY_PROTOCOL="sasl_plaintext",
        MCU_KAFKA_SASL_MECHANISM="PLAIN",
        MCU_KAFKA_SASL_USERNAME="mcu",
        MCU_KAFKA_SASL_PASSWORD="pw",
    )
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "MCU_KAFKA_ALLOW_SASL_PLAINTEXT" in done.stderr and "Traceback" not in done.stderr

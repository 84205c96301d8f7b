"""Drive real worker processes against the real local broker, as ops would."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from kafkaio.producer import RawPublisher
from mcu.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "integration-test-token"
AUTHOR_KEY = "integration-test-pseudonym-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a worker started with ``env`` sees, for publishing into its topics."""
    return Settings.from_env({k: v for k, v in env.items() if k.startswith("MCU_")}, ignore_unknown=True)


def publisher_of(env: dict[str, str]) -> RawPublisher:
    """A raw-record publisher into the topics of a worker started with ``env``."""
    settings = settings_of(env)
    return RawPublisher(settings.kafka, settings.topics)


class WorkerDied(Exception):
    """Not worth waiting on: the process is gone."""


def wait_for(check: Callable[[], bool], timeout: float, what: str | Callable[[], str], interval: float = 0.5) -> None:
    """Poll ``check``; ``what`` may be a callable, to describe the last state seen on a timeout."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except WorkerDied:
            raise
        except Exception as exc:  # the worker may not answer yet
            last_error = exc
        time.sleep(interval)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {described}; last error: {last_error}")


class LocalClickHouse:
    """A local ClickHouse server (deploy/clickhouse.sh) on free ports with its own var dir."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.http_port = free_port()
        self.tcp_port = free_port()
        self.env = {
            **os.environ,
            "MCU_VAR_DIR": str(var_dir),
            "MCU_CLICKHOUSE_HTTP_PORT": str(self.http_port),
            "MCU_CLICKHOUSE_TCP_PORT": str(self.tcp_port),
            "MCU_PYTHON": sys.executable,
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _script(self, command: str) -> None:
        out = subprocess.run(
            [str(ROOT / "deploy" / "clickhouse.sh"), command], env=self.env, capture_output=True, text=True, timeout=120
        )
        if out.returncode != 0:
            raise RuntimeError(f"deploy/clickhouse.sh {command} failed ({out.returncode}): {out.stdout}{out.stderr}")

    def start(self) -> LocalClickHouse:
        self._script("start")
        return self

    def stop(self) -> None:
        self._script("stop")

    def kill(self) -> None:
        self._script("kill")


# The server integration tests use (set by the session fixture in conftest.py), and the DSN
# each pipeline's var dir was given, so that query_store reads the right database.
CLICKHOUSE: dict[str, str] = {}
_DSN_OF: dict[Path, str] = {}


def new_database(server_url: str, prefix: str = "it") -> str:
    """A fresh database on a server; its DSN."""
    import clickhouse_connect

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    clickhouse_connect.get_client(dsn=server_url + "/default").command(f"CREATE DATABASE {name}")
    return f"{server_url}/{name}"


def pipeline_env(var_dir: Path, brokers: str, **extra: str) -> dict[str, str]:
    """Settings for one isolated pipeline: its own topics, consumer group and store.

    The store is a database of its own on the session's ClickHouse server unless ``extra``
    names a DSN (``chdb://`` for the embedded-store tests).
    """
    run = uuid.uuid4().hex[:8]
    if "MCU_CLICKHOUSE_DSN" not in extra:
        if "url" not in CLICKHOUSE:
            raise RuntimeError("no ClickHouse server for the integration tests: use the clickhouse_server fixture")
        extra = {**extra, "MCU_CLICKHOUSE_DSN": new_database(CLICKHOUSE["url"])}
    _DSN_OF[Path(var_dir).resolve()] = extra["MCU_CLICKHOUSE_DSN"]
    env = {
        **os.environ,
        "MCU_KAFKA_BROKERS": brokers,
        "MCU_TOPIC_PREFIX": f"it{run}.",
        "MCU_APP_ID": f"mcu-it-{run}",
        "MCU_VAR_DIR": str(var_dir),
        "MCU_INGEST_TOKEN": TOKEN,
        # A production-mode worker with a key of its own, as deployed (the built-in one is refused).
        "MCU_ENV": "production",
        "MCU_AUTHOR_HMAC_KEY": AUTHOR_KEY,
        "MCU_SINK_BATCH_SECONDS": "0.5",
        "MCU_LOG_LEVEL": os.environ.get("MCU_IT_LOG_LEVEL", "warning"),
        "MCU_INGEST_RATE_LIMIT": "1000000/minute",
    }
    env.update(extra)
    return env


# Every worker process a test started; the integration conftest stops what is left after each
# test. A test that failed between starting two workers (the second never became ready) used to
# leave the first running: six idle workers were found 50 minutes later, eating CPU of later runs.
STARTED: list[Worker] = []


class Worker:
    """One `mcu worker` process with its own web port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.env = {**env, "MCU_WEB_PORT": str(self.port)}
        self.log_path = log_path
        self.last_counts: dict[str, int] | None = None  # what /counts last answered, for a timeout's message
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> Worker:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mcu", "worker"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        STARTED.append(self)
        wait_for(self._ready, timeout, f"worker on port {self.port} to be assigned partitions ({self.log_path})")
        return self

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise WorkerDied(f"worker exited with {self.proc.returncode}; log:\n{self.log_tail()}")
        health = httpx.get(self.url + "/health", timeout=2).json()
        return health["assigned_partitions"] > 0 and not health["rebalancing"]

    def counts(self) -> dict[str, int]:
        self.last_counts = httpx.get(self.url + "/counts", timeout=10).json()
        return self.last_counts

    def metric(self, name: str, **labels: str) -> float:
        return read_metric(self.scrape(), name, **labels)

    def scrape(self) -> str:
        """One /metrics text: read several series from it when they must be of the same moment."""
        return httpx.get(self.url + "/metrics", timeout=10).text

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def read_metric(text: str, name: str, **labels: str) -> float:
    """Sum of the series ``name`` in a scrape whose labels include ``labels``."""
    # Labels are matched one by one: prometheus-client writes them sorted by name, not as declared.
    want = [f'{k}="{v}"' for k, v in labels.items()]
    total = 0.0
    for line in text.splitlines():
        series, _, value = line.rpartition(" ")
        if series.split("{", 1)[0] == name and all(w in series for w in want):
            total += float(value)
    return total


def loop_lag(text: str) -> dict[str, float]:
    """The loop-lag probe's series (mcu/loop_lag.py) from one scrape: cumulative counts per bucket
    bound ("0.001" … "+Inf"), "count", and "max" (its worst lag of the last 60 s)."""
    out = {"count": read_metric(text, "mcu_event_loop_lag_seconds_count"),
           "max": read_metric(text, "mcu_event_loop_lag_max_seconds")}  # fmt: skip
    for line in text.splitlines():
        if line.startswith("mcu_event_loop_lag_seconds_bucket{"):
            out[line.split('le="', 1)[1].split('"', 1)[0]] = float(line.rsplit(" ", 1)[1])
    return out


def worst_lag_bound(before: dict[str, float], after: dict[str, float]) -> float:
    """The smallest bucket bound holding every probe observation between two scrapes: the worst
    lag of that stretch is at most this (inf if one was beyond the last finite bucket)."""
    taken = after["count"] - before["count"]
    bounds = sorted(float(k) for k in after if k not in ("count", "max"))
    return next(b for b in bounds if after[_le(b)] - before.get(_le(b), 0.0) == taken)


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def store_dsn(var_dir: Path) -> str:
    """The DSN of the store ``pipeline_env`` gave ``var_dir`` (the embedded path when it gave none)."""
    return _DSN_OF.get(Path(var_dir).resolve(), f"chdb://{var_dir / 'clickhouse'}")


def query_store(var_dir: Path, sql: str) -> list[list[Any]]:
    """Query the store of the pipeline ``pipeline_env`` gave ``var_dir``, as an analyst would.

    A server is queried directly, workers running or not. The embedded store (chdb://) is read
    from a separate process once its worker stopped (chdb: one process per path).
    """
    dsn = store_dsn(var_dir)
    if not dsn.startswith("chdb://"):
        import clickhouse_connect

        rows = clickhouse_connect.get_client(dsn=dsn).query(sql).result_rows
        return json.loads(json.dumps([list(r) for r in rows], default=str))
    code = (
        "import json, sys, clickhouse_connect\n"
        f"c = clickhouse_connect.get_client(dsn={dsn!r})\n"
        "rows = c.query(sys.argv[1]).result_rows\n"
        "print(json.dumps([list(r) for r in rows], default=str))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, sql], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def drop_databases(server_url: str) -> None:
    """Drop the databases this session's pipelines got on a shared server."""
    import clickhouse_connect

    admin = clickhouse_connect.get_client(dsn=server_url + "/default")
    for dsn in set(_DSN_OF.values()):
        if dsn.startswith(server_url + "/"):
            admin.command(f"DROP DATABASE IF EXISTS {dsn.rsplit('/', 1)[1]} SYNC")

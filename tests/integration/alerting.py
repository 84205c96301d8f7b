"""A real Prometheus and Alertmanager on loopback for the alert tests, and the webhook they notify.

Time is compressed for the test by one documented transformation of the shipped rules
(`fast_rules`): every duration in the rule file — range windows `[..]`, `offset ..`, `for: ..`
and group `interval: ..` — is divided by `TIME_FACTOR` (60: a minute becomes a second, 15m
becomes 15s, 7d becomes 168m), with 1s as the floor. Thresholds that are numbers of seconds
(MCUClickHouseSinkStalled's 900, the channels' silences) are values, not durations, and stay as
they are. Prometheus scrapes and evaluates every second.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml

from tests.integration.harness import ROOT, free_port, wait_for

RULES = ROOT / "deploy" / "prometheus" / "rules" / "mcu.rules.yaml"
TIME_FACTOR = 60
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = r"(?:\d+(?:ms|s|m|h|d|w|y))+"


def _seconds(duration: str) -> float:
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", duration))


def _compressed(duration: str) -> str:
    seconds = max(1, round(_seconds(duration) / TIME_FACTOR))
    return f"{seconds // 60}m" if seconds % 60 == 0 and seconds >= 60 else f"{seconds}s"


def fast_rules(text: str) -> str:
    """The shipped rules with every duration divided by TIME_FACTOR (see the module docstring)."""
    text = re.sub(rf"\[({_DURATION})\]", lambda m: f"[{_compressed(m[1])}]", text)
    text = re.sub(rf"\boffset ({_DURATION})\b", lambda m: f"offset {_compressed(m[1])}", text)
    return re.sub(
        rf"^(\s*(?:for|interval): )({_DURATION})\s*$",
        lambda m: m[1] + _compressed(m[2]),
        text,
        flags=re.MULTILINE,
    )


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError(f"none of {names} installed: apt-get install prometheus prometheus-alertmanager")


@dataclass
class Notification:
    at: float
    status: str
    labels: dict[str, str]


@dataclass
class Webhook:
    """Alertmanager's receiver: records every alert of every notification it gets."""

    port: int = field(default_factory=free_port)
    received: list[Notification] = field(default_factory=list)

    def start(self) -> Webhook:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.time()
                for alert in body["alerts"]:
                    hook.received.append(Notification(now, alert["status"], alert["labels"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def events(self, alertname: str, since: float = 0.0, **labels: str) -> list[Notification]:
        return [
            n
            for n in self.received
            if n.at >= since
            and n.labels.get("alertname") == alertname
            and all(n.labels.get(k) == v for k, v in labels.items())
        ]

    def saw(self, alertname: str, status: str, since: float = 0.0, **labels: str) -> bool:
        return any(n.status == status for n in self.events(alertname, since, **labels))

    def summary(self) -> str:
        return "\n".join(
            f"{n.at:.0f} {n.status:8} {n.labels.get('alertname')} "
            + ",".join(f"{k}={v}" for k, v in sorted(n.labels.items()) if k != "alertname")
            for n in self.received
        )


class Monitoring:
    """Prometheus (compressed rules) and Alertmanager (webhook receiver), each with its own data dir."""

    def __init__(self, workdir: Path, targets: list[str], webhook: Webhook) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.prom_port, self.am_port = free_port(), free_port()
        self.targets = targets
        self.webhook = webhook
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prom_port}"

    def write_configs(self) -> tuple[Path, Path, Path]:
        rules = self.dir / "mcu.rules.fast.yaml"
        rules.write_text(fast_rules(RULES.read_text(encoding="utf-8")), encoding="utf-8")
        prom = self.dir / "prometheus.yml"
        prom.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
                    "rule_files": [str(rules)],
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.am_port}"]}]}]},
                    "scrape_configs": [
                        {
                            "job_name": "mcu-worker",
                            "metrics_path": "/metrics",
                            "static_configs": [{"targets": self.targets}],
                        },
                    ],
                }
            ),
            encoding="utf-8",
        )
        # Every alert its own group, notified at once and again when resolved; no inhibitions, so
        # each alert the faults cause is seen (the shipped routing is checked by amtool in tests/unit/deploy).
        am = self.dir / "alertmanager.yml"
        am.write_text(
            yaml.safe_dump(
                {
                    "global": {"resolve_timeout": "10s"},
                    "route": {
                        "receiver": "test",
                        "group_by": ["..."],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [
                        {
                            "name": "test",
                            "webhook_configs": [
                                {"url": f"http://127.0.0.1:{self.webhook.port}/", "send_resolved": True}
                            ],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        return rules, prom, am

    def check(self) -> None:
        rules, prom, am = self.write_configs()
        promtool = binary("promtool")
        for args in (["check", "rules", str(rules)], ["check", "config", str(prom)]):
            result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stdout + result.stderr
        result = subprocess.run([binary("amtool"), "check-config", str(am)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr

    def start(self) -> Monitoring:
        _rules, prom, am = self.write_configs()
        am_log = (self.dir / "alertmanager.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                [
                    binary("prometheus-alertmanager", "alertmanager"),
                    f"--config.file={am}",
                    f"--storage.path={self.dir / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{self.am_port}",
                    "--cluster.listen-address=",
                ],
                stdout=am_log,
                stderr=subprocess.STDOUT,
            )
        )
        prom_log = (self.dir / "prometheus.log").open("ab")
        self.procs.append(
            subprocess.Popen(
                [
                    binary("prometheus"),
                    f"--config.file={prom}",
                    f"--storage.tsdb.path={self.dir / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{self.prom_port}",
                    "--rules.alert.resend-delay=1s",
                ],
                stdout=prom_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{self.am_port}/-/ready").status_code == 200, 30, "alertmanager")
        wait_for(lambda: httpx.get(self.prometheus_url + "/-/ready").status_code == 200, 30, "prometheus")
        return self

    def query(self, expr: str) -> list[dict]:
        return httpx.get(self.prometheus_url + "/api/v1/query", params={"query": expr}).json()["data"]["result"]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()

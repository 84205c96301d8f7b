"""Every series the dashboards and the alert rules name is in a live scrape of a worker that ran the demo.

The names come from the shipped files themselves (deploy/grafana/dashboards/*.json, the rule
file), the scrape from a real `mcu worker` after `mcu demo` published its synthetic batch, so a
renamed metric, a series that only appears later, or a typo in a query fails here.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.integration.harness import ROOT, Worker, pipeline_env, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "deploy" / "prometheus" / "rules" / "mcu.rules.yaml"
# `up` (per target) and `ALERTS` (per alert) are made by Prometheus, not by the worker.
MADE_BY_PROMETHEUS = {"up", "ALERTS"}
_NAME = re.compile(
    r"(?<![\w:$\"'])([a-zA-Z_][a-zA-Z0-9_]*)(?=\s*(?:\{|\[|\)|$|\s(?:offset|unless|and|or|>|<|=|!|\*|/|\+|-)))"
)
_NOT_METRICS = {"by", "on", "without", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or", "unless",
                "le", "vector", "time", "inf"}  # fmt: skip


def _queries() -> list[str]:
    out = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
            out += [t["expr"] for t in panel.get("targets", []) if "expr" in t]  # PromQL targets only
    for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]:
        out += [rule["expr"] for rule in group["rules"]]
    return out


def used_metric_names() -> set[str]:
    names: set[str] = set()
    for query in _queries():
        query = re.sub(r'"[^"]*"|`[^`]*`', '""', query)  # label values and regexes are not names
        query = re.sub(r"\b(?:by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)", "", query)  # label lists
        names |= {n for n in _NAME.findall(query) if n not in _NOT_METRICS}
    return names - MADE_BY_PROMETHEUS


def test_name_extraction_finds_the_known_series() -> None:
    names = used_metric_names()
    assert {"mcu_dead_letters_total", "mcu_stream_offset_gaps_total", "mcu_ingest_to_sink_seconds_bucket",
            "process_start_time_seconds", "mcu_kafka_broker_reachable"} <= names, names  # fmt: skip
    assert not any(":" in n for n in names), "recording rules are defined, not scraped"


def test_every_series_of_dashboards_and_rules_is_in_a_live_scrape_after_the_demo(brokers, tmp_path: Path) -> None:
    env = pipeline_env(tmp_path / "var", brokers)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        demo = subprocess.run([sys.executable, "-m", "mcu", "demo", "--watch", "0"], env=worker.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert demo.returncode == 0, demo.stdout + demo.stderr
        sent = int(re.search(r"опубликовано (\d+)", demo.stdout)[1])
        wait_for(lambda: worker.counts()["cases"] + worker.counts()["dead_letters"] >= sent, 120,
                 f"the {sent} demo records in the store")  # fmt: skip
        wait_for(lambda: worker.metric("mcu_consumer_lag") >= 0 and "mcu_consumer_lag{" in
                 httpx.get(worker.url + "/metrics").text, 30, "the lag gauge")  # fmt: skip
        scrape = httpx.get(worker.url + "/metrics", timeout=10).text
    finally:
        worker.stop()
    exported = {line.split("{")[0].split(" ")[0] for line in scrape.splitlines() if line and not line.startswith("#")}
    missing = used_metric_names() - exported
    assert not missing, f"dashboards or rules name series a worker that ran the demo does not export: {sorted(missing)}"

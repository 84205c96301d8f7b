"""The alert rules: promtool's own checks and unit tests, plus the contract with metrics and runbook.

promtool comes from Debian's `prometheus` package. Without it the promtool tests skip on a
developer's machine but FAIL in CI (CI=true), so a missing install step cannot pass unseen.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "rules" / "mcu.rules.yaml"
RULE_TESTS = sorted((PROM / "tests").glob("*.test.yaml"))
RUNBOOK = ROOT / "docs" / "runbook.md"
METRICS_MODULE = ROOT / "mcu" / "metrics.py"
# Series a lower package defines itself (it may not import mcu); mcu.metrics re-exports them.
METRICS_MODULES = (METRICS_MODULE, ROOT / "ingest" / "metrics.py")


def _promtool() -> str:
    path = shutil.which("promtool")
    if path:
        return path
    message = "promtool not found: apt-get install -y --no-install-recommends prometheus"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _alerts() -> list[dict]:
    return [r for r in _rules() if "alert" in r]


def test_promtool_check_rules() -> None:
    result = subprocess.run([_promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    # --syntax-only: the rule files are checked above, and the config names hosts of compose.
    result = subprocess.run(
        [_promtool(), "check", "config", "--syntax-only", str(PROM / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", RULE_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests(test_file: Path) -> None:
    result = subprocess.run(
        [_promtool(), "test", "rules", test_file.name],
        cwd=test_file.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_severity_russian_text_and_runbook() -> None:
    alerts = _alerts()
    assert alerts, "no alert rules found"
    cyrillic = re.compile("[а-яё]", re.IGNORECASE)
    for rule in alerts:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        notes = rule["annotations"]
        for key in ("summary", "description"):
            assert cyrillic.search(notes[key]), f"{name}: {key} is not in Russian"
        assert notes["runbook"] == f"docs/runbook.md#{name.lower()}", name


def test_every_runbook_link_has_its_entry() -> None:
    anchors = {
        re.sub(r"[^\w-]", "", line.removeprefix("## ").strip().lower())
        for line in RUNBOOK.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    missing = [r["alert"] for r in _alerts() if r["annotations"]["runbook"].split("#")[1] not in anchors]
    assert not missing, f"docs/runbook.md has no section for {missing}"


def test_every_alert_is_unit_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in group.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {r["alert"] for r in _alerts()}
    assert names - firing == set(), f"alerts never tested firing: {sorted(names - firing)}"
    assert names - quiet == set(), f"alerts never tested quiet: {sorted(names - quiet)}"


def test_every_counter_alert_fires_on_a_series_born_non_zero() -> None:
    # The worker exports a labelled counter only from its first .labels() call, and a label value
    # nobody could pre-create appears already above 0; every alert over a counter (directly or
    # through a recording rule) needs a test where its input is absent first and then non-zero.
    recorded = {r["record"]: r["expr"] for r in _rules() if "record" in r}

    def uses_counter(expr: str) -> bool:
        if re.search(r"\bmcu_[a-z_]+_total\b", expr):
            return True
        return any(name in expr and uses_counter(body) for name, body in recorded.items())

    # What an alert fires on stands before its first `unless` (after it: only what silences it).
    counter_alerts = {r["alert"] for r in _alerts() if uses_counter(r["expr"].split("unless")[0])}
    assert len(counter_alerts) >= 9, counter_alerts
    born: set[str] = set()
    for path in RULE_TESTS:
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            if not any(str(s["values"]).lstrip().startswith("_") for s in group["input_series"]):
                continue
            born |= {case["alertname"] for case in group.get("alert_rule_test", []) if case.get("exp_alerts")}
    missing = counter_alerts - born
    assert not missing, f"no 'absent then non-zero' firing case for {sorted(missing)}"


def test_rules_use_only_metrics_the_worker_exports() -> None:
    # The metric names are a contract with mcu/metrics.py; a rename there must break this test
    # rather than silently leave an alert that can never fire.
    source = "\n".join(m.read_text(encoding="utf-8") for m in METRICS_MODULES)
    exported = set(re.findall(r'\(\s*"(mcu_[a-z_]+)"', source))
    histogram_names = set(re.findall(r'Histogram\(\s*"(mcu_[a-z_]+)"', source))
    series = exported | {f"{h}_{s}" for h in histogram_names for s in ("bucket", "sum", "count")}
    used: set[str] = set()
    for rule in _rules():
        used |= set(re.findall(r"\b(mcu_[a-z_]+)\b", rule["expr"]))
    assert used, "rules reference no mcu_* metric"
    unknown = used - series
    assert not unknown, f"rules use metrics mcu/metrics.py does not define: {sorted(unknown)}"


def test_alertmanager_config_is_valid(tmp_path: Path) -> None:
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not found: apt-get install -y --no-install-recommends prometheus-alertmanager")
    text = (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8")
    version = subprocess.run([amtool, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"version (\d+)\.(\d+)", version)
    if found and (int(found[1]), int(found[2])) < (0, 26):
        # Debian 12 ships 0.25, which predates bot_token_file/url_file (the compose image is newer):
        # check everything else by giving this old parser inline placeholders in their place.
        text = re.sub(r"bot_token_file: \S+", "bot_token: placeholder", text)
        text = re.sub(r"url_file: \S+", "url: http://placeholder.invalid/", text)
    config = tmp_path / "alertmanager.yml"
    config.write_text(text, encoding="utf-8")
    result = subprocess.run([amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alertmanager_routes_every_severity_the_rules_use() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    routed = {m for route in config["route"]["routes"] for m in route.get("matchers", [])}
    for severity in {r["labels"]["severity"] for r in _alerts()}:
        assert f'severity="{severity}"' in routed, severity
    receivers = {r["name"] for r in config["receivers"]}
    assert {route["receiver"] for route in config["route"]["routes"]} <= receivers


def _dashboard_queries() -> list[str]:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "mcu-ops.json").read_text("utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def test_ops_dashboard_queries_parse(tmp_path: Path) -> None:
    # promtool has no offline query parser, but it parses the PromQL of recording rules: wrap
    # every panel query in one, with Grafana's variables replaced by what Grafana would send.
    queries = _dashboard_queries()
    assert len(queries) >= 15
    rules = [
        {"record": f"dashboard:q{i}", "expr": q.replace("$__rate_interval", "1m").replace("$instance", ".*")}
        for i, q in enumerate(queries)
    ]
    path = tmp_path / "dashboard.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run([_promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ops_dashboard_uses_known_series() -> None:
    source = "\n".join(m.read_text(encoding="utf-8") for m in METRICS_MODULES)
    known = set(re.findall(r'\(\s*"(mcu_[a-z_]+)"', source))
    known |= {f"{h}_bucket" for h in re.findall(r'Histogram\(\s*"(mcu_[a-z_]+)"', source)}
    known |= {r["record"] for r in _rules() if "record" in r}
    used: set[str] = set()
    for query in _dashboard_queries():
        used |= set(re.findall(r"\b(mcu[_:][a-z_0-9:]+)\b", query))
    assert not used - known, f"dashboard queries unknown series: {sorted(used - known)}"
    for topic in (
        "mcu_stage_processed_total",
        "mcu_consumer_lag",
        "mcu_ingest_to_sink_seconds_bucket",
        "mcu_dead_letters_total",
        "mcu:channel_last_seen:max",
        "mcu_sink_insert_failures_total",
        "mcu_notifications_failed_total",
    ):
        assert topic in used, f"the ops dashboard shows no {topic}"


def test_ops_dashboard_layout_and_data_source() -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "mcu-ops.json").read_text("utf-8"))
    provisioned = yaml.safe_load(
        (ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text("utf-8")
    )
    uid = provisioned["datasources"][0]["uid"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        g = panel["gridPos"]
        assert g["x"] + g["w"] <= 24, panel["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & area, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == uid, panel["title"]


LATIN_WORD = re.compile(r"\b[a-z]{3,}\b", re.IGNORECASE)
RUSSIAN_WORD = re.compile(r"\b[а-яё]{3,}\b", re.IGNORECASE)


def _prose(text: str) -> str:
    """What a person reads as language: without code blocks, inline code and template expressions,
    which hold metric names, commands and labels (identifiers, not English)."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"`[^`]*`", " ", text)
    return re.sub(r"\{\{.*?\}\}", " ", text)


def test_alert_annotations_are_mostly_russian() -> None:
    # One Cyrillic letter is not enough: an English sentence with a Russian name in it must fail.
    for rule in _alerts():
        for key in ("summary", "description"):
            prose = _prose(rule["annotations"][key])
            latin, russian = len(LATIN_WORD.findall(prose)), len(RUSSIAN_WORD.findall(prose))
            assert russian > latin, f"{rule['alert']}: {key} reads as English: {prose!r}"


def test_runbook_is_russian() -> None:
    # The duty engineer at the МЦУ reads it; commands, metric and alert names stay as they are.
    english = []
    for number, line in enumerate(_prose(RUNBOOK.read_text(encoding="utf-8")).splitlines(), start=1):
        latin, russian = len(LATIN_WORD.findall(line)), len(RUSSIAN_WORD.findall(line))
        if latin > 3 and latin > russian:
            english.append(f"{number}: {line.strip()}")
    assert not english, "runbook lines in English:\n" + "\n".join(english)

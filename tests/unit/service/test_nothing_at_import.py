"""Importing the application's modules reads no settings and loads no model: a bad environment
breaks `mcu worker` when it starts, not every tool or test that imports a helper."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Fails on any settings read or model load during the imports, whatever the environment holds.
PROBE = """
import mcu.settings, classify.enricher
def refuse(*a, **k):
    raise SystemExit("read at import: " + repr(a)[:200])
mcu.settings.get_settings = refuse
classify.enricher.Enricher.load = refuse
import mcu.app, mcu.store, mcu.agents, mcu.cli
import mcu.commands.service, mcu.commands.connector, mcu.commands.report, mcu.commands.sla
print("ok")
"""
# An agent module is the worker's wiring: importing it registers its agent on the app (Faust's
# decorators), but the stage's model is loaded only by `prepare()` at registration.
AGENT_PROBE = """
import classify.enricher
def refuse(*a, **k):
    raise SystemExit("model loaded at import")
classify.enricher.Enricher.load = refuse
import mcu.agents.enrich
print("ok")
"""


def test_importing_app_store_agents_and_commands_starts_nothing() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MCU_TOPIC_PARTITIONS": "not a number"}
    res = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stdout + res.stderr


def test_the_enrich_agent_loads_its_model_when_prepared_not_when_imported() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [sys.executable, "-c", AGENT_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stdout + res.stderr


def test_the_app_is_made_on_first_use() -> None:
    code = "import mcu.app as m; print(m.app.conf.id, m.cases_topic.get_topic_name(), m.cases_topic is m.cases_topic)"
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "MCU_APP_ID": "lazy-app", "MCU_TOPIC_PREFIX": "t1."}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lazy-app", "t1.cases", "True"]

"""deploy/compose.yaml: valid against the Compose Specification and consistent with the project.

No Docker engine and no `docker compose` plugin run on the project's machines, so the file is
checked against the spec's JSON Schema (vendored in tests/unit/deploy/data) and by structural asserts;
where a `docker compose` client exists, its own offline parser checks it too.
"""

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from mcu.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
LONG_RUNNING = {"kafka", "clickhouse", "worker", "prometheus", "alertmanager", "grafana"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a mapping in this file"
    return {k: str(v) for k, v in env.items()}


def test_valid_against_compose_spec_schema(compose: dict[str, Any]) -> None:
    validator = Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_schema_check_catches_a_broken_file(compose: dict[str, Any]) -> None:
    # Guard against a validator that accepts anything (e.g. a schema that failed to load).
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker"]["healthcheck"]["interval"] = ["15s"]
    broken["services"]["kafka"]["depends_on"] = 42
    validator = Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    assert len(list(validator.iter_errors(broken))) >= 2


def test_all_components_with_health_checks_and_restart(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert LONG_RUNNING <= set(services)
    for name in LONG_RUNNING:
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert services[name].get("restart") == "unless-stopped", name
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in _env(services["kafka"])["KAFKA_PROCESS_ROLES"], "Kafka runs in KRaft mode"


def test_volumes_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {}))
    used: set[str] = set()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (DEPLOY / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                used.add(source)
                assert source in declared, f"{name}: volume {source} is not declared"
    assert used == declared, f"declared but unused volumes: {declared - used}"
    for stateful in ("kafka", "clickhouse", "prometheus", "grafana"):
        assert any(":" in v and not v.startswith(".") for v in compose["services"][stateful]["volumes"])


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        deps = service.get("depends_on", {})
        for dep in deps:
            assert dep in services, f"{name} depends on unknown service {dep}"
    worker_deps = services["worker"]["depends_on"]
    assert worker_deps["kafka"]["condition"] == "service_healthy"
    assert worker_deps["clickhouse"]["condition"] == "service_healthy"
    assert worker_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["mcu", "db", "migrate"]


def test_worker_settings_point_at_the_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    env = _env(services["worker"])
    assert services["worker"]["command"] == ["mcu", "worker"]
    dsn = env["MCU_CLICKHOUSE_DSN"]
    assert dsn.startswith("http://"), "the DSN switches from chdb:// to http:// in compose"
    assert re.search(r"@clickhouse:8123/", dsn)
    advertised = _env(services["kafka"])["KAFKA_ADVERTISED_LISTENERS"].split("://", 1)[1]
    assert env["MCU_KAFKA_BROKERS"] == advertised
    assert env["MCU_WEB_HOST"] == "0.0.0.0", "bound to loopback, /metrics and /health are unreachable"
    # Every MCU_* variable must be a real setting; a typo would be silently ignored at run time.
    fields = Settings.variables()
    for name, service in services.items():
        if service.get("image") == services["worker"]["image"]:
            unknown = {k for k in _env(service) if k.startswith("MCU_")} - fields
            assert not unknown, f"{name}: not settings of mcu/settings.py: {sorted(unknown)}"


def test_connectors_are_opt_in_and_run_a_real_command(compose: dict[str, Any]) -> None:
    from ingest.connectors.registry import POLLED

    services = compose["services"]
    connectors = {n: s for n, s in services.items() if n.startswith("connector-")}
    assert set(connectors) == {f"connector-{name}" for name in POLLED}
    for name, service in connectors.items():
        assert service["command"] == ["mcu", "connector", "run", name.removeprefix("connector-")]
        assert service["profiles"] == ["connectors"], "connectors without credentials must not start"


def test_no_secret_has_a_default(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", text))
    assert {"MCU_CLICKHOUSE_PASSWORD", "MCU_AUTHOR_HMAC_KEY", "MCU_INGEST_TOKEN"} <= required
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    for var in required:
        assert re.search(rf"^{var}=REPLACE_ME$", example, re.M), f"{var} missing from env.example"
    for key in ("PASSWORD", "TOKEN", "KEY"):
        for service in compose["services"].values():
            for name, value in _env(service).items():
                if key in name and not name.endswith("__FILE"):
                    assert "${" in value, f"{name} has a literal value in compose.yaml"


def test_secret_files_are_documented(compose: dict[str, Any]) -> None:
    readme = (DEPLOY / "secrets" / "README.md").read_text(encoding="utf-8")
    for name, secret in compose["secrets"].items():
        assert secret["file"] == f"./secrets/{name}"
        assert f"`{name}`" in readme, f"deploy/secrets/README.md does not describe {name}"
    am = (DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8")
    for path in re.findall(r"_file: (/etc/alertmanager/secrets/\w+)", am):
        targets = [s["target"] for s in compose["services"]["alertmanager"]["secrets"]]
        assert path in targets, f"alertmanager.yml reads {path}, which compose does not mount"


def test_prometheus_scrapes_the_worker_service(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    worker_sd = jobs["mcu-worker"]["dns_sd_configs"][0]
    assert worker_sd["names"] == ["worker"] and "worker" in compose["services"]
    assert str(worker_sd["port"]) == _env(compose["services"]["worker"])["MCU_WEB_PORT"]
    am_target = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"][0]
    assert am_target.split(":")[0] in compose["services"]
    rule_mount = [v for v in compose["services"]["prometheus"]["volumes"] if v.startswith("./prometheus/rules")]
    assert rule_mount and config["rule_files"][0].startswith(rule_mount[0].split(":")[1])


def test_dockerfile_installs_the_project_and_runs_the_worker() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^COPY \. \.$", dockerfile, re.M)
    assert re.search(r"^RUN pip install \.", dockerfile, re.M)
    assert re.search(r'^CMD \["mcu", "worker"\]$', dockerfile, re.M)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the worker must not run as root"
    ignored = {
        line.strip().rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert not packages & ignored, f"packages the image would miss: {sorted(packages & ignored)}"
    assert {"pyproject.toml", "README.md"}.isdisjoint(ignored), "pip install . needs them"
    assert {".venv", "var", ".git"} <= ignored, "local state must not go into the image"


def test_docker_compose_parses_the_file_where_available(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no `docker compose` client here; the schema test above checks the file")
    env = {**os.environ, "MCU_CLICKHOUSE_PASSWORD": "x", "MCU_AUTHOR_HMAC_KEY": "x", "MCU_INGEST_TOKEN": "x"}
    for name in ("smtp_password", "telegram_bot_token", "duty_webhook_url", "grafana_admin_password"):
        (tmp_path / name).write_text("x")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr

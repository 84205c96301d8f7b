"""A second local broker with a SASL_SSL listener (SCRAM-SHA-512, client certificates required):
the worker and the publisher connect through it, a wrong password is refused at once.

The broker is started by deploy/kafka.sh on free ports with its own var dir, a throwaway CA and
certificates made by openssl, and a SCRAM user created when its storage is formatted. Its
PLAINTEXT listener (kafka.sh's readiness check and the inter-broker traffic) is never given to the
clients. The main broker on 9092 is not touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ingest.pseudonymize import pseudonymize
from tests.integration.harness import (
    AUTHOR_KEY,
    ROOT,
    TOKEN,
    Worker,
    free_port,
    pipeline_env,
    query_store,
    wait_for,
)
from tests.kafka_tls import CLIENT_KEY_PASSWORD, Pki, make_pki

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KAFKA_SH = ROOT / "deploy" / "kafka.sh"
SCRAM_USER = "mcu"
SCRAM_PASSWORD = "scram-secret-for-tests"


@dataclass(frozen=True)
class SecureBroker:
    sasl_port: int
    pki: Pki

    def env(self, password: str = SCRAM_PASSWORD) -> dict[str, str]:
        """The MCU_KAFKA_* settings of a client of this broker, as an operator would write them."""
        return {
            "MCU_KAFKA_BROKERS": f"127.0.0.1:{self.sasl_port}",
            "MCU_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",  # lower case: used to mean plain text for kafka-python
            "MCU_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "MCU_KAFKA_SASL_USERNAME": SCRAM_USER,
            "MCU_KAFKA_SASL_PASSWORD": password,
            "MCU_KAFKA_SSL_CAFILE": str(self.pki.ca),
            "MCU_KAFKA_SSL_CERTFILE": str(self.pki.client_cert),
            "MCU_KAFKA_SSL_KEYFILE": str(self.pki.client_key),
            "MCU_KAFKA_SSL_KEY_PASSWORD": CLIENT_KEY_PASSWORD,
        }


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java on this machine")
    root = tmp_path_factory.mktemp("secure-broker")
    pki = make_pki(root / "pki")
    port, controller, sasl = free_port(), free_port(), free_port()
    extra = root / "sasl-ssl.properties"
    extra.write_text(
        "\n".join(
            [
                f"listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
                "sasl.enabled.mechanisms=SCRAM-SHA-512",
                "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl_ssl.ssl.keystore.type=PEM",
                f"listener.name.sasl_ssl.ssl.keystore.location={pki.broker_keystore}",
                "listener.name.sasl_ssl.ssl.truststore.type=PEM",
                f"listener.name.sasl_ssl.ssl.truststore.location={pki.ca}",
                "listener.name.sasl_ssl.ssl.client.auth=required",
                "",
            ]
        )
    )
    env = {
        **os.environ,
        "MCU_KAFKA_PORT": str(port),
        "MCU_KAFKA_CONTROLLER_PORT": str(controller),
        "MCU_VAR_DIR": str(root / "var"),
        "MCU_KAFKA_EXTRA_PROPERTIES": str(extra),
        "MCU_KAFKA_ADD_SCRAM": f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]",
    }

    def kafka_sh(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KAFKA_SH), command], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    started = kafka_sh("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield SecureBroker(sasl, pki)
    finally:
        stopped = kafka_sh("stop")
        if stopped.returncode != 0:
            kafka_sh("kill")


def _mcu(env: dict[str, str], *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    # The timeout turns a hang into a failure: every call here must end on its own.
    return subprocess.run(
        [sys.executable, "-m", "mcu", *args], env=env, cwd=ROOT, input=stdin, capture_output=True, timeout=120
    )


def test_worker_and_publisher_work_through_sasl_ssl(secure_broker: SecureBroker, tmp_path: Path) -> None:
    env = pipeline_env(tmp_path / "var", secure_broker.env()["MCU_KAFKA_BROKERS"], **secure_broker.env())
    worker = Worker(env, tmp_path / "worker.log").start()  # creates its topics and joins its group via SASL_SSL
    try:
        lines = [
            {"id": "sasl-1", "text": "В Джубге на улице Советской нет воды третий день", "author": "a1@example.ru"},
            {"id": "sasl-2", "text": "Прошу отремонтировать дорогу в посёлке Новомихайловский", "author": "a2"},
        ]
        body = b"".join(json.dumps(x, ensure_ascii=False).encode() + b"\n" for x in lines)
        published = _mcu(env, "ingest", "jsonl", "-", "--channel", "webform", stdin=body)  # kafka-python
        assert published.returncode == 0, published.stderr.decode()
        assert "опубликовано записей: 2 в raw.webform" in published.stdout.decode()
        # The HTTP intake publishes with the worker's own (Faust/aiokafka) producer.
        accepted = httpx.post(
            worker.url + "/ingest/webform",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"id": "sasl-3", "text": "Не вывозят мусор в Туапсе на улице Карла Маркса", "author": "a3"},
            timeout=10,
        )
        assert accepted.status_code == 202, accepted.text
        wait_for(lambda: worker.counts()["cases"] == 3, 120, lambda: f"3 cases, have {worker.counts()}")
        assert worker.counts()["dead_letters"] == 0
    finally:
        worker.stop()
    rows = query_store(tmp_path / "var", "SELECT source_id, author_id FROM cases ORDER BY source_id")
    assert rows == [
        ["sasl-1", pseudonymize("a1@example.ru", AUTHOR_KEY.encode())],
        ["sasl-2", pseudonymize("a2", AUTHOR_KEY.encode())],
        ["sasl-3", pseudonymize("a3", AUTHOR_KEY.encode())],
    ]


def _refusal_lines(stderr: bytes) -> list[str]:
    text = stderr.decode()
    assert "Traceback" not in text, text
    return [line for line in text.splitlines() if line.strip()]


def test_a_wrong_password_is_refused_with_a_clear_error(secure_broker: SecureBroker, tmp_path: Path) -> None:
    env = pipeline_env(tmp_path / "var", "", **secure_broker.env(password="not-the-password"))

    published = _mcu(env, "ingest", "jsonl", "-", "--channel", "webform", stdin=b'{"id": "x", "text": "t"}\n')
    assert published.returncode == 1
    [line] = _refusal_lines(published.stderr)
    assert f"отказал во входе пользователю '{SCRAM_USER}' (SCRAM-SHA-512)" in line
    assert "MCU_KAFKA_SASL_PASSWORD" in line

    # A development worker: it warns about the built-in pseudonym key, then stops at the log-in.
    dev = {k: v for k, v in env.items() if k != "MCU_AUTHOR_HMAC_KEY"} | {"MCU_ENV": "development"}
    refused = _mcu(dev, "worker")
    assert refused.returncode == 1
    lines = _refusal_lines(refused.stderr)
    assert any("MCU_ENV=development" in x and "MCU_AUTHOR_HMAC_KEY" in x for x in lines), lines
    assert "MCU_KAFKA_SASL_PASSWORD" in lines[-1]


def test_a_client_without_its_certificate_is_refused(secure_broker: SecureBroker, tmp_path: Path) -> None:
    env = pipeline_env(tmp_path / "var", "", **secure_broker.env())
    for name in ("MCU_KAFKA_SSL_CERTFILE", "MCU_KAFKA_SSL_KEYFILE", "MCU_KAFKA_SSL_KEY_PASSWORD"):
        env.pop(name)
    published = _mcu(env, "ingest", "jsonl", "-", "--channel", "webform", stdin=b'{"id": "x", "text": "t"}\n')
    assert published.returncode == 1
    [line] = _refusal_lines(published.stderr)
    assert "MCU_KAFKA_SSL_CERTFILE" in line

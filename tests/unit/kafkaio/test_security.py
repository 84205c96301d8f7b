"""The Kafka security section: both clients get the same parameters, and every unsafe combination is refused."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from kafkaio import KafkaSettings, SaslMechanism, SecurityProtocol, client_options
from mcu.app import _credentials
from mcu.settings import Settings, SettingsError
from tests.kafka_tls import CLIENT_KEY_PASSWORD, Pki, make_pki

SASL = [p for p in SecurityProtocol if p.uses_sasl]
TLS = [p for p in SecurityProtocol if p.uses_tls]


def _settings(
    protocol: SecurityProtocol, mechanism: SaslMechanism | None, pki: Pki, *, client_cert: bool
) -> KafkaSettings:
    kw: dict[str, Any] = {"kafka_security_protocol": protocol.value.lower()}  # the spelling that used to fail open
    if protocol.uses_sasl:
        assert mechanism is not None
        kw |= {
            "kafka_sasl_mechanism": mechanism.value.lower(),
            "kafka_sasl_username": "mcu",
            "kafka_sasl_password": "pw-" + mechanism.value,
            "kafka_allow_sasl_plaintext": protocol is SecurityProtocol.SASL_PLAINTEXT,
        }
    if protocol.uses_tls:
        kw["kafka_ssl_cafile"] = pki.ca
        if client_cert:
            kw |= {
                "kafka_ssl_certfile": pki.client_cert,
                "kafka_ssl_keyfile": pki.client_key,
                "kafka_ssl_key_password": CLIENT_KEY_PASSWORD,
            }
    return Settings.from_env(kw).kafka  # the variables' names, as a deployment sets them


def _ca_subjects(context: ssl.SSLContext | None) -> list[Any] | None:
    return None if context is None else [c["subject"] for c in context.get_ca_certs()]


def _effective(opts: dict[str, Any] | Any) -> dict[str, Any]:
    """What a client does with its options: protocol, SASL log-in, TLS on/off and whom it trusts."""
    context = opts.get("ssl_context")
    return {
        "protocol": opts["security_protocol"],
        "mechanism": opts.get("sasl_mechanism"),
        "username": opts.get("sasl_plain_username"),
        "password": opts.get("sasl_plain_password"),
        "tls": context is not None,
        "ca": _ca_subjects(context),
        "context": id(context) if context is not None else None,
    }


def _faust_to_aiokafka(s: KafkaSettings) -> dict[str, Any]:
    """What Faust's aiokafka driver passes to every consumer, producer and admin client it makes."""
    app = faust.App("security-test", broker="kafka://127.0.0.1:1", broker_credentials=_credentials(s))
    return dict(credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context))


COMBINATIONS = [
    pytest.param(p, m, cert, id=f"{p.value}-{m.value if m else 'none'}-{'mtls' if cert else 'nocert'}")
    for p in SecurityProtocol
    for m in (list(SaslMechanism) if p.uses_sasl else [None])
    for cert in ([False, True] if p.uses_tls else [False])
]


@pytest.mark.parametrize(("protocol", "mechanism", "client_cert"), COMBINATIONS)
def test_both_clients_receive_identical_parameters(
    protocol: SecurityProtocol, mechanism: SaslMechanism | None, client_cert: bool, pki: Pki
) -> None:
    s = _settings(protocol, mechanism, pki, client_cert=client_cert)
    kafka_python = client_options(s)
    aiokafka = _faust_to_aiokafka(s)

    assert _effective(kafka_python) == _effective(aiokafka)
    # ... and what they both get is what was asked for, not a fallback.
    got = _effective(kafka_python)
    assert got["protocol"] == protocol.value
    assert got["mechanism"] == (mechanism.value if protocol.uses_sasl and mechanism else None)
    assert got["username"] == ("mcu" if protocol.uses_sasl else None)
    assert got["password"] == (f"pw-{mechanism.value}" if protocol.uses_sasl and mechanism else None)
    assert got["tls"] is protocol.uses_tls
    if protocol.uses_tls:
        assert got["ca"] == _ca_subjects(ssl.create_default_context(cafile=str(pki.ca)))
        context = kafka_python["ssl_context"]
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    # Every option is one kafka-python's clients know, and aiokafka's client accepts the set.
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(kafka_python) <= set(client.DEFAULT_CONFIG)

    async def build() -> None:
        await AIOKafkaClient(bootstrap_servers="127.0.0.1:1", **aiokafka).close()

    asyncio.run(build())


def _tls_server(pki: Pki) -> tuple[socket.socket, dict[str, Any]]:
    """A TLS server with the broker's certificate that requires a client certificate from our CA."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
    server_ctx.load_cert_chain(str(pki.broker_cert), str(pki.broker_key))
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    seen: dict[str, Any] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(conn, server_side=True) as tls:
                seen["peer"] = dict(x[0] for x in tls.getpeercert()["subject"])
                tls.sendall(b"ok")
        except (ssl.SSLError, OSError) as exc:
            seen["error"] = exc

    threading.Thread(target=serve, daemon=True).start()
    return listener, seen


@pytest.mark.parametrize("protocol", TLS)
def test_the_shared_context_presents_the_client_certificate_and_trusts_only_the_ca(
    protocol: SecurityProtocol, pki: Pki, tmp_path: Path
) -> None:
    s = _settings(protocol, SaslMechanism.SCRAM_SHA_512, pki, client_cert=True)
    listener, seen = _tls_server(pki)
    with listener, socket.create_connection(listener.getsockname(), timeout=10) as raw:
        context = client_options(s)["ssl_context"]
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.recv(2) == b"ok"
    assert seen["peer"] == {"commonName": "mcu-client"}

    # A CA that did not sign the broker: the same settings with it refuse the server.
    other = make_pki(tmp_path / "other", ca_name="other-ca")
    stranger = s.model_copy(update={"ssl_cafile": other.ca})
    listener, _ = _tls_server(pki)
    with listener, socket.create_connection(listener.getsockname(), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            stranger._build_ssl_context().wrap_socket(raw, server_hostname="127.0.0.1")


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [("sasl_ssl", "SASL_SSL"), (" Sasl-Ssl ", "SASL_SSL"), ("ssl", "SSL"), ("plaintext", "PLAINTEXT")],
)
def test_protocol_is_case_insensitive(spelling: str, expected: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCU_KAFKA_SECURITY_PROTOCOL", spelling)
    if expected.startswith("SASL"):
        monkeypatch.setenv("MCU_KAFKA_SASL_MECHANISM", "scram_sha_512")
        monkeypatch.setenv("MCU_KAFKA_SASL_USERNAME", "mcu")
        monkeypatch.setenv("MCU_KAFKA_SASL_PASSWORD", "pw")
    s = KafkaSettings()
    assert client_options(s)["security_protocol"] == expected
    if expected.startswith("SASL"):
        assert client_options(s)["sasl_mechanism"] == "SCRAM-SHA-512"


def _full_sasl(**over: Any) -> dict[str, Any]:
    return {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "mcu",
        "kafka_sasl_password": "pw",
    } | over


INVALID = [
    ("no mechanism", _full_sasl(kafka_sasl_mechanism=None), "MCU_KAFKA_SASL_MECHANISM is required"),
    ("no username", _full_sasl(kafka_sasl_username=None), "MCU_KAFKA_SASL_USERNAME is required"),
    ("no password", _full_sasl(kafka_sasl_password=None), "MCU_KAFKA_SASL_PASSWORD is required"),
    (
        "sasl without tls",
        _full_sasl(kafka_security_protocol="SASL_PLAINTEXT"),
        "MCU_KAFKA_ALLOW_SASL_PLAINTEXT",
    ),
    (
        "credentials without sasl",
        {"kafka_security_protocol": "SSL", "kafka_sasl_username": "mcu"},
        "MCU_KAFKA_SASL_USERNAME is set but MCU_KAFKA_SECURITY_PROTOCOL=SSL does not use SASL",
    ),
    (
        "mechanism with plaintext",
        {"kafka_sasl_mechanism": "PLAIN"},
        "MCU_KAFKA_SASL_MECHANISM is set but MCU_KAFKA_SECURITY_PROTOCOL=PLAINTEXT",
    ),
    ("ca without tls", {"kafka_ssl_cafile": "CA"}, "MCU_KAFKA_SSL_CAFILE is set but"),
    (
        "ca with sasl_plaintext",
        _full_sasl(kafka_security_protocol="SASL_PLAINTEXT", kafka_allow_sasl_plaintext=True, kafka_ssl_cafile="CA"),
        "MCU_KAFKA_SSL_CAFILE is set but MCU_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS",
    ),
    ("client cert without tls", {"kafka_ssl_certfile": "CERT"}, "MCU_KAFKA_SSL_CERTFILE is set but"),
    (
        "key without cert",
        {"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "KEY"},
        "MCU_KAFKA_SSL_KEYFILE needs MCU_KAFKA_SSL_CERTFILE",
    ),
    (
        "wrong key password",
        {
            "kafka_security_protocol": "SSL",
            "kafka_ssl_certfile": "CERT",
            "kafka_ssl_keyfile": "KEY",
            "kafka_ssl_key_password": "wrong",
        },
        "cannot load the client certificate",
    ),
    ("not a CA file", {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "KEY_AS_CA"}, "MCU_KAFKA_SSL_CAFILE"),
    ("missing file", {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/no/ca.pem"}, "MCU_KAFKA_SSL_CAFILE"),
    ("unknown protocol", {"kafka_security_protocol": "TLS"}, "MCU_KAFKA_SECURITY_PROTOCOL: Input should be"),
    ("unsupported mechanism", _full_sasl(kafka_sasl_mechanism="GSSAPI"), "MCU_KAFKA_SASL_MECHANISM: Input should be"),
]


@pytest.mark.parametrize(("kw", "message"), [pytest.param(kw, m, id=name) for name, kw, m in INVALID])
def test_invalid_combinations_are_clear_errors(kw: dict[str, Any], message: str, pki: Pki, tmp_path: Path) -> None:
    files = {"CA": pki.ca, "CERT": pki.client_cert, "KEY": pki.client_key}
    not_a_ca = tmp_path / "not-a-ca.pem"
    not_a_ca.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    files["KEY_AS_CA"] = not_a_ca
    kw = {k: files.get(v, v) if isinstance(v, str) else v for k, v in kw.items()}
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(kw)
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


def test_plaintext_needs_nothing() -> None:
    assert client_options(KafkaSettings()) == {"security_protocol": "PLAINTEXT"}
    assert _credentials(Settings.load().kafka) is None

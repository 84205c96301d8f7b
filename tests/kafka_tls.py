"""A throwaway certificate authority, broker and client certificates for TLS tests, made with openssl."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CLIENT_KEY_PASSWORD = "client-key-secret"


@dataclass(frozen=True)
class Pki:
    ca: Path  # CA certificate, PEM
    broker_key: Path  # unencrypted PKCS#8
    broker_cert: Path  # for 127.0.0.1 and localhost
    broker_keystore: Path  # key + certificate in one PEM, as Kafka's PEM keystore wants
    client_cert: Path  # CN=mcu-client, clientAuth
    client_key: Path  # PKCS#8 encrypted with CLIENT_KEY_PASSWORD


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr}")


def _ca(d: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={name}",
        "-keyout", f"{name}.key", "-out", f"{name}.pem",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=d,
    )  # fmt: skip


def _sign(d: Path, ca: str, name: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions + "\n")
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext",
        cwd=d,
    )  # fmt: skip


def make_pki(d: Path, ca_name: str = "mcu-test-ca") -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("no openssl on this machine")
    d.mkdir(parents=True, exist_ok=True)
    _ca(d, ca_name)
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", "broker.key", "-out", "broker.csr",
        cwd=d,
    )  # fmt: skip
    _sign(d, ca_name, "broker", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth")
    _openssl(
        "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-aes-256-cbc",
        "-pass", f"pass:{CLIENT_KEY_PASSWORD}", "-out", "client.key",
        cwd=d,
    )  # fmt: skip
    _openssl(
        "req", "-new", "-key", "client.key", "-passin", f"pass:{CLIENT_KEY_PASSWORD}", "-subj", "/CN=mcu-client",
        "-out", "client.csr",
        cwd=d,
    )  # fmt: skip
    _sign(d, ca_name, "client", "extendedKeyUsage=clientAuth")
    keystore = d / "broker-keystore.pem"
    keystore.write_text((d / "broker.key").read_text() + (d / "broker.crt").read_text())
    return Pki(
        ca=d / f"{ca_name}.pem",
        broker_key=d / "broker.key",
        broker_cert=d / "broker.crt",
        broker_keystore=keystore,
        client_cert=d / "client.crt",
        client_key=d / "client.key",
    )

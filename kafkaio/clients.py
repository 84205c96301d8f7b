"""kafka-python clients built from the settings, after a log-in check that fails fast and clearly.

kafka-python 3 reports a refused SASL log-in or an untrusted certificate only as "socket
disconnected" and keeps retrying until its 30-second bootstrap timeout ("Unable to bootstrap").
Before building a client we therefore connect once with aiokafka's connection (the same options,
it reports the broker's answer) and turn a definite refusal into :class:`KafkaLoginRefused`
naming the variables to check. A broker that cannot be reached at all is left to the clients'
own retries, as before: it may be restarting.
"""

from __future__ import annotations

import asyncio
import ssl
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiokafka.conn import create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from kafkaio.security import KafkaSettings, SecurityProtocol, client_options

CHECK_TIMEOUT_S = 10.0


class KafkaLoginRefused(RuntimeError):
    """The broker answered and refused these credentials or certificates: retrying will not help."""


def _refusal(s: KafkaSettings, broker: str, exc: BaseException) -> KafkaLoginRefused | None:
    if isinstance(exc, SaslAuthenticationFailed | IllegalSaslStateError | UnsupportedSaslMechanismError):
        mechanism = s.sasl_mechanism.value if s.sasl_mechanism else "?"
        return KafkaLoginRefused(
            f"Kafka {broker} отказал во входе пользователю {s.sasl_username!r} ({mechanism}): {exc}; "
            "проверьте MCU_KAFKA_SASL_USERNAME, MCU_KAFKA_SASL_PASSWORD, MCU_KAFKA_SASL_MECHANISM"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return KafkaLoginRefused(
            f"сертификат Kafka {broker} не прошёл проверку ({exc.verify_message}); проверьте MCU_KAFKA_SSL_CAFILE"
        )
    if isinstance(exc, KafkaConnectionError) and isinstance(exc.__cause__, ssl.SSLError):
        return KafkaLoginRefused(
            f"Kafka {broker} разорвал TLS-соединение ({exc.__cause__}); если брокер требует сертификат клиента, "
            "проверьте MCU_KAFKA_SSL_CERTFILE, MCU_KAFKA_SSL_KEYFILE"
        )
    return None


async def _try_login(s: KafkaSettings, timeout: float) -> None:
    opts = client_options(s)
    for broker in s.broker_list:
        host, _, port = broker.rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(host, int(port), request_timeout_ms=int(timeout * 1000), **opts), timeout
            )
        except Exception as exc:
            refused = _refusal(s, broker, exc)
            if refused is not None:
                raise refused from exc
            continue  # unreachable or timed out: another broker may answer, or the client retries later
        conn.close()
        return


def check_login(s: KafkaSettings, timeout: float = CHECK_TIMEOUT_S) -> None:
    """Raise :class:`KafkaLoginRefused` if a broker refuses the configured credentials or certificates."""
    if s.security_protocol is SecurityProtocol.PLAINTEXT:
        return  # nothing to refuse
    # Its own thread and event loop: callers may be synchronous code running inside a loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, _try_login(s, timeout)).result()


def producer(s: KafkaSettings, **config: Any) -> KafkaProducer:
    check_login(s)
    return KafkaProducer(bootstrap_servers=s.broker_list, **config, **client_options(s))


def consumer(s: KafkaSettings, *topics: str, **config: Any) -> KafkaConsumer:
    check_login(s)
    return KafkaConsumer(*topics, bootstrap_servers=s.broker_list, **config, **client_options(s))


def admin(s: KafkaSettings, **config: Any) -> KafkaAdminClient:
    check_login(s)
    return KafkaAdminClient(bootstrap_servers=s.broker_list, **config, **client_options(s))

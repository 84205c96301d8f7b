"""Is the Kafka cluster reachable? A gauge for the alert MCUKafkaUnreachable.

A worker whose broker is gone keeps running and answering /metrics, and its other series simply
stop moving, which looks the same as a quiet night. So every few seconds the producer's client
asks the cluster for metadata; the answer (or its absence within the timeout) is the gauge.
"""

import asyncio
import logging

import faust

from mcu.metrics import KAFKA_REACHABLE

log = logging.getLogger(__name__)
PROBE_INTERVAL_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 4.0


async def probe_once(app: faust.App) -> bool:
    """One metadata round trip through the producer's connections; False on any failure."""
    try:
        client = app.producer._ensure_producer().client  # the aiokafka client Faust already holds
        return bool(await asyncio.wait_for(client.force_metadata_update(), PROBE_TIMEOUT_SECONDS))
    except Exception as exc:  # not started yet, timed out, connection refused: all mean "not reachable"
        log.debug("Kafka metadata probe failed: %s", exc)
        return False


def start_probe(app: faust.App) -> None:
    KAFKA_REACHABLE.set(1)  # the worker has just reached the broker to create its topics
    last = [True]

    @app.timer(interval=PROBE_INTERVAL_SECONDS, name="mcu.broker_probe")
    async def _probe() -> None:
        reachable = await probe_once(app)
        if reachable != last[0]:
            log.log(logging.INFO if reachable else logging.ERROR, "Kafka cluster reachable: %s", reachable)
            last[0] = reachable
        KAFKA_REACHABLE.set(1 if reachable else 0)

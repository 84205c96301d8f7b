"""Is the Kafka cluster reachable? A gauge for the alert MCUKafkaUnreachable.

A worker whose broker is gone keeps running and answering /metrics, and its other series simply
stop moving, which looks the same as a quiet night. So every few seconds the producer's client
asks the cluster for metadata; the answer (or its absence within the timeout) is the gauge.

The question names the worker's own topics. A client that tracks no topic asks for *every* topic's
metadata, and Faust's producer never got to track any (its first answer already listed them all):
on a broker holding a few hundred topics each probe then cost the event loop 9–28 ms of pure-Python
decoding, every 5 s, through a backlog.
"""

import asyncio
import logging
from collections.abc import Iterable

import faust

from mcu.metrics import KAFKA_REACHABLE

log = logging.getLogger(__name__)
PROBE_INTERVAL_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 4.0


async def probe_once(app: faust.App, topics: Iterable[str]) -> bool:
    """One metadata round trip through the producer's connections, for ``topics``; False on any failure."""
    try:
        client = app.producer._ensure_producer().client  # the aiokafka client Faust already holds
        # Tracked from now on (a finished future once they are): see the module docstring. Only
        # topics that exist: naming one that does not could make the broker create it with its
        # defaults instead of the worker's topic settings.
        known = client.cluster.topics()
        asked = [client.add_topic(topic) for topic in topics if topic in known]
        asked.append(client.force_metadata_update())
        return all(await asyncio.wait_for(asyncio.gather(*asked), PROBE_TIMEOUT_SECONDS))
    except Exception as exc:  # not started yet, timed out, connection refused: all mean "not reachable"
        log.debug("Kafka metadata probe failed: %s", exc)
        return False


def start_probe(app: faust.App, topics: Iterable[str]) -> None:
    """``topics``: the pipeline's topics the worker may write to (the producer tracks any other it
    sends to itself)."""
    names = sorted(topics)
    KAFKA_REACHABLE.set(1)  # the worker has just reached the broker to create its topics
    last = [True]

    @app.timer(interval=PROBE_INTERVAL_SECONDS, name="mcu.broker_probe")
    async def _probe() -> None:
        reachable = await probe_once(app, names)
        if reachable != last[0]:
            log.log(logging.INFO if reachable else logging.ERROR, "Kafka cluster reachable: %s", reachable)
            last[0] = reachable
        KAFKA_REACHABLE.set(1 if reachable else 0)

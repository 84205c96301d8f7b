"""Is the Kafka cluster reachable? A gauge for the alert MCUKafkaUnreachable.

A worker whose broker is gone keeps running and answering /metrics, and its other series simply
stop moving, which looks the same as a quiet night. So every few seconds one of the producer's
brokers is asked for the cluster's metadata; the answer (or its absence within the timeout) is the
gauge.

The question names no topic and goes past the client's metadata: the answer is the list of brokers
only, and what the producer knows of its topics stays as it was. Refreshing the client's metadata
instead (as before) fetched and decoded in pure Python every topic on the cluster, each time:
9–28 ms of event loop every 5 s on a broker holding 236 topics, because Faust's producer tracks no
topic. Making it track a chosen few is worse: the producer then forgets the partition leaders of any
other topic it writes to (the SLA changelog, Faust's own), and a batch already queued for one of
them waits for a leader for ever (a bench run hung on it). The producer now tracks every topic it
writes to (kafkaio/tracking_producer.py), which closes the same gap when a topic created at start
is missing from the producer's first view of the cluster.
"""

import asyncio
import logging

import faust
from aiokafka.protocol.metadata import MetadataRequest

from mcu.metrics import KAFKA_REACHABLE

log = logging.getLogger(__name__)
PROBE_INTERVAL_SECONDS = 5.0
PROBE_TIMEOUT_SECONDS = 4.0


async def probe_once(app: faust.App) -> bool:
    """One metadata round trip, naming no topic, through the producer's connections; False on any failure."""
    try:
        client = app.producer._ensure_producer().client  # the aiokafka client Faust already holds
        node = client.get_random_node()
        if node is None:  # no broker known (yet)
            return False
        answer = await asyncio.wait_for(client.send(node, MetadataRequest([])), PROBE_TIMEOUT_SECONDS)
        return bool(answer.brokers)
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

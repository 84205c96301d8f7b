"""Loaded by a worker started with this folder first on PYTHONPATH (tests/integration/test_tracking_producer.py).

Every metadata fetch of all topics leaves out the worker's SLA changelog, as one does that reaches a broker
before it has learnt of the topic's creation (a CI run's log showed the changelog unknown to the
broker for half a second after the worker created it). So the producer meets the changelog only
when the SLA stage first writes to it. The first time, a line on stderr (the worker's log) says so:
the test checks that the scene was set.
"""

import os
import sys

import aiokafka.client

_update = aiokafka.client.AIOKafkaClient._metadata_update
_changelog = f"{os.environ.get('MCU_APP_ID', 'mcu')}-sla_timers-changelog"
_said: list[bool] = []


async def _metadata_update(self, cluster, topics):  # type: ignore[no-untyped-def]
    updated = await _update(self, cluster, topics)
    if not topics and _changelog in cluster._partitions:  # a fetch of every topic, the changelog in it
        del cluster._partitions[_changelog]
        for tps in cluster._broker_partitions.values():
            tps.difference_update({tp for tp in tps if tp.topic == _changelog})
        if not _said:
            _said.append(True)
            sys.stderr.write(f"sitecustomize: {_changelog} left out of a full metadata fetch\n")
    return updated


aiokafka.client.AIOKafkaClient._metadata_update = _metadata_update

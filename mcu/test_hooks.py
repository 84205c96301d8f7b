"""Test hooks: off unless a test sets their MCU_TEST_* setting. Never set them in production.

`MCU_TEST_DROP_MARKER`: a fetched record whose raw value contains the marker is dropped before
any stream sees it (and acked, so commits go on), which is exactly what the faust flow-control
race did (mcu/flow_control.py). The offset-gap sensor then sees the next record of that partition
jump ahead and counts the gap, so the end-to-end alert test can make MCUStreamSkippedOffsets fire
through the real sensor, metric, Prometheus and Alertmanager.

`MCU_TEST_KILL_BEFORE_SLA_SEND`: the SLA agent, for a record whose raw value contains the marker,
waits until its state change (the table's changelog record) is on the broker, then exits the
process at once, before the record's SLA events are sent: the crash the outbox must survive
(tests/integration/test_sla_outbox.py). Restart the worker without the setting.
"""

import logging
import os
from typing import Any

import faust
from faust.types import Message

log = logging.getLogger(__name__)


def drop_marked(records: list[Any], marker: str) -> list[Any]:
    """The same hook for the batch stages (kafkaio/batch_consumer.py): marked records never reach
    the stage, and they are committed with their batch."""
    needle = marker.encode()
    kept = []
    for r in records:
        if isinstance(r.value, bytes) and needle in r.value:
            log.warning("TEST HOOK: dropped %s[%d]@%d before any stream", r.topic, r.partition, r.offset)
        else:
            kept.append(r)
    return kept


def install_drop_marker(app: faust.App, marker: str) -> None:
    consumer = app.consumer
    deliver = consumer.callback
    needle = marker.encode()

    async def drop_marked(message: Message) -> None:
        value = message.value
        if isinstance(value, bytes) and needle in value:
            log.warning("TEST HOOK: dropped %s[%d]@%d before any stream", message.topic, message.partition,
                        message.offset)  # fmt: skip
            consumer.ack(message)
            return
        await deliver(message)

    consumer.callback = drop_marked
    log.warning("TEST HOOK MCU_TEST_DROP_MARKER is on: records containing %r are dropped", marker)


async def die_before_sla_send(app: faust.App, message_id: str) -> None:
    # The flush puts the changelog record on the broker, so the restarted worker sees the state
    # change: the worst case, where only the outbox can bring the events back.
    await app.producer.flush()
    log.warning("TEST HOOK MCU_TEST_KILL_BEFORE_SLA_SEND: exiting before the SLA events of %s are sent", message_id)
    logging.shutdown()
    os._exit(17)

"""Corrections in the worker: applying stored `reclassified` events, and the quality gauges.

The logic is in classify/corrections.py (what a correction may say, the new owner) and
sinks/clickhouse/corrections.py (the store); this module only runs them on the store's thread,
retries while the store is away, dead-letters what cannot be applied and keeps the metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import cache

from faust.types import EventT

from classify.taxonomy import Taxonomy, load_taxonomy
from mcu.dead_letters import send_dead_letter
from mcu.metrics import CORRECTION_RATE, CORRECTIONS, CORRECTIONS_7D, SINK_FAILURES
from mcu.store import store
from route.directory import Directory, default_directory
from schemas import CaseEvent, CaseEventType
from sinks.clickhouse.client import mask_secrets
from sinks.clickhouse.corrections import Applied, apply_reclassified

log = logging.getLogger(__name__)
STAGE = "sink"
UNKNOWN_CASE = "unknown_case"
BAD_CORRECTION = "bad_correction"
MAX_BACKOFF_SECONDS = 30.0


@cache
def routing_data() -> tuple[Taxonomy, Directory]:
    directory = default_directory()
    return load_taxonomy(directory), directory


async def apply_stored_events(stored: Sequence[tuple[EventT, CaseEvent]]) -> Applied | None:
    """After a case-events batch is stored: re-route the cases its `reclassified` events correct.

    Retries for ever while the store fails (the batch's offsets stay uncommitted meanwhile, as the
    sink's own inserts do). An event whose case is not in the store, or that names an unknown code,
    is a dead letter with that reason; `mcu dlq replay` applies it once the case is there.
    """
    pairs = [(e, ev) for e, ev in stored if ev.type is CaseEventType.RECLASSIFIED]
    if not pairs:
        return None
    taxonomy, directory = routing_data()
    events = [ev for _, ev in pairs]
    delay = 0.5
    while True:
        try:
            applied = await store.run(
                lambda client: apply_reclassified(client, events, taxonomy, directory, distributed=bool(store.cluster))
            )
            break
        except Exception as exc:
            SINK_FAILURES.labels(table="corrections").inc()
            log.warning("corrections not applied (%s); retrying in %.1fs", mask_secrets(str(exc))[:500], delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
    for row in applied.stored:
        CORRECTIONS.labels(block=str(row["old_block"])).inc()
    by_id = {ev.event_id: e for e, ev in pairs}
    for ev in applied.unknown_case:
        await send_dead_letter(by_id[ev.event_id], STAGE, UNKNOWN_CASE, f"case {ev.message_id} is not in the store")
    for ev, problems in applied.refused:
        await send_dead_letter(by_id[ev.event_id], STAGE, BAD_CORRECTION, "; ".join(problems))
    return applied


# The view joins cases with corrections; on a cluster both are Distributed and sharded alike (by
# message id, sinks/clickhouse/cluster.py), so each shard joins its own rows ('local'); ClickHouse
# refuses a double-distributed join otherwise. On a single server the setting changes nothing.
RATES_SQL = (
    "SELECT block, rate_7d, rate_baseline, corrections_7d FROM correction_rates"
    " SETTINGS distributed_product_mode = 'local'"
)


async def refresh_quality_gauges() -> None:
    """mcu_correction_rate and mcu_corrections_7d from the store (blocks without rows stay at 0)."""
    rows = await store.query(RATES_SQL)
    for block, rate, baseline, count in rows:
        CORRECTION_RATE.labels(block=str(block), window="7d").set(float(rate))
        CORRECTION_RATE.labels(block=str(block), window="baseline_28d").set(float(baseline))
        CORRECTIONS_7D.labels(block=str(block)).set(int(count))

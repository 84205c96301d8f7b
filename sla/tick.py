"""One SLA tick as bounded, cooperative work: the firing part of the worker's timer loop.

During a backlog thousands of timers can fall due at once (a worker back from an outage, a
holiday's deadlines at 09:00). Firing them all in one go held the event loop for seconds: the
streams starved and Faust logged ``Timer sla_tick is overlapping``. A tick now fires at most
``max_cases`` cases, in chunks of ``chunk``, and yields to the event loop after every chunk; what
is left fires on the following ticks (the due index keeps it, earliest first).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from schemas import SlaEvent
from sla.timers import SlaTimers

TICK_MAX_CASES = 1000  # default bound on cases one tick fires
TICK_CHUNK = 100  # cases fired between two yields to the event loop


@dataclass(frozen=True, slots=True)
class TickReport:
    cases: int  # cases fired and committed
    events: int  # SLA events sent
    chunks: int
    more_due: bool  # due entries were left for the next tick


async def fire_due(
    timers: SlaTimers,
    now: datetime,
    emit: Callable[[list[SlaEvent]], Awaitable[None]],
    *,
    max_cases: int = TICK_MAX_CASES,
    chunk: int = TICK_CHUNK,
) -> TickReport:
    """Fire up to ``max_cases`` due cases. ``emit`` must return only once the broker has every
    event: a state records a step as fired (``commit``) only after that, so a worker killed in
    between re-fires it with the same dedup keys instead of believing it was sent. If ``emit``
    raises, the chunk is put back (it fires again next tick) and the exception propagates."""
    cases = events = chunks = 0
    while cases < max_cases:
        batch = timers.collect(now, limit=min(chunk, max_cases - cases))
        if not batch.updates:
            break
        chunks += 1
        try:
            await emit(batch.events)
        except Exception:
            timers.abort(batch)  # the same events, same dedup keys, next tick
            raise
        timers.commit(batch)
        cases += len(batch.updates)
        events += len(batch.events)
        await asyncio.sleep(0)  # let the streams run between chunks
    return TickReport(cases, events, chunks, timers.due(now))

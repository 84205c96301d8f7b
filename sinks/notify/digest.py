"""The daily digest of each block head: overdue and due-within-a-day cases from the SLA timers."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sinks.notify.templates import DigestItem
from sla.timers import SlaTimers


def digest_items(
    timers: SlaTimers, now: datetime, within: timedelta = timedelta(days=1)
) -> dict[int, list[DigestItem]]:
    """Open terms overdue at ``now`` or due within ``within``, by block. A full scan: once a day."""
    out: dict[int, list[DigestItem]] = defaultdict(list)
    for s, t in timers.open_terms(now, within):
        out[s.block].append(
            DigestItem(
                message_id=s.message_id,
                term=t.name.value,
                deadline=datetime.fromtimestamp(t.deadline, UTC),
                department=s.department,
                settlement=s.settlement,
                channel=s.channel,
            )
        )
    return dict(out)

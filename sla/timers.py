"""Per-case SLA timers over a byte store: the worker's one SLA object.

``SlaTimers`` joins the pure rules (``sla.rules``) and the due index (``sla.due``) over a
``MutableMapping[str, bytes]`` store of encoded states (``sla.state``): a dict in tests, a Faust
table with a changelog in the worker. A tick costs O(due · log n), never a scan of the open timers,
and ``collect(limit=…)`` bounds it further so a backlog of due timers is spread over several ticks.

Events for a case not seen yet wait in its state, bounded per case, in number of such cases and in
age; what a bound refuses is a ``Refused`` (the worker dead-letters it with the reason). SLA events
are kept in the case's outbox, written with the state change that made them, until the broker has
them (``confirm``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from schemas import Case, CaseEvent, SlaEvent
from sla.calendar import WorkingCalendar
from sla.due import DueIndex
from sla.policies import PolicySet, TermName
from sla.rules import SlaRules, Step, stage
from sla.state import (
    DIGEST,
    DROP_AGE,
    DROP_CASES,
    DROP_PER_CASE,
    DROP_REASONS,
    FORMAT,
    MAX_EVENTS,
    MAX_PENDING,
    PENDING_MAX_AGE,
    PENDING_MAX_CASES,
    CaseTimers,
    Refused,
    TermTimer,
    dumps,
    event_digest,
    loads,
    next_fire_of,
    pending_since_of,
)
from sla.state import to_epoch as _ts

# The names other packages and tests import from here since before the split.
__all__ = [
    "DIGEST", "DROP_AGE", "DROP_CASES", "DROP_PER_CASE", "DROP_REASONS", "FORMAT", "MAX_EVENTS", "MAX_PENDING",
    "PENDING_MAX_AGE", "PENDING_MAX_CASES", "CaseTimers", "Collected", "DueIndex", "Expired", "Refused",
    "SlaRules", "SlaTimers", "Step", "TermName", "TermTimer", "dumps", "event_digest", "loads",
    "next_fire_of", "pending_since_of",
]  # fmt: skip


@dataclass(slots=True)
class Expired:
    """Events that waited too long for their case: the worker dead-letters them, then ``drop``s."""

    message_id: str
    data: bytes  # the state as it was taken: dropped only if still exactly this
    events: list[dict[str, Any]]


@dataclass(slots=True)
class Collected:
    """Events of one tick and the states to store once they are sent (at-least-once order)."""

    events: list[SlaEvent]
    updates: dict[str, bytes]
    base: dict[str, bytes] = field(default_factory=dict)  # what each state was when collected


class SlaTimers:
    """Timers of many cases over a byte store, with the due index; the worker's one object."""

    def __init__(
        self,
        policies: PolicySet,
        calendar: WorkingCalendar,
        store: MutableMapping[str, bytes] | None = None,
        owns: Callable[[str], bool] | None = None,
        *,
        pending_max_cases: int = PENDING_MAX_CASES,
        pending_max_age: timedelta = PENDING_MAX_AGE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.rules = SlaRules(policies, calendar)
        self.store: MutableMapping[str, bytes] = {} if store is None else store
        self.index = DueIndex()
        # Which cases this worker fires: a table may also hold standby partitions' keys, and only
        # the owner of a partition may fire its timers. None: all of them (one worker, tests).
        self.owns = owns
        self.pending_max_cases = pending_max_cases
        self.pending_max_age = pending_max_age
        self.clock = clock
        # Cases known only by their events: message id → events waiting; a heap of (since, id)
        # for the age bound (stale entries dropped when they surface, as in DueIndex).
        self._waiting: dict[str, int] = {}
        self._waiting_heap: list[tuple[int, str]] = []
        self.pending_events = 0
        # Cases whose outbox the tick must (re)send: found by ``rebuild`` after a restart or an
        # assignment, or put back by ``retry`` after a failed send.
        self._unsent: set[str] = set()

    def _load(self, message_id: str) -> CaseTimers | None:
        raw = self.store.get(message_id)
        return None if raw is None else loads(message_id, raw)

    def _save(self, s: CaseTimers) -> None:
        before = self.store.get(s.message_id)
        data = dumps(s)
        if data != before:
            self.store[s.message_id] = data
        if s.next_fire is not None and (before is None or next_fire_of(before) != s.next_fire):
            self.index.push(s.message_id, s.next_fire)
        self._track_waiting(s.message_id, data)

    def _track_waiting(self, message_id: str, data: bytes | None) -> None:
        since = None if data is None else pending_since_of(data)
        old = self._waiting.pop(message_id, 0)
        self.pending_events -= old
        if since is None:
            return
        n = len(loads(message_id, data).pending) if data is not None else 0
        self._waiting[message_id] = n
        self.pending_events += n
        if not old:
            heapq.heappush(self._waiting_heap, (since, message_id))

    def on_case(self, case: Case) -> list[SlaEvent]:
        """The case's events, also kept in its outbox until ``confirm``: send them, then confirm."""
        s, events = self.rules.apply_case(self._load(case.message_id), case)
        stage(s, events)
        self._save(s)
        return events

    def on_event(self, event: CaseEvent) -> list[SlaEvent]:
        """The event applied, or kept until its case arrives; ``Refused`` when a bound says no."""
        s = self._load(event.message_id)
        if (s is None or not s.rule) and event.message_id not in self._waiting:
            if len(self._waiting) >= self.pending_max_cases:
                raise Refused(DROP_CASES, f"{len(self._waiting)} cases already wait for their first record")
        s, events = self.rules.apply_event(s, event, now=_ts(self.clock()))
        stage(s, events)
        self._save(s)
        return events

    # -- the outbox: an event leaves the state only once the broker has it

    def confirm(self, events: Iterable[SlaEvent]) -> None:
        """The broker has ``events``: remove them from their cases' outboxes (matched by dedup key,
        so a state changed meanwhile keeps whatever else it holds)."""
        by_case: dict[str, set[str]] = {}
        for e in events:
            by_case.setdefault(e.message_id, set()).add(e.dedup_key)
        for mid, keys in by_case.items():
            s = self._load(mid)
            if s is None or not s.outbox:
                continue
            left = [e for e in s.outbox if e.get("dedup_key") not in keys]
            if len(left) != len(s.outbox):
                s.outbox = left
                self._save(s)
            if not left:
                self._unsent.discard(mid)

    def retry(self, message_ids: Iterable[str]) -> None:
        """Sending these cases' outboxes failed: the tick sends them again."""
        self._unsent.update(message_ids)

    def take_unsent(self, limit: int = 1000) -> list[SlaEvent]:
        """The outbox events of up to ``limit`` owned cases to (re)send; ``confirm`` them once the
        broker has them, or ``retry`` their cases. Same dedup keys as the first time."""
        out: list[SlaEvent] = []
        for mid in list(self._unsent)[:limit]:
            self._unsent.discard(mid)
            if self.owns is not None and not self.owns(mid):
                continue  # the partition went to another worker: its rebuild() finds the outbox
            s = self._load(mid)
            if s is None or not s.outbox:
                continue
            kept = []
            for raw in s.outbox:
                try:
                    out.append(SlaEvent.model_validate(raw))
                    kept.append(raw)
                except ValidationError:
                    continue  # written by a version with another schema: it can never be sent
            if len(kept) != len(s.outbox):
                s.outbox = kept
                self._save(s)
        return out

    @property
    def unsent_cases(self) -> int:
        return len(self._unsent)

    def take_expired(self, now: datetime, limit: int = 1000) -> list[Expired]:
        """Up to ``limit`` cases whose events have waited longer than ``pending_max_age`` (the rest
        next time: one tick stays short); ``drop`` them once their events are dead-lettered, or
        ``keep`` them if that failed."""
        oldest = _ts(now - self.pending_max_age)
        out: list[Expired] = []
        heap = self._waiting_heap
        while heap and heap[0][0] <= oldest and len(out) < limit:
            since, mid = heapq.heappop(heap)
            data = self.store.get(mid)
            if data is None or pending_since_of(data) != since:
                continue  # the case arrived, or this is a stale entry
            if self.owns is not None and not self.owns(mid):
                continue
            out.append(Expired(mid, data, loads(mid, data).pending))
        return out

    def drop(self, expired: Expired) -> bool:
        """Remove the waiting events of ``expired`` unless the state changed meanwhile."""
        if self.store.get(expired.message_id) != expired.data:
            self.keep(expired)
            return False
        del self.store[expired.message_id]
        self._track_waiting(expired.message_id, None)
        return True

    def keep(self, expired: Expired) -> None:
        data = self.store.get(expired.message_id)
        since = None if data is None else pending_since_of(data)
        if since is not None:
            heapq.heappush(self._waiting_heap, (since, expired.message_id))

    def collect(self, now: datetime, limit: int | None = None) -> Collected:
        """Fire what is due, for at most ``limit`` cases (the rest stay in the index for the next
        call: a backlog of due timers never makes one tick long); the caller sends the events, then
        calls ``commit``."""
        n = _ts(now)
        events: list[SlaEvent] = []
        updates: dict[str, bytes] = {}
        base: dict[str, bytes] = {}
        # Stale entries are cheap but not free: a bounded call also stops after this many pops.
        scan = None if limit is None else limit * 8
        for popped, (at, mid) in enumerate(self.index.pop_due(n), 1):
            raw = updates.get(mid) or self.store.get(mid)
            # A stale entry (the case moved, closed or already fired) or a case of a partition
            # that went to another worker (rebuild() drops the rest) is skipped.
            if raw is not None and next_fire_of(raw) == at and (self.owns is None or self.owns(mid)):
                s, fired = self.rules.fire(loads(mid, raw), n)
                events.extend(fired)
                base.setdefault(mid, raw)
                updates[mid] = dumps(s)
            if (limit is not None and len(updates) >= limit) or (scan is not None and popped >= scan):
                break  # pop_due pops lazily: what was not reached stays in the index
        events.sort(key=lambda e: (e.at, e.message_id, e.term))
        return Collected(events, updates, base)

    def commit(self, batch: Collected) -> None:
        for mid, data in batch.updates.items():
            current = self.store.get(mid)
            if current is not None and current != batch.base.get(mid):
                # A case event changed the state while the events were being sent: keep that state;
                # its steps were not advanced, so they fire again next tick with the same dedup
                # keys (at-least-once; downstream drops the repeats).
                nf = next_fire_of(current)
            else:
                self.store[mid] = data
                nf = next_fire_of(data)
            if nf is not None:
                self.index.push(mid, nf)

    def abort(self, batch: Collected) -> None:
        """Sending failed: put the popped entries back so the same events fire on the next tick."""
        for mid in batch.updates:
            raw = self.store.get(mid)
            nf = None if raw is None else next_fire_of(raw)
            if nf is not None:
                self.index.push(mid, nf)

    def due(self, now: datetime) -> bool:
        """Whether the index holds an entry due by ``now`` (it may be stale: then a collect finds nothing)."""
        nxt = self.index.peek()
        return nxt is not None and nxt <= _ts(now)

    def tick(self, now: datetime) -> list[SlaEvent]:
        batch = self.collect(now)
        self.commit(batch)
        return batch.events

    def rebuild(self) -> int:
        """Re-create the due index and the waiting cases from the store (after a restart or a
        partition assignment)."""
        entries = []
        owns = self.owns
        self._waiting.clear()
        self._waiting_heap.clear()
        self.pending_events = 0
        self._unsent.clear()
        for mid, raw in self.store.items():
            if owns is not None and not owns(mid):
                continue
            # A substring test, as for the waiting events: a false hit (the text inside a waiting
            # event) only costs one parse.
            if b'"o":[' in raw and loads(mid, raw).outbox:
                self._unsent.add(mid)
            nf = next_fire_of(raw)
            if nf is not None:
                entries.append((mid, nf))
            elif raw.startswith(b"w") or (raw.startswith(b"-") and b'"q":' in raw):
                # (a format-1 state kept its waiting events under "-": it starts its wait now)
                s = loads(mid, raw)
                if not s.rule and s.pending:
                    if s.pending_since is None:
                        s.pending_since = _ts(self.clock())
                        raw = dumps(s)
                        self.store[mid] = raw
                    self._track_waiting(mid, raw)
        self.index.rebuild(entries)
        return len(entries)

    def states(self) -> Iterator[CaseTimers]:
        for mid, raw in self.store.items():
            yield loads(mid, raw)

    def open_terms(self, now: datetime, within: timedelta) -> Iterator[tuple[CaseTimers, TermTimer]]:
        """Open terms overdue by ``now`` or due within ``within`` of it (for the daily digest)."""
        horizon = _ts(now + within)
        for s in self.states():
            if s.closed or not s.rule:
                continue
            for t in s.terms:
                if t.deadline <= horizon:
                    yield s, t

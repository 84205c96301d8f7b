"""Per-case SLA timers: a pure state machine plus a due-time index.

``SlaRules`` turns a case, its lifecycle events and the passing of time into ``SlaEvent``s and a
new compact state; it does no I/O. ``DueIndex`` is a heap of (next fire time, message id) with
lazy invalidation: stale entries are dropped when they surface, so a tick costs O(due · log n),
never a scan of the open timers. ``SlaTimers`` joins both over a ``MutableMapping[str, bytes]``
store (a dict in tests, a Faust table with a changelog in the worker).

Dedup keys are derived only from the case, the term, its cycle and the step (or the triggering
event id), so a timer re-fired after a restart carries the same key as before.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import Case, CaseEvent, CaseEventType, SlaEvent, SlaEventKind
from sla.calendar import Term, WorkingCalendar
from sla.policies import Policy, PolicySet, StartFrom, TermName, TermPolicy

FORMAT = 1
SEEN_EVENTS = 32  # remembered event ids per case, against re-delivery
MAX_PENDING = 256  # events kept for a case that has not arrived yet

# One letter per term name in the stored state: a million states, every byte counts.
_T2C = {
    TermName.REGISTRATION: "g",
    TermName.FORWARDING: "f",
    TermName.FIRST_RESPONSE: "p",
    TermName.RESOLUTION: "r",
}
_C2T = {v: k for k, v in _T2C.items()}


def _ts(t: datetime) -> int:
    return int(t.timestamp())


def _dt(x: int) -> datetime:
    return datetime.fromtimestamp(x, UTC)


@dataclass(slots=True)
class TermTimer:
    name: TermName
    start: int  # epoch seconds; moves with pauses and re-basing
    deadline: int
    step: int = 0  # steps of the schedule already fired
    ext: int = 0  # bumps when the schedule is rebuilt (extension, interim answer): new dedup keys
    working: bool = False  # shares in working time (else in clock time)

    def pack(self) -> list[Any]:
        return [_T2C[self.name], self.start, self.deadline, self.step, self.ext, int(self.working)]

    @classmethod
    def unpack(cls, v: list[Any]) -> TermTimer:
        return cls(_C2T[v[0]], v[1], v[2], v[3], v[4], bool(v[5]))


@dataclass(slots=True)
class CaseTimers:
    """The SLA state of one case; ``rule == ''`` means only events have been seen so far."""

    message_id: str
    rule: str = ""
    channel: str = ""
    kind: str = ""
    urgent: bool = False
    block: int = 0
    department: str = ""
    settlement: str = ""
    forward: bool = False
    intake: int = 0
    registered: int | None = None
    assigned: int | None = None
    cycle: int = 0
    paused: int | None = None
    closed: bool = False
    terms: list[TermTimer] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    next_fire: int | None = None

    def term(self, name: TermName) -> TermTimer | None:
        return next((t for t in self.terms if t.name == name), None)


# ---------------------------------------------------------------- (de)serialisation


def dumps(state: CaseTimers) -> bytes:
    """``b"<next fire or ->|<json>"``: the prefix lets the index be rebuilt without parsing JSON."""
    body: dict[str, Any] = {"v": FORMAT}
    if state.rule:
        body.update(
            r=state.rule, c=state.channel, k=state.kind, u=int(state.urgent), b=state.block,
            d=state.department, s=state.settlement, i=state.intake,
            t=[t.pack() for t in state.terms],
        )  # fmt: skip
        if state.forward:
            body["f"] = 1
        if state.registered is not None:
            body["g"] = state.registered
        if state.assigned is not None:
            body["a"] = state.assigned
        if state.cycle:
            body["y"] = state.cycle
        if state.paused is not None:
            body["p"] = state.paused
        if state.closed:
            body["x"] = 1
    if state.pending:
        body["q"] = state.pending
    if state.seen:
        body["e"] = state.seen
    nf = "-" if state.next_fire is None else str(state.next_fire)
    return nf.encode() + b"|" + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def loads(message_id: str, data: bytes) -> CaseTimers:
    head, _, raw = data.partition(b"|")
    b = json.loads(raw)
    if b.get("v") != FORMAT:
        raise ValueError(f"SLA state of {message_id}: unknown format {b.get('v')}")
    return CaseTimers(
        message_id=message_id,
        rule=b.get("r", ""),
        channel=b.get("c", ""),
        kind=b.get("k", ""),
        urgent=bool(b.get("u", 0)),
        block=b.get("b", 0),
        department=b.get("d", ""),
        settlement=b.get("s", ""),
        forward=bool(b.get("f", 0)),
        intake=b.get("i", 0),
        registered=b.get("g"),
        assigned=b.get("a"),
        cycle=b.get("y", 0),
        paused=b.get("p"),
        closed=bool(b.get("x", 0)),
        terms=[TermTimer.unpack(t) for t in b.get("t", [])],
        pending=b.get("q", []),
        seen=b.get("e", []),
        next_fire=None if head == b"-" else int(head),
    )


def next_fire_of(data: bytes) -> int | None:
    """The next fire time stored in serialised state, read without parsing the rest."""
    head = data[: data.index(b"|")]
    return None if head == b"-" else int(head)


# ---------------------------------------------------------------- the rules


@dataclass(frozen=True, slots=True)
class Step:
    at: int
    kind: SlaEventKind
    share: float
    level: int


class SlaRules:
    """Pure transitions of ``CaseTimers``: (state, input) → (new state, SLA events)."""

    def __init__(self, policies: PolicySet, calendar: WorkingCalendar) -> None:
        self.policies = policies
        self.calendar = calendar

    # -- schedule

    def policy_of(self, s: CaseTimers) -> Policy:
        try:
            return self.policies.by_id(s.rule)
        except KeyError:  # the policy file changed under a running case: match again
            return self.policies.lookup(s.channel, s.kind, s.urgent)

    def step(self, s: CaseTimers, t: TermTimer, i: int) -> Step | None:
        """The i-th step of a term's schedule: warnings at shares, the breach, escalations."""
        pol = self.policy_of(s)
        tp = pol.terms.get(t.name)
        shares = tp.warn_shares if tp else (0.5, 0.8)
        if i < len(shares):
            sh = shares[i]
            at = self.calendar.point_at_share(_dt(t.start), _dt(t.deadline), sh, t.working)
            return Step(_ts(at), SlaEventKind.WARNING, sh, 0)
        if i == len(shares):
            return Step(t.deadline, SlaEventKind.BREACH, 1.0, 0)
        j = i - len(shares) - 1
        if j < len(pol.escalations):
            level, after = pol.escalations[j]
            return Step(_ts(self.calendar.deadline(_dt(t.deadline), after)), SlaEventKind.ESCALATION, 1.0, level)
        return None

    def steps(self, s: CaseTimers, t: TermTimer) -> list[Step]:
        out, i = [], 0
        while (st := self.step(s, t, i)) is not None:
            out.append(st)
            i += 1
        return out

    def _refresh(self, s: CaseTimers) -> None:
        if s.closed or s.paused is not None or not s.rule:
            s.next_fire = None
            return
        nxt = None
        for t in s.terms:
            st = self.step(s, t, t.step)
            if st is not None:
                nxt = st.at if nxt is None else min(nxt, st.at)
        s.next_fire = nxt

    def _event(
        self,
        s: CaseTimers,
        t: TermTimer,
        kind: SlaEventKind,
        key: str,
        at: int,
        share: float,
        level: int = 0,
        reason: str | None = None,
    ) -> SlaEvent:
        return SlaEvent(
            dedup_key=f"{s.message_id}:{t.name.value}:{key}",
            message_id=s.message_id,
            kind=kind,
            term=t.name.value,
            deadline=_dt(t.deadline),
            share=round(share, 4),
            level=level,
            block=s.block,
            department=s.department,
            settlement=s.settlement,
            at=_dt(at),
            channel=s.channel,
            rule=s.rule,
            started_at=_dt(t.start),
            reason=reason,
        )

    def _elapsed_share(self, t: TermTimer, at: int) -> float:
        if t.working:
            total = self.calendar.working_seconds_between(_dt(t.start), _dt(t.deadline))
            done = self.calendar.working_seconds_between(_dt(t.start), _dt(at))
        else:
            total, done = t.deadline - t.start, at - t.start
        return done / total if total > 0 else 1.0

    def _start_of(self, s: CaseTimers, tp: TermPolicy) -> int:
        if tp.start_from is StartFrom.REGISTRATION and s.registered is not None:
            return s.registered
        if tp.start_from is StartFrom.ASSIGNMENT and s.assigned is not None:
            return s.assigned
        return s.intake

    def _new_term(self, tp: TermPolicy, start: int, term: Term | None = None) -> TermTimer:
        term = term or tp.term
        deadline = _ts(self.calendar.deadline(_dt(start), term))
        return TermTimer(tp.name, start, deadline, working=term.is_working_time)

    def _skip_past(self, s: CaseTimers, t: TermTimer, at: int) -> None:
        """A rebuilt schedule does not re-announce steps that already lie in the past."""
        t.step = sum(1 for st in self.steps(s, t) if st.at <= at)

    # -- inputs

    def apply_case(self, state: CaseTimers | None, case: Case) -> tuple[CaseTimers, list[SlaEvent]]:
        s = state or CaseTimers(case.message_id)
        if s.rule:  # re-delivered case: the timers already run
            return s, []
        msg, cls, rt = case.message, case.classification, case.routing
        pol = self.policies.lookup(msg.channel.value, cls.kind, cls.urgent)
        s.rule, s.channel, s.kind, s.urgent = pol.rule_id, msg.channel.value, cls.kind, cls.urgent
        s.block, s.department, s.settlement = rt.block, rt.department, rt.settlement
        s.forward = bool(rt.forward_to)
        s.intake = _ts(msg.created_at)
        for tp in pol.terms.values():
            if tp.only_if_forwarded and not s.forward:
                continue
            s.terms.append(self._new_term(tp, self._start_of(s, tp)))
        events: list[SlaEvent] = []
        pending, s.pending = s.pending, []
        for raw in sorted(pending, key=lambda e: datetime.fromisoformat(e["at"])):
            s, more = self.apply_event(s, CaseEvent.model_validate(raw))
            events.extend(more)
        self._refresh(s)
        return s, events

    def apply_event(self, state: CaseTimers | None, ev: CaseEvent) -> tuple[CaseTimers, list[SlaEvent]]:
        s = state or CaseTimers(ev.message_id)
        if ev.event_id in s.seen or any(p.get("event_id") == ev.event_id for p in s.pending):
            return s, []
        if not s.rule:  # the case has not arrived: keep the event, apply it when it does
            if len(s.pending) < MAX_PENDING:
                s.pending.append(ev.model_dump(mode="json", exclude_none=True))
            return s, []
        s.seen = [*s.seen[-(SEEN_EVENTS - 1) :], ev.event_id]
        at = _ts(ev.at)
        out: list[SlaEvent] = []
        T, E = CaseEventType, SlaEventKind
        match ev.type:
            case T.REGISTERED:
                out += self._meet(s, ev, at, {TermName.REGISTRATION})
                if s.registered is None:
                    s.registered = at
                    out += self._rebase(s, ev, at, StartFrom.REGISTRATION)
            case T.ASSIGNED:
                self._reassign(s, ev)
                out += self._meet(s, ev, at, {TermName.REGISTRATION})
                if s.assigned is None:
                    s.assigned = at
                    out += self._rebase(s, ev, at, StartFrom.ASSIGNMENT)
            case T.FORWARDED:
                if ev.department or ev.settlement or ev.block is not None:  # inside the administration
                    self._reassign(s, ev)
                    out += self._meet(s, ev, at, {TermName.REGISTRATION})
                else:  # to an outside body: our part ends with the forwarding
                    out += self._meet(s, ev, at, {TermName.REGISTRATION, TermName.FORWARDING})
                    out += self._stop(s, ev, at)
            case T.CLARIFICATION_REQUESTED:
                if s.paused is None and not s.closed:
                    s.paused = at
                    out += [self._event(s, t, E.PAUSED, f"paused:{ev.event_id}", at, 0.0) for t in s.terms]
            case T.CLARIFICATION_RECEIVED:
                if s.paused is not None:
                    paused, s.paused = s.paused, None
                    for t in s.terms:
                        t.start = _ts(self.calendar.shift(_dt(t.start), _dt(paused), _dt(at), t.working))
                        t.deadline = _ts(self.calendar.shift(_dt(t.deadline), _dt(paused), _dt(at), t.working))
                        out.append(self._event(s, t, E.MOVED, f"moved:{ev.event_id}", at, 0.0, reason="resumed"))
            case T.INTERIM_ANSWER:
                out += self._meet(s, ev, at, {TermName.REGISTRATION, TermName.FIRST_RESPONSE})
                pol = self.policy_of(s)
                for t in s.terms:
                    tp = pol.terms.get(t.name)
                    if tp and tp.after_interim:
                        t.start = at
                        t.deadline = _ts(self.calendar.deadline(ev.at, tp.after_interim))
                        t.working = tp.after_interim.is_working_time
                        t.ext += 1
                        self._skip_past(s, t, at)
                        out.append(self._event(s, t, E.MOVED, f"moved:{ev.event_id}", at, 0.0, reason="interim"))
            case T.ANSWERED | T.RESOLVED:
                out += self._meet(s, ev, at, {t.name for t in s.terms})
                s.closed = True
            case T.REJECTED | T.CANCELLED | T.MERGED:
                out += self._stop(s, ev, at)
            case T.EXTENDED:
                out += self._extend(s, ev, at)
            case T.REOPENED:
                out += self._reopen(s, ev, at)
            case T.RATED:
                pass
        self._refresh(s)
        return s, out

    def fire(self, s: CaseTimers, now: datetime | int) -> tuple[CaseTimers, list[SlaEvent]]:
        """Every step due by ``now``, in order; the state remembers them so each fires once."""
        n = now if isinstance(now, int) else _ts(now)
        out: list[SlaEvent] = []
        if s.closed or s.paused is not None or not s.rule:
            s.next_fire = None
            return s, out
        for t in s.terms:
            while (st := self.step(s, t, t.step)) is not None and st.at <= n:
                mark = f"{st.share:g}" if st.kind is SlaEventKind.WARNING else str(st.level)
                key = f"{s.cycle}.{t.ext}:{st.kind.value}:{mark}"
                out.append(self._event(s, t, st.kind, key, st.at, st.share, st.level))
                t.step += 1
        out.sort(key=lambda e: (e.at, e.term))
        self._refresh(s)
        return s, out

    # -- transitions

    def _meet(self, s: CaseTimers, ev: CaseEvent, at: int, names: set[TermName]) -> list[SlaEvent]:
        out = []
        for t in [t for t in s.terms if t.name in names]:
            share = self._elapsed_share(t, at)
            out.append(self._event(s, t, SlaEventKind.MET, f"{s.cycle}:met", at, share))
            s.terms.remove(t)
        return out

    def _stop(self, s: CaseTimers, ev: CaseEvent, at: int) -> list[SlaEvent]:
        out = [
            self._event(
                s, t, SlaEventKind.STOPPED, f"{s.cycle}:stopped", at, self._elapsed_share(t, at),
                reason=ev.type.value,
            )
            for t in s.terms
        ]  # fmt: skip
        s.terms.clear()
        s.closed = True
        s.paused = None
        return out

    def _reassign(self, s: CaseTimers, ev: CaseEvent) -> None:
        if ev.department:
            s.department = ev.department
        if ev.settlement:
            s.settlement = ev.settlement
        if ev.block is not None:
            s.block = ev.block

    def _rebase(self, s: CaseTimers, ev: CaseEvent, at: int, origin: StartFrom) -> list[SlaEvent]:
        pol, out = self.policy_of(s), []
        for t in s.terms:
            tp = pol.terms.get(t.name)
            if tp is None or tp.start_from is not origin or t.ext:
                continue
            fresh = self._new_term(tp, at)
            if (fresh.start, fresh.deadline) != (t.start, t.deadline):
                t.start, t.deadline = fresh.start, fresh.deadline
                out.append(self._event(s, t, SlaEventKind.MOVED, f"moved:{ev.event_id}", at, 0.0, reason=origin.value))
        return out

    def _extend(self, s: CaseTimers, ev: CaseEvent, at: int) -> list[SlaEvent]:
        name = TermName(ev.term) if ev.term in TermName._value2member_map_ else TermName.RESOLUTION
        t = s.term(name)
        if t is None:
            return []
        pol = self.policy_of(s)
        if ev.new_deadline is not None:
            new = _ts(ev.new_deadline)
        elif pol.max_extension is not None:
            new = _ts(self.calendar.deadline(_dt(t.deadline), pol.max_extension))
        else:
            return []
        reason = ev.reason or "extended"
        if pol.max_extension is not None:
            cap = _ts(self.calendar.deadline(_dt(t.deadline), pol.max_extension))
            if new > cap:
                reason += f"; дольше допустимого продления ({pol.max_extension})"
        t.deadline = new
        t.ext += 1
        self._skip_past(s, t, at)
        return [self._event(s, t, SlaEventKind.MOVED, f"moved:{ev.event_id}", at, 0.0, reason=reason)]

    def _reopen(self, s: CaseTimers, ev: CaseEvent, at: int) -> list[SlaEvent]:
        pol = self.policy_of(s)
        out = self._stop(s, ev, at) if not s.closed else []
        s.cycle += 1
        s.closed, s.paused = False, None
        for name in (TermName.FIRST_RESPONSE, TermName.RESOLUTION):
            tp = pol.terms.get(name)
            if tp is None:
                continue
            t = self._new_term(tp, at)
            s.terms.append(t)
            out.append(self._event(s, t, SlaEventKind.STARTED, f"{s.cycle}:started", at, 0.0, reason="reopened"))
        return out


# ---------------------------------------------------------------- the due index


class DueIndex:
    """Min-heap of (fire time, message id). Entries are never removed in place: whoever pops one
    checks it against the case's stored ``next_fire`` and drops it if stale."""

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, message_id: str, at: int) -> None:
        heapq.heappush(self._heap, (at, message_id))

    def peek(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> Iterator[tuple[int, str]]:
        h = self._heap
        while h and h[0][0] <= now:
            yield heapq.heappop(h)

    def rebuild(self, entries: Iterable[tuple[str, int]]) -> None:
        self._heap = [(at, mid) for mid, at in entries]
        heapq.heapify(self._heap)


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
    ) -> None:
        self.rules = SlaRules(policies, calendar)
        self.store: MutableMapping[str, bytes] = {} if store is None else store
        self.index = DueIndex()
        # Which cases this worker fires: a table may also hold standby partitions' keys, and only
        # the owner of a partition may fire its timers. None: all of them (one worker, tests).
        self.owns = owns

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

    def on_case(self, case: Case) -> list[SlaEvent]:
        s, events = self.rules.apply_case(self._load(case.message_id), case)
        self._save(s)
        return events

    def on_event(self, event: CaseEvent) -> list[SlaEvent]:
        s, events = self.rules.apply_event(self._load(event.message_id), event)
        self._save(s)
        return events

    def collect(self, now: datetime) -> Collected:
        """Fire what is due; the caller sends the events, then calls ``commit``."""
        n = _ts(now)
        events: list[SlaEvent] = []
        updates: dict[str, bytes] = {}
        base: dict[str, bytes] = {}
        for at, mid in self.index.pop_due(n):
            raw = updates.get(mid) or self.store.get(mid)
            if raw is None or next_fire_of(raw) != at:
                continue  # stale entry: the case moved, closed or already fired
            if self.owns is not None and not self.owns(mid):
                continue  # the partition went to another worker; rebuild() drops the rest
            s, fired = self.rules.fire(loads(mid, raw), n)
            events.extend(fired)
            base.setdefault(mid, raw)
            updates[mid] = dumps(s)
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

    def tick(self, now: datetime) -> list[SlaEvent]:
        batch = self.collect(now)
        self.commit(batch)
        return batch.events

    def rebuild(self) -> int:
        """Re-create the due index from the store (after a restart or a partition assignment)."""
        entries = []
        owns = self.owns
        for mid, raw in self.store.items():
            nf = next_fire_of(raw)
            if nf is not None and (owns is None or owns(mid)):
                entries.append((mid, nf))
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


def kafka_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client) gives a str key."""
    from aiokafka.partitioner import murmur2  # the partitioner of the producer Faust uses

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

"""Per-case SLA timers: a pure state machine plus a due-time index.

``SlaRules`` turns a case, its lifecycle events and the passing of time into ``SlaEvent``s and a
new compact state; it does no I/O. ``DueIndex`` is a heap of (next fire time, message id) with
lazy invalidation: stale entries are dropped when they surface, so a tick costs O(due · log n),
never a scan of the open timers. ``SlaTimers`` joins both over a ``MutableMapping[str, bytes]``
store (a dict in tests, a Faust table with a changelog in the worker).

Dedup keys are derived only from the case, the term, its cycle and the step (or the triggering
event id), so a timer re-fired after a restart carries the same key as before.

Case events are applied once for the life of the case: the state keeps an 8-byte digest of every
event id it took (not the last 32, after which a replayed ``reopened`` reopened the case again).
Events for a case not seen yet wait in its state, bounded per case, in number of such cases and in
age; what a bound refuses is a ``Refused`` (the worker dead-letters it with the reason).
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from schemas import Case, CaseEvent, CaseEventType, SlaEvent, SlaEventKind
from sla.calendar import Term, WorkingCalendar
from sla.policies import Policy, PolicySet, StartFrom, TermName, TermPolicy

FORMAT = 2  # 2: event ids as digests for the life of the case, pending age; 1 is still read
MAX_EVENTS = 1000  # events one case may take: past that it is a flood, not a case (Refused)
MAX_PENDING = 256  # events kept for a case that has not arrived yet
DIGEST = 8  # bytes of an event id's digest: a collision among 1000 ids of a case is ~3e-14
PENDING_MAX_CASES = 10_000  # default bound on cases known only by their events (per worker)
PENDING_MAX_AGE = timedelta(days=7)  # default: how long events may wait for their case

# Reasons of refused events: the label values of mcu_sla_pending_dropped_total and dead letters.
DROP_PER_CASE = "per_case"
DROP_CASES = "cases"
DROP_AGE = "age"
DROP_REASONS = (DROP_PER_CASE, DROP_CASES, DROP_AGE)


class Refused(Exception):
    """A case event the timers will not keep; ``dead_letter_reason`` is what its dead letter says."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.dead_letter_reason = {
            DROP_PER_CASE: "sla_pending_full",
            DROP_CASES: "sla_pending_full",
            DROP_AGE: "sla_pending_expired",
        }.get(reason, reason)


def event_digest(event_id: str) -> bytes:
    return hashlib.blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=DIGEST).digest()


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
    # (event time, sequence) of the extension that set the deadline: a later correction wins by
    # these, so an extension delivered late cannot undo a newer one. 0: not extended.
    xa: int = 0
    xs: int = 0

    def pack(self) -> list[Any]:
        out = [_T2C[self.name], self.start, self.deadline, self.step, self.ext, int(self.working)]
        return [*out, self.xa, self.xs] if self.xa else out

    @classmethod
    def unpack(cls, v: list[Any]) -> TermTimer:
        xa, xs = (v[6], v[7]) if len(v) > 7 else (0, 0)
        return cls(_C2T[v[0]], v[1], v[2], v[3], v[4], bool(v[5]), xa, xs)


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
    pending_since: int | None = None  # receipt time of the first waiting event (for the age bound)
    seen: bytes = b""  # DIGEST-byte digests of every event id taken, in order of arrival
    next_fire: int | None = None
    # SLA events of the last inputs not yet confirmed by the broker (the outbox): written with the
    # state change that made them, removed once sent; empty, and absent from the bytes, at rest.
    outbox: list[dict[str, Any]] = field(default_factory=list)

    def term(self, name: TermName) -> TermTimer | None:
        return next((t for t in self.terms if t.name == name), None)

    def has_seen(self, digest: bytes) -> bool:
        seen = self.seen
        return any(seen[i : i + DIGEST] == digest for i in range(0, len(seen), DIGEST))

    @property
    def events_seen(self) -> int:
        return len(self.seen) // DIGEST


# ---------------------------------------------------------------- (de)serialisation


def dumps(state: CaseTimers) -> bytes:
    """``b"<next fire | - | w<since>>|<json>"``: the prefix lets the indexes be rebuilt without parsing
    JSON (``w``: only events, waiting since then for their case)."""
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
        body["e"] = base64.b64encode(state.seen).decode("ascii")
    if state.outbox:
        body["o"] = state.outbox
    if state.next_fire is not None:
        nf = str(state.next_fire)
    elif not state.rule and state.pending and state.pending_since is not None:
        nf = f"w{state.pending_since}"
    else:
        nf = "-"
    return nf.encode() + b"|" + json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def loads(message_id: str, data: bytes) -> CaseTimers:
    head, _, raw = data.partition(b"|")
    b = json.loads(raw)
    if b.get("v") not in (1, FORMAT):
        raise ValueError(f"SLA state of {message_id}: unknown format {b.get('v')}")
    seen = b.get("e", "")
    # Format 1 kept the last 32 ids themselves; their digests carry on what they remembered.
    seen = b"".join(map(event_digest, seen)) if isinstance(seen, list) else base64.b64decode(seen)
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
        pending_since=int(head[1:]) if head.startswith(b"w") else None,
        seen=seen,
        outbox=b.get("o", []),
        next_fire=None if head == b"-" or head.startswith(b"w") else int(head),
    )


def next_fire_of(data: bytes) -> int | None:
    """The next fire time stored in serialised state, read without parsing the rest."""
    head = data[: data.index(b"|")]
    return None if head == b"-" or head.startswith(b"w") else int(head)


def pending_since_of(data: bytes) -> int | None:
    """When the events of a case known only by its events began to wait (None for any other state)."""
    head = data[: data.index(b"|")]
    return int(head[1:]) if head.startswith(b"w") else None


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
        pending, s.pending, s.pending_since = s.pending, [], None
        waiting: list[CaseEvent] = []
        for raw in pending:
            try:
                # Validation puts every time in UTC: a zone-less ``at`` kept by an older version
                # beside an aware one no longer makes the sort below raise TypeError.
                waiting.append(CaseEvent.model_validate(raw))
            except ValidationError:
                continue  # kept by a version without the time window: it could never be applied
        # By event time, then by arrival (the sort is stable): the order the events happened in.
        for ev in sorted(waiting, key=lambda e: e.at):
            s, more = self.apply_event(s, ev)
            events.extend(more)
        self._refresh(s)
        return s, events

    def apply_event(
        self, state: CaseTimers | None, ev: CaseEvent, now: int | None = None
    ) -> tuple[CaseTimers, list[SlaEvent]]:
        """``now``: when the event was received (epoch s), the start of its wait if it must wait."""
        s = state or CaseTimers(ev.message_id)
        digest = event_digest(ev.event_id)
        if s.has_seen(digest) or any(p.get("event_id") == ev.event_id for p in s.pending):
            return s, []
        if not s.rule:  # the case has not arrived: keep the event, apply it when it does
            if len(s.pending) >= MAX_PENDING:
                raise Refused(DROP_PER_CASE, f"{MAX_PENDING} events already wait for case {ev.message_id}")
            s.pending.append(ev.model_dump(mode="json", exclude_none=True))
            if s.pending_since is None:
                s.pending_since = _ts(ev.at) if now is None else now
            return s, []
        if s.events_seen >= MAX_EVENTS:
            raise Refused("too_many_events", f"case {ev.message_id} has taken {MAX_EVENTS} events already")
        s.seen += digest
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
                out += self._extend(s, ev, at, s.events_seen)
            case T.REOPENED:
                out += self._reopen(s, ev, at)
            case T.RATED:
                pass
            case T.RECLASSIFIED:
                # The owner changes, the terms do not: a term counts from intake or registration
                # whoever answers (sla/README.md). `moved` with the new owner and the same deadline
                # puts the re-routing in sla_events; later warnings and breaches go to the new owner.
                self._reassign(s, ev)
                if not s.closed:
                    out += [
                        self._event(s, t, E.MOVED, f"moved:{ev.event_id}", at, 0.0, reason="reclassified")
                        for t in s.terms
                    ]
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

    def _extend(self, s: CaseTimers, ev: CaseEvent, at: int, seq: int) -> list[SlaEvent]:
        name = TermName(ev.term) if ev.term in TermName._value2member_map_ else TermName.RESOLUTION
        t = s.term(name)
        if t is None:
            return []
        if (at, seq) < (t.xa, t.xs):
            return []  # an older extension delivered late: the newer one (by event time) stands
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
        t.xa, t.xs = at, seq
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


def _stage(s: CaseTimers, events: list[SlaEvent]) -> None:
    """Put ``events`` in the state's outbox, so they are stored in the same write as the change."""
    s.outbox.extend(e.model_dump(mode="json", exclude_none=True) for e in events)


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
        _stage(s, events)
        self._save(s)
        return events

    def on_event(self, event: CaseEvent) -> list[SlaEvent]:
        """The event applied, or kept until its case arrives; ``Refused`` when a bound says no."""
        s = self._load(event.message_id)
        if (s is None or not s.rule) and event.message_id not in self._waiting:
            if len(self._waiting) >= self.pending_max_cases:
                raise Refused(DROP_CASES, f"{len(self._waiting)} cases already wait for their first record")
        s, events = self.rules.apply_event(s, event, now=_ts(self.clock()))
        _stage(s, events)
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


def kafka_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as the Java client) gives a str key."""
    from aiokafka.partitioner import murmur2  # the partitioner of the producer Faust uses

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions

"""Pure SLA transitions: (state, case | case event | passing time) → (new state, SLA events).

No I/O and no clock: every time comes in as an argument. Dedup keys are derived only from the
case, the term, its cycle and the step (or the triggering event id), so a timer re-fired after a
restart carries the same key as before. Case events are applied once for the life of the case
(the state keeps a digest of every event id it took).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from schemas import Case, CaseEvent, CaseEventType, SlaEvent, SlaEventKind
from sla.calendar import Term, WorkingCalendar
from sla.policies import Policy, PolicySet, StartFrom, TermName, TermPolicy
from sla.state import (
    DROP_PER_CASE,
    MAX_EVENTS,
    MAX_PENDING,
    CaseTimers,
    Refused,
    TermTimer,
    event_digest,
)
from sla.state import from_epoch as _dt
from sla.state import to_epoch as _ts


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


def stage(s: CaseTimers, events: list[SlaEvent]) -> None:
    """Put ``events`` in the state's outbox, so they are stored in the same write as the change."""
    s.outbox.extend(e.model_dump(mode="json", exclude_none=True) for e in events)

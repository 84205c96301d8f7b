"""The SLA state of one case and its compact byte encoding (one Faust table value per case).

A million open cases live in the worker's table and its changelog, so the encoding is terse: one
letter per term, fields left out at their defaults, and a prefix before ``|`` (the next fire time,
``-``, or ``w<since>`` for events waiting for their case) that lets the due index and the waiting
bound be rebuilt without parsing JSON. Bounds and refusal reasons live here because both the rules
and the store orchestration enforce them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sla.policies import TermName

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


def to_epoch(t: datetime) -> int:
    return int(t.timestamp())


def from_epoch(x: int) -> datetime:
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

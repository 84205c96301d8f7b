from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from schemas.times import DeadlineTime, OutsideTime


class CaseEventType(StrEnum):
    REGISTERED = "registered"
    ASSIGNED = "assigned"
    FORWARDED = "forwarded"
    CLARIFICATION_REQUESTED = "clarification_requested"  # waiting for the resident: clock paused
    CLARIFICATION_RECEIVED = "clarification_received"
    INTERIM_ANSWER = "interim_answer"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    REJECTED = "rejected"
    EXTENDED = "extended"
    REOPENED = "reopened"
    RATED = "rated"
    CANCELLED = "cancelled"
    MERGED = "merged"
    # An operator (or a source) corrected category, block, department or settlement: the case is
    # re-routed and the correction is kept as a label (classify/corrections.py).
    RECLASSIFIED = "reclassified"


class CaseEvent(BaseModel):
    """Something that happened to a case after intake (from a connector or the HTTP API)."""

    event_id: str = Field(min_length=1, description="unique per event; re-delivery keeps it")
    message_id: str = Field(min_length=1)
    type: CaseEventType
    at: OutsideTime = Field(description="when it happened; zone-less means Moscow time; stored in UTC")
    actor: str | None = None
    department: str | None = None
    settlement: str | None = None
    new_deadline: DeadlineTime | None = Field(default=None, description="at most a year ahead (schemas/times.py)")
    reason: str | None = None
    rating: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = None
    merged_into: str | None = None
    block: int | None = Field(default=None, ge=0, le=6, description="new block on (re)assignment")
    term: str | None = Field(default=None, description="which term an extension moves; resolution if unset")
    category: str | None = Field(default=None, description="new category code of a `reclassified` event")


class SlaEventKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    ESCALATION = "escalation"
    MET = "met"
    STOPPED = "stopped"
    MOVED = "moved"  # the deadline moved: extension, interim answer, registration, clock resumed
    STARTED = "started"  # a new term began (re-opened case)
    PAUSED = "paused"  # waiting for the resident: the clock stands


class SlaEvent(BaseModel):
    """A timer of a case fired. ``dedup_key`` is the same however often it is re-emitted."""

    dedup_key: str
    message_id: str
    kind: SlaEventKind
    term: str = Field(description="registration|first_response|resolution|forwarding")
    deadline: datetime
    share: float = Field(description="share of the term elapsed when it fired, e.g. 0.5, 0.8, 1.0")
    # Bounded like the UInt8 columns they are stored in: an int the store cannot hold is refused here.
    level: int = Field(
        default=0, ge=0, le=255, description="escalation level: 0 department, 1 block head, 2 coordinator"
    )
    block: int = Field(default=0, ge=0, le=6)
    department: str = ""
    settlement: str = ""
    at: datetime
    channel: str = ""
    rule: str = Field(default="", description="id of the SLA policy rule that set the term")
    started_at: datetime | None = Field(default=None, description="when the term (as now counted) began")
    reason: str | None = None

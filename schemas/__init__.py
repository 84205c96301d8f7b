"""Records of every topic, as pydantic v2 models, and the topic names."""

from schemas.case import Case, Classification, Routing
from schemas.channels import Channel
from schemas.dead_letter import DeadLetter
from schemas.events import CaseEvent, CaseEventType, SlaEvent, SlaEventKind
from schemas.ids import message_id_for
from schemas.message import NormalizedMessage
from schemas.notification import NotificationRecord
from schemas.raw import RawEnvelope

__all__ = [
    "Case",
    "CaseEvent",
    "CaseEventType",
    "Channel",
    "Classification",
    "DeadLetter",
    "NormalizedMessage",
    "NotificationRecord",
    "RawEnvelope",
    "Routing",
    "SlaEvent",
    "SlaEventKind",
    "message_id_for",
]

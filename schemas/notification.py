from datetime import datetime

from pydantic import BaseModel


class NotificationRecord(BaseModel):
    """What became of one notification to one address: the audit trail of who was told what."""

    notification_id: str  # the SLA event's dedup key and the address: one row per delivery
    message_id: str
    kind: str
    channel: str  # email | telegram | webhook
    recipient: str
    recipient_role: str = ""
    block: int = 0
    department: str = ""
    settlement: str = ""
    level: int = 0
    subject: str = ""
    status: str  # sent | dead | unreachable
    error: str = ""
    at: datetime

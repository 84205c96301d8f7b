from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from schemas.channels import Channel
from schemas.times import OutsideTime


class NormalizedMessage(BaseModel):
    """One resident's message in the one shape every channel is mapped to."""

    message_id: str
    channel: Channel
    source_id: str
    source_url: str | None = None
    created_at: OutsideTime = Field(description="when the resident wrote it (source time), UTC; see schemas/times.py")
    fetched_at: OutsideTime
    normalized_at: datetime
    text: str = Field(min_length=1, max_length=100_000)
    title: str | None = None
    author_id: str | None = Field(default=None, description="keyed HMAC of the source's author id")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    address: str | None = None
    # What the channel itself tells about the place or topic: a settlement's own community,
    # the portal's rubric, the registry's addressee. Routing may use it as a hint.
    hints: dict[str, str] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

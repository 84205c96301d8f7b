from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field, computed_field

from schemas.channels import Channel
from schemas.ids import message_id_for
from schemas.times import OutsideTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class RawEnvelope(BaseModel):
    """A message exactly as a channel gave it, wrapped with where and when it was fetched.

    The payload is kept as received so the normaliser can be re-run on old records.
    """

    channel: Channel
    source_id: str = Field(min_length=1, max_length=512)
    received_at: OutsideTime = Field(default_factory=utcnow, description="when the source says it arrived")
    fetched_at: OutsideTime = Field(default_factory=utcnow, description="when our connector took it")
    payload: dict[str, Any]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def message_id(self) -> str:
        return message_id_for(self.channel.value, self.source_id)

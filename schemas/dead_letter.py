import base64
from datetime import datetime

from pydantic import BaseModel, Field


class DeadLetter(BaseModel):
    """A record that a stage could not take, kept whole so that it can be replayed."""

    reason: str = Field(description="short machine code: bad_json, invalid_utf8, validation, too_large, ...")
    error: str = Field(description="human-readable detail")
    stage: str
    topic: str
    partition: int = -1
    offset: int = -1
    key: str | None = None
    original_b64: str = Field(description="the original bytes, base64")
    at: datetime

    @staticmethod
    def encode(original: bytes) -> str:
        return base64.b64encode(original).decode("ascii")

    def original(self) -> bytes:
        return base64.b64decode(self.original_b64)

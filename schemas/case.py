from datetime import datetime

from pydantic import BaseModel, Field

from schemas.message import NormalizedMessage

UNRESOLVED = "unresolved"


class Classification(BaseModel):
    category: str = Field(description="category code from the taxonomy, or 'unresolved'")
    category_name: str = ""
    kind: str = Field(default="complaint", description="complaint|question|proposal|gratitude|appeal")
    sentiment: str = Field(default="neutral", description="negative|neutral|positive")
    urgent: bool = False
    urgency_reasons: list[str] = Field(default_factory=list)
    conflict: list[str] = Field(default_factory=list, description="aggression, obscenity, threat, no_answer")
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    needs_review: bool = False
    cluster_id: str | None = None
    cluster_size: int = Field(default=0, ge=0, description="messages in the cluster when this one joined")
    model_version: str = ""


class Routing(BaseModel):
    block: int = Field(ge=0, le=6, description="1-6 as appendix 1 lists the deputies; 0: no block fits")
    block_name: str = ""
    department: str = Field(description="department code, or 'unresolved'")
    department_name: str = ""
    settlement: str = Field(description="settlement code, or 'unresolved'")
    settlement_name: str = ""
    locality: str | None = None
    level: str = Field(default="district", description="district|settlement: who answers")
    forward_to: str | None = Field(default=None, description="outside body when not our competence")
    settlement_evidence: str | None = Field(default=None, description="what decided the settlement")


class Case(BaseModel):
    """A message with what we understood of it and where it goes: the record analysts count."""

    message: NormalizedMessage
    classification: Classification
    routing: Routing
    enriched_at: datetime

    @property
    def message_id(self) -> str:
        return self.message.message_id

"""Topics section: ``MCU_TOPIC_*``, the layout of the topics the worker creates and their names' prefix."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class TopicSettings(BaseSettings):
    """How the pipeline's topics are named and laid out when the worker creates them."""

    model_config = SettingsConfigDict(env_prefix="MCU_TOPIC_", env_file=None, extra="ignore", populate_by_name=True)

    prefix: str = Field(default="", description="prepended to every topic name (environments, tests)")
    partitions: int = Field(default=4, ge=1, description="partitions of every topic the worker creates")
    replication_factor: int = Field(
        default=1, ge=1, description="replicas of every topic the worker creates: 1 on one broker, 3 on a cluster"
    )
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="min.insync.replicas of the topics the worker creates (and Faust's own); unset: one fewer "
        "than the replication factor, at least 1 (2 of 3: one broker may be lost, an ack is on two)",
    )
    raw_retention_hours: int = Field(
        default=168,
        ge=1,
        validation_alias="MCU_RAW_RETENTION_HOURS",
        description="how long raw topics (personal data as sent) are kept; set at creation",
    )

    @model_validator(mode="after")
    def _insync_fits(self) -> TopicSettings:
        if self.min_insync_replicas is not None and self.min_insync_replicas > self.replication_factor:
            raise ValueError(
                f"MCU_TOPIC_MIN_INSYNC_REPLICAS={self.min_insync_replicas} is more than "
                f"MCU_TOPIC_REPLICATION_FACTOR={self.replication_factor}: no write could ever be acknowledged"
            )
        return self

    @property
    def effective_min_insync_replicas(self) -> int:
        """What topics are created with: acks=all then means "stored on this many replicas"."""
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return max(1, self.replication_factor - 1)

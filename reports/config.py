"""The rating's configuration (reports/data/rating.yaml), validated at load; errors name the file."""

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.yaml_load import DataFileError, load_yaml_model, package_file

DEFAULT_RATING_FILE = package_file("reports", "data/rating.yaml")
Component = Literal["timeliness", "completeness", "speed", "quality", "repeat"]


class RatingConfigError(ValueError):
    pass


class RatingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    min_volume: int = Field(ge=1)
    confidence: float = Field(gt=0.5, lt=1.0)
    speed_target_hours: Literal[8, 40]
    weights: dict[Component, float]

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: dict[str, float]) -> dict[str, float]:
        if any(w < 0 for w in v.values()):
            raise ValueError("weights must not be negative")
        if sum(v.values()) <= 0:
            raise ValueError("at least one weight must be positive")
        return v


def load_rating_config(path: Path | str = DEFAULT_RATING_FILE) -> RatingConfig:
    try:
        return load_yaml_model(RatingConfig, path)  # errors name the file and the line
    except DataFileError as e:
        raise RatingConfigError(str(e)) from e


@cache
def default_rating_config() -> RatingConfig:
    return load_rating_config()

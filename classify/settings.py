"""Classification section: ``MCU_MODEL_*``, where model versions live and how often workers look for a promotion."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClassifySettings(BaseSettings):
    """The model registry (classify/registry.py) the enrich stage loads from and follows."""

    model_config = SettingsConfigDict(env_prefix="MCU_MODEL_", env_file=None, extra="ignore", populate_by_name=True)

    registry_dir: Path | None = Field(
        default=None,
        description="model versions and the CURRENT pointer (mcu classify train/promote); unset: <var_dir>/models",
    )
    check_seconds: float = Field(
        default=5.0, gt=0, description="how often an enrich worker looks whether another model version was promoted"
    )

    def resolved_registry_dir(self, var_dir: Path) -> Path:
        # the same rule as `mcu classify --registry`'s default (classify/cli.py)
        return self.registry_dir or var_dir / "models"

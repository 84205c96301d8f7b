"""The category taxonomy, the editable rules and the signal cues: YAML under classify/data/."""

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.yaml_load import DataFileError, load_yaml_model, package_file
from route.directory import Directory


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    department: str | None = None
    forward_to: str | None = None
    level: Literal["district", "settlement"]

    @model_validator(mode="after")
    def _one_owner(self) -> "Category":
        if (self.department is None) == (self.forward_to is None):
            raise ValueError(f"{self.code}: give exactly one of department (ours) or forward_to (outside body)")
        return self


class Taxonomy(_Strict):
    version: int
    categories: list[Category]

    @model_validator(mode="after")
    def _unique(self) -> "Taxonomy":
        codes = [c.code for c in self.categories]
        dupes = sorted({c for c in codes if codes.count(c) > 1})
        if dupes:
            raise ValueError(f"duplicate category codes: {dupes}")
        return self

    def by_code(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories}


class RulesFile(_Strict):
    version: int
    rules: dict[str, dict[str, float]]


class SignalsFile(_Strict):
    version: int
    kind: dict[str, dict[str, float]]
    question_mark_weight: float = 2.0
    sentiment: dict[Literal["negative", "positive"], dict[str, float]]
    urgency: dict[str, dict[str, float]]
    urgency_threshold: float = 3.0
    conflict: dict[Literal["aggression", "threat", "no_answer"], dict[str, float]]
    conflict_threshold: float = 3.0
    obscene_roots: list[str]
    obscene_exceptions: list[str] = Field(default_factory=list)


def _path(path: Path | str | None, name: str) -> Path:
    return Path(path) if path else package_file("classify", f"data/{name}")


def load_taxonomy(directory: Directory, path: Path | str | None = None) -> Taxonomy:
    p = _path(path, "taxonomy.yaml")
    tax = load_yaml_model(Taxonomy, p)
    for c in tax.categories:
        if c.department and c.department not in directory.departments:
            raise DataFileError(f"{p}: category {c.code}: unknown department {c.department!r}")
        if c.forward_to and c.forward_to not in directory.external_bodies:
            raise DataFileError(f"{p}: category {c.code}: unknown external body {c.forward_to!r}")
    return tax


def load_rules(taxonomy: Taxonomy, path: Path | str | None = None) -> RulesFile:
    p = _path(path, "rules.yaml")
    rules = load_yaml_model(RulesFile, p)
    known = set(taxonomy.by_code())
    unknown = sorted(set(rules.rules) - known)
    if unknown:
        raise DataFileError(f"{p}: rules for unknown categories: {unknown}")
    return rules


def load_signals(path: Path | str | None = None) -> SignalsFile:
    return load_yaml_model(SignalsFile, _path(path, "signals.yaml"))

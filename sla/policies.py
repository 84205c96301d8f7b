"""SLA policies: which terms a case has, by channel × message kind × urgency, from a YAML file."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from schemas.channels import Channel
from sla.calendar import CalendarError, Term, parse_term

DEFAULT_POLICIES = Path(__file__).parent / "data" / "policies.yaml"
KINDS = ("complaint", "question", "proposal", "gratitude", "appeal")


class TermName(StrEnum):
    REGISTRATION = "registration"
    FORWARDING = "forwarding"
    FIRST_RESPONSE = "first_response"
    RESOLUTION = "resolution"


class StartFrom(StrEnum):
    INTAKE = "intake"
    REGISTRATION = "registration"
    ASSIGNMENT = "assignment"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and, where known, the line."""


def _term(v: str) -> str:
    try:
        parse_term(v)
    except CalendarError as e:
        raise ValueError(str(e)) from e
    return v


class TermSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    term: str
    from_: StartFrom = Field(alias="from")
    basis: str = Field(min_length=3, description="the act and article, or why the МЦУ chose it")
    confirmed: bool
    internal: bool = False
    only_if_forwarded: bool = False
    after_interim: str | None = None
    warn_shares: list[float] | None = None

    _check_term = field_validator("term", "after_interim")(lambda v: v if v is None else _term(v))


class ExtensionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max: str
    basis: str
    confirmed: bool
    _check = field_validator("max")(_term)


class EscalationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    level: int = Field(ge=1, le=2)
    after: str
    _check = field_validator("after")(_term)


class Defaults(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warn_shares: list[float] = [0.5, 0.8]
    escalations: list[EscalationSpec] = []

    @field_validator("warn_shares")
    @classmethod
    def _shares(cls, v: list[float]) -> list[float]:
        if any(not 0 < s < 1 for s in v) or v != sorted(set(v)):
            raise ValueError("warn_shares must be increasing shares strictly between 0 and 1")
        return v

    @field_validator("escalations")
    @classmethod
    def _levels(cls, v: list[EscalationSpec]) -> list[EscalationSpec]:
        if [e.level for e in v] != sorted({e.level for e in v}):
            raise ValueError("escalation levels must be increasing and distinct")
        return v


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)
    title: str
    channels: list[Channel] = Field(min_length=1)
    kinds: list[str] = Field(min_length=1)
    urgent: list[bool] = Field(min_length=1)
    terms: dict[TermName, TermSpec] = Field(min_length=1)
    extension: ExtensionSpec | None = None

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if k not in KINDS]
        if bad:
            raise ValueError(f"unknown kinds {bad}; known: {', '.join(KINDS)}")
        return v


class PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    defaults: Defaults = Defaults()
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> PolicyFile:
        ids = [r.id for r in self.rules]
        if len(ids) != len(set(ids)):
            raise ValueError(f"rule ids must be unique: {ids}")
        missing = [
            f"{c.value}/{k}/{'urgent' if u else 'normal'}"
            for c in Channel
            for k in KINDS
            for u in (False, True)
            if not any(c in r.channels and k in r.kinds and u in r.urgent for r in self.rules)
        ]
        if missing:
            raise ValueError(f"no rule covers {len(missing)} combinations, e.g. {missing[:5]}")
        return self


@dataclass(frozen=True, slots=True)
class TermPolicy:
    name: TermName
    term: Term
    start_from: StartFrom
    only_if_forwarded: bool
    after_interim: Term | None
    warn_shares: tuple[float, ...]
    basis: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Policy:
    """What one case is held to: the rule that matched and its terms."""

    rule_id: str
    title: str
    terms: dict[TermName, TermPolicy]
    escalations: tuple[tuple[int, Term], ...]
    max_extension: Term | None


class PolicySet:
    def __init__(self, data: PolicyFile, source: str = "<memory>") -> None:
        self.data = data
        self.source = source
        self.version = data.version
        self._cache: dict[tuple[str, str, bool], Policy] = {}
        esc = tuple((e.level, parse_term(e.after)) for e in data.defaults.escalations)
        self._policies = {r.id: self._build(r, esc) for r in data.rules}

    def _build(self, r: Rule, esc: tuple[tuple[int, Term], ...]) -> Policy:
        terms = {
            name: TermPolicy(
                name=name,
                term=parse_term(t.term),
                start_from=t.from_,
                only_if_forwarded=t.only_if_forwarded,
                after_interim=parse_term(t.after_interim) if t.after_interim else None,
                warn_shares=tuple(t.warn_shares or self.data.defaults.warn_shares),
                basis=t.basis,
                confirmed=t.confirmed,
            )
            for name, t in r.terms.items()
        }
        ext = parse_term(r.extension.max) if r.extension else None
        return Policy(r.id, r.title, terms, esc, ext)

    def by_id(self, rule_id: str) -> Policy:
        return self._policies[rule_id]

    def lookup(self, channel: str, kind: str, urgent: bool) -> Policy:
        key = (str(channel), kind if kind in KINDS else "complaint", bool(urgent))
        hit = self._cache.get(key)
        if hit is None:
            for r in self.data.rules:
                if key[0] in r.channels and key[1] in r.kinds and key[2] in r.urgent:
                    hit = self._policies[r.id]
                    break
            else:  # the validator makes the file complete, so this is a bug, not bad input
                raise PolicyError(f"{self.source}: no rule for {key}")
            self._cache[key] = hit
        return hit


def load_policies(path: Path | str | None = None) -> PolicySet:
    path = Path(path or DEFAULT_POLICIES)
    try:
        text = path.read_text("utf-8")
        raw = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"{path}: {e}") from e
    try:
        return PolicySet(PolicyFile.model_validate(raw), source=str(path))
    except ValidationError as e:
        lines = []
        for err in e.errors():
            line = _line_of(text, err["loc"])
            where = f"{path}:{line}" if line else str(path)
            loc = ".".join(str(x) for x in err["loc"]) or "(file)"
            lines.append(f"{where}: {loc}: {err['msg']}")
        raise PolicyError("\n".join(lines)) from e


def _line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest ancestor)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
    if node is not None:
        line = node.start_mark.line + 1
    return line

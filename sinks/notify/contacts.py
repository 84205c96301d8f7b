"""Who receives SLA notifications and how to reach them: a YAML file validated at load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from common.yaml_load import DataFileError, load_yaml_model, package_file
from schemas import SlaEvent, SlaEventKind

EXAMPLE_CONTACTS = package_file("sinks.notify", "data/contacts.example.yaml")
Audience = Literal["department", "settlement", "block", "coordinator"]
ChannelName = Literal["email", "telegram", "webhook"]


class ContactsError(ValueError):
    """A contacts file that cannot be used; the message names the file."""


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    email: list[str] = []
    telegram: list[str] = []
    webhook: list[str] = []


class Routing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    warning: list[Audience] = ["department", "settlement"]
    breach: list[Audience] = ["department", "settlement", "block"]
    escalation_1: list[Audience] = ["block"]
    escalation_2: list[Audience] = ["coordinator", "block"]
    digest: list[Audience] = ["block"]


class ContactsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str
    routing: Routing = Routing()
    coordinator: Contact | None = None
    blocks: dict[int, Contact] = Field(default_factory=dict)
    departments: dict[str, Contact] = Field(default_factory=dict)
    settlements: dict[str, Contact] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Address:
    """One place a message is delivered to: the unit of dedup and of rate limiting."""

    channel: ChannelName
    target: str  # e-mail address, chat id or URL
    person: str

    @property
    def key(self) -> str:
        return f"{self.channel}:{self.target}"


class Contacts:
    def __init__(self, data: ContactsFile, source: str = "<memory>") -> None:
        self.data = data
        self.source = source

    def of(self, audience: Audience, event_or_block: SlaEvent | int) -> Contact | None:
        d = self.data
        if audience == "coordinator":
            return d.coordinator
        if isinstance(event_or_block, int):
            return d.blocks.get(event_or_block) if audience == "block" else None
        e = event_or_block
        match audience:
            case "block":
                return d.blocks.get(e.block)
            case "department":
                return d.departments.get(e.department)
            case "settlement":
                return d.settlements.get(e.settlement)
        return None

    def audiences(self, event: SlaEvent) -> list[Audience]:
        r = self.data.routing
        match event.kind:
            case SlaEventKind.WARNING:
                return r.warning
            case SlaEventKind.BREACH:
                return r.breach
            case SlaEventKind.ESCALATION:
                return r.escalation_1 if event.level <= 1 else r.escalation_2
        return []  # met, stopped, moved...: recorded, not announced

    def addresses_for(self, event: SlaEvent) -> list[Address]:
        out: list[Address] = []
        for aud in self.audiences(event):
            c = self.of(aud, event)
            if c is not None:
                out += _addresses(c)
        return _unique(out)

    def digest_addresses(self, block: int) -> list[Address]:
        out: list[Address] = []
        for aud in self.data.routing.digest:
            c = self.of(aud, block)
            if c is not None:
                out += _addresses(c)
        return _unique(out)

    def unknown_codes(self, departments: set[str], settlements: set[str]) -> list[str]:
        """Codes of the file that the directory does not know (typos silence notifications)."""
        bad = [f"department {c}" for c in self.data.departments if c not in departments]
        bad += [f"settlement {c}" for c in self.data.settlements if c not in settlements]
        bad += [f"block {b}" for b in self.data.blocks if not 1 <= b <= 6]
        return bad


def _addresses(c: Contact) -> list[Address]:
    return (
        [Address("email", a, c.name) for a in c.email]
        + [Address("telegram", a, c.name) for a in c.telegram]
        + [Address("webhook", a, c.name) for a in c.webhook]
    )


def _unique(xs: list[Address]) -> list[Address]:
    seen: set[str] = set()
    return [a for a in xs if not (a.key in seen or seen.add(a.key))]  # type: ignore[func-returns-value]


def load_contacts(path: Path | str | None = None) -> Contacts:
    path = Path(path or EXAMPLE_CONTACTS)
    try:
        return Contacts(load_yaml_model(ContactsFile, path), source=str(path))  # errors name file and line
    except DataFileError as e:
        raise ContactsError(str(e)) from e

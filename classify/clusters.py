"""Duplicate clusters: messages about the same problem, named by what defines the problem.

The МЦУ's "root causes": forty messages «нет воды» from Джубга on one morning are one outage.
A cluster id is a pure function of the message as enriched — category × place (locality, else
settlement) × Moscow calendar day, plus for categories that are not outages the street the message
names — so every worker computes the same id for the same message, whatever the number of workers,
the partition a message lands on, the order messages arrive in or a restart in between.
Why not a shared index (a Faust table) or ClickHouse: see classify/README.md, "Duplicate clusters".
"""

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from classify.model import STOPWORDS
from common.yaml_load import load_yaml_model, package_file


class ClusterRules(BaseModel):
    """classify/data/clusters.yaml: one cause, many wordings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outage_categories: frozenset[str]


@cache
def outage_categories() -> frozenset[str]:
    """Categories whose messages in one place and day are the same event (classify/data/clusters.yaml)."""
    return load_yaml_model(ClusterRules, package_file("classify", "data/clusters.yaml")).outage_categories


# Lemmas after which the next content word names the street, lane or square of the problem.
STREET_MARKERS = frozenset(
    "улица ул переулок пер проспект пр пр-т шоссе бульвар б-р площадь пл набережная наб проезд тупик "
    "микрорайон мкр квартал".split()
)
MOSCOW = ZoneInfo("Europe/Moscow")
# Days of sizes kept in memory: a late message of yesterday still finds its cluster's count.
KEEP_DAYS = 2
_NS = uuid.UUID("6f1c2f1e-7c59-4b44-9a55-0d8d9f3d6a10")


def street_of(lemmas: list[str]) -> str | None:
    """The first content lemma after a street marker: «улица Гагарина» -> "гагарин"."""
    for i, lemma in enumerate(lemmas[:-1]):
        if lemma in STREET_MARKERS:
            following = lemmas[i + 1]
            if following not in STOPWORDS and following not in STREET_MARKERS and len(following) > 2:
                return following
    return None


def problem_key(category: str, place: str | None, lemmas: list[str], at: datetime) -> str | None:
    """What defines the problem a message reports, or None when it cannot be told apart from others.

    Outages: category, place, day. Other categories also need the street, or two different potholes
    of one town on one day would be one problem: without a street the message is a problem of its own.
    """
    if not place or place == "unresolved" or category == "unresolved":
        return None
    day = at.astimezone(MOSCOW).date() if at.tzinfo else at.date()
    if category in outage_categories():
        return f"{category}|{place}|{day.isoformat()}"
    street = street_of(lemmas)
    if street is None:
        return None
    return f"{category}|{place}|{day.isoformat()}|{street}"


def cluster_id_of(key: str) -> str:
    return "cl-" + uuid.uuid5(_NS, key).hex[:16]


@dataclass
class _Seen:
    day: date
    members: set[str] = field(default_factory=set)


class ClusterIndex:
    """Deterministic ids, plus how many members of each cluster this process has seen.

    The id never depends on this object's state; the size does (it is this worker's view, and a
    restart forgets it) — the cluster's size is ``count() ... GROUP BY cluster_id`` in ClickHouse.
    """

    def __init__(self) -> None:
        self._seen: dict[str, _Seen] = {}
        self._newest: date | None = None

    def assign(self, message_id: str, category: str, place: str | None, lemmas: list[str], at: datetime) -> str | None:
        """Cluster id of the message; None when no problem key can be formed."""
        key = problem_key(category, place, lemmas, at)
        if key is None:
            return None
        cid = cluster_id_of(key)
        day = at.astimezone(MOSCOW).date() if at.tzinfo else at.date()
        self._expire(day)
        seen = self._seen.setdefault(cid, _Seen(day))
        seen.members.add(message_id)
        return cid

    def size(self, cluster_id: str) -> int:
        seen = self._seen.get(cluster_id)
        return len(seen.members) if seen else 0

    def _expire(self, day: date) -> None:
        if self._newest is not None and day <= self._newest:
            return
        self._newest = day
        horizon = day.toordinal() - KEEP_DAYS
        for cid in [c for c, s in self._seen.items() if s.day.toordinal() < horizon]:
            del self._seen[cid]

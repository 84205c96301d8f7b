"""Duplicate clustering: messages about the same problem in the same place within a time window.

The МЦУ's "root causes": forty messages «нет воды» from Джубга on one morning are one outage.
A message joins the newest open cluster of the same category and place (locality, else
settlement) seen within the window when its wording overlaps enough — or always, for outage-like
categories where different wording still means one cause. The index is in-memory state, kept
apart from the stateless enricher; sizes stay current as messages join.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from classify.model import STOPWORDS

DEFAULT_WINDOW = timedelta(hours=72)
MIN_OVERLAP = 0.2
# One cause, many wordings: any message of these in one place and window is the same event.
OUTAGE_CATEGORIES = frozenset(
    {"water_supply", "power_supply", "gas_supply", "heating", "emergencies", "landslides", "fire", "waste"}
)
# A message is compared with the newest clusters of its category and place only: enough for a
# municipality's traffic, and it bounds the work per message whatever the backlog.
SCAN_NEWEST = 32
_NS = uuid.UUID("6f1c2f1e-7c59-4b44-9a55-0d8d9f3d6a10")


@dataclass
class Cluster:
    cluster_id: str
    category: str
    place: str
    first_seen: datetime
    last_seen: datetime
    words: set[str]
    members: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.members)


class ClusterIndex:
    def __init__(self, window: timedelta = DEFAULT_WINDOW, min_overlap: float = MIN_OVERLAP) -> None:
        self.window = window
        self.min_overlap = min_overlap
        self._open: dict[tuple[str, str], list[Cluster]] = {}
        self._by_id: dict[str, Cluster] = {}
        self._by_message: dict[str, str] = {}
        self._newest: datetime | None = None
        self._swept: datetime | None = None

    def assign(self, message_id: str, category: str, place: str | None, lemmas: list[str], at: datetime) -> str | None:
        """Cluster id of the message (re-delivery returns the same id); None when the place is unknown."""
        if message_id in self._by_message:
            return self._by_message[message_id]
        if not place or place == "unresolved" or category == "unresolved":
            return None
        self._expire(at)
        words = {w for w in lemmas if w not in STOPWORDS and len(w) > 2}
        key = (category, place)
        best: Cluster | None = None
        best_overlap = -1.0
        for c in reversed(self._open.get(key, [])[-SCAN_NEWEST:]):
            if abs(at - c.last_seen) > self.window and abs(at - c.first_seen) > self.window:
                continue
            overlap = len(words & c.words) / (len(words | c.words) or 1)
            if category in OUTAGE_CATEGORIES or overlap >= self.min_overlap:
                if overlap > best_overlap:
                    best, best_overlap = c, overlap
        if best is None:
            cid = "cl-" + uuid.uuid5(_NS, message_id).hex[:16]
            best = Cluster(cid, category, place, at, at, set(words))
            self._open.setdefault(key, []).append(best)
            self._by_id[cid] = best
        else:
            best.last_seen = max(best.last_seen, at)
            best.first_seen = min(best.first_seen, at)
            best.words |= words
        best.members.append(message_id)
        self._by_message[message_id] = best.cluster_id
        return best.cluster_id

    def size(self, cluster_id: str) -> int:
        c = self._by_id.get(cluster_id)
        return c.size if c else 0

    def get(self, cluster_id: str) -> Cluster | None:
        return self._by_id.get(cluster_id)

    def _expire(self, at: datetime) -> None:
        if self._newest is None or at > self._newest:
            self._newest = at
        horizon = self._newest - 2 * self.window
        # Sweeping every key per message would cost O(keys); once per tenth of a window is enough.
        if self._swept is not None and horizon - self._swept < self.window / 10:
            return
        self._swept = horizon
        for key, clusters in list(self._open.items()):
            keep = [c for c in clusters if c.last_seen >= horizon]
            for c in clusters:
                if c.last_seen < horizon:
                    self._by_id.pop(c.cluster_id, None)
                    for m in c.members:
                        self._by_message.pop(m, None)
            if keep:
                self._open[key] = keep
            else:
                del self._open[key]

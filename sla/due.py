"""The due index: which cases fire next, without scanning the open timers."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator


class DueIndex:
    """Min-heap of (fire time, message id). Entries are never removed in place: whoever pops one
    checks it against the case's stored ``next_fire`` and drops it if stale."""

    __slots__ = ("_heap",)

    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, message_id: str, at: int) -> None:
        heapq.heappush(self._heap, (at, message_id))

    def peek(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: int) -> Iterator[tuple[int, str]]:
        h = self._heap
        while h and h[0][0] <= now:
            yield heapq.heappop(h)

    def rebuild(self, entries: Iterable[tuple[str, int]]) -> None:
        self._heap = [(at, mid) for mid, at in entries]
        heapq.heapify(self._heap)

"""From an SLA event to delivered messages: recipients, dedup, rate limit, retries, dead letters."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, wait_exponential

from schemas import DeadLetter, SlaEvent
from schemas.topics import NOTIFICATIONS, SLA_EVENTS
from sinks.notify.contacts import Address, Contacts
from sinks.notify.names import CodeNames, Names
from sinks.notify.senders import PermanentError, Sender, TransientError
from sinks.notify.settings import NotifySettings
from sinks.notify.templates import DigestItem, Rendered, render_digest, render_event

log = logging.getLogger(__name__)
DeadLetterSink = Callable[[DeadLetter], Awaitable[None] | None]


class RateLimiter:
    """At most ``rate`` sends per ``per`` seconds for each recipient (sliding window); callers wait."""

    def __init__(self, rate: int, per: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.per, self.clock = rate, per, clock
        self._sent: dict[str, deque[float]] = defaultdict(deque)
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def delay(self, key: str) -> float:
        """Seconds to wait before ``key`` may be sent to again (0 when it may now)."""
        q, now = self._sent[key], self.clock()
        while q and q[0] <= now - self.per:
            q.popleft()
        return 0.0 if len(q) < self.rate else q[0] + self.per - now

    async def acquire(self, key: str) -> None:
        async with self._locks[key]:
            while (d := self.delay(key)) > 0:
                await asyncio.sleep(d)
            self._sent[key].append(self.clock())


@dataclass
class Report:
    sent: list[str] = field(default_factory=list)  # address keys delivered now
    duplicates: list[str] = field(default_factory=list)  # delivered before: skipped
    dead: list[DeadLetter] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # no sender configured for the channel


class Notifier:
    def __init__(
        self,
        contacts: Contacts,
        senders: dict[str, Sender],
        names: Names | None = None,
        *,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 300.0,
        rate_per_minute: int = 20,
        seen: MutableMapping[str, float] | None = None,
        seen_capacity: int = 200_000,
        dead_letter: DeadLetterSink | None = None,
        link_template: str = "",
    ) -> None:
        self.contacts = contacts
        self.senders = senders
        self.names = names or CodeNames()
        self.max_attempts = max_attempts
        self.backoff = backoff_seconds
        self.max_backoff = max_backoff_seconds
        self.limiter = RateLimiter(rate_per_minute, 60.0)
        # Keys of deliveries already made; a Faust table (with changelog) keeps it across restarts.
        self.seen: MutableMapping[str, float] = {} if seen is None else seen
        self.seen_capacity = seen_capacity
        self._inflight: set[str] = set()
        self.dead_letter = dead_letter
        self.link_template = link_template

    @classmethod
    def from_settings(
        cls, settings: NotifySettings, contacts: Contacts, names: Names | None = None, **kw: Any
    ) -> Notifier:
        from sinks.notify.senders import senders_from_settings

        return cls(
            contacts,
            senders_from_settings(settings),
            names,
            max_attempts=settings.max_attempts,
            backoff_seconds=settings.backoff_seconds,
            rate_per_minute=settings.rate_per_minute,
            link_template=settings.case_link_template,
            **kw,
        )

    async def aclose(self) -> None:
        for s in self.senders.values():
            await s.aclose()

    # -- public

    async def notify(self, event: SlaEvent) -> Report:
        """Announce one SLA event to everyone the contacts route it to; safe to call again."""
        addresses = self.contacts.addresses_for(event)
        if not addresses:
            return Report()
        link = self.link_template.format(message_id=event.message_id) if self.link_template else None
        msg = render_event(event, self.names, link)
        payload = {"event": event.model_dump(mode="json")}
        original = event.model_dump_json().encode()
        return await self._fan_out(addresses, msg, event.dedup_key, payload, original, event.message_id, SLA_EVENTS)

    async def send_digest(self, block: int, items: Iterable[DigestItem], now: datetime) -> Report:
        items = list(items)
        msg = render_digest(block, items, now, self.names, self.link_template)
        day = now.astimezone(UTC).date().isoformat()
        key = f"digest:{block}:{day}"
        payload = {
            "digest": {
                "block": block,
                "at": now.isoformat(),
                "items": [
                    {"message_id": i.message_id, "term": i.term, "deadline": i.deadline.isoformat(),
                     "department": i.department, "settlement": i.settlement}
                    for i in items
                ],
            }
        }  # fmt: skip
        original = msg.text.encode()
        return await self._fan_out(
            self.contacts.digest_addresses(block), msg, key, payload, original, key, NOTIFICATIONS
        )

    # -- delivery

    async def _fan_out(
        self,
        addresses: list[Address],
        msg: Rendered,
        key: str,
        payload: dict[str, Any],
        original: bytes,
        record_key: str,
        topic: str,
    ) -> Report:
        report = Report()
        results = await asyncio.gather(
            *(self._deliver(a, msg, key, payload, original, record_key, topic) for a in addresses)
        )
        for a, (status, dl) in zip(addresses, results, strict=True):
            match status:
                case "sent":
                    report.sent.append(a.key)
                case "duplicate":
                    report.duplicates.append(a.key)
                case "unreachable":
                    report.unreachable.append(a.key)
                case "dead":
                    assert dl is not None
                    report.dead.append(dl)
        return report

    async def _deliver(
        self,
        to: Address,
        msg: Rendered,
        key: str,
        payload: dict[str, Any],
        original: bytes,
        record_key: str,
        topic: str,
    ) -> tuple[str, DeadLetter | None]:
        dkey = f"{key}|{to.key}"
        if dkey in self.seen or dkey in self._inflight:
            return "duplicate", None
        sender = self.senders.get(to.channel)
        if sender is None:
            log.warning("no %s sender configured: %s not notified of %s", to.channel, to.target, key)
            return "unreachable", None
        self._inflight.add(dkey)
        try:
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.max_attempts),
                    wait=self._wait,
                    retry=retry_if_exception_type(TransientError),
                    reraise=True,
                ):
                    with attempt:
                        await self.limiter.acquire(to.key)
                        await sender.send(to, msg, key, payload)
            except (TransientError, PermanentError) as e:
                dl = DeadLetter(
                    reason="notify_failed",
                    error=f"{to.key}: {e}",
                    stage=f"notify.{to.channel}",
                    topic=topic,
                    key=record_key,
                    original_b64=DeadLetter.encode(original),
                    at=datetime.now(UTC),
                )
                await self._dead(dl)
                return "dead", dl
            self._remember(dkey)
            return "sent", None
        finally:
            self._inflight.discard(dkey)

    def _wait(self, state: RetryCallState) -> float:
        base = wait_exponential(multiplier=self.backoff, max=self.max_backoff)(state)
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientError) and exc.retry_after:
            return max(base, min(exc.retry_after, self.max_backoff))
        return base

    def _remember(self, dkey: str) -> None:
        self.seen[dkey] = time.time()
        if isinstance(self.seen, dict) and len(self.seen) > self.seen_capacity:
            for old in list(self.seen)[: len(self.seen) - self.seen_capacity]:
                del self.seen[old]

    async def _dead(self, dl: DeadLetter) -> None:
        log.error("notification dead-lettered: %s", dl.error)
        if self.dead_letter is not None:
            r = self.dead_letter(dl)
            if inspect.isawaitable(r):
                await r

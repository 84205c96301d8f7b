"""The traffic model: when messages arrive, on which channel, about what and where, and what
happens to them later (answers, some late, some reopened, ratings).

How cases end (resolved, answered only, rejected, interim answer only, open) and how many are
forwarded or reopened comes from real status histories of a city portal: data/outcomes.yaml says
which data and how it was counted. The other figures are assumptions of this simulator, stated here
so benches can cite them: channel shares, a daytime-heavy arrival curve, answer delays per channel
(log-normal), 12 % of answers late, 45 % rated. None is measured on real МЦУ data.
"""

from __future__ import annotations

import functools
import heapq
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, model_validator

from ingest.connectors.events import make_event as _make_event
from ingest.connectors.open311 import DEFAULT_TAXONOMY, load_services
from ingest.connectors.tables import MSK
from ingest.simulator.places import Place, Places, load_places
from ingest.simulator.texts import STREETS_FALLBACK, TOPICS
from schemas import CaseEvent, CaseEventType, Channel

CHANNEL_SHARES: dict[Channel, float] = {
    Channel.POS: 28, Channel.INCIDENT: 14, Channel.VK: 18, Channel.TELEGRAM: 8, Channel.EMAIL: 4,
    Channel.LETTER: 10, Channel.RECEPTION: 3, Channel.ACTIVE_CITIZEN: 7, Channel.WEBFORM: 6, Channel.OPEN311: 2,
}  # fmt: skip
# Median days to an answer and the deadline in days (ПОС/social: short; 59-ФЗ: 30 days).
ANSWER: dict[Channel, tuple[float, float]] = {
    Channel.POS: (3, 10), Channel.INCIDENT: (0.5, 1), Channel.VK: (0.6, 1), Channel.TELEGRAM: (0.6, 1),
    Channel.EMAIL: (10, 30), Channel.LETTER: (14, 30), Channel.RECEPTION: (12, 30),
    Channel.ACTIVE_CITIZEN: (4, 10), Channel.WEBFORM: (5, 30), Channel.OPEN311: (4, 10),
}  # fmt: skip
HOURLY = [0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.8, 1.5, 2.2, 2.6, 2.6, 2.4, 2.2, 2.3, 2.3, 2.2, 2.1, 2.0, 2.1, 2.2,
          2.0, 1.6, 1.0, 0.5]  # fmt: skip
LATE_SHARE, RATED_SHARE = 0.12, 0.45
OUTCOMES_FILE = Path(__file__).parent / "data" / "outcomes.yaml"
Outcome = Literal["resolved", "answered", "rejected", "interim_only", "open"]


class Outcomes(BaseModel):
    source: str
    outcomes: dict[Outcome, float]
    forwarded_share: float = Field(ge=0, le=1)
    reopened_share_of_answered: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> Outcomes:
        if abs(sum(self.outcomes.values()) - 1) > 1e-6 or min(self.outcomes.values()) < 0:
            raise ValueError(f"{OUTCOMES_FILE.name}: outcome shares must be >= 0 and sum to 1: {self.outcomes}")
        return self


@functools.cache
def load_outcomes(path: Path = OUTCOMES_FILE) -> Outcomes:
    return Outcomes.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


CATEGORY_NAMES = {s["service_code"]: s["service_name"] for s in load_services()} if DEFAULT_TAXONOMY.exists() else {}
VK_OWNERS = {"tuapsinskoe": -1001, "default": -1000}  # synthetic community ids


@dataclass(frozen=True)
class SimConfig:
    days: float = 1.0
    per_day: float = 200.0
    seed: int = 1
    end: datetime | None = None  # the simulated "now"; events after it have not happened yet
    start: datetime | None = None  # default: end - days


@dataclass
class SimRecord:
    at: datetime
    channel: Channel
    source_id: str = ""
    payload: dict[str, Any] | None = None  # a raw message in its channel's own shape
    event: CaseEvent | None = None  # or a status event
    truth: dict[str, str] = field(default_factory=dict)


def _arrivals(rng: random.Random, start: datetime, end: datetime, per_day: float) -> Iterator[datetime]:
    """Non-homogeneous Poisson process by thinning, following the daytime curve (Moscow time)."""
    peak = max(HOURLY) / (sum(HOURLY) / 24)
    rate_max = per_day * peak / 86400.0
    t = start
    while True:
        t += timedelta(seconds=rng.expovariate(rate_max))
        if t >= end:
            return
        hour = t.astimezone(MSK).hour
        if rng.random() < (HOURLY[hour] / (sum(HOURLY) / 24)) / peak:
            yield t


def _text(rng: random.Random, topic: str, place: Place) -> str:
    template = rng.choice(TOPICS[topic][1])
    street = rng.choice(place.streets or STREETS_FALLBACK)
    return template.format(place=place.locality, street=street, days=rng.randint(2, 5))


def _payload(
    rng: random.Random, ch: Channel, n: int, at: datetime, text: str, topic: str, place: Place
) -> tuple[str, dict[str, Any]]:
    local = at.astimezone(MSK)
    ts = int(at.timestamp())
    lat = None if place.lat is None else round(place.lat + rng.uniform(-0.005, 0.005), 5)
    lon = None if place.lon is None else round(place.lon + rng.uniform(-0.005, 0.005), 5)
    author = f"sim-{rng.randint(1, 40_000)}"
    if ch is Channel.VK:
        owner = VK_OWNERS.get(place.settlement, VK_OWNERS["default"])
        post = 10_000 + n // 50
        return f"{owner}_{post}_{n}", {"id": n, "owner_id": owner, "post_id": post, "from_id": 100_000 + n % 40_000,
                                       "date": ts, "text": text, "parents_stack": []}  # fmt: skip
    if ch is Channel.TELEGRAM:
        msg = {"message_id": n, "date": ts, "text": text, "from": {"id": 200_000 + n % 40_000, "is_bot": False},
               "chat": {"id": -1_000_000_001, "type": "supergroup", "title": "Синтетический чат округа"}}  # fmt: skip
        if lat is not None and rng.random() < 0.1:
            msg["location"] = {"latitude": lat, "longitude": lon}
        return f"-1000000001:{n}", {"update_id": n, "message": msg}
    if ch is Channel.EMAIL:
        return f"sim-{n}@example.org", {"uid": n, "uidvalidity": 1, "mailbox": "INBOX",
            "message_id": f"<sim-{n}@example.org>", "from": f"{author}@example.org", "subject": "Обращение",
            "date": at.isoformat(), "text": text, "charsets": ["utf-8"], "clean": True, "attachments": []}  # fmt: skip
    if ch is Channel.OPEN311:
        sid = f"sim{n:08d}"
        body: dict[str, Any] = {"service_code": topic, "description": text, "requested_datetime": at.isoformat(),
                                "address_string": place.locality, "device_id": author}  # fmt: skip
        if lat is not None:
            body.update(lat=lat, long=lon)
        return sid, body
    if ch is Channel.WEBFORM:
        return f"sim-web-{n}", {"id": f"sim-web-{n}", "text": text, "created_at": at.isoformat(),
                                "author": author, "settlement": place.settlement_name}  # fmt: skip
    # Registry/portal rows carry their Russian column headers, as the exports do.
    date = local.strftime("%d.%m.%Y %H:%M")
    if ch is Channel.LETTER or ch is Channel.RECEPTION:
        reg = f"{'Ж' if ch is Channel.LETTER else 'ЛП'}-{n:06d}/{local.year}"
        key = "Краткое содержание" if ch is Channel.LETTER else "Содержание вопроса"
        return reg, {"Рег. номер": reg, "Дата регистрации": date, "Заявитель": author, key: text,
                     "Адрес": f"{place.locality}"}  # fmt: skip
    if ch is Channel.INCIDENT:
        return f"sim-inc-{n}", {"ID инцидента": f"sim-inc-{n}", "Дата публикации": date, "Текст публикации": text,
                                "Соцсеть": rng.choice(["ВКонтакте", "Одноклассники", "Telegram"]),
                                "Муниципалитет": place.settlement_name}  # fmt: skip
    row = {"Номер": n, "Дата создания": date, "Текст сообщения" if ch is Channel.POS else "Описание": text,
           "Категория": CATEGORY_NAMES.get(topic, topic), "Адрес": place.locality}  # fmt: skip
    if lat is not None:
        row.update({"Широта": lat, "Долгота": lon})
    return str(n), row


def _lifecycle(rng: random.Random, ch: Channel, sid: str, at: datetime, settlement: str) -> list[CaseEvent]:
    shares = load_outcomes()
    outcome = rng.choices(list(shares.outcomes), weights=list(shares.outcomes.values()))[0]
    if outcome == "open":
        return []  # nothing happened yet
    median, deadline_days = ANSWER[ch]
    late = rng.random() < LATE_SHARE
    if late:
        delay = deadline_days * rng.uniform(1.05, 1.8)
    else:
        delay = min(rng.lognormvariate(math.log(median), 0.6), deadline_days * 0.98)
    events = []
    c = ch.value

    def make_event(channel: str, source_id: str, kind: CaseEventType, when: datetime, **kw: Any) -> CaseEvent:
        # The simulated clock reaches each event at its own time: that is its "now" for the window.
        return _make_event(channel, source_id, kind, when, now=when, **kw)

    if rng.random() < shares.forwarded_share:
        # Passed on to the settlement's administration, as the portal passes it between bodies.
        events.append(make_event(c, sid, CaseEventType.FORWARDED, at + timedelta(days=delay / 4), settlement=settlement,
                                 reason="передано по принадлежности (синтетика)"))  # fmt: skip
    if deadline_days >= 30 and rng.random() < 0.1:
        ext_at = at + timedelta(days=deadline_days * 0.8)
        events.append(make_event(c, sid, CaseEventType.EXTENDED, ext_at, new_deadline=at + timedelta(days=60),
                                 reason="продлено (синтетика)"))  # fmt: skip
        delay = min(delay, 55)
    if outcome == "interim_only" or (delay > 2 and rng.random() < 0.3):
        events.append(make_event(c, sid, CaseEventType.INTERIM_ANSWER, at + timedelta(days=delay / 3)))
    if outcome == "interim_only":
        return events
    answered = at + timedelta(days=delay)
    if outcome == "rejected":
        events.append(make_event(c, sid, CaseEventType.REJECTED, answered,
                                 reason="оставлено без ответа по существу, ст. 11 59-ФЗ (синтетика)"))  # fmt: skip
        return events
    events.append(make_event(c, sid, CaseEventType.ANSWERED, answered, comment="Ответ (синтетика)"))
    if rng.random() < shares.reopened_share_of_answered:
        reopened = answered + timedelta(days=rng.uniform(0.5, 5))
        events.append(make_event(c, sid, CaseEventType.REOPENED, reopened, reason="житель не согласен (синтетика)"))
        answered = reopened + timedelta(days=rng.lognormvariate(math.log(median), 0.5))
        events.append(make_event(c, sid, CaseEventType.ANSWERED, answered, comment="Повторный ответ (синтетика)"))
    if outcome == "resolved":
        # The resident (or the body, on the resident's word) confirms the fix some hours to days later.
        answered += timedelta(hours=rng.uniform(2, 120))
        events.append(make_event(c, sid, CaseEventType.RESOLVED, answered, comment="Решено (синтетика)"))
    if rng.random() < RATED_SHARE:
        weights = [5, 2, 1, 1, 1] if late else ([1, 1, 1, 3, 6] if outcome == "resolved" else [4, 2, 2, 2, 2])
        stars = rng.choices([1, 2, 3, 4, 5], weights=weights)[0]
        events.append(make_event(c, sid, CaseEventType.RATED, answered + timedelta(hours=rng.uniform(1, 72)),
                                 rating=stars))  # fmt: skip
    return events


def simulate(cfg: SimConfig, places: Places | None = None) -> Iterator[SimRecord]:
    """Messages and their later events in time order, all within [end - days, end]."""
    rng = random.Random(cfg.seed)
    places = places or load_places()
    end = cfg.end or datetime.now(UTC)
    start = cfg.start or end - timedelta(days=cfg.days)
    channels, shares = list(CHANNEL_SHARES), list(CHANNEL_SHARES.values())
    topics, topic_w = list(TOPICS), [v[0] for v in TOPICS.values()]
    heap: list[tuple[datetime, int, SimRecord]] = []
    seq = 0
    for n, at in enumerate(_arrivals(rng, start, end, cfg.per_day), start=1):
        while heap and heap[0][0] <= at:
            yield heapq.heappop(heap)[2]
        ch = rng.choices(channels, weights=shares)[0]
        topic = rng.choices(topics, weights=topic_w)[0]
        place = places.pick(rng)
        text = _text(rng, topic, place)
        sid, payload = _payload(rng, ch, n, at, text, topic, place)
        payload["synthetic"] = True
        truth = {"category": topic, "settlement": place.settlement, "locality": place.locality}
        payload["synthetic_truth"] = truth
        yield SimRecord(at=at, channel=ch, source_id=sid, payload=payload, truth=truth)
        for ev in _lifecycle(rng, ch, sid, at, place.settlement):
            if ev.at <= end:
                seq += 1
                heapq.heappush(heap, (ev.at, seq, SimRecord(at=ev.at, channel=ch, source_id=sid, event=ev)))
    while heap:
        yield heapq.heappop(heap)[2]

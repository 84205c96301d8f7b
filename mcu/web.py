"""The worker's HTTP face: intake, health, counts and Prometheus metrics."""

import asyncio
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from faust.types import TopicT
from faust.web import Request, Response, View
from limits import parse as parse_limit
from limits import storage as limit_storage
from limits import strategies as limit_strategies
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from ingest.normalize import Rejected, normalize_record
from ingest.wire import derive_source_id, encode_headers
from mcu.app import app, bytes_topic, case_events_topic, settings
from mcu.metrics import CONSUMER_LAG, WORKER_ASSIGNED, WORKER_REBALANCING
from mcu.store import store
from schemas import CaseEvent, Channel, message_id_for
from schemas.topics import raw_topic

log = logging.getLogger(__name__)
_raw_topics = {c: bytes_topic(raw_topic(c)) for c in Channel}
_author_key = settings.author_hmac_key.get_secret_value().encode()
_rate = parse_limit(settings.ingest_rate_limit)
_limiter = limit_strategies.MovingWindowRateLimiter(limit_storage.MemoryStorage())


class NotStored(Exception):
    """The broker did not confirm the record in time (too few in-sync replicas, no leader, no broker)."""


async def send_stored(topic: TopicT, **record: object) -> None:
    """Send and wait for acks=all; raise :class:`NotStored` after ``MCU_INGEST_ACK_TIMEOUT``.

    Faust's producer retries a record for up to 20 minutes; a caller must learn sooner that it was
    not stored, so that it keeps its copy and sends it again. The record may still be stored later
    by those retries: the resend has the same message id and is folded downstream.
    """

    async def send_and_wait() -> None:
        fut = await topic.send(**record)  # type: ignore[arg-type]
        await fut

    try:
        await asyncio.wait_for(send_and_wait(), settings.ingest_ack_timeout)
    except (TimeoutError, KafkaError) as exc:
        raise NotStored(f"{type(exc).__name__}: {exc}") from exc


def _not_stored(view: View, exc: NotStored) -> Response:
    log.warning("intake answered 503: the broker did not confirm the record: %s", exc)
    return view.json(
        {"error": "not stored: Kafka did not confirm the record (too few brokers in sync); send it again later"},
        status=503,
        headers={"Retry-After": "5"},
    )


def _authorized(request: Request) -> bool:
    token = settings.ingest_token
    if token is None:
        return False
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.get_secret_value().encode())


@app.page("/ingest/{channel}")
class Intake(View):
    """POST a channel's JSON payload; 202 once the broker has it, 4xx saying what is wrong."""

    async def post(self, request: Request, channel: str) -> Response:
        if settings.ingest_token is None:
            return self.json({"error": "intake is disabled: set MCU_INGEST_TOKEN"}, status=503)
        if not _authorized(request):
            return self.json({"error": "missing or wrong bearer token"}, status=401)
        if not _limiter.hit(_rate, "intake", request.remote or "?"):
            return self.json({"error": f"rate limit {settings.ingest_rate_limit} per client exceeded"}, status=429)
        if channel not in Channel.__members__.values():
            known = ", ".join(c.value for c in Channel)
            return self.json({"error": f"unknown channel {channel!r}; known: {known}"}, status=404)
        length = request.content_length
        if length is not None and length > settings.max_payload_bytes:
            return self.json({"error": f"body of {length} bytes, limit {settings.max_payload_bytes}"}, status=413)
        body = await request.read()
        source_id = request.headers.get("X-Source-Id") or derive_source_id(body)
        try:
            message = normalize_record(
                body,
                {},
                raw_topic(channel),
                max_bytes=settings.max_payload_bytes,
                author_key=_author_key,
                max_text_chars=settings.max_text_chars,
            )
        except Rejected as rej:
            status = 413 if rej.reason == "too_large" else 400
            return self.json({"error": rej.detail, "reason": rej.reason}, status=status)
        message_id = message_id_for(channel, source_id)
        now = datetime.now(UTC)
        try:
            await send_stored(
                _raw_topics[Channel(channel)],
                key=message_id.encode(),
                value=body,
                headers=encode_headers(channel, source_id, message.created_at, now),
            )
        except NotStored as exc:
            return _not_stored(self, exc)
        return self.json({"message_id": message_id, "source_id": source_id}, status=202)


@app.page("/cases/{message_id}/events")
class CaseEvents(View):
    """POST what happened to a case (answered, extended, rated, …); 202 once the broker has it.

    An event for a case not seen yet is kept and applied when the case arrives (sla/timers.py).
    """

    async def post(self, request: Request, message_id: str) -> Response:
        if settings.ingest_token is None:
            return self.json({"error": "the events API is disabled: set MCU_INGEST_TOKEN"}, status=503)
        if not _authorized(request):
            return self.json({"error": "missing or wrong bearer token"}, status=401)
        body = await request.read()
        if len(body) > settings.max_payload_bytes:
            return self.json({"error": f"body of {len(body)} bytes, limit {settings.max_payload_bytes}"}, status=413)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return self.json({"error": f"not JSON: {exc}"}, status=400)
        if not isinstance(data, dict):
            return self.json({"error": "the body must be a JSON object"}, status=400)
        if data.setdefault("message_id", message_id) != message_id:
            return self.json({"error": "message_id in the body differs from the one in the path"}, status=400)
        # Without an id of its own, the event's content names it: a retried POST is the same event.
        data.setdefault("event_id", "api:" + hashlib.sha256(body + message_id.encode()).hexdigest()[:32])
        try:
            event = CaseEvent.model_validate(data)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
            return self.json({"error": detail}, status=400)
        try:
            await send_stored(case_events_topic, key=message_id.encode(), value=event.model_dump_json().encode())
        except NotStored as exc:
            return _not_stored(self, exc)
        return self.json({"event_id": event.event_id, "message_id": message_id}, status=202)


@app.page("/health")
class Health(View):
    async def get(self, request: Request) -> Response:
        assigned = len(app.consumer.assignment()) if app.consumer else 0
        body = {
            "status": "ok",
            "roles": sorted(settings.role_set),
            "rebalancing": bool(app.rebalancing),
            "assigned_partitions": assigned,
        }
        return self.json(body, status=200)


@app.page("/counts")
class Counts(View):
    """Rows in the store as analysts see them (deduplicated); the demo's live view uses it."""

    async def get(self, request: Request) -> Response:
        if not settings.owns_embedded_store:
            return self.json({"error": "this worker does not own the embedded store; ask the sink worker"}, status=503)
        rows = await store.query(
            "SELECT (SELECT count() FROM cases FINAL), (SELECT count() FROM dead_letters FINAL),"
            " (SELECT countIf(settlement = 'unresolved') FROM cases FINAL)"
        )
        cases, dead, unresolved = rows[0]
        return self.json({"cases": cases, "dead_letters": dead, "unresolved_settlement": unresolved})


@app.page("/metrics")
class Metrics(View):
    async def get(self, request: Request) -> Response:
        return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])


_lag_series: set[tuple[str, str]] = set()


@app.timer(interval=5.0)
async def _observe_consumer() -> None:
    consumer = app.consumer
    WORKER_REBALANCING.set(1 if app.rebalancing else 0)
    assignment = consumer.assignment()
    WORKER_ASSIGNED.set(len(assignment))
    # Faust keeps the committed offsets privately; reading them beats a second admin client per tick.
    committed = getattr(consumer, "_committed_offset", {})
    # A revoked partition's lag is another worker's now: drop its series, or alerts see stale lag.
    # Table changelogs are in the assignment only so Faust can restore (actives) or mirror (standbys)
    # the tables: the group never commits offsets on them and Faust pauses an active changelog once
    # restored, so aiokafka's highwater for it stays frozen at the last fetch of the recovery. The
    # difference is neither lag nor progress (a constant 1 on every sla_timers-changelog partition
    # while the topic held ~140 records each); it would hold mcu_consumer_lag above zero for ever.
    changelogs = app.tables.changelog_topics
    consumed = {tp for tp in assignment if tp.topic not in changelogs}
    for topic, partition in _lag_series - {(tp.topic, str(tp.partition)) for tp in consumed}:
        CONSUMER_LAG.remove(topic, partition)
        _lag_series.discard((topic, partition))
    for tp in consumed:
        try:
            high = consumer.highwater(tp)
        except Exception:
            continue
        done = committed.get(tp)
        if high is not None:
            _lag_series.add((tp.topic, str(tp.partition)))
            CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(high - ((done or -1) + 1), 0))

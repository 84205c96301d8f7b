"""The worker's HTTP face: intake, health, counts and Prometheus metrics."""

import asyncio
import hashlib
import json
import logging

from aiokafka.errors import KafkaError
from faust.types import TopicT
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from classify.corrections import Owner, check_change, event_fields, reroute
from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import RecordTooLarge, derive_source_id, raw_record
from mcu.agents.stage import BATCH_CONSUMERS
from mcu.app import app, bytes_topic, case_events_topic, settings
from mcu.corrections import routing_data
from mcu.edge_web import EdgeView, authenticate, header, limit, read_body, store_read
from mcu.metrics import CONSUMER_LAG, WORKER_ASSIGNED, WORKER_REBALANCING
from mcu.store import store
from schemas import CaseEvent, CaseEventType, Channel
from schemas.topics import raw_topic
from sinks.clickhouse.corrections import change_of, current_cases

log = logging.getLogger(__name__)
_raw_topics = {c: bytes_topic(raw_topic(c)) for c in Channel}
_author_key = settings.intake.author_hmac_key.get_secret_value().encode()


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
        await asyncio.wait_for(send_and_wait(), settings.intake.ack_timeout)
    except (TimeoutError, KafkaError) as exc:
        raise NotStored(f"{type(exc).__name__}: {exc}") from exc


def _not_stored(view: View, exc: NotStored) -> Response:
    log.warning("intake answered 503: the broker did not confirm the record: %s", exc)
    return view.json(
        {"error": "not stored: Kafka did not confirm the record (too few brokers in sync); send it again later"},
        status=503,
        headers={"Retry-After": "5"},
    )


@app.page("/ingest/{channel}")
class Intake(EdgeView):
    """POST a channel's JSON payload; 202 once the broker has it, 4xx saying what is wrong.

    The payload is normalised here as the pipeline will: what the normaliser would dead-letter is
    refused now, so a caller never holds a message_id that never resolves.
    """

    async def post(self, request: Request, channel: str) -> Response:
        authenticate(request, settings.intake.token, "intake", "MCU_INGEST_TOKEN")
        limit(request, "intake", settings.intake.rate_limit)
        if channel not in Channel.__members__.values():
            known = ", ".join(c.value for c in Channel)
            return self.json({"error": f"unknown channel {channel!r}; known: {known}", "reason": "unknown_channel"},
                             status=404)  # fmt: skip
        given_id = header(request, "X-Source-Id", settings.intake.max_source_id_chars)
        body = await read_body(request)
        source_id = given_id or derive_source_id(body)
        try:
            message = normalize_record(
                body,
                {},
                raw_topic(channel),
                max_bytes=settings.intake.max_payload_bytes,
                author_key=_author_key,
                max_text_chars=settings.intake.max_text_chars,
            )
        except Rejected as rej:
            status = 413 if rej.reason == "too_large" else 400
            return self.json({"error": rej.detail, "reason": rej.reason}, status=status)
        except ValidationError as exc:
            return self.json({"error": _errors(exc), "reason": "validation"}, status=400)
        except (ValueError, TypeError, KeyError, OverflowError, OSError, RecursionError) as exc:
            # A channel mapper tripped over a shape it does not expect: the normaliser would dead-letter it.
            log.info("intake: %s payload refused: %r", channel, exc)
            return self.json({"error": f"unreadable {channel} payload: {exc}", "reason": "unreadable"}, status=400)
        try:
            rec = raw_record(
                channel,
                body,
                max_record_bytes=settings.kafka.max_record_bytes,
                source_id=source_id,
                received_at=message.created_at,
            )
        except RecordTooLarge as exc:
            return self.json({"error": str(exc), "reason": "too_large"}, status=413)
        try:
            await send_stored(_raw_topics[Channel(channel)], key=rec.key, value=rec.value, headers=rec.headers)
        except NotStored as exc:
            return _not_stored(self, exc)
        return self.json({"message_id": rec.message_id, "source_id": rec.source_id}, status=202)


async def _checked_correction(event: CaseEvent) -> CaseEvent | tuple[str, str, int]:
    """A `reclassified` event with its owner resolved (category → department → block), or (reason, error, status).

    The case must be in the store: a correction names what was wrong with a decision that exists.
    The event carries the resolved owner, so the SLA stage (which has no taxonomy) moves the timers.
    """
    if not (event.actor or "").strip() or not (event.reason or event.comment or "").strip():
        return "who_and_why", "исправление без «actor» (кто) и «reason» (почему) не принимается", 400
    taxonomy, directory = routing_data()
    change = change_of(event)
    problems = check_change(taxonomy, directory, **change)
    if problems:
        return "bad_correction", "; ".join(problems), 400
    async with store_read():
        try:
            rows = await store.run(lambda client: current_cases(client, [event.message_id]))
        except Exception as exc:  # the store is away or refuses: the caller sends the correction again later
            log.warning("correction of %s not checked: the store did not answer: %s", event.message_id, exc)
            return "store_unavailable", "хранилище не отвечает, исправление не принято; повторите позже", 503
    row = rows.get(event.message_id)
    if row is None:
        return "unknown_case", f"нет такого обращения в хранилище: {event.message_id}", 404
    new = reroute(Owner.from_row(row), taxonomy, directory, **change)
    return event.model_copy(update=event_fields(new))


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])


@app.page("/cases/{message_id}/events")
class CaseEvents(EdgeView):
    """POST what happened to a case (answered, extended, rated, …); 202 once the broker has it.

    An event for a case not seen yet is kept and applied when the case arrives (sla/timers.py).
    """

    async def post(self, request: Request, message_id: str) -> Response:
        authenticate(request, settings.intake.token, "the events API", "MCU_INGEST_TOKEN")
        limit(request, "events", settings.web.events_rate_limit)
        if len(message_id) > 128:
            return self.json({"error": "message_id longer than 128 characters", "reason": "bad_id"}, status=400)
        body = await read_body(request)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return self.json({"error": f"not JSON: {exc}", "reason": "bad_json"}, status=400)
        if not isinstance(data, dict):
            return self.json({"error": "the body must be a JSON object", "reason": "not_object"}, status=400)
        if data.setdefault("message_id", message_id) != message_id:
            return self.json({"error": "message_id in the body differs from the one in the path", "reason": "bad_id"},
                             status=400)  # fmt: skip
        # Without an id of its own, the event's content names it: a retried POST is the same event.
        data.setdefault("event_id", "api:" + hashlib.sha256(body + message_id.encode()).hexdigest()[:32])
        try:
            event = CaseEvent.model_validate(data)
            value = event.model_dump_json().encode()
        except ValidationError as exc:
            return self.json({"error": _errors(exc), "reason": "validation"}, status=400)
        except (ValueError, UnicodeError) as exc:  # e.g. a lone surrogate escaped in a JSON string
            return self.json({"error": f"unreadable event: {exc}", "reason": "unreadable"}, status=400)
        if event.type is CaseEventType.RECLASSIFIED:
            checked = await _checked_correction(event)
            if isinstance(checked, tuple):
                return self.json({"error": checked[1], "reason": checked[0]}, status=checked[2])
            event, value = checked, checked.model_dump_json().encode()
        try:
            await send_stored(case_events_topic, key=message_id.encode(), value=value)
        except NotStored as exc:
            return _not_stored(self, exc)
        return self.json({"event_id": event.event_id, "message_id": message_id}, status=202)


@app.page("/health")
class Health(View):
    async def get(self, request: Request) -> Response:
        assigned = len(app.consumer.assignment()) if app.consumer else 0
        assigned += sum(len(bc.assignment()) for bc in BATCH_CONSUMERS)
        body = {
            "status": "ok",
            "roles": sorted(settings.service.roles),
            "rebalancing": bool(app.rebalancing),
            "assigned_partitions": assigned,
        }
        return self.json(body, status=200)


@app.page("/counts")
class Counts(EdgeView):
    """Rows in the store as analysts see them (deduplicated); the demo's live view uses it."""

    async def get(self, request: Request) -> Response:
        if not settings.owns_embedded_store:
            return self.json({"error": "this worker does not own the embedded store; ask the sink worker"}, status=503)
        async with store_read():
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
    # Faust keeps the committed offsets privately; reading them beats a second admin client per tick.
    committed = getattr(consumer, "_committed_offset", {})
    # A revoked partition's lag is another worker's now: drop its series, or alerts see stale lag.
    # Faust table changelogs (the notifier's notify_seen) are in the assignment only so Faust can
    # restore (actives) or mirror (standbys) the tables: the group never commits offsets on them and
    # Faust pauses an active changelog once restored, so aiokafka's highwater for it stays frozen at
    # the last fetch of the recovery. The difference is neither lag nor progress (it was a constant 1
    # on every partition of the SLA timers' changelog while that was a Faust table); it would hold
    # mcu_consumer_lag above zero for ever. The SLA table is restored outside any group
    # (kafkaio/changelog_table.py), so its changelog never shows up here.
    changelogs = app.tables.changelog_topics
    # (topic, partition) -> records not yet committed. Several groups may read one topic (the SLA
    # stage and the cases sink both read `cases`): the series shows the one furthest behind, so the
    # lag alert sees the slowest stage, not whichever group was looked at last.
    lags: dict[tuple[str, str], int] = {}

    def note(topic: str, partition: int, high: int | None, next_offset: int | None) -> None:
        if high is not None:
            key = (topic, str(partition))
            lags[key] = max(lags.get(key, 0), high - (next_offset or 0), 0)

    for tp in assignment:
        if tp.topic not in changelogs:
            try:
                high = consumer.highwater(tp)
            except Exception:
                continue
            done = committed.get(tp)  # Faust keeps the last offset read; None before its first commit
            note(tp.topic, tp.partition, high, None if done is None else done + 1)
    batch_assigned = 0
    for bc in BATCH_CONSUMERS:  # they commit the next offset to read, as Kafka does
        for btp in bc.assignment():
            batch_assigned += 1
            note(btp.topic, btp.partition, bc.highwater(btp), bc.committed.get(btp))
    WORKER_ASSIGNED.set(len(assignment) + batch_assigned)
    for topic, partition in _lag_series - set(lags):
        CONSUMER_LAG.remove(topic, partition)
        _lag_series.discard((topic, partition))
    for (topic, partition), lag in lags.items():
        _lag_series.add((topic, partition))
        CONSUMER_LAG.labels(topic=topic, partition=partition).set(lag)

"""Push endpoints of the channels (thin: the protocol logic is in ingest/connectors).

- POST /connectors/vk/callback: VK Callback API (confirmation handshake, secret).
- POST /connectors/telegram/webhook: Telegram Bot API webhook (X-Telegram-Bot-Api-Secret-Token).
- POST /connectors/incident/push: АС «Инцидент-менеджмент» records (one JSON object or an array).
- /open311/v2/...: Open311 GeoReport v2 in XML and JSON: services, services/{code}, requests,
  requests/{id}, tokens/{token}; POST only with MCU_OPEN311_API_KEY set (403 otherwise).

Imported by the worker next to mcu.web. A record is answered 2xx only after the broker has it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from faust.web import Request, Response
from pydantic import ValidationError

from classify.pii import mask_pii
from common.morph import Lemmatizer
from ingest.connectors.base import RawItem
from ingest.connectors.incident_push import TooManyRecords, incident_records
from ingest.connectors.open311 import (
    DEFAULT_TAXONOMY,
    Open311Error,
    accept_request,
    check_jurisdiction,
    load_catalogue,
    service_definition,
)
from ingest.connectors.open311_format import render
from ingest.connectors.open311_read import requests_query, service_requests, token_answer, token_query
from ingest.connectors.telegram import check_webhook, webhook_item
from ingest.connectors.vk import handle_callback
from ingest.edge import EdgeRefusal, header_text
from ingest.normalize import Rejected, normalize_record
from kafkaio.wire import derive_source_id, raw_record
from mcu.app import app, bytes_topic, case_events_topic, settings
from mcu.edge_web import (
    EdgeView,
    authenticate,
    check_key,
    failed_authentication,
    header,
    limit,
    read_body,
    refuse_if_locked_out,
    retry_headers,
    store_read,
)
from mcu.metrics import CHANNEL_LAST_SEEN
from mcu.store import store
from schemas import CaseEvent, Channel
from schemas.topics import raw_topic
from sla.calendar import WorkingCalendar
from sla.policies import PolicySet, TermName, load_policies
from sla.wiring import make_calendar

log = logging.getLogger(__name__)
_raw = {c: bytes_topic(raw_topic(c)) for c in (Channel.VK, Channel.TELEGRAM, Channel.INCIDENT, Channel.OPEN311)}
_catalogue = load_catalogue(
    settings.connectors.open311_services_file or DEFAULT_TAXONOMY, service_type=settings.connectors.open311_service_type
)
_author_key = settings.intake.author_hmac_key.get_secret_value().encode()
_group_ids = {int(x) for x in settings.connectors.vk_callback_group_ids.split(",") if x.strip()}


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


async def _publish(channel: Channel, items: list[RawItem], events: list[CaseEvent]) -> None:
    now = datetime.now(UTC)
    futures = []
    # Built (and size-checked: RecordTooLarge is a ValueError) before anything is sent.
    records = [
        raw_record(
            channel,
            item.body,
            max_record_bytes=settings.kafka.max_record_bytes,
            source_id=item.source_id,
            received_at=item.received_at,
            fetched_at=now,
        )
        for item in items
    ]
    for rec in records:
        futures.append(await _raw[channel].send(key=rec.key, value=rec.value, headers=rec.headers))
    for event in events:
        futures.append(
            await case_events_topic.send(key=event.message_id.encode(), value=event.model_dump_json().encode())
        )
    for fut in futures:
        await fut
    if items or events:
        CHANNEL_LAST_SEEN.labels(channel=channel.value).set(time.time())


def _protocol_failure(what: str, body: bytes, exc: Exception) -> RawItem:
    # The protocol code tripped over a shape it does not expect: keep the body whole for the dead
    # letters (with a reason there) instead of answering 500, which makes the sender retry forever.
    log.warning("%s: unexpected payload shape (%r); passed on whole for the dead letters", what, exc)
    return RawItem(derive_source_id(body), body)


_SHAPE_ERRORS = (KeyError, TypeError, ValueError, OverflowError, OSError, UnicodeError, AttributeError)


@app.page("/connectors/vk/callback")
class VkCallback(EdgeView):
    async def post(self, request: Request) -> Response:
        # VK reads only the text of the answer; the depth check runs before the secret, since the
        # secret is inside the JSON the check protects.
        try:
            refuse_if_locked_out(request)
            body = await read_body(request)
        except EdgeRefusal as ref:
            return self.text(f"{ref.reason}: {ref.detail}", status=ref.status)
        try:
            result = handle_callback(
                body,
                secret=_secret(settings.connectors.vk_callback_secret),
                confirmation=settings.connectors.vk_callback_confirmation,
                group_ids=_group_ids or None,
                own_posts=settings.connectors.vk_own_posts,
            )
        except _SHAPE_ERRORS as exc:
            if _secret(settings.connectors.vk_callback_secret) is None:
                return self.text("callback events are disabled: set MCU_VK_CALLBACK_SECRET", status=503)
            return self.text(f"bad request: {type(exc).__name__}", status=400)
        if result.status == 403:  # a wrong secret or group counts as a failed authentication
            ref = failed_authentication(request, 403, "forbidden", result.text)
            return self.text(result.text if ref.status == 403 else f"{ref.reason}: {ref.detail}", status=ref.status)
        if result.items or result.events:
            await _publish(Channel.VK, result.items, result.events)
        return self.text(result.text, status=result.status)


@app.page("/connectors/telegram/webhook")
class TelegramWebhook(EdgeView):
    async def post(self, request: Request) -> Response:
        secret = _secret(settings.connectors.telegram_webhook_secret)
        if secret is None:
            return self.json({"error": "the webhook is off: set MCU_TELEGRAM_WEBHOOK_SECRET", "reason": "disabled"},
                             status=401)  # fmt: skip
        refuse_if_locked_out(request)
        given = header(request, "X-Telegram-Bot-Api-Secret-Token", 256)
        if not check_webhook({"X-Telegram-Bot-Api-Secret-Token": given or ""}, secret):
            raise failed_authentication(request, 401, "unauthorized", "missing or wrong secret token")
        body = await read_body(request)
        try:
            item = webhook_item(body)
        except _SHAPE_ERRORS as exc:
            item = _protocol_failure("telegram webhook", body, exc)
        await _publish(Channel.TELEGRAM, [item], [])
        return self.json({"ok": True})


@app.page("/connectors/incident/push")
class IncidentPush(EdgeView):
    """One incident (JSON object) or a list of them; statuses in them become CaseEvents."""

    async def post(self, request: Request) -> Response:
        authenticate(request, _secret(settings.connectors.incident_push_token), "push", "MCU_INCIDENT_PUSH_TOKEN")
        limit(request, "incident-push", settings.web.events_rate_limit)
        body = await read_body(request)
        try:
            items, events = incident_records(body)
        except TooManyRecords as exc:
            return self.json({"error": str(exc), "reason": "too_large"}, status=413)
        except _SHAPE_ERRORS as exc:
            items, events = [_protocol_failure("incident push", body, exc)], []
        await _publish(Channel.INCIDENT, items, events)
        return self.json({"accepted": [i.source_id for i in items]}, status=202)


# ---- Open311 GeoReport v2 ------------------------------------------------------------------------

_FMT = "{fmt:json|xml}"
_mask_lock = threading.Lock()
_lemmatizer: list[Lemmatizer] = []


def _mask(text: str) -> str:
    if not _lemmatizer:
        _lemmatizer.append(Lemmatizer())  # the morphology dictionary loads once, on the first read
    return mask_pii(text, _lemmatizer[0])


_sla: list[tuple[PolicySet, WorkingCalendar]] = []


def _resolution_deadline(row: dict[str, Any]) -> datetime | None:
    """The resolution term the SLA stage gives a new case (sla/timers.py, apply_case)."""
    if not _sla:
        _sla.append((load_policies(settings.sla.policies_file), make_calendar(settings.sla)))
    policies, calendar = _sla[0]
    policy = policies.lookup(Channel.OPEN311.value, str(row.get("kind") or ""), bool(row.get("urgent")))
    term = policy.terms.get(TermName.RESOLUTION)
    created = row.get("created_at")
    if term is None or not isinstance(created, datetime):
        return None
    return calendar.deadline(created if created.tzinfo else created.replace(tzinfo=UTC), term.term)


def _masked(rows: list[tuple[Any, ...]], status: str = "") -> list[dict[str, Any]]:
    with _mask_lock:  # one masking pass at a time: the lemmatizer's caches are plain dicts
        return service_requests(rows, status, _mask, _resolution_deadline)


class Open311View(EdgeView):
    """Answers in the format of the path's extension; every refusal in the spec's error shape."""

    refusals = (EdgeRefusal, Open311Error)

    def refuse(self, request: Any, exc: Exception) -> Response:
        fmt = request.match_info.get("fmt", "json")
        if isinstance(exc, Open311Error):
            return self.document(fmt, "errors", exc.body(), status=exc.code)
        assert isinstance(exc, EdgeRefusal)
        errors = [{"code": exc.status, "description": exc.detail}]
        return self.document(fmt, "errors", errors, status=exc.status, headers=retry_headers(exc.status))

    def document(
        self, fmt: str, root: str, value: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        body, content_type = render("xml" if fmt == "xml" else "json", root, value)
        response = self.bytes(body, status=status, headers=headers)
        response.headers["Content-Type"] = content_type
        return response

    async def rows(self, request: Request, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        limit(request, "open311-read", settings.web.open311_read_rate_limit)
        async with store_read():
            return await store.query(sql, params)


def _args(request: Request) -> dict[str, str]:
    args = {}
    for k, v in request.query.items():
        header_text(v, k, 4096)  # query values must be text we can pass on
        args.setdefault(k, v)
    return args


@app.page(f"/open311/v2/services.{_FMT}")
class Open311Services(Open311View):
    async def get(self, request: Request, fmt: str) -> Response:
        check_jurisdiction(_args(request).get("jurisdiction_id"), settings.connectors.open311_jurisdiction_id)
        return self.document(fmt, "services", _catalogue.services)


@app.page(f"/open311/v2/services/{{service_code}}.{_FMT}")
class Open311ServiceDefinition(Open311View):
    async def get(self, request: Request, service_code: str, fmt: str) -> Response:
        check_jurisdiction(_args(request).get("jurisdiction_id"), settings.connectors.open311_jurisdiction_id)
        return self.document(fmt, "service_definition", service_definition(_catalogue, service_code))


@app.page(f"/open311/v2/requests.{_FMT}")
class Open311Requests(Open311View):
    async def post(self, request: Request, fmt: str) -> Response:
        key = settings.connectors.open311_api_key
        if key is None:
            raise Open311Error(403, "Open311 POST is off here: no api_key is issued (MCU_OPEN311_API_KEY is unset)")
        limit(request, "open311-post", settings.web.open311_post_rate_limit)
        length = request.content_length
        if length is not None and length > settings.intake.max_payload_bytes:
            raise Open311Error(413, f"body of {length} bytes, limit {settings.intake.max_payload_bytes}")
        try:
            form = await request.post()
        except (ValueError, UnicodeError) as exc:
            raise Open311Error(400, f"the body is not an application/x-www-form-urlencoded form: {exc}") from None
        pairs: list[tuple[str, str]] = []
        for k, v in form.items():
            if not isinstance(v, str):
                raise Open311Error(400, f"{k}: files are not taken; give a media_url")
            header_text(v, k, 64 * 1024)
            pairs.append((k, v))
        api_key = next((v for k, v in pairs if k == "api_key"), None)
        check_key(request, api_key, key, "api_key")
        accepted = accept_request(
            pairs,
            _catalogue,
            service_type=settings.connectors.open311_service_type,
            jurisdiction=settings.connectors.open311_jurisdiction_id,
        )
        try:  # what the normaliser would dead-letter is refused now, not after an id is handed out
            normalize_record(
                accepted.item.body,
                {},
                raw_topic(Channel.OPEN311.value),
                max_bytes=settings.intake.max_payload_bytes,
                author_key=_author_key,
                max_text_chars=settings.intake.max_text_chars,
            )
        except Rejected as rej:
            raise Open311Error(400, f"{rej.reason}: {rej.detail}") from None
        except ValidationError as exc:
            raise Open311Error(400, f"validation: {exc.errors()[0]['msg'] if exc.errors() else exc}") from None
        await _publish(Channel.OPEN311, [accepted.item], [])
        return self.document(fmt, "service_requests", accepted.response, status=201)

    async def get(self, request: Request, fmt: str) -> Response:
        args = _args(request)
        sql, params = requests_query(args, jurisdiction=settings.connectors.open311_jurisdiction_id)
        rows = await self.rows(request, sql, params)
        found = await asyncio.to_thread(_masked, rows, args.get("status", ""))
        return self.document(fmt, "service_requests", found)


@app.page(f"/open311/v2/requests/{{request_id}}.{_FMT}")
class Open311Request(Open311View):
    async def get(self, request: Request, request_id: str, fmt: str) -> Response:
        args = _args(request)
        only = {"service_request_id": request_id, "jurisdiction_id": args.get("jurisdiction_id", "")}
        sql, params = requests_query(only, jurisdiction=settings.connectors.open311_jurisdiction_id)
        rows = await self.rows(request, sql, params)
        found = await asyncio.to_thread(_masked, rows)
        if not found:
            raise Open311Error(404, f"service_request_id {request_id} not found (yet: intake takes seconds)")
        return self.document(fmt, "service_requests", found)


@app.page(f"/open311/v2/tokens/{{token}}.{_FMT}")
class Open311Token(Open311View):
    async def get(self, request: Request, token: str, fmt: str) -> Response:
        check_jurisdiction(_args(request).get("jurisdiction_id"), settings.connectors.open311_jurisdiction_id)
        sql, params = token_query(token)
        return self.document(fmt, "service_requests", token_answer(await self.rows(request, sql, params), token))


@app.page("/open311/v2/{path:.*}")
class Open311Unknown(Open311View):
    """Anything else under the endpoint: the spec's 404, not the web server's plain text."""

    async def get(self, request: Request, path: str) -> Response:
        fmt = "xml" if path.endswith(".xml") else "json"
        return self.document(fmt, "errors", [{"code": 404, "description": f"no such resource: {path!r}; "
                                              "formats are .json and .xml"}], status=404)  # fmt: skip

    post = get

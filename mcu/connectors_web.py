"""Push endpoints of the channels (thin: the protocol logic is in ingest/connectors).

- POST /connectors/vk/callback: VK Callback API (confirmation handshake, secret).
- POST /connectors/telegram/webhook: Telegram Bot API webhook (X-Telegram-Bot-Api-Secret-Token).
- POST /connectors/incident/push: АС «Инцидент-менеджмент» records (one JSON object or an array).
- /open311/v2/...: Open311 GeoReport v2 (JSON): services, requests, requests/{id}.

Imported by the worker next to mcu.web. A record is answered 2xx only after the broker has it.
"""

from __future__ import annotations

import hmac
import logging
import time
from datetime import UTC, datetime
from typing import Any

from faust.web import Request, Response, View

from ingest.connectors.base import RawItem
from ingest.connectors.incident_push import incident_records
from ingest.connectors.open311 import (
    Open311Error,
    accept_request,
    load_services,
    requests_query,
    service_requests,
)
from ingest.connectors.telegram import check_webhook, webhook_item
from ingest.connectors.vk import handle_callback
from ingest.wire import encode_headers
from mcu.app import app, bytes_topic, case_events_topic, settings
from mcu.metrics import CHANNEL_LAST_SEEN
from mcu.store import store
from schemas import CaseEvent, Channel, message_id_for
from schemas.topics import raw_topic

log = logging.getLogger(__name__)
_raw = {c: bytes_topic(raw_topic(c)) for c in (Channel.VK, Channel.TELEGRAM, Channel.INCIDENT, Channel.OPEN311)}
_services = load_services(settings.open311_services_file) if settings.open311_services_file else load_services()
_service_codes = {s["service_code"] for s in _services}
_group_ids = {int(x) for x in settings.vk_callback_group_ids.split(",") if x.strip()}


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


async def _publish(channel: Channel, items: list[RawItem], events: list[CaseEvent]) -> None:
    now = datetime.now(UTC)
    futures = []
    for item in items:
        if len(item.body) > settings.max_record_bytes:
            raise ValueError(f"record of {len(item.body)} bytes, limit {settings.max_record_bytes}")
        futures.append(
            await _raw[channel].send(
                key=message_id_for(channel.value, item.source_id).encode(),
                value=item.body,
                headers=encode_headers(channel.value, item.source_id, item.received_at, now),
            )
        )
    for event in events:
        futures.append(
            await case_events_topic.send(key=event.message_id.encode(), value=event.model_dump_json().encode())
        )
    for fut in futures:
        await fut
    if items or events:
        CHANNEL_LAST_SEEN.labels(channel=channel.value).set(time.time())


async def _body(request: Request) -> bytes | None:
    length = request.content_length
    if length is not None and length > settings.max_payload_bytes:
        return None
    body = await request.read()
    return body if len(body) <= settings.max_payload_bytes else None


@app.page("/connectors/vk/callback")
class VkCallback(View):
    async def post(self, request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return self.text("payload too large", status=413)
        result = handle_callback(
            body,
            secret=_secret(settings.vk_callback_secret),
            confirmation=settings.vk_callback_confirmation,
            group_ids=_group_ids or None,
            own_posts=settings.vk_own_posts,
        )
        if result.items or result.events:
            await _publish(Channel.VK, result.items, result.events)
        return self.text(result.text, status=result.status)


@app.page("/connectors/telegram/webhook")
class TelegramWebhook(View):
    async def post(self, request: Request) -> Response:
        if not check_webhook(dict(request.headers), _secret(settings.telegram_webhook_secret)):
            return self.json({"error": "missing or wrong secret token"}, status=401)
        body = await _body(request)
        if body is None:
            return self.json({"error": "payload too large"}, status=413)
        await _publish(Channel.TELEGRAM, [webhook_item(body)], [])
        return self.json({"ok": True})


@app.page("/connectors/incident/push")
class IncidentPush(View):
    """One incident (JSON object) or a list of them; statuses in them become CaseEvents."""

    async def post(self, request: Request) -> Response:
        token = _secret(settings.incident_push_token)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if token is None:
            return self.json({"error": "push is disabled: set MCU_INCIDENT_PUSH_TOKEN"}, status=503)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return self.json({"error": "missing or wrong bearer token"}, status=401)
        body = await _body(request)
        if body is None:
            return self.json({"error": "payload too large"}, status=413)
        try:
            items, events = incident_records(body)
        except ValueError as exc:
            return self.json({"error": str(exc)}, status=413)
        await _publish(Channel.INCIDENT, items, events)
        return self.json({"accepted": [i.source_id for i in items]}, status=202)


# ---- Open311 GeoReport v2 ------------------------------------------------------------------------


def _o311_error(view: View, err: Open311Error) -> Response:
    return view.json(err.body(), status=err.code)


@app.page("/open311/v2/services.json")
class Open311Services(View):
    async def get(self, request: Request) -> Response:
        return self.json(_services)


@app.page("/open311/v2/requests.json")
class Open311Requests(View):
    async def post(self, request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        key = _secret(settings.open311_api_key)
        if key is not None and not hmac.compare_digest(form.get("api_key", "").encode(), key.encode()):
            return _o311_error(self, Open311Error(403, "api_key missing or wrong"))
        try:
            accepted = accept_request(form, _service_codes)
        except Open311Error as err:
            return _o311_error(self, err)
        await _publish(Channel.OPEN311, [accepted.item], [])
        return self.json(accepted.response, status=201)

    async def get(self, request: Request) -> Response:
        args = {k: str(v) for k, v in request.query.items()}
        try:
            sql, params = requests_query(args)
        except Open311Error as err:
            return _o311_error(self, err)
        rows = await store.query(sql, params)
        return self.json(service_requests(rows, args.get("status", "")))


@app.page("/open311/v2/requests/{request_id}")
class Open311Request(View):
    async def get(self, request: Request, request_id: str) -> Response:
        rid = request_id.removesuffix(".json")
        sql, params = requests_query({"service_request_id": rid})
        rows = await store.query(sql, params)
        found = service_requests(rows)
        if not found:
            return _o311_error(self, Open311Error(404, f"no service request {rid} (yet: intake takes seconds)"))
        return self.json(found)

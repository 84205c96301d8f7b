"""What every view of the worker does before its own work: authenticate, limit, read bodies safely.

A refusal is an ``EdgeRefusal`` (ingest/edge.py) raised anywhere in a view; ``EdgeView`` answers
it with its status and reason, so no check needs its own response plumbing. Limits are per client
address (the socket's peer; behind a proxy that is the proxy, so set them for its total).
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from faust.web import Request, Response, View
from faust.web.exceptions import WebError
from limits import RateLimitItem
from limits import parse as parse_limit
from limits import storage as limit_storage
from limits import strategies as limit_strategies
from pydantic import SecretStr

from ingest.edge import EdgeRefusal, bearer_token, check_json_depth, header_text
from mcu.app import settings

# Bodies larger than this are scanned for depth in a thread, so the event loop keeps serving.
_SCAN_INLINE_BYTES = 64 * 1024
_limiter = limit_strategies.MovingWindowRateLimiter(limit_storage.MemoryStorage())
_rates: dict[str, RateLimitItem] = {}
_read_gate: asyncio.Semaphore | None = None


def client_of(request: Request) -> str:
    return request.remote or "?"


def _rate(text: str) -> RateLimitItem:
    if text not in _rates:
        _rates[text] = parse_limit(text)
    return _rates[text]


def limit(request: Request, scope: str, rate: str) -> None:
    """Count one request of ``scope`` for the client; 429 once over ``rate``."""
    if not _limiter.hit(_rate(rate), scope, client_of(request)):
        raise EdgeRefusal(429, "rate_limited", f"rate limit {rate} per client exceeded")


def refuse_if_locked_out(request: Request) -> None:
    if not _limiter.test(_rate(settings.web.auth_failure_rate_limit), "auth-failure", client_of(request)):
        raise EdgeRefusal(
            429, "rate_limited", f"too many failed authentications (limit {settings.web.auth_failure_rate_limit})"
        )


def failed_authentication(request: Request, status: int, reason: str, detail: str) -> EdgeRefusal:
    """Count a failed authentication of the client; the refusal to raise (429 once over the limit)."""
    if not _limiter.hit(_rate(settings.web.auth_failure_rate_limit), "auth-failure", client_of(request)):
        return EdgeRefusal(
            429, "rate_limited", f"too many failed authentications (limit {settings.web.auth_failure_rate_limit})"
        )
    return EdgeRefusal(status, reason, detail)


def same_secret(given: str, secret: SecretStr | str) -> bool:
    """Constant-time comparison of UTF-8 bytes (both sides already known to be encodable)."""
    expected = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.compare_digest(given.encode(), expected.encode())


def authenticate(request: Request, secret: SecretStr | str | None, what: str, setting: str) -> None:
    """A bearer token equal to ``secret``; 503 when the route is off, 401 wrong, 429 after a flood."""
    if secret is None:
        raise EdgeRefusal(503, "disabled", f"{what} is disabled: set {setting}")
    refuse_if_locked_out(request)
    try:
        token = bearer_token(request.headers.get("Authorization"))
    except EdgeRefusal as ref:
        raise failed_authentication(request, ref.status, ref.reason, ref.detail) from None
    if token is None:
        detail = "missing bearer token (Authorization: Bearer <token>)"
        raise failed_authentication(request, 401, "unauthorized", detail)
    if not same_secret(token, secret):
        raise failed_authentication(request, 401, "unauthorized", "wrong bearer token")


def check_key(request: Request, given: str | None, secret: SecretStr | str, name: str) -> None:
    """A key sent as a parameter (Open311's api_key): 403 wrong or missing, 429 after a flood."""
    refuse_if_locked_out(request)
    if given is None or not given:
        raise failed_authentication(request, 403, "forbidden", f"{name} is missing")
    try:
        header_text(given, name, 4096)
    except EdgeRefusal as ref:
        raise failed_authentication(request, 403, "forbidden", ref.detail) from None
    if not same_secret(given, secret):
        raise failed_authentication(request, 403, "forbidden", f"invalid {name}")


def header(request: Request, name: str, max_chars: int) -> str | None:
    return header_text(request.headers.get(name), name, max_chars)


async def read_body(request: Request, *, json_body: bool = True) -> bytes:
    """The body within the byte limit and, for JSON, the depth limit; 413/400 otherwise."""
    limit_bytes = settings.intake.max_payload_bytes
    length = request.content_length
    if length is not None and length > limit_bytes:
        raise EdgeRefusal(413, "too_large", f"body of {length} bytes, limit {limit_bytes}")
    body = await request.read()
    if len(body) > limit_bytes:
        raise EdgeRefusal(413, "too_large", f"body of {len(body)} bytes, limit {limit_bytes}")
    if json_body:
        if len(body) > _SCAN_INLINE_BYTES:
            await asyncio.to_thread(check_json_depth, body, settings.intake.max_json_depth)
        else:
            check_json_depth(body, settings.intake.max_json_depth)
    return body


@asynccontextmanager
async def store_read() -> AsyncIterator[None]:
    """A turn at the store for a read; 503 when others hold it longer than the wait allows.

    The store has one thread shared with the sinks: unbounded report queries queue ahead of the
    sinks' inserts and delay everything the pipeline writes.
    """
    global _read_gate
    if _read_gate is None:
        _read_gate = asyncio.Semaphore(settings.web.store_read_concurrency)
    try:
        await asyncio.wait_for(_read_gate.acquire(), timeout=settings.web.store_read_wait_seconds)
    except TimeoutError:
        raise EdgeRefusal(503, "busy", "the store is busy with other queries; try again shortly") from None
    try:
        yield
    finally:
        _read_gate.release()


def retry_headers(status: int) -> dict[str, str] | None:
    return {"Retry-After": "1" if status == 503 else "60"} if status in (429, 503) else None


class EdgeView(View):
    """A view whose refusals (``EdgeRefusal``, or what ``refusals`` lists) become answers via
    ``refuse``; Faust's request sensors see the answer given, not a 500."""

    refusals: tuple[type[Exception], ...] = (EdgeRefusal,)

    async def dispatch(self, request: Any) -> Any:
        # Faust's View.dispatch, with the refusals answered inside the sensors' bracket.
        sensors = self.app.sensors
        method = self.methods[request.method.lower()]
        state = sensors.on_web_request_start(self.app, request, view=self)
        response: Response | None = None
        try:
            try:
                response = await method(request, **(request.match_info or {}))
            except self.refusals as exc:
                response = self.refuse(request, exc)
            except WebError as exc:
                response = await self.on_request_error(request, exc)
        finally:
            sensors.on_web_request_end(self.app, request, response, state, view=self)
        return response

    def refuse(self, request: Any, exc: Exception) -> Response:
        assert isinstance(exc, EdgeRefusal)
        return self.json(exc.body(), status=exc.status, headers=retry_headers(exc.status))

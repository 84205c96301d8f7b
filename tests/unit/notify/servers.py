"""Real servers on loopback for the notification tests: SMTP (aiosmtpd) and an HTTP server that
speaks the Telegram Bot API's ``sendMessage`` format and takes webhooks."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpSink:
    """Keeps every accepted message; refuses recipients whose address starts with ``refuse``."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
        if address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]


@dataclass
class BotApiState:
    token: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    hooks: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    attempts: int = 0
    fail_next: int = 0  # answer this many requests with 502 first
    always_fail: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: BotApiState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a: Any) -> None:  # keep pytest output clean
            pass

        def _reply(self, code: int, doc: dict[str, Any]) -> None:
            body = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                state.attempts += 1
                if state.always_fail or state.fail_next > 0:
                    state.fail_next = max(0, state.fail_next - 1)
                    self._reply(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})
                    return
            if self.path == "/hook":
                with state.lock:
                    state.hooks.append(({k: v for k, v in self.headers.items()}, raw))
                self._reply(200, {"accepted": True})
                return
            if self.path != f"/bot{state.token}/sendMessage":
                self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                return
            body = json.loads(raw)
            if str(body.get("chat_id", "")).startswith("-404"):
                self._reply(400, {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})
                return
            with state.lock:
                state.sent.append(body)
                n = len(state.sent)
            self._reply(
                200,
                {"ok": True, "result": {"message_id": n, "chat": {"id": body["chat_id"]}, "text": body["text"]}},
            )

    return Handler


class BotApiServer:
    def __init__(self, token: str = "123456:TEST") -> None:
        self.state = BotApiState(token)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> BotApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SmtpServer:
    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

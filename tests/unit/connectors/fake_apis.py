"""Local peers speaking the VK API and the Telegram Bot API over real HTTP on 127.0.0.1.

They answer with the APIs' JSON shapes (``{"response": ...}`` / ``{"error": {"error_code", ...}}``
for VK, ``{"ok": true, "result": ...}`` / ``{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}`` for Telegram), paginate like them, and fail on cue.
All content is synthetic.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


class FakeVk:
    def __init__(self, token: str = "vk-test-token") -> None:
        self.token = token
        self.walls: dict[int, list[dict[str, Any]]] = {}  # owner → posts, newest first
        self.comments: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.faults: list[tuple[str, Any]] = []  # queued (method, error code or HTTP status)
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()

    def add_post(self, owner: int, post_id: int, text: str, from_id: int = 1001, date: int = 1_790_000_000) -> None:
        post = {"id": post_id, "owner_id": owner, "from_id": from_id, "date": date + post_id, "text": text,
                "post_type": "post", "comments": {"count": 0}}  # fmt: skip
        self.walls.setdefault(owner, []).insert(0, post)
        self.walls[owner].sort(key=lambda p: -p["id"])

    def add_comment(self, owner: int, post_id: int, cid: int, text: str, from_id: int = 2002, **extra: Any) -> None:
        c = {"id": cid, "from_id": from_id, "post_id": post_id, "owner_id": owner, "date": 1_790_100_000 + cid,
             "text": text, "parents_stack": [], **extra}  # fmt: skip
        self.comments.setdefault((owner, post_id), []).append(c)
        for post in self.walls.get(owner, []):
            if post["id"] == post_id:
                post["comments"]["count"] = len(self.comments[(owner, post_id)])

    def answer(self, method: str, q: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            self.calls.append((method, q))
            for i, (m, fault) in enumerate(self.faults):
                if m == method:
                    del self.faults[i]
                    if fault >= 100 and fault != 113:  # an HTTP status
                        return fault, {"error": "upstream"}
                    msg = {6: "Too many requests per second", 29: "Rate limit reached", 15: "Access denied",
                           5: "User authorization failed"}.get(fault, "error")  # fmt: skip
                    return 200, {"error": {"error_code": fault, "error_msg": msg, "request_params": []}}
        if q.get("access_token") != self.token:
            return 200, {"error": {"error_code": 5, "error_msg": "User authorization failed: invalid access_token"}}
        if "v" not in q:
            return 200, {"error": {"error_code": 8, "error_msg": "Invalid request: v is required"}}
        owner, offset, count = int(q["owner_id"]), int(q.get("offset", 0)), min(int(q.get("count", 20)), 100)
        if method == "wall.get":
            posts = self.walls.get(owner, [])
            return 200, {"response": {"count": len(posts), "items": posts[offset : offset + count]}}
        if method == "wall.getComments":
            items = sorted(self.comments.get((owner, int(q["post_id"])), []), key=lambda c: c["id"])
            if q.get("sort") == "desc":
                items.reverse()
            return 200, {"response": {"count": len(items), "items": items[offset : offset + count],
                                      "current_level_count": len(items), "can_post": True}}  # fmt: skip
        return 200, {"error": {"error_code": 3, "error_msg": "Unknown method passed"}}


class FakeTelegram:
    def __init__(self, token: str = "123:tg-test") -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.confirmed = 0  # updates below this id are forgotten, as Telegram does
        self.faults: list[int] = []
        self.calls: list[dict[str, str]] = []

    def add_message(self, update_id: int, chat_id: int, message_id: int, text: str, edited: bool = False) -> None:
        msg = {"message_id": message_id, "date": 1_790_000_000 + update_id, "text": text,
               "chat": {"id": chat_id, "type": "supergroup", "title": "Синтетический чат",
                        "username": "synthetic_chat"},
               "from": {"id": 5000 + message_id, "is_bot": False, "first_name": "Тест"}}  # fmt: skip
        if edited:
            msg["edit_date"] = msg["date"] + 60
        self.updates.append({"update_id": update_id, "edited_message" if edited else "message": msg})

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        self.calls.append(q)
        if not path.startswith(f"/bot{self.token}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        if self.faults:
            code = self.faults.pop(0)
            if code == 429:
                return 429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 0",
                             "parameters": {"retry_after": 0}}  # fmt: skip
            return code, {"ok": False, "error_code": code, "description": "Conflict" if code == 409 else "Error"}
        if path.endswith("/getUpdates"):
            offset = int(q.get("offset", 0))
            if offset:
                self.confirmed = max(self.confirmed, offset)
            limit = int(q.get("limit", 100))
            pending = [u for u in self.updates if u["update_id"] >= self.confirmed]
            return 200, {"ok": True, "result": pending[:limit]}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}


@contextmanager
def serve(peer: FakeVk | FakeTelegram) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            q = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if isinstance(peer, FakeVk):
                status, body = peer.answer(url.path.rsplit("/", 1)[-1], q)
            else:
                status, body = peer.answer(url.path, q)
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

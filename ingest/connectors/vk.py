"""VK: residents' posts and comments in the administration's and settlements' communities.

Polling uses the API methods ``wall.get`` and ``wall.getComments`` (JSON over HTTPS, ``v`` and
``access_token`` as parameters); the push side is the Callback API (``handle_callback``), whose
first request is a ``confirmation`` the server answers with the community's confirmation string,
and every later one carries the configured ``secret``.

What is a resident's message: a post on the wall by someone other than the community and every
comment by someone other than the community. The community's own posts are its announcements
(skipped unless ``own_posts``); its replies to a comment are the answer to that comment and become
a CaseEvent ``answered`` for it (status back-flow).
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from ingest.connectors.base import (
    Batch,
    Cursor,
    PermanentError,
    RateLimiter,
    RawItem,
    Throttled,
    TransientError,
    json_bytes,
)
from ingest.connectors.events import make_event
from kafkaio.wire import derive_source_id
from schemas import CaseEvent, CaseEventType, Channel

log = logging.getLogger(__name__)

API_VERSION = "5.199"
PAGE = 100  # the most wall.get / wall.getComments return per call
# https://dev.vk.com/reference/errors
TRANSIENT_CODES = {1: "unknown error", 6: "too many requests per second", 9: "flood control", 10: "internal error"}
QUOTA_CODES = {29: "rate limit reached"}  # the method's daily quota: retrying now is useless
OWNER_CODES = {15: "access denied", 18: "page deleted or blocked", 30: "profile is private", 203: "group access denied"}
# Every other code (5 authorization failed, 17 validation required, 100 invalid parameter, ...) is permanent.


class VkApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"VK error {code}: {message}")
        self.code = code


def post_source_id(owner_id: int, post_id: int) -> str:
    return f"{owner_id}_{post_id}"


def comment_source_id(owner_id: int, post_id: int, comment_id: int) -> str:
    return f"{owner_id}_{post_id}_{comment_id}"


class VkApi:
    """A thin client: one method call = one rate-limited GET; VK errors become typed exceptions."""

    def __init__(self, token: str, base_url: str, limiter: RateLimiter, client: httpx.Client | None = None) -> None:
        self.token = token
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.client = client or httpx.Client(timeout=httpx.Timeout(30.0))

    def call(self, method: str, **params: Any) -> Any:
        self.limiter.wait()
        query = {**params, "access_token": self.token, "v": API_VERSION}
        try:
            resp = self.client.get(f"{self.base_url}/{method}", params=query)
        except httpx.TransportError as exc:
            raise TransientError(f"{method}: {exc}") from exc
        if resp.status_code >= 500 or resp.status_code == 429:
            raise TransientError(f"{method}: HTTP {resp.status_code}")
        if resp.status_code != 200:
            raise PermanentError(f"{method}: HTTP {resp.status_code}")
        try:
            data = resp.json()
        except ValueError as exc:
            raise TransientError(f"{method}: answer is not JSON") from exc
        if "error" in data:
            err = data["error"] or {}
            code, msg = int(err.get("error_code", 0)), str(err.get("error_msg", ""))
            if code in TRANSIENT_CODES:
                raise TransientError(f"{method}: VK error {code} {msg}", retry_after=1.0 if code == 6 else None)
            if code in QUOTA_CODES:
                raise Throttled(f"{method}: VK error {code} {msg}", retry_after=3600.0)
            if code in OWNER_CODES:
                raise VkApiError(code, msg)
            raise PermanentError(f"{method}: VK error {code} {msg}")
        return data["response"]


@dataclass
class VkWall:
    """Polls the walls of ``owner_ids`` (communities are negative ids), one owner per fetch."""

    api: VkApi
    owner_ids: list[int]
    own_posts: bool = False
    backfill_pages: int = 1  # how far back the very first run reads
    max_pages: int = 10  # per round and owner; more new posts than this wait for the next round
    name: str = "vk"
    channel: Channel = Channel.VK
    skipped: dict[int, str] = field(default_factory=dict)

    def fetch(self, cursor: Cursor | None) -> Batch:
        cursor = json.loads(json.dumps(cursor or {}))  # a private copy to edit
        owners: dict[str, Any] = cursor.setdefault("owners", {})
        pos = int(cursor.get("pos", 0)) % max(len(self.owner_ids), 1)
        owner = self.owner_ids[pos]
        state = owners.setdefault(str(owner), {"last_post": None, "posts": {}})
        items: list[RawItem] = []
        events: list[CaseEvent] = []
        try:
            self._poll_owner(owner, state, items, events)
        except VkApiError as exc:
            # One community closed or deleted must not stop the others; it is retried next round.
            self.skipped[owner] = str(exc)
            log.warning("VK owner %s skipped: %s", owner, exc)
        nxt = pos + 1
        cursor["pos"] = nxt % len(self.owner_ids)
        return Batch(items=items, events=events, cursor=cursor, more=nxt < len(self.owner_ids))

    def _poll_owner(self, owner: int, state: dict[str, Any], items: list[RawItem], events: list[CaseEvent]) -> None:
        last_post: int | None = state.get("last_post")
        pages = self.backfill_pages if last_post is None else self.max_pages
        recent: dict[int, dict[str, Any]] = {}
        new_posts: list[dict[str, Any]] = []
        for page in range(pages):
            resp = self.api.call("wall.get", owner_id=owner, offset=page * PAGE, count=PAGE, filter="all")
            batch = resp.get("items", [])
            reached_known = False
            for post in batch:
                pid = int(post["id"])
                if page == 0:
                    recent[pid] = post
                if last_post is not None and pid <= last_post:
                    if not post.get("is_pinned"):  # a pinned old post sits on top of the wall
                        reached_known = True
                    continue
                new_posts.append(post)
            if reached_known or len(batch) < PAGE or (page + 1) * PAGE >= int(resp.get("count", 0)):
                break
        seen: set[int] = set()
        for post in sorted(new_posts, key=lambda p: int(p["id"])):
            pid = int(post["id"])
            if pid in seen:  # offsets shift when a post appears between two pages
                continue
            seen.add(pid)
            if self.own_posts or int(post.get("from_id", owner)) != owner:
                items.append(RawItem(post_source_id(owner, pid), json_bytes(post), _ts(post.get("date"))))
        newest = max([int(p["id"]) for p in new_posts] + ([last_post] if last_post is not None else []), default=None)
        state["last_post"] = newest
        posts_state: dict[str, Any] = state.setdefault("posts", {})
        for pid, post in sorted(recent.items()):
            count = int((post.get("comments") or {}).get("count", 0))
            st = posts_state.setdefault(str(pid), {"n": 0, "c": 0})
            if count > st["n"]:
                self._poll_comments(owner, pid, st, items, events)
            # Deleted comments lower the count; remembering it lets the next new comment show.
            st["n"] = count
        # Only the most recent posts are watched for comments; older ones drop out of the cursor.
        keep = {str(pid) for pid in sorted(recent)[-PAGE:]}
        for key in list(posts_state):
            if key not in keep:
                del posts_state[key]

    def _poll_comments(
        self, owner: int, post_id: int, st: dict[str, Any], items: list[RawItem], events: list[CaseEvent]
    ) -> None:
        last = int(st.get("c", 0))
        offset, newest = 0, last
        while True:
            resp = self.api.call(
                "wall.getComments", owner_id=owner, post_id=post_id, offset=offset, count=PAGE,
                sort="asc", thread_items_count=10,
            )  # fmt: skip
            batch = resp.get("items", [])
            for comment in _flatten(batch):
                cid = int(comment["id"])
                if cid <= last:
                    continue
                newest = max(newest, cid)
                comment.setdefault("owner_id", owner)
                comment.setdefault("post_id", post_id)
                item, event = comment_record(owner, post_id, comment)
                if item is not None:
                    items.append(item)
                if event is not None:
                    events.append(event)
            offset += len(batch)
            if len(batch) < PAGE or offset >= int(resp.get("count", 0)):
                break
        st["c"] = newest


def _flatten(comments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for c in comments:
        out.append(c)
        thread = c.get("thread") or {}
        out.extend(thread.get("items") or [])
    return out


def _ts(value: Any) -> datetime | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (ValueError, OverflowError, OSError):
        return None  # a date no clock can hold: the normaliser judges the record's own date


def comment_record(owner: int, post_id: int, comment: dict[str, Any]) -> tuple[RawItem | None, CaseEvent | None]:
    """A resident's comment → raw item; the community's reply to a comment → its `answered` event."""
    cid = int(comment["id"])
    from_id = int(comment.get("from_id", 0))
    if from_id == owner:
        target = comment.get("reply_to_comment")
        at = _ts(comment.get("date"))
        if target and at is not None:
            event = make_event(
                Channel.VK.value,
                comment_source_id(owner, post_id, int(target)),
                CaseEventType.ANSWERED,
                at,
                actor=f"vk:{owner}",
                comment=str(comment.get("text", ""))[:2000] or None,
            )
            return None, event
        return None, None
    return RawItem(comment_source_id(owner, post_id, cid), json_bytes(comment), _ts(comment.get("date"))), None


# ---- Callback API (push) -------------------------------------------------------------------------


@dataclass
class CallbackResult:
    status: int
    text: str
    items: list[RawItem] = field(default_factory=list)
    events: list[CaseEvent] = field(default_factory=list)


def handle_callback(
    body: bytes,
    *,
    secret: str | None,
    confirmation: str | None,
    group_ids: set[int] | None = None,
    own_posts: bool = False,
) -> CallbackResult:
    """One Callback API request → what to answer and what to publish. VK re-sends until it gets "ok"."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return CallbackResult(400, "bad request: not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return CallbackResult(400, "bad request: no event type")
    group_id = data.get("group_id")
    if group_ids and group_id not in group_ids:
        return CallbackResult(403, "unknown group")
    if data["type"] == "confirmation":
        if not confirmation:
            return CallbackResult(503, "confirmation string is not configured")
        return CallbackResult(200, confirmation)
    if secret is None:  # without a secret anyone could post "events" of our communities
        return CallbackResult(503, "callback events are disabled: set MCU_VK_CALLBACK_SECRET")
    if not hmac.compare_digest(str(data.get("secret", "")).encode(), secret.encode()):
        return CallbackResult(403, "wrong secret")
    obj = data.get("object")
    if not isinstance(obj, dict) or not isinstance(group_id, int):
        return CallbackResult(200, "ok")  # nothing we take; "ok" stops VK from re-sending it
    owner = -abs(group_id)
    result = CallbackResult(200, "ok")
    try:
        if data["type"] in ("wall_post_new", "wall_repost"):
            if own_posts or int(obj.get("from_id", owner)) != owner:
                pid = int(obj["id"])
                result.items.append(RawItem(post_source_id(owner, pid), json_bytes(obj), _ts(obj.get("date"))))
        elif data["type"] in ("wall_reply_new", "wall_reply_edit"):
            owner = int(obj.get("post_owner_id", owner))
            obj.setdefault("owner_id", owner)
            item, event = comment_record(owner, int(obj["post_id"]), obj)
            result.items.extend([item] if item else [])
            result.events.extend([event] if event else [])
    except (KeyError, TypeError, ValueError):
        # Ill-formed object: keep it whole for the dead letters instead of dropping it silently.
        event_id = data.get("event_id")
        result.items.append(RawItem(f"callback:{event_id}" if event_id else derive_source_id(body), body))
    return result

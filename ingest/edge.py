"""Checks of what strangers send to the HTTP edge, before anything parses it.

Pure functions, no web framework: the views in ``mcu`` turn an ``EdgeRefusal`` into a 4xx answer
with its reason code. Each check exists because the input once reached a parser or an encoder
that raised something other than a clean error (a 500) or was accepted and later dead-lettered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import accumulate

# A JSON string: quotes with anything but a bare quote or backslash inside, escapes as pairs.
# Possessive, and an unclosed string runs to the end: every match attempt consumes what it scans,
# so the scan stays linear even on hostile runs of quotes and backslashes.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.?)*+(?:"|\Z)', re.DOTALL)
_OPEN_CLOSE = bytes.maketrans(b"[{]}", b"\x01\x01\x02\x02")
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class EdgeRefusal(Exception):
    """Why the edge refuses a request: HTTP status, a stable reason code and words for people."""

    status: int
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}"

    def body(self) -> dict[str, str]:
        return {"error": self.detail, "reason": self.reason}


def _brackets(body: bytes) -> bytes:
    return _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKET).translate(_OPEN_CLOSE)


def json_depth(body: bytes) -> int:
    """How deep the brackets of ``body`` nest, strings skipped; linear, no recursion, no parse.

    Python's json module recurses once per level and fails with RecursionError (a 500) near 1,000
    levels, so this runs first. Malformed input gives some number; the parser then says what is wrong.
    """
    bare = _brackets(body)
    return max(accumulate(1 if b == 1 else -1 for b in bare), default=0)


def check_json_depth(body: bytes, max_depth: int) -> None:
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return  # too few openings to nest deeper, strings or not: the usual case, at memchr speed
    bare = _brackets(body)
    depth = max(accumulate(1 if b == 1 else -1 for b in bare), default=0)
    if depth > max_depth:
        raise EdgeRefusal(400, "too_deep", f"JSON nested {depth} levels deep, limit {max_depth}")


def header_text(value: str | None, name: str, max_chars: int) -> str | None:
    """A header as text we can store and pass on: UTF-8, no control characters, bounded length.

    aiohttp hands undecodable header bytes over as lone surrogates; encoding them later (for a
    Kafka header, a token comparison) raised UnicodeEncodeError, a 500.
    """
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EdgeRefusal(400, "bad_header", f"{name}: not UTF-8 text") from exc
    if len(value) > max_chars:
        raise EdgeRefusal(400, "bad_header", f"{name}: {len(value)} characters, limit {max_chars}")
    if _CONTROL.search(value):
        raise EdgeRefusal(400, "bad_header", f"{name}: control characters are not allowed")
    return value


def bearer_token(authorization: str | None, max_chars: int = 4096) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750), None when absent.

    Any other scheme, or a bare token, is no token at all: accepting a bare token made the scheme
    meaningless and let a header meant for another service pass.
    """
    text = header_text(authorization, "Authorization", max_chars)
    if not text:
        return None
    scheme, _, token = text.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()

"""E-mail over IMAP: new messages since the last UID, parsed into one JSON record each.

The cursor is (UIDVALIDITY, last UID) of the mailbox: UIDs only grow within one UIDVALIDITY, so
"UID last+1:*" is exactly what is new. When the server changes UIDVALIDITY (mailbox rebuilt) the
old UIDs mean nothing; the mailbox is read again from the start, and the messages keep their
Message-ID as source id, so the ones already taken replace themselves downstream.

Bodies are decoded by their declared charset (cp1251 and koi8-r are common in Russian mail);
an undeclared or wrong charset is tried as UTF-8, then cp1251, then koi8-r, and the record says
which was used. Attachments are kept as metadata only (name, type, size, digest).
"""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import imaplib
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

from ingest.connectors.base import Batch, Cursor, PermanentError, RateLimiter, RawItem, TransientError, json_bytes
from schemas import Channel

FALLBACK_CHARSETS = ("utf-8", "cp1251", "koi8-r")
MAX_TEXT_CHARS = 100_000  # what NormalizedMessage carries; the rest is cut and marked


def _decode(payload: bytes, declared: str | None) -> tuple[str, str, bool]:
    """(text, charset used, clean). ``clean`` is False when bytes had to be replaced."""
    tried = ([declared] if declared else []) + [c for c in FALLBACK_CHARSETS if c != declared]
    for charset in tried:
        try:
            return payload.decode(charset), charset, True
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("utf-8", errors="replace"), "utf-8", False


def _html_to_text(html: str) -> str:
    html = re.sub(r"(?is)<(script|style).*?</\1>", " ", html)
    html = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", html)
    text = re.sub(r"<[^>]+>", " ", html)
    import html as html_lib

    return re.sub(r"[ \t]+", " ", html_lib.unescape(text)).strip()


def parse_message(
    raw: bytes, *, uid: int | None = None, uidvalidity: int | None = None, mailbox: str = ""
) -> dict[str, Any]:
    """RFC 5322 bytes → the JSON record published on raw.email (never raises on bad mail)."""
    msg: Message = email.message_from_bytes(raw, policy=email.policy.compat32)
    parts: list[dict[str, Any]] = []
    attachments: list[dict[str, Any]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = _header_text(part.get_filename()) if part.get_filename() else None
        payload = part.get_payload(decode=True) or b""
        if disposition == "attachment" or filename or not ctype.startswith("text/"):
            attachments.append({
                "filename": filename, "content_type": ctype, "size": len(payload),
                "sha256": hashlib.sha256(payload).hexdigest(),
            })  # fmt: skip
            continue
        text, used, clean = _decode(payload, part.get_content_charset())
        parts.append({"content_type": ctype, "declared_charset": part.get_content_charset(),
                      "charset": used, "clean": clean,
                      "text": _html_to_text(text) if ctype == "text/html" else text})  # fmt: skip
    plain = [p for p in parts if p["content_type"] == "text/plain"] or parts
    body = "\n\n".join(p["text"].strip() for p in plain if p["text"].strip())
    date_hdr = msg.get("Date")
    try:
        date = parsedate_to_datetime(date_hdr).isoformat() if date_hdr else None
    except (TypeError, ValueError):
        date = None
    senders = getaddresses([_header_text(msg.get("From", ""))])
    return {
        "uid": uid,
        "uidvalidity": uidvalidity,
        "mailbox": mailbox,
        "message_id": (msg.get("Message-ID") or "").strip() or None,
        "from": senders[0][1] if senders and senders[0][1] else None,
        "from_name": senders[0][0] if senders and senders[0][0] else None,
        "to": [a for _n, a in getaddresses([_header_text(msg.get("To", ""))]) if a],
        "subject": _header_text(msg.get("Subject", "")) or None,
        "date": date,
        "date_header": date_hdr,
        "text": body[:MAX_TEXT_CHARS] or None,
        "truncated": len(body) > MAX_TEXT_CHARS,
        "charsets": sorted({p["charset"] for p in parts}),
        "clean": all(p["clean"] for p in parts),
        "attachments": attachments,
        "size": len(raw),
    }


def _header_text(value: Any) -> str:
    """RFC 2047 encoded words (=?koi8-r?B?...?=) decoded; unknown charsets fall back, never raise."""
    if not value:
        return ""
    out = []
    for chunk, charset in email.header.decode_header(str(value)):
        if isinstance(chunk, bytes):
            out.append(_decode(chunk, charset)[0])
        else:
            out.append(chunk)
    return "".join(out).strip()


def message_source_id(record: dict[str, Any]) -> str:
    if record.get("message_id"):
        return str(record["message_id"]).strip("<> ")
    return f"imap:{record.get('mailbox')}:{record.get('uidvalidity')}:{record.get('uid')}"


@dataclass
class ImapMailbox:
    host: str
    port: int
    user: str
    password: str
    mailbox: str = "INBOX"
    ssl: bool = True
    batch: int = 50
    limiter: RateLimiter | None = None
    max_message_bytes: int = 4 * 1024 * 1024
    name: str = "email"
    channel: Channel = Channel.EMAIL

    def _connect(self) -> imaplib.IMAP4:
        try:
            conn = imaplib.IMAP4_SSL(self.host, self.port) if self.ssl else imaplib.IMAP4(self.host, self.port)
        except OSError as exc:
            raise TransientError(f"IMAP connect {self.host}:{self.port}: {exc}") from exc
        try:
            conn.login(self.user, self.password)
        except imaplib.IMAP4.error as exc:
            if "UNAVAILABLE" in str(exc):  # RFC 5530: the server's auth backend is down, not our password
                raise TransientError(f"IMAP login as {self.user}: {exc}") from exc
            raise PermanentError(f"IMAP login as {self.user}: {exc}") from exc
        return conn

    def fetch(self, cursor: Cursor | None) -> Batch:
        if self.limiter:
            self.limiter.wait()
        conn = self._connect()
        try:
            return self._fetch(conn, cursor or {})
        except (imaplib.IMAP4.abort, OSError) as exc:
            raise TransientError(f"IMAP: {exc}") from exc
        finally:
            try:
                conn.logout()
            except Exception:
                pass

    def _fetch(self, conn: imaplib.IMAP4, cursor: Cursor) -> Batch:
        typ, _ = conn.select(self._quoted(self.mailbox), readonly=True)
        if typ != "OK":
            raise PermanentError(f"IMAP: cannot select {self.mailbox}")
        uidvalidity = int(_untagged(conn, "UIDVALIDITY") or 0)
        last = int(cursor.get("last_uid", 0)) if cursor.get("uidvalidity") == uidvalidity else 0
        typ, data = conn.uid("SEARCH", None, f"UID {last + 1}:*")
        if typ != "OK":
            raise TransientError(f"IMAP UID SEARCH: {data}")
        # "n:*" always matches the highest UID even when it is below n: filter.
        uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > last)
        take = uids[: self.batch]
        items = []
        for uid in take:
            typ, fetched = conn.uid("FETCH", str(uid), "(RFC822.SIZE BODY.PEEK[])")
            if typ != "OK":
                raise TransientError(f"IMAP UID FETCH {uid}: {fetched}")
            raw = next((f[1] for f in fetched if isinstance(f, tuple)), b"")
            record = parse_message(raw, uid=uid, uidvalidity=uidvalidity, mailbox=self.mailbox)
            body = json_bytes(record)
            if len(body) > self.max_message_bytes:
                # Still published (as a stub saying so) so the normaliser dead-letters it with a reason.
                record = {k: record[k] for k in ("uid", "uidvalidity", "mailbox", "message_id", "from", "subject",
                                                 "date", "size")}  # fmt: skip
                record["oversized"] = len(body)
                body = json_bytes(record)
            items.append(RawItem(message_source_id(record), body))
        new_last = take[-1] if take else last
        return Batch(
            items=items,
            cursor={"uidvalidity": uidvalidity, "last_uid": new_last, "mailbox": self.mailbox},
            more=len(uids) > len(take),
        )

    @staticmethod
    def _quoted(name: str) -> str:
        return name if re.fullmatch(r"[A-Za-z0-9._/-]+", name) else '"' + name.replace('"', '\\"') + '"'


def _untagged(conn: imaplib.IMAP4, name: str) -> str | None:
    _typ, data = conn.response(name)
    if data and data[0] is not None:
        return data[0].decode() if isinstance(data[0], bytes) else str(data[0])
    return None

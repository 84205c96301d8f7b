"""E-mail connector against a real IMAP server (dovecot on loopback). All letters are synthetic."""

from __future__ import annotations

import json
import shutil
import tempfile
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

import pytest

from ingest.connectors.base import PermanentError, Runner, retrying
from ingest.connectors.email_imap import ImapMailbox, parse_message

from . import dovecot
from .conftest import Crash, FakeEvents, FakePublisher, normalize_delivered

pytestmark = pytest.mark.skipif(
    not dovecot.available(), reason="dovecot is not installed: apt-get install -y dovecot-imapd"
)


@pytest.fixture
def imap():
    # Not under tmp_path: pytest's base dir is private to root and dovecot's processes run unprivileged.
    root = Path(tempfile.mkdtemp(prefix="mcu-dovecot-", dir="/tmp"))
    root.chmod(0o755)
    server = dovecot.Dovecot(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


def mailbox(server: dovecot.Dovecot, password: str = dovecot.PASSWORD, batch: int = 50) -> ImapMailbox:
    return ImapMailbox("127.0.0.1", server.port, dovecot.USER, password, ssl=False, batch=batch)


def letter(n: int, charset: str = "utf-8", text: str | None = None) -> bytes:
    body = text or f"[синтетика] Письмо {n}: во дворе на ул. Школьной не вывозят мусор."
    msg = MIMEText(body, "plain", charset)
    msg["Subject"] = f"[синтетика] Обращение {n}"
    msg["From"] = f"Синтетический житель <resident{n}@example.org>"
    msg["To"] = "mcu@example.org"
    msg["Date"] = "Fri, 27 Nov 2026 10:00:00 +0300"
    msg["Message-ID"] = f"<synthetic-{n}@example.org>"
    return msg.as_bytes()


def run(conn, pub, cursors) -> None:
    Runner(conn, pub, cursors, FakeEvents(), retry=retrying(attempts=3, initial=0.01, maximum=0.05)).drain()


def test_new_messages_since_uid_with_russian_charsets_and_attachments(imap, cursors):
    imap.deliver(letter(1, "utf-8"))
    imap.deliver(letter(2, "cp1251"))
    imap.deliver(letter(3, "koi8-r"))
    multi = MIMEMultipart()
    multi["Subject"] = (
        "=?koi8-r?B?" + __import__("base64").b64encode("[синтетика] С фото".encode("koi8-r")).decode() + "?="
    )
    multi["From"] = "resident4@example.org"
    multi["Message-ID"] = "<synthetic-4@example.org>"
    multi.attach(MIMEText("<p>[синтетика] Яма&nbsp;на дороге</p>", "html", "cp1251"))
    multi.attach(MIMEApplication(b"\x89PNG fake bytes", Name="yama.png"))
    imap.deliver(multi.as_bytes())
    pub = FakePublisher()
    run(mailbox(imap), pub, cursors)
    assert pub.source_ids() == [f"synthetic-{n}@example.org" for n in range(1, 5)]
    messages, rejected = normalize_delivered(pub)
    assert rejected == []
    assert all("не вывозят мусор" in m.text for m in messages[:3])
    assert messages[3].text == "[синтетика] Яма\xa0на дороге"
    assert messages[3].title == "[синтетика] С фото"
    assert messages[3].extra["attachments"][0]["filename"] == "yama.png"
    assert set(messages[3].extra["attachments"][0]) == {"filename", "content_type", "size", "sha256"}
    assert b"PNG fake" not in pub.delivered[3][2]  # metadata only: the bytes never go on the wire
    assert cursors.load("email")["last_uid"] == 4
    imap.deliver(letter(5))
    run(mailbox(imap), pub, cursors)
    assert pub.source_ids()[-1] == "synthetic-5@example.org" and len(pub.delivered) == 5


def test_restart_mid_mailbox_takes_each_letter_exactly_once(imap, cursors):
    for n in range(1, 13):
        imap.deliver(letter(n))
    pub = FakePublisher(crash_after=7)
    with pytest.raises(Crash):
        run(mailbox(imap, batch=5), pub, cursors)
    pub.crash_after = None
    run(mailbox(imap, batch=5), pub, cursors)
    ids = pub.source_ids()
    assert sorted(ids) == sorted(f"synthetic-{n}@example.org" for n in range(1, 13)) and len(set(ids)) == 12


def test_wrong_password_is_a_permanent_error(imap, cursors):
    with pytest.raises(PermanentError, match="login"):
        run(mailbox(imap, password="wrong"), FakePublisher(), cursors)


def test_oversized_letter_becomes_a_too_large_rejection(imap, cursors):
    imap.deliver(letter(1, text="[синтетика] " + "длинный текст " * 400_000))
    pub = FakePublisher()
    conn = mailbox(imap)
    conn.max_message_bytes = 512 * 1024
    run(conn, pub, cursors)
    _ok, rejected = normalize_delivered(pub)
    assert [r.reason for r in rejected] == ["too_large"]


def test_parse_message_survives_broken_mail():
    raw = (
        b"Subject: =?x-unknown?B?!!!?=\r\nDate: not a date\r\n"
        b"Content-Type: text/plain; charset=x-bogus\r\n\r\n\xff\xfe\xfd"
    )
    record = parse_message(raw, uid=1, uidvalidity=1)
    assert record["date"] is None and record["text"]  # decoded by a fallback charset, never raised
    empty = EmailMessage()
    empty["Subject"] = "no body"
    pub = FakePublisher()
    pub.delivered.append(("email", "x", json.dumps(parse_message(empty.as_bytes(), uid=2)).encode(), None))
    _ok, rejected = normalize_delivered(pub)
    assert [r.reason for r in rejected] == ["empty_text"]

"""A case crosses 50 %, 80 %, 100 % and both escalations on a compressed clock; the messages go
over real SMTP (aiosmtpd) and HTTP (a local Bot API / webhook server) and arrive once each."""

import asyncio
import hashlib
import hmac
import json
from collections import Counter
from datetime import datetime, timedelta

import pytest

from route.directory import load_directory
from schemas import CaseEventType, SlaEvent
from schemas.channels import Channel
from sinks.notify.contacts import Contacts, ContactsFile, load_contacts
from sinks.notify.names import DirectoryNames
from sinks.notify.notifier import Notifier
from sinks.notify.senders import EmailSender, TelegramSender, WebhookSender
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.timers import SlaTimers
from tests.unit.notify.servers import BotApiServer, SmtpServer
from tests.unit.sla.factories import make_case, make_event

SECRET = "webhook-test-secret"


def contacts(hook_url: str) -> Contacts:
    return Contacts(
        ContactsFile.model_validate(
            {
                "version": "test",
                "coordinator": {"name": "Координатор", "email": ["coord@example.org"], "webhook": [hook_url]},
                "blocks": {3: {"name": "Зам. главы, блок 3", "email": ["block3@example.org"], "telegram": ["103"]}},
                "departments": {"housing": {"name": "Нач. УЖКХ", "email": ["dep@example.org"], "telegram": ["201"]}},
                "settlements": {"tuapsinskoe": {"name": "Глава ТГП", "email": ["stl@example.org"]}},
            }
        )
    )


def notifier(smtp: SmtpServer, bot: BotApiServer, **kw) -> Notifier:  # type: ignore[no-untyped-def]
    return Notifier(
        contacts(f"{bot.base}/hook"),
        {
            "email": EmailSender("127.0.0.1", smtp.port, "mcu@example.org"),
            "telegram": TelegramSender(bot.state.token, bot.base),
            "webhook": WebhookSender(SECRET),
        },
        DirectoryNames(load_directory()),
        backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        **kw,
    )


def compressed_run() -> list[SlaEvent]:
    timers = SlaTimers(load_policies(), WorkingCalendar())
    case = make_case(datetime(2026, 3, 10, 10, 0, tzinfo=MSK), Channel.VK, source_id="flow-1")
    timers.on_case(case)
    timers.on_event(make_event(case, CaseEventType.ASSIGNED, datetime(2026, 3, 10, 11, 0, tzinfo=MSK)))
    out, now = [], datetime(2026, 3, 10, 11, 0, tzinfo=MSK)
    while now < datetime(2026, 3, 20, tzinfo=MSK):  # ten days in 15-minute ticks
        out += timers.tick(now)
        now += timedelta(minutes=15)
    return out


def test_messages_arrive_once_each_with_the_right_russian_text(smtp: SmtpServer, bot_api: BotApiServer) -> None:
    events = compressed_run()
    assert [(e.kind.value, e.share, e.level) for e in events] == [
        ("warning", 0.5, 0), ("warning", 0.8, 0), ("breach", 1.0, 0), ("escalation", 1.0, 1), ("escalation", 1.0, 2),
    ]  # fmt: skip

    async def go() -> None:
        n = notifier(smtp, bot_api)
        for e in events:
            r = await n.notify(e)
            assert not r.dead and not r.duplicates
        # A restarted worker re-emits the same events: nothing is sent twice.
        for e in events:
            r = await n.notify(e)
            assert r.sent == [] and r.duplicates
        await n.aclose()

    asyncio.run(go())

    per_box = Counter(m["To"] for m in smtp.sink.messages)
    assert per_box == {"dep@example.org": 3, "stl@example.org": 3, "block3@example.org": 3, "coord@example.org": 1}
    subjects = [m["Subject"] for m in smtp.sink.to("dep@example.org")]
    mid8 = events[0].message_id[:8]
    assert subjects == [
        f"МЦУ: прошло 50% срока — обращение {mid8}",
        f"МЦУ: прошло 80% срока — обращение {mid8}",
        f"МЦУ: ПРОСРОЧЕНО обращение {mid8}",
    ]
    block_subjects = [m["Subject"] for m in smtp.sink.to("block3@example.org")]
    assert block_subjects[1:] == [
        f"МЦУ: эскалация (уровень 1) — обращение {mid8} просрочено",
        f"МЦУ: эскалация (уровень 2) — обращение {mid8} просрочено",
    ]
    breach = smtp.sink.to("dep@example.org")[2]
    text = breach.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Срок «ответ по существу» по обращению истёк 11.03.2026 12:00 (МСК)." in text
    assert "Подразделение: управление ЖКХ и ТЭК" in text
    assert "Поселение: Туапсинское городское поселение" in text
    assert f"Обращение: {events[0].message_id}" in text
    html_part = breach.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "управление ЖКХ и ТЭК" in html_part and "<table" in html_part
    coord = smtp.sink.to("coord@example.org")[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "эскалация: руководитель МЦУ" in coord

    chats = Counter(m["chat_id"] for m in bot_api.state.sent)
    assert chats == {"201": 3, "103": 3}
    assert all(m["parse_mode"] == "HTML" for m in bot_api.state.sent)
    assert "<b>МЦУ: ПРОСРОЧЕНО обращение" in bot_api.state.sent[2]["text"]

    assert len(bot_api.state.hooks) == 1
    headers, body = bot_api.state.hooks[0]
    expected = hmac.new(SECRET.encode(), headers["X-MCU-Timestamp"].encode() + b"." + body, hashlib.sha256)
    assert headers["X-MCU-Signature"] == "sha256=" + expected.hexdigest()
    doc = json.loads(body)
    assert doc["event"]["kind"] == "escalation" and doc["event"]["level"] == 2
    assert doc["dedup_key"] == events[-1].dedup_key


def test_transient_failures_are_retried_then_delivered_once(smtp: SmtpServer, bot_api: BotApiServer) -> None:
    bot_api.state.fail_next = 2
    event = compressed_run()[2]  # the breach

    async def go():  # type: ignore[no-untyped-def]
        n = notifier(smtp, bot_api, max_attempts=4)
        n.contacts.data.departments["housing"].email = []  # only Telegram for this test
        n.contacts.data.settlements.clear()
        n.contacts.data.blocks.clear()
        r = await n.notify(event)
        await n.aclose()
        return r

    r = asyncio.run(go())
    assert r.sent == ["telegram:201"] and not r.dead
    assert bot_api.state.attempts == 3
    assert len(bot_api.state.sent) == 1


def test_last_retry_goes_to_the_dead_letter(smtp: SmtpServer, bot_api: BotApiServer) -> None:
    bot_api.state.always_fail = True
    event = compressed_run()[2]
    dead = []

    async def go():  # type: ignore[no-untyped-def]
        n = notifier(smtp, bot_api, max_attempts=3, dead_letter=dead.append)
        r = await n.notify(event)
        again = await n.notify(event)  # a dead-lettered delivery is not marked done: replay may retry it
        await n.aclose()
        return r, again

    r, again = asyncio.run(go())
    assert bot_api.state.attempts == 2 * 2 * 3  # two chats, two calls, three attempts each
    assert sorted(r.sent) == ["email:block3@example.org", "email:dep@example.org", "email:stl@example.org"]
    assert again.duplicates and len(again.dead) == 2
    assert len(dead) == 4
    dl = dead[0]
    assert dl.reason == "notify_failed" and dl.stage == "notify.telegram" and dl.topic == "sla.events"
    assert SlaEvent.model_validate_json(dl.original()).dedup_key == event.dedup_key
    assert "HTTP 502" in dl.error
    assert len(smtp.sink.messages) == 3  # e-mails were not re-sent by the second call


def test_permanent_refusal_is_not_retried(smtp: SmtpServer, bot_api: BotApiServer) -> None:
    event = compressed_run()[2]
    dead = []

    async def go():  # type: ignore[no-untyped-def]
        n = notifier(smtp, bot_api, max_attempts=5, dead_letter=dead.append)
        n.contacts.data.departments["housing"].email = ["refuse@example.org"]
        n.contacts.data.departments["housing"].telegram = ["-404"]
        n.contacts.data.settlements.clear()
        n.contacts.data.blocks.clear()
        r = await n.notify(event)
        await n.aclose()
        return r

    r = asyncio.run(go())
    assert len(r.dead) == 2 and not r.sent
    assert bot_api.state.attempts == 1  # chat not found: no retry
    assert {d.stage for d in dead} == {"notify.email", "notify.telegram"}
    assert smtp.sink.messages == []


def test_example_contacts_file_is_valid_and_matches_the_directory() -> None:
    c = load_contacts()
    d = load_directory()
    assert c.unknown_codes(set(d.departments), set(d.settlements)) == []


@pytest.mark.parametrize("bad", ["version: x\nblocks: {1: {email: [a@b]}}\n", "nope: 1\n"])
def test_bad_contacts_file_names_the_file(tmp_path, bad: str) -> None:  # type: ignore[no-untyped-def]
    from sinks.notify.contacts import ContactsError

    p = tmp_path / "contacts.yaml"
    p.write_text(bad, "utf-8")
    with pytest.raises(ContactsError, match=str(p)):
        load_contacts(p)

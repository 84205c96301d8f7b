import asyncio
from datetime import datetime, timedelta

from route.directory import load_directory
from schemas.channels import Channel
from sinks.notify.contacts import Contacts, ContactsFile
from sinks.notify.digest import digest_items
from sinks.notify.names import DirectoryNames
from sinks.notify.notifier import Notifier, RateLimiter
from sinks.notify.senders import EmailSender
from sinks.notify.templates import fmt_span, plural
from sla.calendar import MSK, WorkingCalendar
from sla.policies import load_policies
from sla.timers import SlaTimers
from tests.unit.notify.servers import SmtpServer
from tests.unit.sla.factories import make_case


def test_russian_plurals_and_spans() -> None:
    forms = ("день", "дня", "дней")
    assert [plural(n, forms) for n in (1, 2, 5, 11, 12, 21, 22, 25, 111)] == [
        "день", "дня", "дней", "дней", "дней", "день", "дня", "дней", "дней",
    ]  # fmt: skip
    assert fmt_span(timedelta(days=2, hours=3)) == "2 дня 3 часа"
    assert fmt_span(timedelta(minutes=21)) == "21 минута"


def test_rate_limiter_per_recipient() -> None:
    now = [0.0]
    rl = RateLimiter(rate=2, per=60.0, clock=lambda: now[0])

    async def go() -> None:
        await rl.acquire("a")
        await rl.acquire("a")
        await rl.acquire("b")  # another recipient is not held back

    asyncio.run(go())
    assert rl.delay("a") == 60.0
    assert rl.delay("b") == 0.0
    now[0] = 30.0
    assert rl.delay("a") == 30.0
    now[0] = 60.0
    assert rl.delay("a") == 0.0


def test_daily_digest_groups_the_block_and_reaches_its_head(smtp: SmtpServer) -> None:
    timers = SlaTimers(load_policies(), WorkingCalendar())
    start = datetime(2026, 3, 2, 9, 0, tzinfo=MSK)
    # Synthetic cases: two overdue (different departments), one due within a day, one far, one other block.
    overdue_a = make_case(start, Channel.TELEGRAM, department="housing", settlement="tuapsinskoe")
    overdue_b = make_case(start, Channel.TELEGRAM, department="property", settlement="dzhubgskoe")
    soon = make_case(datetime(2026, 3, 3, 14, 0, tzinfo=MSK), Channel.TELEGRAM, department="housing")
    far = make_case(start, Channel.LETTER, department="housing")
    other = make_case(start, Channel.TELEGRAM, block=5, department="transport")
    for c in (overdue_a, overdue_b, soon, far, other):
        timers.on_case(c)
    now = datetime(2026, 3, 4, 9, 30, tzinfo=MSK)  # 9 working hours from 02.03 9:00 ended 03.03 10:00
    by_block = digest_items(timers, now)
    items = by_block[3]
    assert {i.message_id for i in items} == {overdue_a.message_id, overdue_b.message_id, soon.message_id}
    assert [i.message_id for i in by_block[5]] == [other.message_id]

    contacts = Contacts(
        ContactsFile.model_validate({"version": "t", "blocks": {3: {"name": "Зам", "email": ["b3@example.org"]}}})
    )
    n = Notifier(
        contacts,
        {"email": EmailSender("127.0.0.1", smtp.port, "mcu@example.org")},
        DirectoryNames(load_directory()),
        link_template="https://mcu.example/cases/{message_id}",
    )

    async def go():  # type: ignore[no-untyped-def]
        first = await n.send_digest(3, items, now)
        second = await n.send_digest(3, items, now)  # the same day's digest is sent once
        return first, second

    first, second = asyncio.run(go())
    assert first.sent == ["email:b3@example.org"] and second.duplicates
    [mail] = smtp.sink.messages
    assert mail["Subject"].startswith("МЦУ: сводка на 04.03.2026 — блок 3.")
    assert "просрочено 2, истекает за сутки 1" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    overdue_part, soon_part = text.split("Срок истекает в ближайшие сутки")
    assert "управление ЖКХ и ТЭК / Туапсинское городское поселение" in overdue_part
    assert "управление имущественных отношений / Джубгское городское поселение" in overdue_part
    assert overdue_a.message_id in overdue_part and overdue_b.message_id in overdue_part
    assert soon.message_id in soon_part and "осталось" in soon_part
    assert far.message_id not in text and other.message_id not in text
    assert f"https://mcu.example/cases/{soon.message_id}" in text


def test_notifier_from_settings_has_only_configured_channels() -> None:
    from pydantic import SecretStr

    from sinks.notify.settings import NotifySettings
    from sinks.notify.wiring import make_notifier

    n = make_notifier(NotifySettings())
    assert set(n.senders) == {"email"}
    n = make_notifier(NotifySettings(telegram_bot_token=SecretStr("1:x"), webhook_secret=SecretStr("s")))
    assert set(n.senders) == {"email", "telegram", "webhook"}
    assert n.contacts.data.version.startswith("example")
    asyncio.run(n.aclose())

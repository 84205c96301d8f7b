"""Russian message templates: plain text, HTML (e-mail) and Telegram's HTML subset."""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import groupby

from schemas import SlaEvent, SlaEventKind
from sinks.notify.names import CHANNEL_NAMES, TERM_NAMES, Names
from sla.calendar import MSK


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    telegram: str  # Telegram Bot API parse_mode=HTML: only b, i, a, code, pre


def plural(n: int, forms: tuple[str, str, str]) -> str:
    """Russian plural: (1 день, 2 дня, 5 дней)."""
    n = abs(n)
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def fmt_time(t: datetime) -> str:
    return t.astimezone(MSK).strftime("%d.%m.%Y %H:%M") + " (МСК)"


def fmt_span(d: timedelta) -> str:
    minutes = int(abs(d).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} {plural(days, ('день', 'дня', 'дней'))}")
    if hours:
        parts.append(f"{hours} {plural(hours, ('час', 'часа', 'часов'))}")
    if mins and not days:
        parts.append(f"{mins} {plural(mins, ('минута', 'минуты', 'минут'))}")
    return " ".join(parts) or "менее минуты"


LEVEL_NAMES = {0: "руководитель подразделения", 1: "заместитель главы (блок)", 2: "руководитель МЦУ"}


def _headline(e: SlaEvent) -> tuple[str, str]:
    """(subject, first sentence) for an event kind."""
    term = TERM_NAMES.get(e.term, e.term)
    sid = e.message_id[:8]
    match e.kind:
        case SlaEventKind.WARNING:
            pct = round(e.share * 100)
            return (
                f"МЦУ: прошло {pct}% срока — обращение {sid}",
                f"По обращению прошло {pct}% срока («{term}»), срок истекает {fmt_time(e.deadline)}.",
            )
        case SlaEventKind.BREACH:
            return (
                f"МЦУ: ПРОСРОЧЕНО обращение {sid}",
                f"Срок «{term}» по обращению истёк {fmt_time(e.deadline)}.",
            )
        case SlaEventKind.ESCALATION:
            who = LEVEL_NAMES.get(e.level, f"уровень {e.level}")
            late = fmt_span(e.at - e.deadline)
            return (
                f"МЦУ: эскалация (уровень {e.level}) — обращение {sid} просрочено",
                f"Обращение просрочено на {late} (срок «{term}» истёк {fmt_time(e.deadline)}); эскалация: {who}.",
            )
    return f"МЦУ: {e.kind.value} — обращение {sid}", f"Событие «{e.kind.value}» по сроку «{term}»."


def _facts(e: SlaEvent, names: Names, link: str | None) -> list[tuple[str, str]]:
    rows = [
        ("Обращение", e.message_id),
        ("Канал", CHANNEL_NAMES.get(e.channel, e.channel or "—")),
        ("Срок", f"{TERM_NAMES.get(e.term, e.term)} — до {fmt_time(e.deadline)}"),
        ("Блок", names.block(e.block)),
        ("Подразделение", names.department(e.department)),
        ("Поселение", names.settlement(e.settlement)),
    ]
    if e.started_at:
        rows.insert(3, ("Срок отсчитывается с", fmt_time(e.started_at)))
    if link:
        rows.append(("Ссылка", link))
    return rows


FOOTER = "Сообщение сформировано автоматически системой контроля сроков МЦУ Туапсинского района."


def render_event(e: SlaEvent, names: Names, link: str | None = None) -> Rendered:
    subject, lead = _headline(e)
    facts = _facts(e, names, link)
    text = "\n".join([lead, "", *(f"{k}: {v}" for k, v in facts), "", FOOTER]) + "\n"
    esc = html.escape
    cells = "".join(
        f"<tr><th align='left'>{esc(k)}</th><td>{_link_html(v) if k == 'Ссылка' else esc(v)}</td></tr>"
        for k, v in facts
    )
    body = (
        f"<html><body><p><b>{esc(lead)}</b></p><table cellpadding='4'>{cells}</table>"
        f"<p><small>{esc(FOOTER)}</small></p></body></html>"
    )
    tg = "\n".join([f"<b>{esc(subject)}</b>", esc(lead), "", *(f"{esc(k)}: {esc(v)}" for k, v in facts)])
    return Rendered(subject, text, body, tg)


def _link_html(url: str) -> str:
    u = html.escape(url, quote=True)
    return f"<a href='{u}'>{u}</a>"


# ---------------------------------------------------------------- the daily digest


@dataclass(frozen=True, slots=True)
class DigestItem:
    message_id: str
    term: str
    deadline: datetime
    department: str
    settlement: str
    channel: str = ""


def render_digest(
    block: int,
    items: Iterable[DigestItem],
    now: datetime,
    names: Names,
    link_template: str = "",
) -> Rendered:
    """Overdue and due-within-a-day cases of one block, grouped by department and settlement."""
    items = sorted(items, key=lambda i: (names.department(i.department), names.settlement(i.settlement), i.deadline))
    overdue = [i for i in items if i.deadline <= now]
    soon = [i for i in items if i.deadline > now]
    day = now.astimezone(MSK).strftime("%d.%m.%Y")
    subject = f"МЦУ: сводка на {day} — {names.block(block)}: просрочено {len(overdue)}, истекает за сутки {len(soon)}"
    esc = html.escape
    text_lines = [f"Сводка по срокам на {fmt_time(now)}", names.block(block), ""]
    html_parts = [f"<html><body><h2>Сводка по срокам на {esc(fmt_time(now))}</h2><p>{esc(names.block(block))}</p>"]
    tg_lines = [f"<b>{esc(subject)}</b>"]
    for title, group in (("Просроченные", overdue), ("Срок истекает в ближайшие сутки", soon)):
        text_lines.append(f"{title}: {len(group)}")
        html_parts.append(f"<h3>{esc(title)}: {len(group)}</h3>")
        tg_lines.append(f"\n<b>{esc(title)}: {len(group)}</b>")
        for (dep, stl), rows in groupby(group, key=lambda i: (i.department, i.settlement)):
            head = f"{names.department(dep)} / {names.settlement(stl)}"
            text_lines.append(f"  {head}")
            html_parts.append(f"<h4>{esc(head)}</h4><ul>")
            tg_lines.append(esc(head))
            for i in rows:
                when = (
                    f"просрочено на {fmt_span(now - i.deadline)}"
                    if i.deadline <= now
                    else f"осталось {fmt_span(i.deadline - now)}"
                )
                line = f"{i.message_id} — {TERM_NAMES.get(i.term, i.term)}, срок {fmt_time(i.deadline)}, {when}"
                link = link_template.format(message_id=i.message_id) if link_template else ""
                text_lines.append(f"    • {line}" + (f" {link}" if link else ""))
                li = esc(line) + (f" {_link_html(link)}" if link else "")
                html_parts.append(f"<li>{li}</li>")
                tg_lines.append(f"• {esc(line)}")
            html_parts.append("</ul>")
        text_lines.append("")
    if not items:
        text_lines.append("Просроченных и истекающих обращений нет.")
        html_parts.append("<p>Просроченных и истекающих обращений нет.</p>")
    text_lines += ["", FOOTER]
    html_parts.append(f"<p><small>{esc(FOOTER)}</small></p></body></html>")
    return Rendered(subject, "\n".join(text_lines) + "\n", "".join(html_parts), "\n".join(tg_lines))

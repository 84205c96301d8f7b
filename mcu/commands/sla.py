"""`mcu sla ...`: check the production calendar, a deadline or the policies by hand."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sla.calendar import (
    DEFAULT_OVERRIDES,
    DEFAULT_WORK_HOURS,
    FIRST_DAY,
    LAST_DAY,
    MSK,
    CalendarError,
    WorkingCalendar,
    parse_term,
)
from sla.policies import PolicyError, load_policies
from sla.settings import SlaSettings

MONTHS = [
    "январь", "февраль", "март", "апрель", "май", "июнь",
    "июль", "август", "сентябрь", "октябрь", "ноябрь", "декабрь",
]  # fmt: skip


WEEKDAYS = ["понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье"]


def _calendar(work_hours: str | None, overrides: Path | None) -> WorkingCalendar:
    try:
        s = SlaSettings()
        hours = work_hours or s.work_hours
        path = overrides or s.calendar_overrides_file or DEFAULT_OVERRIDES
    except Exception:  # settings are optional for this tool: an analyst may run it anywhere
        hours, path = work_hours or DEFAULT_WORK_HOURS, overrides or DEFAULT_OVERRIDES
    try:
        return WorkingCalendar(work_hours=hours, overrides=path)
    except CalendarError as e:
        raise click.ClickException(str(e)) from e


_hours_opt = click.option(
    "--work-hours", default=None, help="рабочие часы, например '09:00-13:00,14:00-18:00' (MCU_SLA_WORK_HOURS)"
)
_overrides_opt = click.option(
    "--overrides",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML с поправками к календарю (праздники, переносы)",
)


@click.group("sla")
def sla() -> None:
    """Сроки: производственный календарь, расчёт срока, политики SLA."""


@sla.command("calendar")
@click.argument("year", type=int)
@_hours_opt
@_overrides_opt
def calendar_cmd(year: int, work_hours: str | None, overrides: Path | None) -> None:
    """Производственный календарь YEAR: рабочие дни и часы по месяцам, праздники и переносы."""
    cal = _calendar(work_hours, overrides)
    days = cal.year(year)
    con = Console()
    t = Table(title=f"Производственный календарь {year} (Europe/Moscow, часы: {work_hours or 'из настроек'})")
    for col in ("месяц", "календарных", "рабочих", "выходных и праздничных", "рабочих часов", "сокращённых"):
        t.add_column(col, justify="right" if col != "месяц" else "left")
    work, hours, short = Counter[int](), Counter[int](), Counter[int]()
    total = Counter[int]()
    for d in days:
        m = d.day.month
        total[m] += 1
        if d.working:
            work[m] += 1
            hours[m] += round(cal.working_seconds_of(d.day) / 3600, 2)  # type: ignore[assignment]
            short[m] += d.shortened
    for m in range(1, 13):
        t.add_row(MONTHS[m - 1], str(total[m]), str(work[m]), str(total[m] - work[m]), f"{hours[m]:g}", str(short[m]))
    t.add_row(
        "итого", str(sum(total.values())), str(sum(work.values())), str(sum(total.values()) - sum(work.values())),
        f"{sum(hours.values()):g}", str(sum(short.values())), style="bold",
    )  # fmt: skip
    con.print(t)
    h = Table(title="Праздники, переносы и особые дни")
    for col in ("дата", "день недели", "статус", "название / основание"):
        h.add_column(col)
    weekdays = ["пн", "вт", "ср", "чт", "пт", "сб", "вс"]
    for d in days:
        if d.holiday and not d.working:
            h.add_row(d.day.strftime("%d.%m.%Y"), weekdays[d.day.weekday()], "выходной", d.holiday)
        elif d.working and d.day.weekday() >= 5:
            h.add_row(d.day.strftime("%d.%m.%Y"), weekdays[d.day.weekday()], "рабочий (перенос)", d.source)
        elif d.working and d.shortened:
            h.add_row(d.day.strftime("%d.%m.%Y"), weekdays[d.day.weekday()], "сокращённый на 1 час", "ТК РФ ст. 95")
    con.print(h)
    con.print(f"Поправки к календарю: версия {cal.overrides.version}")


@sla.command("deadline")
@click.option("--start", required=True, help="момент начала в ISO 8601; без смещения — московское время")
@click.option(
    "--term",
    "term_text",
    required=True,
    help="срок: '30 дней', '10 рабочих дней', '8 рабочих часов' (или '30 days', '10 working days')",
)
@_hours_opt
@_overrides_opt
def deadline_cmd(start: str, term_text: str, work_hours: str | None, overrides: Path | None) -> None:
    """Когда истекает срок TERM, начавшийся в START."""
    try:
        t0 = datetime.fromisoformat(start)
        term = parse_term(term_text)
    except (ValueError, CalendarError) as e:
        raise click.BadParameter(str(e)) from e
    if t0.tzinfo is None:
        t0 = t0.replace(tzinfo=MSK)
    cal = _calendar(work_hours, overrides)
    try:
        due = cal.deadline(t0, term)
    except CalendarError as e:
        raise click.ClickException(
            f"срок не вычислить: календарь охватывает {FIRST_DAY:%d.%m.%Y} … {LAST_DAY:%d.%m.%Y} ({e})"
        ) from e
    click.echo(f"начало: {t0.astimezone(MSK):%d.%m.%Y %H:%M} МСК")
    click.echo(f"срок:   {term}")
    local = due.astimezone(MSK)
    click.echo(f"истекает: {local:%d.%m.%Y %H:%M} МСК ({WEEKDAYS[local.weekday()]})")
    click.echo(f"ISO: {due.astimezone(MSK).isoformat()}  UTC: {due.isoformat()}")


@sla.command("policies")
@click.option(
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML с политиками (по умолчанию — встроенный)",
)
def policies_cmd(path: Path | None) -> None:
    """Действующие сроки по каналам и видам обращений, с основаниями."""
    try:
        ps = load_policies(path)
    except PolicyError as e:
        raise click.ClickException(str(e)) from e
    t = Table(title=f"Политики SLA, версия {ps.version} ({ps.source})")
    for col in ("правило", "каналы", "срочные", "срок", "длительность", "отсчёт", "подтверждено", "основание"):
        t.add_column(col, overflow="fold")
    for r in ps.data.rules:
        for name, spec in r.terms.items():
            term = spec.term + (f" (после промежуточного: {spec.after_interim})" if spec.after_interim else "")
            t.add_row(
                r.id, ", ".join(c.value for c in r.channels), "/".join("да" if u else "нет" for u in r.urgent),
                name.value, term, spec.from_.value, "да" if spec.confirmed else "НЕТ", spec.basis,
            )  # fmt: skip
    Console().print(t)

"""`mcu report ratings|workload|breakdown`: tables in the terminal, CSV/XLSX/HTML files for analysts."""

from pathlib import Path

import click
from pydantic import ValidationError

from reports.build import ReportRequest
from reports.measures import DIMENSIONS, MEASURES, UnknownName

FORMATS = ["table", "csv", "xlsx", "html"]


def _options(fn):  # type: ignore[no-untyped-def]
    fn = click.option("--wide", is_flag=True,
                      help="в таблице терминала все столбцы (строки шире экрана; удобно с less -S)")(fn)  # fmt: skip
    fn = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                      help="файл для записи (обязателен для xlsx; csv/html без него идут в stdout)")(fn)  # fmt: skip
    fn = click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
                      help="формат: таблица в терминале, csv, xlsx или html")(fn)  # fmt: skip
    fn = click.option(
        "--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="последний день (по Москве) включительно"
    )(fn)
    fn = click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]),
                      help="первый день (по Москве); по умолчанию — 30 дней до --to или до сегодня")(fn)  # fmt: skip
    return fn


def _run(kind: str, by: str | None, measures: str | None, date_from, date_to, fmt: str, output: Path | None,  # type: ignore[no-untyped-def]
         wide: bool = False) -> None:  # fmt: skip
    from mcu.settings import get_settings
    from reports import render
    from reports.fetch import WorkerError, fetch_report
    from sinks.clickhouse.preflight import StoreUnavailable

    if fmt == "xlsx" and output is None:
        raise click.UsageError("для --format xlsx нужен --output ФАЙЛ")
    try:
        request = ReportRequest(
            kind=kind, by=by, measures=measures, charts=fmt == "html",
            date_from=date_from.date() if date_from else None, date_to=date_to.date() if date_to else None,
        )  # fmt: skip
    except ValidationError as exc:
        raise click.UsageError("; ".join(str(e["msg"]) for e in exc.errors())) from exc
    s = get_settings()
    try:
        token = s.intake.token.get_secret_value() if s.intake.token else None
        report = fetch_report(s.store.resolved_dsn, f"http://{s.web.host}:{s.web.port}", request, token)
    except (UnknownName, WorkerError, ValueError, StoreUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "table":
        render.to_console(report, wide=wide)
        return
    if fmt == "xlsx":
        assert output is not None
        render.to_xlsx(report, output)
        click.echo(f"записано: {output}", err=True)
        return
    text = render.to_csv(report) if fmt == "csv" else render.to_html(report)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"записано: {output}", err=True)


@click.group()
def report() -> None:
    """Аналитика МЦУ: рейтинги, загрузка блоков, сводки по разрезам (из агрегатов ClickHouse)."""


@report.command()
@click.option(
    "--by",
    default="settlement,department",
    show_default=True,
    help="кого оценивать: settlement (администрации поселений), department (отделы округа)",
)
@_options
def ratings(by: str, date_from, date_to, fmt: str, output: Path | None, wide: bool) -> None:  # type: ignore[no-untyped-def]
    """Сводный рейтинг с интервалами, минимальным объёмом и сменой мест (reports/data/rating.yaml)."""
    _run("ratings", by, None, date_from, date_to, fmt, output, wide)


@report.command()
@_options
def workload(date_from, date_to, fmt: str, output: Path | None, wide: bool) -> None:  # type: ignore[no-untyped-def]
    """Поступление, открытые и просроченные обращения по отраслевым блокам (и на сотрудника, где известен штат)."""
    _run("workload", None, None, date_from, date_to, fmt, output, wide)


@report.command()
@click.option("--by", default="block", show_default=True, help="разрезы: " + ",".join(DIMENSIONS))
@click.option("--measures", default=None, help="показатели: " + ",".join(MEASURES))
@_options
def breakdown(by: str, measures: str | None, date_from, date_to, fmt: str, output: Path | None, wide: bool) -> None:  # type: ignore[no-untyped-def]
    """Любые показатели в любых разрезах, например --by block,settlement,channel."""
    _run("breakdown", by, measures, date_from, date_to, fmt, output, wide)


@report.command("analyst-role")
@click.option("--database", default="default", show_default=True, help="база данных ClickHouse")
@click.option("--apply", is_flag=True, help="применить к хранилищу http(s):// (нужны права администратора)")
@click.option(
    "--users-xml",
    "users_xml",
    metavar="USER",
    help="вместо этого вывести <user> для users.xml с правами роли (у локального сервера deploy/clickhouse.sh"
    " нет CREATE USER); пароль будет запрошен",
)
def analyst_role(database: str, apply: bool, users_xml: str | None) -> None:
    """Вывести (или применить) роль аналитика: только SELECT на представления без персональных данных."""
    from reports.role import apply_role, role_sql

    if users_xml:
        import hashlib

        from reports.role import users_fragment

        password = click.prompt(f"пароль для {users_xml}", hide_input=True, confirmation_prompt=True, err=True)
        click.echo(users_fragment(database, users_xml, hashlib.sha256(password.encode()).hexdigest()), nl=False)
        return
    if not apply:
        click.echo(role_sql(database))
        return
    from mcu.settings import get_settings
    from sinks.clickhouse.preflight import StoreUnavailable, connect_checked

    dsn = get_settings().store.resolved_dsn
    if dsn.startswith("chdb://"):
        raise click.ClickException(
            "во встроенном хранилище (chdb) нет пользователей и ролей; применяйте на сервере ClickHouse"
        )
    try:
        apply_role(connect_checked(dsn), database)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("роль mcu_analyst создана")

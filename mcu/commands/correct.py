"""`mcu classify correct FILE`: operators' corrections from a spreadsheet, all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mcu.settings import get_settings


def _store_client() -> Any:
    from sinks.clickhouse.preflight import StoreUnavailable, connect_checked

    try:
        return connect_checked(get_settings().store.resolved_dsn)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _refuse(errors: list[Any], total: int) -> None:
    for e in errors:
        click.echo(str(e), err=True)
    lines = len({e.line for e in errors})
    raise click.ClickException(
        f"файл не применён: ошибок {len(errors)} в {lines} строк(ах) из {total}; ничего не изменено. "
        "Исправьте строки и запустите команду снова."
    )


@click.command("correct")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--actor", default=None, help="кто исправляет, если в файле нет столбца «Кто»")
@click.option("--dry-run", is_flag=True, help="только проверить файл и показать, что изменится; ничего не отправлять")
def correct(file: Path, actor: str | None, dry_run: bool) -> None:
    """Применить исправления категории, блока, отдела или поселения из CSV (UTF-8) или XLSX.

    Столбцы: «ID обращения» (message_id) и хотя бы один из «Категория», «Блок», «Отдел»,
    «Поселение» (коды из classify/data/taxonomy.yaml и route/data/), а также «Кто», «Причина»,
    необязательно «Дата исправления». Сначала проверяется каждая строка (коды, номер обращения в
    хранилище, кодировка); если хоть одна строка с ошибкой, не применяется ничего. Иначе каждое
    исправление уходит событием `reclassified` в case.events: обращение перенаправляется, его сроки
    переходят новому исполнителю, исправление записывается в таблицу corrections. Повторный запуск
    того же файла ничего не добавляет.
    """
    from classify.corrections import CorrectionsFileError, Owner, read_corrections, reclassified_event, reroute
    from classify.corrections import unknown_cases as missing
    from mcu.corrections import routing_data
    from sinks.clickhouse.corrections import current_cases

    settings = get_settings()
    if settings.store.resolved_dsn.startswith("chdb://"):
        raise click.ClickException(
            "исправления из файла проверяются по хранилищу, а chdb:// открыт только работающим worker; "
            "используйте сервер ClickHouse (MCU_CLICKHOUSE_DSN=http://…) или остановите worker"
        )
    taxonomy, directory = routing_data()
    try:
        rows, errors, digest = read_corrections(file, taxonomy, directory, default_actor=actor)
    except CorrectionsFileError as exc:
        raise click.ClickException(f"{file.name}: {exc}; ничего не изменено") from None
    total = len(rows) + len({e.line for e in errors})
    client = _store_client()
    cases = current_cases(client, sorted({r.message_id for r in rows}))
    errors = sorted(errors + missing(rows, set(cases)), key=lambda e: e.line)
    if errors:
        _refuse(errors, total)
    events = []
    owners = {mid: Owner.from_row(row) for mid, row in cases.items()}
    unchanged = []
    for r in rows:
        old = owners[r.message_id]
        new = reroute(old, taxonomy, directory, **r.change)
        if new == old:
            unchanged.append(r)
            continue
        owners[r.message_id] = new
        events.append(
            reclassified_event(r.message_id, r.event_id(digest), new, at=r.at, actor=r.actor, reason=r.reason)
        )
        click.echo(
            f"строка {r.line}: {r.message_id}: {old.category}/блок {old.block}/{old.department}/{old.settlement}"
            f" → {new.category}/блок {new.block}/{new.department}/{new.settlement}"
        )
    for r in unchanged:
        click.echo(f"строка {r.line}: {r.message_id}: уже так, пропущено")
    if dry_run:
        click.echo(f"проверка: исправлений {len(events)}, без изменений {len(unchanged)}; ничего не отправлено")
        return
    from ingest.connectors.events import EventPublisher

    publisher = EventPublisher(settings.kafka, settings.topics)
    try:
        for ev in events:
            publisher.publish_event(ev)
        publisher.flush()
    except Exception as exc:
        raise click.ClickException(
            f"Kafka не подтвердила все события ({exc}); запустите команду снова: уже отправленные не повторятся"
        ) from None
    finally:
        publisher.close()
    click.echo(
        f"применено исправлений: {len(events)} (без изменений: {len(unchanged)}); обращения перенаправляются, "
        "исправления появятся в таблице corrections, когда их сохранит worker"
    )

"""`mcu replay --from-raw`: re-classify history into the store under today's model and directory."""

from __future__ import annotations

import time
from datetime import datetime
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import click

from mcu.settings import check_author_key, get_settings

MSK = ZoneInfo("Europe/Moscow")
MAX_ATTEMPTS = 8  # inserts the store refuses for itself (network, memory…) before the run stops
LINE_EVERY_S = 5.0


def parse_since(value: str) -> datetime:
    """A date or an ISO date-time; without a zone it is Moscow time, as every time from outside."""
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"ожидается дата ГГГГ-ММ-ДД или дата и время ISO 8601, получено {value!r}") from None
    if len(value) <= 10:  # a bare date: from its start
        t = datetime.combine(t.date(), dtime())
    return t if t.tzinfo else t.replace(tzinfo=MSK)


def _write_with_retry(sink: Any, rows: list[Any]) -> Any:
    from sinks.clickhouse.client import mask_secrets
    from sinks.clickhouse.sink import RetryableInsertError

    delay = 0.5
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            return sink.write(rows)
        except RetryableInsertError as exc:
            if attempt == MAX_ATTEMPTS:
                raise click.ClickException(
                    mask_secrets(
                        f"хранилище не принимает записи ({exc}); запустите команду снова — уже записанное она пропустит"
                    )
                ) from None
            click.echo(
                mask_secrets(f"запись не удалась ({exc.error.describe()}), повтор через {delay:.1f} с"), err=True
            )
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
    raise AssertionError("unreachable")


def _line(p: Any) -> str:
    share = f" ({100 * p.read / p.total:.0f} %)" if p.total else ""
    return (
        f"повторная обработка: {p.read:,} из {p.total:,}{share}, {p.rate:,.0f} сообщ./с; "
        f"записано {p.written:,}, без изменений {p.unchanged:,}, закрытых пропущено {p.skipped_closed:,}, "
        f"отклонено {sum(p.refused.values()):,}"
    ).replace(",", " ")


@click.command()
@click.option("--from-raw", "from_raw", is_flag=True,
              help="источник — сырые топики Kafka raw.<канал> (как получено); другого источника нет")  # fmt: skip
@click.option(
    "--since", "since", default=None, help="с какой даты (ГГГГ-ММ-ДД или ISO 8601; без зоны — московское время)"
)
@click.option("--open-only", is_flag=True, help="записывать только обращения, не закрытые в хранилище")
@click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000),
              help="записей Kafka в одной пачке")  # fmt: skip
@click.option("--no-refresh", is_flag=True, help="не пересчитывать агрегаты отчётов в конце")
def replay(from_raw: bool, since: str | None, open_only: bool, batch_size: int, no_refresh: bool) -> None:
    """Повторно классифицировать историю текущей моделью и справочником.

    Читает сырые топики с начала (или с --since) до концов на момент запуска, прогоняет записи
    через нормализацию, классификацию и маршрутизацию и записывает в хранилище только те
    обращения, чей результат изменился. Повторный запуск ничего не меняет. В Kafka ничего не
    пишется: сроки, события обращений и уведомления SLA не затрагиваются. С chdb:// — только при
    остановленном worker.
    """
    from classify.enricher import Enricher
    from classify.registry import ModelRegistry
    from kafkaio import clients
    from mcu.replay import Limits, Progress, Replay, plan
    from schemas.topics import RAW_TOPICS
    from sinks.clickhouse.migrate import migrate
    from sinks.clickhouse.preflight import StoreUnavailable, connect_checked

    if not from_raw:
        raise click.UsageError("укажите источник: --from-raw (сырые топики Kafka)")
    settings = get_settings()
    warning = check_author_key(settings)  # the pseudonyms must be the live pipeline's
    if warning:
        click.echo(f"ВНИМАНИЕ: {warning}", err=True)
    since_at = parse_since(since) if since else None
    try:
        client = connect_checked(settings.store.resolved_dsn)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    migrate(client, settings.store.cluster)
    # the promoted model version (mcu classify promote), as the enrich workers run it
    enricher = Enricher.load(model_path=ModelRegistry(settings.resolved_model_registry_dir).current_model_path())
    limits = Limits(
        settings.intake.author_hmac_key.get_secret_value().encode(),
        settings.intake.max_payload_bytes,
        settings.intake.max_text_chars,
        settings.topics.prefix,
    )
    run = Replay(client, enricher, limits, open_only=open_only, distributed=bool(settings.store.cluster),
                 write=_write_with_retry)  # fmt: skip
    consumer = clients.consumer(
        settings.kafka,
        group_id=None,
        enable_auto_commit=False,
        # a start offset that retention deleted meanwhile: from the oldest record kept, not the end
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        max_partition_fetch_bytes=max(settings.kafka.max_record_bytes * 2, 4 << 20),
        fetch_max_bytes=max(settings.kafka.max_record_bytes * 4, 32 << 20),
    )
    try:
        ranges = plan(consumer, [settings.topics.prefix + t for t in RAW_TOPICS], since_at)
        progress = Progress(total=sum(end - start for start, end in ranges.values()))
        click.echo(
            f"модель {enricher.model_version}; записей к обработке: {progress.total:,}".replace(",", " ")
            + (f" (с {since_at:%Y-%m-%d %H:%M %Z})" if since_at else ""),
            err=True,
        )
        _run(run, consumer, ranges, batch_size, progress)
    except TimeoutError as exc:
        raise click.ClickException(f"{exc}; уже записанное повторный запуск пропустит") from None
    finally:
        consumer.close()
    if progress.written and not no_refresh:
        from reports.store import prepare

        prepare(client)
    click.echo(_line(progress), err=True)
    for reason, n in sorted(progress.refused.items()):
        click.echo(f"  отклонено при обработке ({reason}): {n} — их записи уже в dead letters", err=True)
    for r in progress.store_rejected:
        click.echo(f"  хранилище отказало {r.source[0]}:{r.source[1]}:{r.source[2]}: {r.error.describe()}", err=True)
    click.echo(
        f"готово: прочитано {progress.read}, записано {progress.written}, без изменений {progress.unchanged}, "
        f"закрытых пропущено {progress.skipped_closed}, за {time.monotonic() - progress.started:.1f} с"
    )


def _run(run: Any, consumer: Any, ranges: Any, batch_size: int, progress: Any) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from mcu.replay import read_planned

    console = Console(stderr=True)
    if console.is_terminal:
        columns = (TextColumn("повторная обработка"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[rate]} сообщ./с"), TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("replay", total=progress.total, rate="—")
            for records in read_planned(consumer, ranges, batch_size):
                run.batch(records, progress)
                bar.update(task, completed=progress.read, rate=f"{progress.rate:,.0f}".replace(",", " "))
        return
    last = time.monotonic()
    for records in read_planned(consumer, ranges, batch_size):
        run.batch(records, progress)
        if time.monotonic() - last >= LINE_EVERY_S:
            click.echo(_line(progress), err=True)
            last = time.monotonic()

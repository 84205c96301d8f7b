import gc
import importlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from common.yaml_load import package_file
from kafkaio.producer import RawPublisher
from mcu.commands.ingest import publish_lines
from mcu.settings import check_author_key, get_settings
from sinks.clickhouse.client import mask_secrets

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

DEMO_FILE = package_file("mcu", "data/synthetic-messages.jsonl")


@click.command()
def worker() -> None:
    """Запустить обработчик конвейера (все этапы; для большего числа партиций запустите ещё)."""
    settings = get_settings()
    # Before anything is imported or connected: a worker that would store reversible pseudonyms
    # must not process a single record.
    warning = check_author_key(settings)
    if warning:
        logging.getLogger("mcu").warning(warning)
        click.echo(f"ВНИМАНИЕ: {warning}", err=True)
    from faust.worker import Worker as FaustWorker

    from mcu.agents import register
    from mcu.app import app

    # HTTP views register when imported: intake, health, counts and metrics; the channels' push
    # endpoints and Open311; reports over the store this worker owns.
    for views in ("mcu.web", "mcu.connectors_web", "mcu.reports_web"):
        importlib.import_module(views)
    from kafkaio.topic_admin import ensure_topics
    from mcu.store import store

    roles = settings.service.roles
    settings.service.var_dir.mkdir(parents=True, exist_ok=True)
    # Topics and migrations before consuming: a broker or store that cannot be reached should
    # stop the start, loudly.
    ensure_topics(settings.kafka, settings.topics)
    if "sink" in roles:
        from sinks.clickhouse.preflight import StoreUnavailable

        try:
            store.open_sync()
        except StoreUnavailable as exc:
            if exc.is_configuration:
                # Wrong credentials or a missing database do not heal by waiting: stop, in one line.
                raise click.ClickException(str(exc)) from None
            # A store that is down now may be back in a minute: the sinks retry with backoff and
            # hold their offsets meanwhile, and ops see mcu_sink_insert_failures_total rise.
            click.echo(f"{exc}; приёмник будет повторять попытки", err=True)
        except Exception as exc:  # a migration the server refused: the sink retries it with the insert
            why = " ".join(str(exc).split())[:300]
            where = settings.store.resolved_dsn
            click.echo(mask_secrets(f"ClickHouse {where}: схема не применена: {why}"), err=True)
    stages = register({role.value for role in roles})
    click.echo(f"worker {settings.service.app_id}: этапы {', '.join(stages)}", err=True)
    from mcu import loop_lag
    from mcu.broker_probe import start_probe
    from mcu.metrics import initialise_series

    initialise_series(app, stages)  # labelled series at 0 from the first scrape: see mcu/metrics.py
    start_probe(app)
    loop_lag.start_probe(app)
    if settings.service.test_drop_marker:
        from mcu.test_hooks import install_drop_marker

        install_drop_marker(app, settings.service.test_drop_marker)
    # Started the programmatic way `faust worker` uses internally, rather than nesting Faust's own
    # click CLI inside ours.
    app.finalize()
    app.worker_init()
    app.worker_init_post_autodiscover()
    faust_worker = FaustWorker(app, loglevel=settings.service.log_level, redirect_stdouts=False)
    # Faust's terminal spinner, at log levels of warn and above, sets the root logger to DEBUG so
    # that every record turns it: each debug line of Faust and aiokafka (several per message) was
    # then formatted for nothing, 5 % of a busy worker's CPU under py-spy. A service has no terminal.
    faust_worker.spinner = None
    # What is loaded by now lives as long as the worker: the classifier's model, the directories,
    # the SLA calendar, Faust and the clients, ≈ 165,000 objects that each full collection of the
    # cyclic GC walked again (67 ms) all through a backlog. Frozen, the collector leaves them alone
    # (gc.freeze); bench/e2e.py, three runs each: 2,061–2,267 msg/s without, 2,199–2,301 with.
    gc.collect()
    gc.freeze()
    faust_worker.execute_from_commandline()


@click.group()
def db() -> None:
    """Хранилище ClickHouse: миграции, пересчёт агрегатов, карантин."""


@db.command("migrate")
def db_migrate() -> None:
    """Применить новые миграции (с chdb:// — только пока ни один worker не держит хранилище)."""
    from sinks.clickhouse.migrate import migrate

    settings = get_settings()
    applied = migrate(_store_client(), settings.store.cluster, _shard_clients())
    click.echo("применено: " + (", ".join(applied) if applied else "ничего, схема актуальна"))


@db.command("refresh")
def db_refresh() -> None:
    """Пересчитать дневные и месячные агрегаты отчётов сейчас, не дожидаясь worker.

    Worker пересчитывает их каждые 5 минут; команда нужна, когда отчёт требуется сразу после
    загрузки или когда ни один worker не запущен. Нужны права записи; с chdb:// — только при
    остановленном worker (он держит хранилище).
    """
    from reports.store import prepare

    client = _store_client()
    try:
        prepare(client, _shard_clients())
    except Exception as exc:
        raise click.ClickException(mask_secrets(f"пересчёт агрегатов не удался: {exc}")) from None
    click.echo("агрегаты пересчитаны")


@db.command("quarantine")
@click.argument("message_id")
@click.option("--reason", required=True, help="почему обращение убирается (попадёт в журнал quarantine_log)")
@click.option("--by", "actor", default=None, help="кто убирает (по умолчанию: пользователь ОС)")
def db_quarantine(message_id: str, reason: str, actor: str | None) -> None:
    """Убрать обращение MESSAGE_ID из хранилища и пересчитать агрегаты.

    Удаляются все строки с этим message_id (cases, case_events, sla_events, notifications,
    case_progress), дневные и месячные агрегаты пересчитываются с месяца обращения, в журнал
    quarantine_log пишется кто, когда, почему и сколько строк удалено. С chdb:// — только при
    остановленном worker (он держит хранилище).
    """
    import getpass

    from reports.store import refresh
    from sinks.clickhouse.client import connect
    from sinks.clickhouse.migrate import migrate
    from sinks.clickhouse.quarantine import NothingToQuarantine, quarantine

    settings = get_settings()
    try:
        client = connect(settings.store.resolved_dsn)
        shards = _shard_clients()
        migrate(client, settings.store.cluster, shards)
    except click.ClickException:
        raise
    except Exception as exc:
        raise click.ClickException(mask_secrets(f"хранилище недоступно: {exc}")) from exc
    try:
        result = quarantine(
            client,
            message_id,
            reason,
            actor or getpass.getuser(),
            lambda c, since: refresh(c, since, shards),
            settings.store.cluster,
            shards,
        )
    except NothingToQuarantine as exc:
        raise click.ClickException(f"обращение {message_id} в хранилище не найдено, ничего не удалено") from exc
    removed = ", ".join(f"{t}: {n}" for t, n in result.removed.items() if n)
    click.echo(f"обращение {message_id} убрано из хранилища ({removed}); запись в quarantine_log сделана")
    if result.refresh_error:
        raise click.ClickException(f"агрегаты не пересчитаны: {result.refresh_error}")
    since = f"с {result.refreshed_from:%m.%Y}" if result.refreshed_from else "полностью"
    click.echo(f"агрегаты пересчитаны {since}")


def _worker_url(path: str) -> str:
    s = get_settings()
    return f"http://{s.web.host}:{s.web.port}{path}"


def _stage_counts(metrics_text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in metrics_text.splitlines():
        if line.startswith("mcu_stage_processed_total{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            out[stage] = float(line.rsplit(" ", 1)[1])
    return out


def _snapshot(client: httpx.Client) -> Table:
    counts = client.get(_worker_url("/counts")).json()
    stages = _stage_counts(client.get(_worker_url("/metrics")).text)
    table = Table(title="МЦУ: обработка обращений (живой счётчик)")
    table.add_column("что")
    table.add_column("сколько", justify="right")
    for stage in ("normalize", "enrich", "sink"):
        table.add_row(f"этап {stage}: обработано", f"{stages.get(stage, 0):.0f}")
    table.add_row("обращений в ClickHouse", str(counts["cases"]))
    table.add_row("без поселения (unresolved)", str(counts["unresolved_settlement"]))
    table.add_row("в очереди ошибок (dead letters)", str(counts["dead_letters"]))
    return table


@click.command()
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEMO_FILE,
    help="JSONL с синтетическими обращениями (по умолчанию — демонстрационный набор)",
)
@click.option("--channel", default="webform", show_default=True, help="канал, в чей raw-топик публиковать")
@click.option("--watch", default=20.0, show_default=True, help="сколько секунд показывать живые счётчики")
def demo(path: Path, channel: str, watch: float) -> None:
    """Опубликовать небольшую пачку СИНТЕТИЧЕСКИХ обращений и смотреть, как их обрабатывает worker."""
    with RawPublisher(get_settings().kafka, get_settings().topics) as publisher, path.open("rb") as fh:
        sent, _ = publish_lines(fh, channel, publisher)
    click.echo(f"опубликовано {sent} синтетических обращений в raw.{channel} (файл {path.name})")
    with httpx.Client(timeout=5) as client, Live(console=Console(), refresh_per_second=2) as live:
        until = time.monotonic() + watch
        while time.monotonic() < until:
            try:
                live.update(_snapshot(client))
            except httpx.HTTPError as exc:
                live.update(Table(title=f"worker пока не отвечает: {exc}"))
            time.sleep(1)


def _store_client() -> "Client":
    """A client on the configured store; a bad DSN ends the command with one line, no traceback."""
    from sinks.clickhouse.preflight import StoreUnavailable, connect_checked

    try:
        return connect_checked(get_settings().store.resolved_dsn)
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None


def _shard_clients() -> "list[Client]":
    """A client per shard of a cluster without Keeper (MCU_CLICKHOUSE_SHARD_DSNS), or none."""
    from sinks.clickhouse.preflight import StoreUnavailable, connect_checked

    try:
        return [connect_checked(dsn) for dsn in get_settings().store.shard_dsn_list]
    except StoreUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
def counts() -> None:
    """Сколько строк в ClickHouse видят аналитики (с сервера; при chdb:// спрашивается worker)."""
    if not get_settings().store.resolved_dsn.startswith("chdb://"):
        from mcu.store import counts_sync
        from sinks.clickhouse.preflight import classify

        client = _store_client()
        try:
            click.echo(json.dumps(counts_sync(client), ensure_ascii=False))
        except Exception as exc:  # e.g. no tables yet: no worker has applied the migrations
            raise click.ClickException(str(classify(exc, get_settings().store.resolved_dsn))) from None
        return
    # chdb:// is held by the running worker: only it can read the store.
    try:
        click.echo(json.dumps(httpx.get(_worker_url("/counts"), timeout=10).json(), ensure_ascii=False))
    except httpx.HTTPError as exc:
        raise click.ClickException(f"worker по адресу {_worker_url('/counts')} не отвечает: {exc}") from exc

"""`mcu connector ...` and `mcu simulate`: run the channel connectors and the synthetic traffic."""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ingest.connectors.base import Connector, PermanentError, Runner, RunStats
from ingest.connectors.formats import FORMATS
from ingest.connectors.registry import IMPORTS, POLLED, NotConfigured, cursor_store, file_import, polled_connector
from mcu.settings import Settings, get_settings

if TYPE_CHECKING:
    from ingest.connectors.events import EventPublisher
    from kafkaio.probe import KafkaProbe
    from kafkaio.producer import RawPublisher


def _publishers(settings: Settings) -> tuple[RawPublisher, EventPublisher]:
    from ingest.connectors.events import EventPublisher
    from kafkaio.producer import RawPublisher

    raw = RawPublisher(settings.kafka, settings.topics)
    # One producer for both topics: a second sender thread only competes for the GIL.
    return raw, EventPublisher(settings.kafka, settings.topics, producer=raw._producer)


def _probe(settings: Settings) -> KafkaProbe:
    """Reads the raw topic back after a run that died mid-batch (see ingest.connectors.base)."""
    from kafkaio.probe import KafkaProbe

    return KafkaProbe(settings.kafka, settings.topics)


def _stop_on_signals() -> threading.Event:
    """SIGINT/SIGTERM finish the batch in hand (its cursor is saved), then stop: nothing repeats."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _run(conn: Connector, settings: Settings, poll_seconds: float | None) -> RunStats:
    """Drain ``conn`` once (``poll_seconds`` None) or poll it until a signal; the publishers close after."""
    raw, events = _publishers(settings)
    runner = Runner(conn, raw, cursor_store(settings.service.var_dir), events, probe=_probe(settings))
    stop = _stop_on_signals()
    try:
        return runner.drain(stop) if poll_seconds is None else runner.run_forever(stop, poll_seconds)
    except PermanentError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        raw.close()
        events.close()


@click.group("connector")
def connector() -> None:
    """Коннекторы каналов: опрос источника или загрузка файла выгрузки в raw.<канал>."""


@connector.command("run")
@click.argument("name", type=click.Choice(POLLED))
@click.option("--once", is_flag=True, help="один цикл опроса, затем выход")
def run_connector(name: str, once: bool) -> None:
    """Опрашивать NAME (vk, telegram, email) до остановки; курсор — в <MCU_VAR_DIR>/connectors."""
    settings = get_settings()
    try:
        conn = polled_connector(name, settings.connectors)
    except NotConfigured as exc:
        raise click.UsageError(f"{name}: {exc}") from exc
    poll = None if once else settings.connectors.poll_seconds
    stats = _run(conn, settings, poll)
    click.echo(f"{name}: записей {stats.records}, событий статуса {stats.events}, пачек {stats.batches}")
    if stats.skipped:
        click.echo(f"записей прерванной пачки уже в топике: {stats.skipped}; повторно не отправлены")


@connector.command("import")
@click.argument("name", type=click.Choice(IMPORTS))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--batch-size", default=500, show_default=True, type=click.IntRange(1), help="строк в одной пачке публикации"
)
def import_file(name: str, file: Path, batch_size: int) -> None:
    """Загрузить файл выгрузки FILE (CSV или XLSX) канала NAME; повторный запуск ничего не дублирует."""
    stats = _run(file_import(name, file, batch_size), get_settings(), poll_seconds=None)
    click.echo(f"{file.name}: строк {stats.records}, событий статуса {stats.events} опубликовано в raw.{name}")
    if stats.skipped:
        click.echo(f"строк прерванной пачки уже в топике: {stats.skipped}; повторно не отправлены")


@connector.command("status")
def status() -> None:
    """Курсор каждого коннектора и когда он записан в последний раз."""
    store = cursor_store(get_settings().service.var_dir)
    files = sorted(store.directory.glob("*.cursor.json")) if store.directory.exists() else []
    if not files:
        click.echo(f"в {store.directory} нет курсоров")
    for f in files:
        when = datetime.fromtimestamp(f.stat().st_mtime, UTC).isoformat(timespec="seconds")
        click.echo(f"{f.name.removesuffix('.cursor.json')}\t{when}\t{f.read_text('utf-8')[:300]}")


@connector.command("formats")
def formats() -> None:
    """Какие колонки ждёт каждый формат загрузки файлов и что в нём подтверждено."""
    for channel, fmt in FORMATS.items():
        click.echo(f"{channel.value}: {fmt.provenance}")
        for canonical, aliases in fmt.columns.items():
            click.echo(f"    {canonical}: {' | '.join(aliases)}")


@click.command("simulate")
@click.option("--rate", default=50.0, show_default=True, help="записей в секунду (0 — без пауз)")
@click.option("--days", default=1.0, show_default=True, help="длина моделируемого периода в днях, до текущего момента")
@click.option("--per-day", default=200.0, show_default=True, help="обращений в моделируемые сутки (по округу)")
@click.option("--seed", default=1, show_default=True, type=int, help="зерно генератора: один seed — один поток")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), help="писать файлы JSONL в этот каталог, а не в Kafka"
)
@click.option("--follow", is_flag=True, help="после периода продолжать в реальном времени до остановки (только Kafka)")
@click.option("--speed", default=1.0, show_default=True, help="с --follow: моделируемых секунд за одну реальную")
def simulate_cmd(
    rate: float, days: float, per_day: float, seed: int, out: Path | None, follow: bool, speed: float
) -> None:
    """Синтетический поток обращений округа (каждая запись помечена "synthetic": true) и события статуса."""
    from ingest.connectors.base import json_bytes
    from ingest.simulator import SimConfig, simulate

    now = datetime.now(UTC)
    if follow and out is not None:
        raise click.UsageError("--follow публикует в Kafka в реальном времени; вместе с --out нельзя")
    cfg = SimConfig(days=days, per_day=per_day, seed=seed, end=now + timedelta(days=3650) if follow else now,
                    start=now - timedelta(days=days))  # fmt: skip
    records = simulate(cfg)
    t0 = time.monotonic()
    stop = _stop_on_signals()
    counts = {"messages": 0, "events": 0}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        handles: dict[str, Any] = {}
        try:
            for rec in records:
                if stop.is_set():
                    break
                key = "case.events" if rec.event else f"raw.{rec.channel.value}"
                fh = handles.get(key) or handles.setdefault(key, (out / f"{key}.jsonl").open("w", encoding="utf-8"))
                if rec.event:
                    fh.write(rec.event.model_dump_json() + "\n")
                    counts["events"] += 1
                else:
                    fh.write(
                        json.dumps({"source_id": rec.source_id, "payload": rec.payload}, ensure_ascii=False) + "\n"
                    )
                    counts["messages"] += 1
        finally:
            for fh in handles.values():
                fh.close()
        click.echo(f"записано в {out}: синтетических обращений {counts['messages']}, событий {counts['events']}")
        return
    settings = get_settings()
    raw, events = _publishers(settings)
    interval = 1.0 / rate if rate > 0 else 0.0
    next_at = time.monotonic()
    try:
        for rec in records:
            if stop.is_set():
                break
            if follow and rec.at > now:
                # Live part: wait until the simulated clock reaches the record, then send it at once.
                ahead = (rec.at - now).total_seconds() / max(speed, 1e-9) - (time.monotonic() - t0)
                if ahead > 0:
                    raw.flush()
                    events.flush()
                    if stop.wait(ahead):
                        break
                next_at = time.monotonic()
            if rec.event:
                events.publish_event(rec.event)
                counts["events"] += 1
            else:
                raw.publish(rec.channel, json_bytes(rec.payload), source_id=rec.source_id, received_at=rec.at)
                counts["messages"] += 1
            if interval:
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        raw.flush()
        events.flush()
    finally:
        raw.close()
        events.close()
    click.echo(f"опубликовано синтетических обращений {counts['messages']}, событий статуса {counts['events']}")
    if stop.is_set():
        sys.exit(130)

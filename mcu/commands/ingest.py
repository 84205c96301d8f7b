import sys
from pathlib import Path
from typing import BinaryIO

import click

from kafkaio.producer import RawPublisher, RecordTooLarge
from mcu.settings import get_settings
from schemas import Channel


@click.group()
def ingest() -> None:
    """Публикация сырых обращений в Kafka (raw.<канал>)."""


def publish_lines(stream: BinaryIO, channel: str, publisher: RawPublisher) -> tuple[int, list[str]]:
    """Each non-empty line is one record, published byte for byte: even a broken line must reach
    the normaliser, which turns it into a dead letter with its reason."""
    sent, refused = 0, []
    for number, line in enumerate(stream, start=1):
        body = line.rstrip(b"\r\n")
        if not body.strip():
            continue
        try:
            publisher.publish(channel, body)
            sent += 1
        except RecordTooLarge as exc:
            refused.append(f"строка {number}: {exc}")
    publisher.flush()
    return sent, refused


@ingest.command("jsonl")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option(
    "--channel", required=True, type=click.Choice([c.value for c in Channel]), help="канал, в чей raw-топик писать"
)
def ingest_jsonl(file: Path, channel: str) -> None:
    """Опубликовать каждую строку FILE (JSON Lines; '-' — стандартный ввод) в raw.<канал>."""
    with RawPublisher(get_settings().kafka, get_settings().topics) as publisher:
        if str(file) == "-":
            sent, refused = publish_lines(sys.stdin.buffer, channel, publisher)
        else:
            with file.open("rb") as fh:
                sent, refused = publish_lines(fh, channel, publisher)
    click.echo(f"опубликовано записей: {sent} в raw.{channel}")
    for line in refused:
        click.echo(f"отклонено: {line}", err=True)
    if refused:
        sys.exit(1)

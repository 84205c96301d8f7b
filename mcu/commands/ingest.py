import sys
from pathlib import Path
from typing import BinaryIO

import click

from kafkaio.producer import RawPublisher, RecordTooLarge
from mcu.settings import get_settings
from schemas import Channel


@click.group()
def ingest() -> None:
    """Publish raw messages to Kafka (raw.<channel>)."""


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
            refused.append(f"line {number}: {exc}")
    publisher.flush()
    return sent, refused


@ingest.command("jsonl")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--channel", required=True, type=click.Choice([c.value for c in Channel]))
def ingest_jsonl(file: Path, channel: str) -> None:
    """Publish every line of FILE (JSON Lines; '-' reads stdin) to raw.<channel>."""
    with RawPublisher(get_settings().kafka, get_settings().topics) as publisher:
        if str(file) == "-":
            sent, refused = publish_lines(sys.stdin.buffer, channel, publisher)
        else:
            with file.open("rb") as fh:
                sent, refused = publish_lines(fh, channel, publisher)
    click.echo(f"published {sent} record(s) to raw.{channel}")
    for line in refused:
        click.echo(f"refused {line}", err=True)
    if refused:
        sys.exit(1)

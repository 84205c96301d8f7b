import sys
from collections import Counter

import click
from rich.console import Console
from rich.table import Table

from kafkaio.producer import RawPublisher
from kafkaio.topic_reader import read_topic
from mcu.settings import get_settings
from schemas import DeadLetter
from schemas.topics import DLQ, RAW_PREFIX


def _letters() -> list[DeadLetter]:
    settings = get_settings()
    return [DeadLetter.model_validate_json(r.value) for r in read_topic(settings.kafka, settings.topics.prefix + DLQ)]


@click.group()
def dlq() -> None:
    """Dead letters: records a stage could not take, with the reason."""


@dlq.command("show")
@click.option("--limit", default=50, show_default=True, help="newest N letters")
@click.option("--reason", default=None, help="only this reason code")
def show(limit: int, reason: str | None) -> None:
    """List dead letters (read from the dlq topic; works while the worker runs)."""
    letters = [d for d in _letters() if reason is None or d.reason == reason]
    by_reason = Counter(d.reason for d in letters)
    table = Table(title=f"Dead letters: {len(letters)}  " + ", ".join(f"{k}={v}" for k, v in by_reason.items()))
    for col in ("at (UTC)", "stage", "reason", "source", "bytes", "error"):
        table.add_column(col)
    for d in sorted(letters, key=lambda d: d.at)[-limit:]:
        table.add_row(
            d.at.strftime("%Y-%m-%d %H:%M:%S"), d.stage, d.reason, f"{d.topic}[{d.partition}]@{d.offset}",
            str(len(d.original())), d.error[:80],
        )  # fmt: skip
    Console(width=200).print(table)


@dlq.command("replay")
@click.option("--reason", default=None, help="only letters with this reason code")
@click.option("--stage", default="normalize", show_default=True, help="only letters of this stage")
def replay(reason: str | None, stage: str) -> None:
    """Re-feed dead letters of raw topics (after a fix) to the topic they came from."""
    settings = get_settings()
    letters = [
        d for d in _letters()
        if d.stage == stage and (reason is None or d.reason == reason)
        and d.topic.removeprefix(settings.topics.prefix).startswith(RAW_PREFIX)
    ]  # fmt: skip
    with RawPublisher(settings.kafka, settings.topics) as publisher:
        for d in letters:
            publisher.publish(d.topic.removeprefix(settings.topics.prefix).removeprefix(RAW_PREFIX), d.original())
    click.echo(f"replayed {len(letters)} letter(s)")
    sys.exit(0)

"""`mcu classify ...`: predict on JSONL, evaluate on labelled data, train the statistical layer."""

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import click

from classify.clusters import ClusterIndex
from classify.enricher import Enricher
from schemas.channels import Channel
from schemas.message import NormalizedMessage


def _channel(value: object) -> Channel:
    try:
        return Channel(str(value))
    except ValueError:
        return Channel.WEBFORM


def message_from_line(d: dict[str, Any], line_no: int) -> NormalizedMessage:
    """A predict input line ({id, text, channel?, lat?, lon?, hints?, created_at?}) as a message."""
    now = datetime.now(UTC)
    created = d.get("created_at")
    return NormalizedMessage(
        message_id=str(d.get("id", line_no)),
        channel=_channel(d.get("channel", "webform")),
        source_id=str(d.get("id", line_no)),
        created_at=datetime.fromisoformat(created) if created else now,
        fetched_at=now,
        normalized_at=now,
        text=str(d["text"]) or " ",
        title=d.get("title"),
        lat=d.get("lat"),
        lon=d.get("lon"),
        address=d.get("address"),
        hints={str(k): str(v) for k, v in (d.get("hints") or {}).items()},
    )


def predict_record(enricher: Enricher, d: dict[str, Any], line_no: int) -> dict[str, Any]:
    c, r = enricher.enrich(message_from_line(d, line_no))
    return {
        "id": d.get("id", line_no),
        "category": c.category,
        "category_name": c.category_name,
        "department": r.department,
        "department_name": r.department_name,
        "block": r.block,
        "block_name": r.block_name,
        "forward_to": r.forward_to,
        "level": r.level,
        "settlement": r.settlement,
        "settlement_name": r.settlement_name,
        "locality": r.locality,
        "settlement_evidence": r.settlement_evidence,
        "kind": c.kind,
        "sentiment": c.sentiment,
        "urgency": c.urgent,
        "urgency_reasons": c.urgency_reasons,
        "conflict": c.conflict,
        "confidence": c.confidence,
        "needs_review": c.needs_review,
        "cluster_id": c.cluster_id,
        "cluster_size": enricher.clusters.size(c.cluster_id) if enricher.clusters and c.cluster_id else 0,
    }


@click.group("classify")
def classify() -> None:
    """Классификация и маршрутизация обращений (правила + статистическая модель)."""


@classify.command()
@click.option("--input", "input_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--output", "output_path", type=click.Path(dir_okay=False, path_type=Path), default="-")
@click.option("--no-model", is_flag=True, help="rules only (for comparison)")
def predict(input_path: Path, output_path: Path, no_model: bool) -> None:
    """Classify and route every line of a JSONL file."""
    enricher = Enricher.load(use_model=not no_model, clusters=ClusterIndex())
    out: TextIO = sys.stdout if str(output_path) == "-" else output_path.open("w", encoding="utf-8")
    n = 0
    try:
        with input_path.open(encoding="utf-8") as f:
            for i, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    rec = predict_record(enricher, d, i)
                except (ValueError, KeyError) as exc:
                    raise click.ClickException(f"{input_path}:{i}: {exc}") from exc
                out.write(json.dumps(rec, ensure_ascii=False) + "\n")
                n += 1
    finally:
        if out is not sys.stdout:
            out.close()
    click.echo(f"{n} messages classified", err=True)

import json
from pathlib import Path

import click

from schemas import Case, CaseEvent, DeadLetter, NormalizedMessage, RawEnvelope, SlaEvent

MODELS = {
    "raw_envelope": RawEnvelope,
    "normalized_message": NormalizedMessage,
    "case": Case,
    "case_event": CaseEvent,
    "sla_event": SlaEvent,
    "dead_letter": DeadLetter,
}


@click.group("schemas")
def schemas_group() -> None:
    """Схемы записей в топиках."""


@schemas_group.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default="schemas/json")
def export(directory: Path) -> None:
    """Записать в DIRECTORY по одному файлу JSON Schema на каждый тип записи."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, model in MODELS.items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), ensure_ascii=False, indent=2) + "\n", "utf-8")
        click.echo(str(path))

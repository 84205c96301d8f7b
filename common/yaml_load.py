"""Load a packaged YAML file into a pydantic model, with errors that name the file and the line."""

from importlib import resources
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class DataFileError(ValueError):
    """A data file is missing, is not YAML, or does not match its schema."""


def _line_of(node: yaml.Node, loc: tuple[int | str, ...]) -> int | None:
    """Line (1-based) of the YAML node at a pydantic error location, as deep as it resolves."""
    line = node.start_mark.line + 1
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
        line = node.start_mark.line + 1
    return line


def load_yaml_model(model: type[M], path: Path | str) -> M:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise DataFileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            line = _line_of(node, err["loc"]) if node is not None else None
            lines.append(f"{path}:{line}: {loc}: {err['msg']}")
        raise DataFileError("\n".join(lines)) from exc


def package_file(package: str, name: str) -> Path:
    """A data file shipped inside a package (package data in pyproject.toml): the one way every
    package finds its data, in a checkout and in a wheel install alike."""
    try:
        ref = resources.files(package).joinpath(name)
    except ModuleNotFoundError as exc:
        raise DataFileError(f"no package {package!r} for data file {name}") from exc
    # Installed as files (setuptools, never a zip here), so the traversable is a real path.
    return Path(str(ref))

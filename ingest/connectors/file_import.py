"""File import of registry/portal exports (CSV, XLSX): the one connector behind several channels.

The cursor remembers, per file digest, how many rows are already published: importing the same
file again publishes nothing, a run stopped mid-file resumes at the next row, and a newer export
(new digest) is read whole — its rows keep their source ids, so re-exported appeals replace their
earlier version downstream and their new statuses become CaseEvents.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.connectors.base import Batch, Cursor, PermanentError, RawItem, json_bytes
from ingest.connectors.tables import TableError, file_digest, pick, read_table
from schemas import CaseEvent, Channel

RowEvents = Callable[[str, dict[str, Any]], list[CaseEvent]]


@dataclass(frozen=True)
class RowFormat:
    """How one channel's export looks: canonical field → column aliases, and which field is the id."""

    channel: Channel
    columns: dict[str, tuple[str, ...]]
    id_field: str
    events: RowEvents = field(default=lambda _sid, _row: [])
    # What is known about this format and from where; shown by `mcu connector formats`.
    provenance: str = ""

    def known_headers(self) -> list[str]:
        return [alias for aliases in self.columns.values() for alias in aliases]

    def get(self, row: dict[str, Any], canonical: str) -> Any:
        return pick(row, self.columns.get(canonical, ()))

    def source_id(self, row: dict[str, Any]) -> str:
        value = self.get(row, self.id_field)
        if value not in (None, ""):
            return str(value).strip()
        digest = hashlib.sha256(json.dumps(row, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
        return "sha256:" + digest


class FileImport:
    """One file of one channel; ``fetch`` hands out ``batch_size`` rows at a time."""

    def __init__(self, fmt: RowFormat, path: Path, batch_size: int = 500) -> None:
        self.fmt = fmt
        self.path = path
        self.batch_size = batch_size
        self.channel = fmt.channel
        self.name = f"{fmt.channel.value}.import"
        self._digest: str | None = None
        self._rows: list[dict[str, Any]] | None = None

    def _load(self) -> tuple[str, list[dict[str, Any]]]:
        if self._rows is None:
            if not self.path.is_file():
                raise PermanentError(f"{self.path}: no such file")
            self._digest = file_digest(self.path)
            try:
                self._rows = read_table(self.path, self.fmt.known_headers())
            except TableError as exc:
                raise PermanentError(f"{self.path.name}: {exc}") from exc
        assert self._digest is not None
        return self._digest, self._rows

    def fetch(self, cursor: Cursor | None) -> Batch:
        digest, rows = self._load()
        files: dict[str, Any] = dict((cursor or {}).get("files", {}))
        done = int(files.get(digest, {}).get("rows_done", 0))
        chunk = rows[done : done + self.batch_size]
        items, events = [], []
        for offset, row in enumerate(chunk, start=done + 1):
            sid = self.fmt.source_id(row)
            if set(row) == {"_unparsed"}:
                # A broken line of a JSON dump goes on as it was, so its dead letter says bad_json.
                items.append(RawItem(source_id=sid, body=str(row["_unparsed"]).encode("utf-8")))
                continue
            payload = {**row, "_import": {"file": self.path.name, "sha256": digest[:16], "row": offset}}
            items.append(RawItem(source_id=sid, body=json_bytes(payload)))
            events.extend(self.fmt.events(sid, row))
        new_done = done + len(chunk)
        files[digest] = {"name": self.path.name, "rows_done": new_done, "rows": len(rows)}
        return Batch(items=items, events=events, cursor={"files": files}, more=new_done < len(rows))

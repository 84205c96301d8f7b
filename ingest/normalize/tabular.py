"""Mapper for channels whose records are registry/portal rows (ПОС, Инцидент-менеджмент, 59-ФЗ
letters, the public reception, «Активный гражданин»): the same aliases the importer reads."""

from __future__ import annotations

from typing import Any

from ingest.connectors.file_import import RowFormat
from ingest.connectors.tables import parse_local_datetime
from ingest.normalize.rejected import Rejected
from schemas import RawEnvelope

HINTS = ("settlement", "rubric", "addressee", "network", "kind", "via")


def coordinate(value: Any, field: str) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip().replace(",", "."))
    except ValueError as exc:
        raise Rejected("validation", f"{field}: not a number: {str(value)[:40]!r}") from exc


def table_mapper(fmt: RowFormat):  # type: ignore[no-untyped-def]
    def fields(env: RawEnvelope) -> dict[str, Any]:
        p = env.payload
        g = fmt.get
        text = g(p, "text")
        if text is not None and not isinstance(text, str):
            raise Rejected("validation", f"text: expected a string, got {type(text).__name__}")
        raw_time = g(p, "created_at") or g(p, "reg_date")
        created_at = parse_local_datetime(raw_time)
        if raw_time is not None and created_at is None:
            raise Rejected("validation", f"created_at: unreadable date {str(raw_time)[:40]!r}")
        hints = {k: str(v) for k in HINTS if (v := g(p, k)) not in (None, "")}
        reg_number = g(p, "id")
        extra: dict[str, Any] = {}
        if "reg_date" in fmt.columns and reg_number is not None:
            hints["registration_number"] = str(reg_number)
            extra["registration_number"] = str(reg_number)
            reg_date = parse_local_datetime(g(p, "reg_date"))
            if reg_date is not None:
                extra["registration_date"] = reg_date.isoformat()
        for key in ("status", "deadline"):
            value = g(p, key)
            if value not in (None, ""):
                extra[key] = str(value)
        if isinstance(p.get("_import"), dict):
            extra["import"] = p["_import"]
        if p.get("synthetic") is True:
            extra["synthetic"] = True
        author = g(p, "author")
        return {
            "text": text,
            "title": g(p, "title"),
            "created_at": created_at or env.received_at,
            "source_url": g(p, "url"),
            "author": None if author is None else str(author),
            "lat": coordinate(g(p, "lat"), "lat"),
            "lon": coordinate(g(p, "lon"), "lon"),
            "address": g(p, "address"),
            "hints": hints,
            "extra": extra,
        }

    return fields

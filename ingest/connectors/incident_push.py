"""АС «Инцидент-менеджмент» push: one incident (JSON object) or an array of them per request.

The keys are those of ``formats.INCIDENT`` (English JSON keys or the export's Russian headers);
statuses in a record become CaseEvents like in the file import.
"""

from __future__ import annotations

import json

from ingest.connectors.base import RawItem
from ingest.connectors.formats import FORMATS
from kafkaio.wire import derive_source_id
from schemas import CaseEvent, Channel

MAX_RECORDS = 1000


class TooManyRecords(ValueError):
    """More records in one push than it may carry: the caller splits it (413)."""


def incident_records(body: bytes) -> tuple[list[RawItem], list[CaseEvent]]:
    """Each object is one raw record; anything unreadable goes on whole, to end in the dead letters."""
    fmt = FORMATS[Channel.INCIDENT]
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return [RawItem(derive_source_id(body), body)], []
    objects = data if isinstance(data, list) else [data]
    if len(objects) > MAX_RECORDS:
        raise TooManyRecords(f"{len(objects)} records in one push, limit {MAX_RECORDS}")
    items, events = [], []
    for obj in objects:
        raw = json.dumps(obj, ensure_ascii=False).encode()
        if not isinstance(obj, dict):
            items.append(RawItem(derive_source_id(raw), raw))
            continue
        sid = fmt.source_id(obj)
        items.append(RawItem(sid, raw))
        events.extend(fmt.events(sid, obj))
    return items, events

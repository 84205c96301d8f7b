"""Applying ``reclassified`` case events to the store: the case re-routed, the correction recorded.

Called by the case-events sink once the events themselves are stored (mcu/corrections.py), on the
store's thread. Idempotent under re-delivery: a correction already in ``corrections`` is not
computed again from the (already re-routed) case, its stored ``new_*`` values are re-applied, so
the old values and the model version in the table always describe the decision that was corrected.
Order of the two inserts: ``corrections`` first, then ``cases``; a crash in between leaves a
correction whose case row is rewritten on the re-delivery that follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from clickhouse_connect.driver.client import Client

from classify.corrections import Owner, check_change, reroute
from classify.taxonomy import Taxonomy
from route.directory import Directory
from schemas.events import CaseEvent, CaseEventType
from sinks.clickhouse.rows import CASE_COLUMNS
from sinks.clickhouse.writer import insert_batch

CORRECTION_COLUMNS = [
    "event_id", "message_id", "corrected_at", "source", "actor", "reason", "model_version", "case_created_at",
    "channel", "confidence", "needs_review", "old_category", "new_category", "old_block", "new_block",
    "old_department", "new_department", "old_settlement", "new_settlement",
]  # fmt: skip


# Added to a corrected row's version: enrichment versions are milliseconds (~1.8e12), far below.
CORRECTED = 1 << 62


@dataclass
class Applied:
    """What one batch of events did: corrections stored, events whose case is not in the store, refused ones."""

    stored: list[dict[str, Any]] = field(default_factory=list)
    unknown_case: list[CaseEvent] = field(default_factory=list)
    refused: list[tuple[CaseEvent, list[str]]] = field(default_factory=list)
    repeated: int = 0


def source_of(event_id: str) -> str:
    """Which path made the correction: ``api``, ``file`` or a connector's channel (its event id prefix)."""
    return event_id.split(":", 1)[0] if ":" in event_id else "other"


def change_of(ev: CaseEvent) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "category": ev.category,
            "block": ev.block,
            "department": ev.department,
            "settlement": ev.settlement,
        }.items()
        if v not in (None, "")
    }


def current_cases(client: Client, message_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The store's row of each case (FINAL: the latest version), by message id; absent ids are absent."""
    if not message_ids:
        return {}
    result = client.query(
        f"SELECT {', '.join(CASE_COLUMNS)} FROM cases FINAL WHERE message_id IN {{ids:Array(String)}}",
        parameters={"ids": list(message_ids)},
    )
    return {row[0]: dict(zip(CASE_COLUMNS, row, strict=True)) for row in result.result_rows}


def stored_corrections(client: Client, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not event_ids:
        return {}
    result = client.query(
        f"SELECT {', '.join(CORRECTION_COLUMNS)} FROM corrections FINAL WHERE event_id IN {{ids:Array(String)}}",
        parameters={"ids": list(event_ids)},
    )
    return {row[0]: dict(zip(CORRECTION_COLUMNS, row, strict=True)) for row in result.result_rows}


def _token(table: str, event_ids: Sequence[str]) -> str:
    digest = hashlib.blake2b("|".join(sorted(event_ids)).encode(), digest_size=12).hexdigest()
    return f"{table}|reclassified|{digest}"


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def apply_reclassified(
    client: Client,
    events: Sequence[CaseEvent],
    taxonomy: Taxonomy,
    directory: Directory,
    now: datetime | None = None,
    distributed: bool = False,
) -> Applied:
    """Re-route the cases of ``events`` (type ``reclassified``; others are ignored) and record them."""
    events = [e for e in events if e.type is CaseEventType.RECLASSIFIED]
    out = Applied()
    if not events:
        return out
    now = now or datetime.now(UTC)
    cases = current_cases(client, sorted({e.message_id for e in events}))
    before = stored_corrections(client, [e.event_id for e in events])
    new_rows: list[dict[str, Any]] = []
    touched: dict[str, dict[str, Any]] = {}
    # In event time, then arrival: two corrections of one case in a batch apply in the order they happened.
    for ev in sorted(events, key=lambda e: e.at):
        row = cases.get(ev.message_id)
        if row is None:
            out.unknown_case.append(ev)
            continue
        old = Owner.from_row(row)
        stored = before.get(ev.event_id)
        if stored is not None:
            out.repeated += 1
            change = {
                "category": stored["new_category"],
                "block": stored["new_block"],
                "department": stored["new_department"],
                "settlement": stored["new_settlement"],
            }
        else:
            change = change_of(ev)
            problems = check_change(taxonomy, directory, **change)
            if problems:
                out.refused.append((ev, problems))
                continue
        if change.get("category") == "unresolved":
            change.pop("category")
        new = reroute(old, taxonomy, directory, **change)
        if stored is None:
            correction = {
                "event_id": ev.event_id,
                "message_id": ev.message_id,
                "corrected_at": ev.at,
                "source": source_of(ev.event_id),
                "actor": ev.actor or "",
                "reason": ev.reason or ev.comment or "",
                "model_version": row["model_version"],
                "case_created_at": row["created_at"],
                "channel": row["channel"],
                "confidence": row["confidence"],
                "needs_review": row["needs_review"],
                "old_category": old.category,
                "new_category": new.category,
                "old_block": old.block,
                "new_block": new.block,
                "old_department": old.department,
                "new_department": new.department,
                "old_settlement": old.settlement,
                "new_settlement": new.settlement,
            }
            new_rows.append(correction)
            out.stored.append(correction)
        updated = {**row, **new.as_row()}
        updated["needs_review"] = 0  # an operator looked at it
        if new.settlement != old.settlement:
            updated["settlement_evidence"] = "correction"
        # Above every enrichment's version (ms of enriched_at) for good, and above earlier corrections:
        # a re-classification of open cases after a model promotion must not undo an operator's label.
        updated["version"] = max(int(row["version"]) + 1, CORRECTED + _ms(now))
        cases[ev.message_id] = updated
        touched[ev.message_id] = updated
    if new_rows:
        insert_batch(
            client,
            "corrections",
            CORRECTION_COLUMNS,
            [[r[c] for c in CORRECTION_COLUMNS] for r in new_rows],
            _token("corrections", [r["event_id"] for r in new_rows]),
            distributed,
        )
    if touched:
        insert_batch(
            client,
            "cases",
            CASE_COLUMNS,
            [[r[c] for c in CASE_COLUMNS] for r in touched.values()],
            _token("cases", [e.event_id for e in events]) + f"|{_ms(now)}",
            distributed,
        )
    return out

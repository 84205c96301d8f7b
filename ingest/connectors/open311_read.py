"""Open311 GeoReport v2, the read side: ``GET requests``, ``GET requests/{id}`` and ``GET tokens/{token}``
answered from the store (the protocol's intake side, services and POST, is ``open311``).

The reads list requests that came in through Open311 only, with the text and address masked
(phones, e-mails, names) and nothing of the author: anyone may read them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.connectors.open311 import (
    DEFAULT_WINDOW,
    EARLIEST,
    MAX_IDS,
    MAX_RESULTS,
    Open311Error,
    check_jurisdiction,
    parse_w3c,
)

SELECT = """
SELECT c.message_id, c.source_id, c.category, c.category_name, c.text, c.created_at, c.address, c.lat, c.lon,
       c.block, c.block_name, c.settlement, c.settlement_name, c.department_name, c.forward_to, c.kind, c.urgent,
       p.answered, p.resolved, p.reopened_at, p.closed, p.deadline, p.breached
FROM (SELECT * FROM cases FINAL WHERE channel = 'open311' {where}) AS c
LEFT JOIN (
    SELECT message_id, max(last_answered_at) AS answered, max(last_resolved_at) AS resolved,
           max(last_reopened_at) AS reopened_at, max(closed_at) AS closed, max(deadline) AS deadline,
           max(breached) AS breached
    FROM case_progress GROUP BY message_id
) AS p ON p.message_id = c.message_id
ORDER BY c.created_at DESC, c.message_id
LIMIT {{limit:UInt32}} OFFSET {{offset:UInt64}}
"""
COLUMNS = (
    "message_id", "source_id", "category", "category_name", "text", "created_at", "address", "lat", "lon", "block",
    "block_name", "settlement", "settlement_name", "department_name", "forward_to", "kind", "urgent", "answered",
    "resolved",
    "reopened_at", "closed", "deadline", "breached",
)  # fmt: skip
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _int_arg(args: dict[str, str], key: str, default: int, lo: int, hi: int) -> int:
    value = (args.get(key) or "").strip()
    if not value:
        return default
    if not value.isdigit() or not lo <= int(value) <= hi:
        raise Open311Error(400, f"{key}: a whole number from {lo} to {hi}")
    return int(value)


def requests_query(
    args: dict[str, str], now: datetime | None = None, jurisdiction: str | None = None
) -> tuple[str, dict[str, Any]]:
    """GET requests filters → (sql, parameters). IDs given: other filters are ignored, as the spec says.

    The window is the spec's: the last 90 days by default, never more than 90 days, at most 1000
    requests; ``page`` and ``page_size`` (the spec's widely implemented extension) page through it.
    """
    now = now or datetime.now(UTC)
    check_jurisdiction(args.get("jurisdiction_id"), jurisdiction)
    params: dict[str, Any] = {}
    if args.get("service_request_id"):
        ids = [x.strip() for x in args["service_request_id"].split(",") if x.strip()]
        if len(ids) > MAX_IDS or not all(_ID.match(x) for x in ids):
            raise Open311Error(400, f"service_request_id: up to {MAX_IDS} ids, comma separated")
        params.update(ids=ids, limit=MAX_RESULTS, offset=0)
        return SELECT.format(where="AND message_id IN {ids:Array(String)}"), params
    status = (args.get("status") or "").strip().lower()
    if status and not {s.strip() for s in status.split(",")} <= {"open", "closed"}:
        raise Open311Error(400, "status: open, closed or both, comma separated")
    end = parse_w3c(args["end_date"], "end_date") if args.get("end_date") else None
    start = parse_w3c(args["start_date"], "start_date") if args.get("start_date") else None
    if end is None:
        end = min(start + DEFAULT_WINDOW, now) if start is not None else now
    if start is None:
        start = end - DEFAULT_WINDOW
    latest = now + timedelta(days=366)  # a window reaching past today is harmless; year 9999 is not
    for key, value in (("start_date", start), ("end_date", end)):
        if not EARLIEST <= value <= latest:
            raise Open311Error(400, f"{key}: outside {EARLIEST.date()} … {latest.date()}")
    if start > end:
        raise Open311Error(400, "start_date is after end_date")
    if end - start > DEFAULT_WINDOW:
        raise Open311Error(400, "start_date and end_date may not span more than 90 days")
    page_size = _int_arg(args, "page_size", MAX_RESULTS, 1, MAX_RESULTS)
    page = _int_arg(args, "page", 1, 1, 10_000)
    params.update(
        start=start.astimezone(UTC).replace(tzinfo=None),
        end=end.astimezone(UTC).replace(tzinfo=None),
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    clauses = ["AND created_at >= {start:DateTime64(3)} AND created_at <= {end:DateTime64(3)}"]
    if args.get("service_code"):
        params["codes"] = [x.strip() for x in args["service_code"].split(",") if x.strip()][:100]
        clauses.append("AND category IN {codes:Array(String)}")
    return SELECT.format(where=" ".join(clauses)), params


def token_query(token: str) -> tuple[str, dict[str, Any]]:
    if not _ID.match(token):
        raise Open311Error(400, "token: not a token this endpoint issues")
    return SELECT.format(where="AND source_id = {token:String}"), {"token": token, "limit": 1, "offset": 0}


def _when(value: Any) -> datetime | None:
    # An aggregate over no rows, or a join miss, comes back as the epoch: that is "never", not 1970.
    if not isinstance(value, datetime) or value.year <= 1970:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: Any) -> str | None:
    when = _when(value)
    return when.isoformat() if when else None


MSK_OFFSET = timedelta(hours=3)


def _ru(value: datetime) -> str:
    """A time as people at the МЦУ and residents read it: Moscow time, day first."""
    return (value.astimezone(UTC) + MSK_OFFSET).strftime("%d.%m.%Y %H:%M") + " (МСК)"


DeadlineOf = Callable[[dict[str, Any]], datetime | None]


def deadline_of(row: dict[str, Any], compute: DeadlineOf | None = None) -> datetime | None:
    """The deadline the store knows (an extension, a moved or restarted term), else the one the
    SLA policy gives the case from its intake: the timers announce a term only when it moves."""
    stored = _when(row.get("deadline"))
    if stored is not None or compute is None:
        return stored
    try:
        return _when(compute(row))
    except (ValueError, KeyError, OverflowError):
        return None  # no term for such a case: "may not be returned", says the spec


def status_of(row: dict[str, Any], now: datetime | None = None) -> tuple[str, str]:
    """(open|closed, status_notes in Russian) from what happened to the case and its SLA state."""
    now = now or datetime.now(UTC)
    answered, resolved, reopened, closed = (
        _when(row.get(k)) for k in ("answered", "resolved", "reopened_at", "closed")
    )
    deadline = _when(row.get("deadline"))
    done = max([t for t in (answered, resolved, closed) if t is not None], default=None)
    term = ""
    if deadline is not None:
        late = bool(row.get("breached")) or deadline < now
        term = f"; срок ответа {'истёк' if late else 'до'} {_ru(deadline)}"
    if reopened is not None and (done is None or reopened >= done):
        return "open", f"Возобновлено {_ru(reopened)}: рассмотрение продолжается{term}"
    if resolved is not None and resolved == done:
        return "closed", f"Решено {_ru(resolved)}"
    if answered is not None and answered == done:
        return "closed", f"Дан ответ {_ru(answered)}"
    if closed is not None:
        return "closed", f"Закрыто {_ru(closed)} (перенаправлено, объединено или отозвано)"
    if row.get("forward_to") and not row.get("department_name"):
        return "open", f"Вопрос вне полномочий округа: направляется в компетентный орган{term}"
    return "open", f"Зарегистрировано, в работе{term}"


def agency_of(row: dict[str, Any]) -> str:
    block = row.get("block") or 0
    agency = row.get("settlement_name") if row.get("settlement") not in (None, "", "unresolved") else None
    if not agency:
        agency = row.get("block_name") or (f"Блок {block}" if block else "Администрация Туапсинского округа")
    if row.get("department_name"):
        agency = f"{agency}; {row['department_name']}"
    return str(agency)


def service_request(
    row: dict[str, Any],
    mask: Callable[[str], str] | None = None,
    now: datetime | None = None,
    compute_deadline: DeadlineOf | None = None,
) -> dict[str, Any]:
    """One request as the spec lists it. ``mask`` removes personal data from free text: required
    for anything answered to an unauthenticated client."""
    row = {**row, "deadline": deadline_of(row, compute_deadline)}
    status, notes = status_of(row, now)
    hide = mask or (lambda text: text)
    text, address = row.get("text"), row.get("address")
    created = _when(row.get("created_at"))
    changes = [_when(row.get(k)) for k in ("answered", "resolved", "reopened_at", "closed")]
    updated = max([t for t in (created, *changes) if t is not None], default=None)
    return {
        "service_request_id": row["message_id"],
        "status": status,
        "status_notes": notes,
        "service_name": row.get("category_name") or None,
        "service_code": row.get("category") or None,
        "description": hide(text) if text else None,
        "agency_responsible": agency_of(row),
        "service_notice": None,
        "requested_datetime": _iso(created),
        "updated_datetime": _iso(updated),
        "expected_datetime": _iso(row.get("deadline")),
        "address": hide(address) if address else None,
        "address_id": None,
        "zipcode": None,
        "lat": row.get("lat"),
        "long": row.get("lon"),
        "media_url": None,
    }


def service_requests(
    rows: list[tuple[Any, ...]],
    status_filter: str = "",
    mask: Callable[[str], str] | None = None,
    compute_deadline: DeadlineOf | None = None,
) -> list[dict[str, Any]]:
    wanted = {s.strip() for s in status_filter.lower().split(",") if s.strip()}
    out = [service_request(dict(zip(COLUMNS, r, strict=True)), mask, None, compute_deadline) for r in rows]
    return [r for r in out if not wanted or r["status"] in wanted]


def token_answer(rows: list[tuple[Any, ...]], token: str) -> list[dict[str, Any]]:
    if not rows:
        raise Open311Error(404, f"token {token!r}: no service request yet (intake takes seconds)")
    return [{"service_request_id": rows[0][0], "token": token}]

"""Open311 GeoReport v2 (JSON): what civic apps (FixMyStreet and others) already speak.

``GET services`` lists the МЦУ categories (service_code = category code of the taxonomy);
``POST requests`` takes a request into raw.open311; ``GET requests`` and ``GET requests/{id}``
read the case from the store: ``agency_responsible`` is the block or the settlement that answers,
``expected_datetime`` the SLA deadline, ``status`` open/closed with the richer status in
``status_notes``. service_request_id is the case's message_id, so a client follows exactly the
case the pipeline made of its request. Only JSON is served (the spec's XML format is not).
The reads list requests that came in through Open311 only: messages of other channels (a VK
comment, a letter) are not republished to any client that asks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from ingest.connectors.base import RawItem, json_bytes
from schemas import Channel, message_id_for

DEFAULT_TAXONOMY = Path(__file__).resolve().parents[2] / "classify" / "data" / "taxonomy.yaml"
MAX_RESULTS = 1000
DEFAULT_WINDOW = timedelta(days=90)  # the spec's default window for GET requests
ALLOWED_FIELDS = {
    "service_code", "lat", "long", "address_string", "address_id", "email", "device_id", "account_id",
    "first_name", "last_name", "phone", "description", "media_url", "jurisdiction_id",
}  # fmt: skip


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.code, "description": self.description}]


def load_services(path: Path = DEFAULT_TAXONOMY) -> list[dict[str, Any]]:
    try:
        data = yaml.safe_load(path.read_text("utf-8"))
        categories = data["categories"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: cannot read the category taxonomy for Open311 services: {exc}") from exc
    services = []
    for cat in categories:
        if not isinstance(cat, dict) or "code" not in cat:
            raise ValueError(f"{path}: a category without a code: {cat!r}")
        services.append({
            "service_code": str(cat["code"]),
            "service_name": str(cat.get("name", cat["code"])),
            "description": str(cat.get("description", cat.get("name", ""))),
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(cat.get("keywords", []) or []),
            "group": str(cat.get("department") or cat.get("forward_to") or ""),
        })  # fmt: skip
    return services


def _float(form: dict[str, str], key: str, lo: float, hi: float) -> float | None:
    value = form.get(key)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise Open311Error(400, f"{key}: not a number") from exc
    if not lo <= number <= hi:
        raise Open311Error(400, f"{key}: out of range")
    return number


@dataclass
class Accepted:
    item: RawItem
    response: list[dict[str, Any]]


def accept_request(form: dict[str, str], service_codes: set[str], now: datetime | None = None) -> Accepted:
    """POST requests: validate per the spec and make the raw record; raises Open311Error (400)."""
    now = now or datetime.now(UTC)
    code = (form.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if code not in service_codes:
        raise Open311Error(404, f"unknown service_code {code!r}; see GET services")
    lat, lon = _float(form, "lat", -90, 90), _float(form, "long", -180, 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    if lat is None and not form.get("address_string") and not form.get("address_id"):
        raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
    if not (form.get("description") or "").strip():
        raise Open311Error(400, "description is required here: the МЦУ classifies the request by its text")
    source_id = uuid.uuid4().hex
    request_id = message_id_for(Channel.OPEN311.value, source_id)
    payload: dict[str, Any] = {k: v for k, v in form.items() if k in ALLOWED_FIELDS and v not in (None, "")}
    payload.update({"service_request_id": request_id, "requested_datetime": now.isoformat()})
    if lat is not None:
        payload["lat"], payload["long"] = lat, lon
    notice = "Обращение принято в МЦУ Туапсинского округа; статус — по service_request_id."
    return Accepted(
        item=RawItem(source_id=source_id, body=json_bytes(payload), received_at=now),
        response=[{"service_request_id": request_id, "service_notice": notice, "account_id": None}],
    )


# ---- reads from the store ------------------------------------------------------------------------

SELECT = """
SELECT c.message_id, c.category, c.category_name, c.text, c.created_at, c.address, c.lat, c.lon,
       c.block, c.block_name, c.settlement, c.settlement_name, c.department_name, c.source_url,
       p.answered, p.resolved, p.reopened_at, p.closed, p.deadline, p.updated
FROM (SELECT * FROM cases FINAL WHERE channel = 'open311' {where}) AS c
LEFT JOIN (
    SELECT message_id, max(last_answered_at) AS answered, max(last_resolved_at) AS resolved,
           max(last_reopened_at) AS reopened_at, max(closed_at) AS closed, max(deadline) AS deadline,
           greatest(max(last_answered_at), max(last_reopened_at), max(closed_at), max(last_resolved_at)) AS updated
    FROM case_progress GROUP BY message_id
) AS p ON p.message_id = c.message_id
ORDER BY c.created_at DESC
LIMIT {limit}
"""
COLUMNS = (
    "message_id", "category", "category_name", "text", "created_at", "address", "lat", "lon", "block",
    "block_name", "settlement", "settlement_name", "department_name", "source_url", "answered", "resolved",
    "reopened_at", "closed", "deadline", "updated",
)  # fmt: skip


def _parse_dt(value: str, key: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{key}: not a W3C date-time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def requests_query(args: dict[str, str], now: datetime | None = None) -> tuple[str, dict[str, Any]]:
    """GET requests filters → (sql, parameters). IDs given: other filters are ignored, as the spec says."""
    now = now or datetime.now(UTC)
    params: dict[str, Any] = {}
    if args.get("service_request_id"):
        params["ids"] = [x.strip() for x in args["service_request_id"].split(",") if x.strip()][:MAX_RESULTS]
        return SELECT.format(where="AND message_id IN {ids:Array(String)}", limit=MAX_RESULTS), params
    clauses = []
    end = _parse_dt(args["end_date"], "end_date") if args.get("end_date") else now
    start = _parse_dt(args["start_date"], "start_date") if args.get("start_date") else end - DEFAULT_WINDOW
    params["start"], params["end"] = start.replace(tzinfo=None), end.replace(tzinfo=None)
    clauses.append("AND created_at >= {start:DateTime64(3)} AND created_at <= {end:DateTime64(3)}")
    if args.get("service_code"):
        params["codes"] = [x.strip() for x in args["service_code"].split(",") if x.strip()]
        clauses.append("AND category IN {codes:Array(String)}")
    sql = SELECT.format(where=" ".join(clauses), limit=MAX_RESULTS)
    status = (args.get("status") or "").strip().lower()
    if status and status not in ("open", "closed", "open,closed", "closed,open"):
        raise Open311Error(400, "status: open or closed")
    return sql, params


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, datetime) and value.year <= 1970):
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)


def status_of(row: dict[str, Any]) -> tuple[str, str]:
    """(open|closed, status_notes in Russian) from what happened to the case."""
    answered, resolved, reopened, closed = (row.get(k) for k in ("answered", "resolved", "reopened_at", "closed"))
    done = max([t for t in (answered, resolved, closed) if t is not None], default=None)
    if reopened is not None and (done is None or reopened >= done):
        return "open", f"Возобновлено {_iso(reopened)}: рассмотрение продолжается"
    if resolved is not None and resolved == done:
        return "closed", f"Решено {_iso(resolved)}"
    if answered is not None and answered == done:
        return "closed", f"Дан ответ {_iso(answered)}"
    if closed is not None:
        return "closed", f"Закрыто {_iso(closed)} (перенаправлено, объединено или отозвано)"
    return "open", "Зарегистрировано, в работе"


def service_request(row: dict[str, Any]) -> dict[str, Any]:
    status, notes = status_of(row)
    block = row.get("block") or 0
    agency = row.get("settlement_name") if row.get("settlement") not in (None, "", "unresolved") else None
    if not agency:
        agency = row.get("block_name") or (f"Блок {block}" if block else "Администрация округа")
    if row.get("department_name"):
        agency = f"{agency}; {row['department_name']}"
    return {
        "service_request_id": row["message_id"],
        "status": status,
        "status_notes": notes,
        "service_name": row.get("category_name") or None,
        "service_code": row.get("category") or None,
        "description": row.get("text"),
        "agency_responsible": agency,
        "service_notice": None,
        "requested_datetime": _iso(row.get("created_at")),
        "updated_datetime": _iso(row.get("updated")) or _iso(row.get("created_at")),
        "expected_datetime": _iso(row.get("deadline")),
        "address": row.get("address") or None,
        "address_id": None,
        "zipcode": None,
        "lat": row.get("lat"),
        "long": row.get("lon"),
        "media_url": None,
    }


def service_requests(rows: list[tuple[Any, ...]], status_filter: str = "") -> list[dict[str, Any]]:
    wanted = {s.strip() for s in status_filter.lower().split(",") if s.strip()}
    out = [service_request(dict(zip(COLUMNS, r, strict=True))) for r in rows]
    return [r for r in out if not wanted or r["status"] in wanted]

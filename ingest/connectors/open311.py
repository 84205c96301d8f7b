"""Open311 GeoReport v2: what civic apps (FixMyStreet and others) already speak.

``GET services`` lists the МЦУ categories (service_code = category code of the taxonomy);
``GET services/{code}`` the extra questions of a category (open311_attributes.yaml, and the
settlement for the categories a settlement answers); ``POST requests`` takes a request into
raw.open311; ``GET requests`` and ``GET requests/{id}`` read the case from the store:
``agency_responsible`` is the settlement or block and department that answer, ``expected_datetime``
the SLA deadline, ``status`` open/closed with the richer status in ``status_notes`` (Russian);
``GET tokens/{token}`` gives the service_request_id of a token once the case is stored.
service_request_id is the case's message_id, so a client follows exactly the case the pipeline
made of its request. The reads list requests that came in through Open311 only, with the text
and address masked (phones, e-mails, names) and nothing of the author: anyone may read them.
Rendering to JSON or XML is ``open311_format``; this module is the protocol, free of HTTP.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from common.yaml_load import package_file
from ingest.connectors.base import RawItem, json_bytes
from schemas import Channel, message_id_for

# The taxonomy is classify's data file, read as data (Open311 lists its categories as services);
# ingest does not import the classifier.
DEFAULT_TAXONOMY = package_file("classify", "data/taxonomy.yaml")
DEFAULT_ATTRIBUTES = package_file("ingest.connectors", "open311_attributes.yaml")
MAX_RESULTS = 1000  # the spec: "first 1000 requests returned"
DEFAULT_WINDOW = timedelta(days=90)  # the spec's default window for GET requests, and its longest span
MAX_DESCRIPTION = 4000  # the spec: "free form text limited to 4,000 characters"
MAX_FIELD = 256  # contact fields, ids, address parts
MAX_ADDRESS = 1000
MAX_URL = 2048
MAX_IDS = 100  # service_request_id values in one GET
# The store keeps DateTime64 from 1970 to 2106 and the pipeline takes nothing before 2000; a filter
# outside this made the query itself fail (a 500) instead of saying what is wrong.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CONTACT_FIELDS = ("email", "device_id", "account_id", "first_name", "last_name", "phone")
TEXT_FIELDS = ("service_code", "address_string", "address_id", "description", "media_url", "jurisdiction_id")
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
_W3C = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2}))?$")


class Open311Error(Exception):
    """An error as the spec shapes it: a list of code + description, and the HTTP status."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description

    def body(self) -> list[dict[str, Any]]:
        return [{"code": self.code, "description": self.description}]


# ---- services and their definitions ----------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """GET services and GET services/{code}: what a client may ask for and what each one needs."""

    services: list[dict[str, Any]]
    definitions: dict[str, dict[str, Any]]

    @property
    def codes(self) -> set[str]:
        return {s["service_code"] for s in self.services}


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: cannot read {what}: {exc}") from exc


def _attribute(raw: dict[str, Any], order: int, where: str) -> dict[str, Any]:
    datatype = raw.get("datatype")
    if not raw.get("code") or datatype not in DATATYPES:
        raise ValueError(f"{where}: an attribute needs a code and a datatype of {sorted(DATATYPES)}: {raw!r}")
    values = [{"key": str(v["key"]), "name": str(v["name"])} for v in raw.get("values") or []]
    if datatype.endswith("valuelist") and not values:
        raise ValueError(f"{where}: {raw['code']}: a {datatype} needs values")
    return {
        "variable": True,
        "code": str(raw["code"]),
        "datatype": datatype,
        "required": bool(raw.get("required", False)),
        "datatype_description": raw.get("datatype_description"),
        "order": order,
        "description": str(raw.get("description") or raw["code"]),
        "values": values,
    }


def settlement_attribute(settlements: Iterable[tuple[str, str]], order: int) -> dict[str, Any]:
    return {
        "variable": True,
        "code": "settlement",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "Если не знаете — оставьте пустым: поселение определится по адресу и тексту",
        "order": order,
        "description": "Поселение (территориальное управление), где проблема",
        "values": [{"key": code, "name": name} for code, name in settlements],
    }


def load_catalogue(
    taxonomy: Path = DEFAULT_TAXONOMY,
    attributes: Path = DEFAULT_ATTRIBUTES,
    settlements: Iterable[tuple[str, str]] | None = None,
    service_type: Literal["realtime", "batch"] = "realtime",
) -> Catalogue:
    """Services from the taxonomy; definitions from the attributes file and the settlement list."""
    data = _read_yaml(taxonomy, "the category taxonomy for Open311 services")
    try:
        categories = data["categories"]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{taxonomy}: no categories: {exc}") from exc
    extra = (_read_yaml(attributes, "Open311 attributes") or {}).get("attributes") or {}
    if settlements is None:
        from route.directory import load_directory

        settlements = [(s.code, s.name) for s in load_directory().settlements.values()]
    settlement_list = list(settlements)
    services, definitions = [], {}
    for cat in categories:
        if not isinstance(cat, dict) or "code" not in cat:
            raise ValueError(f"{taxonomy}: a category without a code: {cat!r}")
        code = str(cat["code"])
        attrs = [_attribute(a, i + 1, f"{attributes}: {code}") for i, a in enumerate(extra.get(code) or [])]
        if cat.get("level") == "settlement" and settlement_list:
            attrs.append(settlement_attribute(settlement_list, len(attrs) + 1))
        if attrs:
            definitions[code] = {"service_code": code, "attributes": attrs}
        services.append({
            "service_code": code,
            "service_name": str(cat.get("name", code)),
            "description": str(cat.get("description", cat.get("name", ""))),
            "metadata": bool(attrs),
            "type": service_type,
            "keywords": ", ".join(cat.get("keywords", []) or []),
            "group": str(cat.get("department") or cat.get("forward_to") or ""),
        })  # fmt: skip
    unknown = set(extra) - {s["service_code"] for s in services}
    if unknown:
        raise ValueError(f"{attributes}: attributes for unknown service codes {sorted(unknown)}")
    return Catalogue(services, definitions)


def load_services(path: Path = DEFAULT_TAXONOMY) -> list[dict[str, Any]]:
    return load_catalogue(path).services


def service_definition(catalogue: Catalogue, code: str) -> dict[str, Any]:
    if code not in catalogue.codes:
        raise Open311Error(404, f"service_code {code!r} not found; see GET services")
    return catalogue.definitions.get(code) or {"service_code": code, "attributes": []}


# ---- POST requests ---------------------------------------------------------------------------------


def _float(form: dict[str, str], key: str, lo: float, hi: float) -> float | None:
    value = form.get(key)
    if value in (None, ""):
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise Open311Error(400, f"{key}: not a number") from exc
    if not lo <= number <= hi:  # NaN fails this too
        raise Open311Error(400, f"{key}: out of range")
    return number


def parse_w3c(value: str, key: str) -> datetime:
    """A W3C date-time with its zone (the spec: timezone information must be included)."""
    if not _W3C.match(value.strip()):
        raise Open311Error(400, f"{key}: not a W3C date-time with a timezone, e.g. 2010-01-01T00:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise Open311Error(400, f"{key}: not a valid date-time") from exc
    if parsed.tzinfo is None:  # a bare date
        raise Open311Error(400, f"{key}: the timezone is required, e.g. 2010-01-01T00:00:00Z")
    return parsed


def _attributes(
    pairs: list[tuple[str, str]], definition: dict[str, Any] | None, now: datetime
) -> dict[str, str | list[str]]:
    declared = {a["code"]: a for a in (definition or {}).get("attributes", [])}
    given: dict[str, list[str]] = {}
    for key, value in pairs:
        m = _ATTRIBUTE_KEY.match(key)
        if m is None:
            continue
        code = m.group(1)
        if code not in declared:
            raise Open311Error(400, f"attribute[{code}]: this service has no such attribute; see GET services/<code>")
        if value != "":
            given.setdefault(code, []).append(value)
    out: dict[str, str | list[str]] = {}
    for code, attr in declared.items():
        values = given.get(code, [])
        if not values:
            if attr["required"]:
                raise Open311Error(400, f"attribute[{code}] is required: {attr['description']}")
            continue
        kind = attr["datatype"]
        if kind != "multivaluelist" and len(values) > 1:
            raise Open311Error(400, f"attribute[{code}]: one value expected")
        for v in values:
            if len(v) > (MAX_DESCRIPTION if kind == "text" else MAX_FIELD):
                raise Open311Error(400, f"attribute[{code}]: too long")
            if kind.endswith("valuelist") and v not in {x["key"] for x in attr["values"]}:
                raise Open311Error(400, f"attribute[{code}]: {v!r} is not one of its values")
            if kind == "number":
                _float({code: v}, f"attribute[{code}]", -1e12, 1e12)
            if kind == "datetime":
                at = parse_w3c(v, f"attribute[{code}]")
                if not EARLIEST <= at <= now + timedelta(days=1):
                    raise Open311Error(400, f"attribute[{code}]: outside {EARLIEST.date()} … now")
            if kind == "string" and ("\n" in v or "\r" in v):
                raise Open311Error(400, f"attribute[{code}]: a string without line breaks")
        out[code] = values if kind == "multivaluelist" else values[0]
    return out


@dataclass
class Accepted:
    item: RawItem
    response: list[dict[str, Any]]
    request_id: str
    token: str


def accept_request(
    form: dict[str, str] | list[tuple[str, str]],
    catalogue: Catalogue | set[str],
    now: datetime | None = None,
    *,
    service_type: Literal["realtime", "batch"] = "realtime",
    jurisdiction: str | None = None,
) -> Accepted:
    """POST requests: validate as the spec says and make the raw record; raises Open311Error.

    ``form`` may repeat keys (``attribute[code][]`` of a multivaluelist), so pairs are kept.
    Contact fields go into the raw record only (raw topics hold what was sent, for their
    retention); the normaliser keeps a pseudonym of the author and nothing else of them.
    """
    now = now or datetime.now(UTC)
    pairs = list(form.items()) if isinstance(form, dict) else list(form)
    flat: dict[str, str] = {}
    for k, v in pairs:
        flat.setdefault(k, v)
    if isinstance(catalogue, set):
        catalogue = Catalogue([{"service_code": c} for c in sorted(catalogue)], {})
    check_jurisdiction(flat.get("jurisdiction_id"), jurisdiction)
    code = (flat.get("service_code") or "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    if code not in catalogue.codes:
        raise Open311Error(404, f"unknown service_code {code!r}: not found; see GET services")
    for key in (*CONTACT_FIELDS, "service_code", "address_id", "jurisdiction_id"):
        if len(flat.get(key) or "") > MAX_FIELD:
            raise Open311Error(400, f"{key}: longer than {MAX_FIELD} characters")
    if len(flat.get("address_string") or "") > MAX_ADDRESS:
        raise Open311Error(400, f"address_string: longer than {MAX_ADDRESS} characters")
    lat, lon = _float(flat, "lat", -90, 90), _float(flat, "long", -180, 180)
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    if lat is None and not (flat.get("address_string") or "").strip() and not (flat.get("address_id") or "").strip():
        raise Open311Error(400, "a location is required: lat & long, address_string or address_id")
    description = (flat.get("description") or "").strip()
    if not description:
        raise Open311Error(400, "description is required here: the МЦУ classifies the request by its text")
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description: {len(description)} characters, the limit is {MAX_DESCRIPTION}")
    media = (flat.get("media_url") or "").strip()
    if media:
        parts = urlsplit(media)
        if len(media) > MAX_URL or parts.scheme not in ("http", "https") or not parts.netloc:
            raise Open311Error(400, "media_url: an http(s) URL is expected")
    attributes = _attributes(pairs, catalogue.definitions.get(code), now)
    source_id = uuid.uuid4().hex
    request_id = message_id_for(Channel.OPEN311.value, source_id)
    payload: dict[str, Any] = {
        k: flat[k].strip() for k in (*CONTACT_FIELDS, *TEXT_FIELDS) if (flat.get(k) or "").strip()
    }
    payload.update({"service_request_id": request_id, "requested_datetime": now.isoformat()})
    if attributes:
        payload["attributes"] = attributes
    if lat is not None:
        payload["lat"], payload["long"] = lat, lon
    notice = "Обращение принято в МЦУ Туапсинского округа; статус — по service_request_id."
    if service_type == "batch":
        answer = {"token": source_id, "service_notice": notice, "account_id": None}
    else:
        answer = {"service_request_id": request_id, "service_notice": notice, "account_id": None}
    return Accepted(
        item=RawItem(source_id=source_id, body=json_bytes(payload), received_at=now),
        response=[answer],
        request_id=request_id,
        token=source_id,
    )


def check_jurisdiction(given: str | None, ours: str | None) -> None:
    """One jurisdiction per endpoint: the parameter is optional, a different one is not found."""
    if ours is not None and given not in (None, "") and given != ours:
        raise Open311Error(404, f"jurisdiction_id {given!r} not found; this endpoint serves {ours!r}")


# ---- reads from the store ------------------------------------------------------------------------

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

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
Rendering to JSON or XML is ``open311_format``, the reads from the store ``open311_read``; this module
is the intake side of the protocol, free of HTTP.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
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

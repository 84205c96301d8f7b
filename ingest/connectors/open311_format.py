"""GeoReport v2 documents as XML or JSON, element names exactly as in the specification's examples.

The spec's JSON is a mapping of its XML (the "Spark convention"): a JSON list is the XML list
element holding one child element per item, an object's keys are child elements, null is an empty
element, booleans are ``true``/``false``. The list elements and their item names are the spec's:
services/service, service_requests/request, errors/error, attributes/attribute, values/value.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from xml.etree import ElementTree as ET

Format = Literal["json", "xml"]
CONTENT_TYPES = {"json": "application/json", "xml": "text/xml"}
# list element -> its item element, for the nested lists of a document
ITEMS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
         "values": "value"}  # fmt: skip


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _fill(parent: ET.Element, key: str, value: Any) -> None:
    if isinstance(value, list):
        holder = ET.SubElement(parent, key)
        item = ITEMS.get(key, key.removesuffix("s") or "item")
        for v in value:
            _fill(holder, item, v)
        return
    element = ET.SubElement(parent, key)
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(element, k, v)
    else:
        element.text = _text(value)


def to_xml(root: str, value: list[Any] | dict[str, Any]) -> bytes:
    """``root`` is services, service_requests, errors (lists) or service_definition (an object)."""
    top = ET.Element(root)
    if isinstance(value, list):
        for v in value:
            _fill(top, ITEMS[root], v)
    else:
        for k, v in value.items():
            _fill(top, k, v)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def render(fmt: Format, root: str, value: list[Any] | dict[str, Any]) -> tuple[bytes, str]:
    """(body, content type with charset) of ``value`` in ``fmt``; the spec requires UTF-8."""
    if fmt == "xml":
        body = to_xml(root, value)
    else:
        body = json.dumps(value, ensure_ascii=False).encode()
    return body, f"{CONTENT_TYPES[fmt]}; charset=utf-8"

"""Open311 GeoReport v2 encoding: the spec's JSON and XML bodies for services, requests and errors."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from aiohttp import web

Format = Literal["json", "xml"]
# XML 1.0 forbids most control characters even as entities; they are dropped from element text.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# The element names of each document: root, one item, and (for lists inside items) nothing else.
_ROOTS = {"services": "service", "service_requests": "request", "errors": "error"}


def _text(value: Any) -> str | None:
    """The element text of a value: None (empty element) for null, 'true'/'false' for booleans."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return _XML_ILLEGAL.sub("", str(value))


def _element(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _element(child, key, item)
    elif isinstance(value, list):
        singular = {"attributes": "attribute", "values": "value"}.get(name, "item")
        for item in value:
            _element(child, singular, item)
    else:
        child.text = _text(value)


def to_xml(root: str, items: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> bytes:
    """An XML document: a list of items under `root` (one element per item), or one mapping as `root` itself."""
    top = ET.Element(root)
    if isinstance(items, Mapping):
        for key, value in items.items():
            _element(top, key, value)
    else:
        for item in items:
            _element(top, _ROOTS[root], item)
    return ET.tostring(top, encoding="utf-8", xml_declaration=True)


def respond(fmt: Format, root: str, body: Sequence[Mapping[str, Any]] | Mapping[str, Any], status: int = 200
            ) -> web.Response:  # fmt: skip
    """The response in the requested format: JSON (UTF-8, not ASCII-escaped) or XML under `root`."""
    if fmt == "xml":
        return web.Response(body=to_xml(root, body), status=status, content_type="text/xml", charset="utf-8")
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return web.Response(text=text, status=status, content_type="application/json", charset="utf-8")


def error(fmt: Format, code: int, description: str) -> web.Response:
    """An error in the spec's format: [{"code", "description"}] or <errors><error>…</error></errors>."""
    return respond(fmt, "errors", [{"code": code, "description": description}], status=code)

"""Typed record values to table columns and back: personal fields sealed with SM4 and blind-indexed, geo split."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from core.personal import Sealer, mask
from ledgers.schema import FieldSpec, Ledger
from ledgers.tables import geo_columns, index_column


def to_text(spec: FieldSpec, value: Any) -> str:
    """A typed value as its canonical text (what is sealed, exported and compared in versions)."""
    if value is None:
        return ""
    if spec.type == "geo":
        return f"{value[0]},{value[1]}"
    if spec.type == "bool":
        return "是" if value else "否"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def from_text(spec: FieldSpec, text: str) -> Any:
    """The typed value of a canonical text (the inverse of to_text)."""
    if text == "":
        return None
    if spec.type == "integer":
        return int(text)
    if spec.type == "decimal":
        return Decimal(text)
    if spec.type == "date":
        return date.fromisoformat(text)
    if spec.type == "bool":
        return text == "是"
    if spec.type == "geo":
        lon, lat = text.split(",")
        return (float(lon), float(lat))
    return text


class Codec:
    """Column values of one ledger's records, sealed under one Sealer."""

    def __init__(self, ledger: Ledger, sealer: Sealer) -> None:
        self.ledger, self.sealer = ledger, sealer
        # per field, worked out once: (spec, sealing context, blind-index column, geo columns)
        self._plan = {f.key: (f, self.context(f), index_column(f.key) if f.lookup else None,
                              geo_columns(f.key) if f.type == "geo" else None) for f in ledger.fields}  # fmt: skip

    def context(self, spec: FieldSpec) -> str:
        """What a sealed value is bound to: its ledger and field."""
        return f"{self.ledger.ledger}.{spec.key}"

    def columns(self, values: dict[str, Any]) -> dict[str, Any]:
        """Column -> stored value for the fields in `values` (sealed, indexed, split as declared)."""
        out: dict[str, Any] = {}
        seal, index = self.sealer.seal, self.sealer.index
        for key, value in values.items():
            spec, context, bix, geo = self._plan[key]
            if spec.personal:
                text = to_text(spec, value)
                out[key] = seal(text, context) if text else None
                if bix is not None:
                    out[bix] = index(spec.personal, text, context) if text else None
            elif geo is not None:
                out[geo[0]], out[geo[1]] = (value[0], value[1]) if value is not None else (None, None)
            else:
                out[key] = value
        return out

    def values(self, row: Any) -> dict[str, Any]:
        """Field -> typed value of a stored row (personal fields opened)."""
        m = row._mapping
        out: dict[str, Any] = {}
        for spec in self.ledger.fields:
            if spec.personal:
                sealed = m[spec.key]
                out[spec.key] = from_text(spec, self.sealer.open(sealed, self.context(spec))) if sealed else None
            elif spec.type == "geo":
                lon, lat = (m[c] for c in geo_columns(spec.key))
                out[spec.key] = (lon, lat) if lon is not None and lat is not None else None
            else:
                value = m[spec.key]
                out[spec.key] = Decimal(str(value)) if spec.type == "decimal" and value is not None else value
        return out

    def index_of(self, key: str, value: str) -> str:
        """The blind index a look-up of this field's value matches."""
        spec = self.ledger.field(key)
        assert spec.personal, key
        return self.sealer.index(spec.personal, value, self.context(spec))

    def masked(self, values: dict[str, Any]) -> dict[str, Any]:
        """The values with every personal one masked (as text)."""
        return {k: (mask(spec.personal, to_text(spec, v)) if (spec := self.ledger.field(k)).personal and v is not None
                    else v) for k, v in values.items()}  # fmt: skip

    def seal_diff(self, before: dict[str, Any], after: dict[str, Any]) -> bytes:
        """A version's changed fields, before and after, as one sealed JSON blob (it may hold personal values)."""
        plan = self._plan
        doc = {"before": {k: to_text(plan[k][0], v) for k, v in before.items()},
               "after": {k: to_text(plan[k][0], v) for k, v in after.items()}}  # fmt: skip
        return self.sealer.seal(json.dumps(doc, ensure_ascii=False), f"{self.ledger.ledger}.version")

    def open_diff(self, sealed: bytes) -> dict[str, dict[str, str]]:
        """The inverse of seal_diff (texts)."""
        doc: dict[str, dict[str, str]] = json.loads(self.sealer.open(sealed, f"{self.ledger.ledger}.version"))
        return doc

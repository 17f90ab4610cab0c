"""The ledger declaration: fields with types and checks, personal classes, access by duty, statistics, a map layer."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from core.access import DUTIES
from core.declared import located
from core.personal import PersonalClass

FieldType = Literal["text", "integer", "decimal", "date", "enum", "bool", "ref", "place", "geo", "attachment"]
KEY = r"^[a-z][a-z0-9_]{0,39}$"
# columns every record has; no field may take these names
SYSTEM = frozenset({"id", "village", "township", "parent_id", "version", "deleted", "created_at", "created_by",
                    "updated_at", "updated_by"})  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Strict):
    """One declared field: its type, checks, Chinese label and help, and its personal-data class if any."""

    key: str = Field(pattern=KEY, description="Column name: lower-case letters, digits and _, ≤ 40 characters.")
    label: str = Field(min_length=1, max_length=40, description="Chinese label shown on forms, lists and templates.")
    type: FieldType = Field(description="Value type; `decimal` takes `unit` and `scale`, `enum` takes `options`.")
    help: str = Field("", max_length=200, description="Chinese help text shown under the form field.")
    required: bool = Field(False, description="The value must be given (not empty).")
    personal: PersonalClass | None = Field(
        None, description="Personal-data class: sealed at rest with SM4, masked for roles without the need."
    )
    lookup: bool = Field(False, description="Keep a keyed SM3 blind index for exact look-up (personal fields only).")
    format: Literal["id_number", "phone"] | None = Field(
        None, description="A checked format: GB 11643 citizen ID number, or a mainland phone number."
    )
    pattern: str | None = Field(None, description="A regular expression the whole text must match.")
    pattern_message: str = Field("", description="Chinese message when `pattern` does not match.")
    max_length: int = Field(200, ge=1, le=4000, description="Longest text accepted, in characters.")
    min: Decimal | None = Field(None, description="Smallest number accepted (integer, decimal).")
    max: Decimal | None = Field(None, description="Largest number accepted (integer, decimal).")
    earliest: date | None = Field(None, description="Earliest date accepted.")
    not_future: bool = Field(False, description="A date may not lie after today (Beijing time).")
    unit: str = Field("", max_length=10, description="Unit of a decimal or integer, shown after the value (亩, 元).")
    scale: int = Field(2, ge=0, le=6, description="Digits after the decimal point of a decimal.")
    options: list[str] = Field(default_factory=list, description="Allowed values of an enum, in display order.")
    ledger: str | None = Field(None, description="The ledger a `ref` field points to (its record id is stored).")
    level: Literal["township", "village"] = Field("village", description="What a `place` field names.")
    column: bool = Field(False, description="Shown as a column of the list page.")
    filter: bool = Field(False, description="Offered as a filter on the list page (enum, bool, place, ref, numbers).")
    sort: bool = Field(False, description="The list page may sort by it (indexed).")
    search: bool = Field(False, description="Matched by the list page's text search (not for personal fields).")

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        problems = []
        if self.key in SYSTEM:
            problems.append(f"field name {self.key!r} is reserved")
        if (self.type == "enum") != bool(self.options):
            problems.append("`options` belongs to enum fields, and every enum needs them")
        if (self.type == "ref") != bool(self.ledger):
            problems.append("`ledger` belongs to ref fields, and every ref needs it")
        if self.lookup and self.personal is None:
            problems.append("`lookup` (blind index) is for personal fields; plain fields are filtered directly")
        if self.personal and (self.search or self.sort or self.filter):
            problems.append("a personal field is sealed: it cannot be searched, sorted or filtered (use `lookup`)")
        if self.format and self.type != "text":
            problems.append("`format` applies to text fields")
        if self.personal == "location" and self.type not in ("geo", "text"):
            problems.append("a location is a geo point or a text address")
        if (self.min is not None or self.max is not None) and self.type not in ("integer", "decimal"):
            problems.append("`min`/`max` apply to numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append("`min` is larger than `max`")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                problems.append(f"`pattern` is not a regular expression: {exc}")
        if self.type in ("geo", "attachment") and (self.sort or self.filter or self.search):
            problems.append(f"a {self.type} field cannot be sorted, filtered or searched")
        if problems:
            raise ValueError(f"field {self.key}: " + "; ".join(problems))
        return self


class Check(_Strict):
    """A cross-field check: `field op other` (another field or a value) must hold whenever both are given."""

    field: str = Field(description="Left-hand field key.")
    op: Literal["<", "<=", ">", ">=", "==", "!="] = Field(description="Comparison that must hold.")
    other: str | None = Field(None, description="Right-hand field key (or give `value`).")
    value: Decimal | str | None = Field(None, description="Right-hand constant (or give `other`).")
    when: dict[str, list[str]] = Field(
        default_factory=dict, description="Only when these fields hold one of these values (enum/bool as text)."
    )
    message: str = Field(min_length=1, description="Chinese message shown when the check fails.")

    @model_validator(mode="after")
    def _one_side(self) -> Check:
        if (self.other is None) == (self.value is None):
            raise ValueError("a check compares with exactly one of `other` or `value`")
        return self


class Requires(_Strict):
    """A conditional requirement: when `field` holds one of `values`, the fields in `then` must be given."""

    field: str = Field(description="Field whose value triggers the requirement.")
    values: list[str] = Field(min_length=1, description="Values (as text) that trigger it.")
    then: list[str] = Field(min_length=1, description="Fields that must then be given.")
    message: str = Field(min_length=1, description="Chinese message when one is missing.")


class Measure(_Strict):
    """One statistic of a ledger, per village and township: a count of records or a sum of a number field."""

    key: str = Field(pattern=KEY, description="Name of the measure.")
    label: str = Field(min_length=1, description="Chinese label of the measure.")
    sum: str | None = Field(None, description="Number field to add up; unset means count records.")
    where: dict[str, list[str]] = Field(
        default_factory=dict, description="Only records whose field holds one of these values (as text)."
    )


class MapLayer(_Strict):
    """The ledger as a layer on the 一张图 map: its points, their colour and what their tooltip shows."""

    field: str = Field(description="The geo field holding the record's position.")
    label: str = Field(min_length=1, description="Chinese layer name in the map's filter.")
    color: str = Field("#7e57c2", pattern=r"^#[0-9a-fA-F]{6}$", description="Marker colour.")
    marker: Literal["circle", "square", "triangle", "diamond", "hex", "star", "inverted_triangle"] = Field(
        "hex", description="Bokeh marker shape."
    )
    title: str = Field(description="Field shown as the point's name in its tooltip (not a personal field).")


class Access(_Strict):
    """Which duties may read, write and export a ledger; scope (county/township/village) applies on top."""

    read: list[str] = Field(
        default_factory=lambda: ["operator", "officer", "auditor", "admin"], description="Duties that may read."
    )
    write: list[str] = Field(default_factory=lambda: ["officer"], description="Duties that may add, edit and delete.")
    export: list[str] = Field(
        default_factory=lambda: ["officer", "operator", "admin"], description="Duties that may export to Excel."
    )

    @model_validator(mode="after")
    def _known(self) -> Access:
        unknown = sorted({d for d in (*self.read, *self.write, *self.export) if d not in DUTIES})
        if unknown:
            raise ValueError(f"unknown duties {', '.join(unknown)}; known: {', '.join(DUTIES)}")
        return self


class Ledger(_Strict):
    """One declared ledger (台账): its records belong to villages, or to the parent ledger's records."""

    ledger: str = Field(pattern=KEY, description="Ledger key; its table is lg_<key>.")
    title: str = Field(min_length=1, max_length=40, description="Chinese title.")
    group: str = Field("", description="Chinese group on the ledger index (户情, 产业, 应急, 组织 …).")
    help: str = Field("", max_length=400, description="Chinese description shown on the ledger's pages.")
    prefix: str = Field(pattern=r"^[A-Z]{2,4}$", description="Record id prefix, e.g. HH for households.")
    parent: str | None = Field(None, description="Parent ledger: records are child rows of a parent record.")
    module: str | None = Field(None, description="Python module (ledgers.extra.<name>) with extra checks or views.")
    fields: list[FieldSpec] = Field(min_length=1, description="The declared fields, in form order.")
    checks: list[Check] = Field(default_factory=list, description="Cross-field checks.")
    requires: list[Requires] = Field(default_factory=list, description="Conditional requirements.")
    stats: list[Measure] = Field(default_factory=list, description="Statistics per village and township.")
    map: MapLayer | None = Field(None, description="A layer on the 一张图 map (ledgers with a geo field).")
    access: Access = Field(default_factory=Access, description="Duties per action.")
    _by_key: dict[str, FieldSpec] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Ledger:
        keys = [f.key for f in self.fields]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        problems: list[tuple[str, str]] = [("fields", f"duplicate field key {k!r}") for k in dupes]
        by_key = {f.key: f for f in self.fields}
        for i, c in enumerate(self.checks):
            named = (c.field, c.other, *c.when)
            problems += [(f"checks.{i}", f"check names unknown field {k!r}") for k in named if k and k not in by_key]
        for i, r in enumerate(self.requires):
            named = (r.field, *r.then)
            problems += [(f"requires.{i}", f"requires names unknown field {k!r}") for k in named if k not in by_key]
        for i, m in enumerate(self.stats):
            at = f"stats.{i}"
            if m.sum is not None and (m.sum not in by_key or by_key[m.sum].type not in ("integer", "decimal")):
                problems.append((at, f"measure {m.key}: `sum` must name a number field"))
            elif m.sum is not None and by_key[m.sum].personal:
                problems.append((at, f"measure {m.key}: {m.sum} is sealed and cannot be summed in the store"))
            problems += [(at, f"measure {m.key}: unknown field {k!r}") for k in m.where if k not in by_key]
            problems += [(at, f"measure {m.key}: {k} is sealed") for k in m.where if k in by_key and by_key[k].personal]
        if self.map is not None:
            geo, title = by_key.get(self.map.field), by_key.get(self.map.title)
            if geo is None or geo.type != "geo" or geo.personal:
                problems.append(("map.field", "map.field must name a geo field that is not personal"))
            if title is None or title.personal:
                problems.append(("map.title", "map.title must name a field that is not personal"))
        if problems:
            raise ValueError(located(problems))
        self._by_key = by_key
        return self

    def field(self, key: str) -> FieldSpec:
        """The field of that key; KeyError when none."""
        try:
            return self._by_key[key]
        except KeyError:
            raise KeyError(f"ledger {self.ledger} has no field {key!r}") from None

    def has(self, key: str) -> bool:
        """Whether the ledger declares a field of that key."""
        return key in self._by_key

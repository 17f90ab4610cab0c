"""The check phase of an Excel import: headers mapped to fields by key or label, every row's cells typed and the
record prepared by the store (values, place, parent, area), file codes and references; no database writes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel
from sqlalchemy import select

from core.access import AccessDenied, User, in_scope
from ledgers.excel_layout import CODE, PARENT, TOWNSHIP, VILLAGE, Column, columns, parent_code_label, sheet_name
from ledgers.schema import FieldSpec, Ledger
from ledgers.store import LedgerStore, Prepared
from ledgers.values import RecordInvalid, check_record, check_values
from ledgers.xlsx_reader import Row, Workbook

_CHUNK = 500  # ids per reference query


@dataclass(frozen=True)
class Problem:
    """One problem of an imported file: where (sheet, row and column as Excel shows them) and why, in Chinese."""

    sheet: str
    row: int  # 0: the sheet or the file as a whole
    column: str  # column letter, "" for the row or the sheet as a whole
    label: str  # the column's label
    reason: str

    def text(self) -> str:
        """The problem as one Chinese line: “户情档案”表 第5行 C列(户主身份证号):身份证号校验码不正确."""
        where = [
            f"“{self.sheet}”表" if self.sheet else "",
            f"第{self.row}行" if self.row else "",
            f"{self.column}列" + (f"({self.label})" if self.label else "") if self.column else "",
            f"“{self.label}”列" if self.label and not self.column else "",
        ]
        place = " ".join(w for w in where if w)
        return f"{place}:{self.reason}" if place else self.reason

    def to_dict(self) -> dict[str, Any]:
        """The problem as JSON-ready data."""
        return {"sheet": self.sheet, "row": self.row, "column": self.column, "label": self.label,
                "reason": self.reason, "text": self.text()}  # fmt: skip


class Problems:
    """The problems found so far: the first `cap` kept, the rest counted."""

    def __init__(self, cap: int) -> None:
        self.cap, self.more = cap, 0
        self.items: list[Problem] = []

    @property
    def total(self) -> int:
        """How many problems were found in all."""
        return len(self.items) + self.more

    def add(self, sheet: str, row: int, col: int, label: str, reason: str) -> None:
        """Note one problem (`col` 0: no particular column)."""
        if len(self.items) < self.cap:
            self.items.append(Problem(sheet, row, get_column_letter(col) if col else "", label, reason))
        else:
            self.more += 1


class TooManyRows(Exception):
    """The file holds more data rows than an import takes; reading stops there."""


@dataclass
class _Parent:
    """A row of a parent sheet, by its file code: its prepared id (None when the row has problems) and place."""

    row: int
    id: str | None
    place: tuple[str, str] | None


def _text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.15g}"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    return str(value)


def _integer(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _decimal(value: Any) -> Any:
    return Decimal(f"{value:.15g}") if isinstance(value, float) else value  # Excel keeps 15 significant digits


def converter(spec: FieldSpec | None, epoch: datetime) -> Callable[[Any], Any]:
    """How a cell's value becomes the raw value `store.prepare` takes for this column."""
    kind = spec.type if spec is not None else "text"
    if kind == "integer":
        return _integer
    if kind == "decimal":
        return _decimal
    if kind == "bool":
        return lambda v: v
    if kind == "date":
        return lambda v: from_excel(v, epoch) if isinstance(v, int | float) and not isinstance(v, bool) else v
    return _text


def _label(value: Any) -> str:
    return str(value).strip().rstrip("*").rstrip("*").strip()


class Checker:
    """Checks the sheets of one file, parents before children, collecting prepared records and problems."""

    def __init__(self, store: LedgerStore, user: User, problems: Problems, max_rows: int) -> None:
        self.store, self.user, self.problems, self.max_rows = store, user, problems, max_rows
        self.prepared: list[Prepared] = []
        self.counts: dict[str, int] = {}
        self.rows = 0
        self.parents: dict[str, dict[str, _Parent]] = {}  # ledger -> file code -> row
        self.refs: dict[tuple[str, str], list[tuple[str, int, int, str]]] = {}  # (ledger, id) -> where it is named
        self._places: dict[tuple[str, str], tuple[str, str] | str] = {}
        self._ref_fields: dict[str, list[FieldSpec]] = {}

    # --- headers ------------------------------------------------------------------------------------------------

    def _header(self, lg: Ledger, rows: Iterator[Row]) -> tuple[dict[int, Column], Iterator[Row]] | None:
        """The sheet's columns by number, from row 1's labels or row 2's keys; None after noting header problems."""
        name, cols = sheet_name(lg), columns(self.store.ledgers, lg)
        first = next(rows, None)
        if first is None or first[0] != 1:
            self.problems.add(name, 1, 0, "", "第1行应为列名(请使用下载的模板)")
            return None
        second = next(rows, None)
        by_key = {c.key: c for c in cols}
        keys: dict[int, str] = {}
        if second is not None and second[0] == 2 and all(isinstance(v, str) and v.strip() in by_key
                                                          for _, v in second[1]):  # fmt: skip
            keys = {i: v.strip() for i, v in second[1]}
        elif second is not None:
            rows = itertools.chain([second], rows)
        by_label = {c.label: c for c in reversed(cols)}
        found: dict[int, Column] = {}
        where: dict[str, int] = {}
        before = self.problems.total
        for i, value in first[1]:
            col = by_key.get(keys.get(i, "")) or by_label.get(_label(value))
            if col is None:
                self.problems.add(name, 1, i, str(value)[:40], "无法识别的列,请使用模板中的列名,不要修改列名")
            elif col.key in where:
                self.problems.add(name, 1, i, col.label, f"与 {get_column_letter(where[col.key])} 列重复")
            else:
                found[i], where[col.key] = col, i
        for i in set(keys) - set(found):
            if i not in dict(first[1]):
                found[i], where[keys[i]] = by_key[keys[i]], i
        for col in cols:
            if col.required and col.key not in where:
                self.problems.add(name, 1, 0, col.label, "缺少必填的列")
        return (found, rows) if self.problems.total == before else None

    # --- rows ---------------------------------------------------------------------------------------------------

    def sheet(self, book: Workbook, lg: Ledger) -> None:
        """Check every row of a ledger's sheet."""
        name = sheet_name(lg)
        head = self._header(lg, book.rows(name))
        if head is None:
            return
        found, rows = head
        convert = {i: converter(c.spec, book.epoch) for i, c in found.items()}
        numbers = {c.key: i for i, c in found.items()}
        self.counts.setdefault(lg.ledger, 0)
        unheaded: set[int] = set()
        codes = self.parents.setdefault(lg.ledger, {})
        parents = self.parents.get(lg.parent or "", {})
        for row_no, cells in rows:
            raw: dict[str, Any] = {}
            system: dict[str, str] = {}
            for i, value in cells:
                col = found.get(i)
                if col is None:
                    if i not in unheaded:
                        unheaded.add(i)
                        self.problems.add(name, row_no, i, "", "此列没有列名,无法识别;请补上列名或删除该列的内容")
                    continue
                if col.spec is None:
                    system[col.key] = _text(value).strip()
                else:
                    raw[col.key] = convert[i](value)
            if not raw and not any(system.values()):
                continue
            self.rows += 1
            if self.rows > self.max_rows:
                raise TooManyRows
            if lg.parent is None:
                self._top(lg, name, row_no, raw, system, numbers, codes)
            else:
                self._child(lg, name, row_no, raw, system, numbers, parents)

    def _place(self, village: str, township: str) -> tuple[str, str] | str:
        """(township, village) of a place named in a row, or why it is not one (cached per file)."""
        got = self._places.get((village, township))
        if got is None:
            try:
                got = self.store.place(village, township)
            except RecordInvalid as exc:
                got = exc.errors.get("village", "没有这个村")
            self._places[(village, township)] = got
        return got

    def _top(self, lg: Ledger, name: str, row_no: int, raw: dict[str, Any], system: dict[str, str],
             numbers: dict[str, int], codes: dict[str, _Parent]) -> None:  # fmt: skip
        code, village, township = system.get(CODE, ""), system.get(VILLAGE, ""), system.get(TOWNSHIP, "")
        if CODE in numbers:
            if not code:
                self.problems.add(name, row_no, numbers[CODE], "编号", "必填")
            elif code in codes:
                self.problems.add(name, row_no, numbers[CODE], "编号", f"编号“{code}”与第{codes[code].row}行重复")
                code = ""
        place = self._place(village, township) if village else "必填"
        if isinstance(place, str):
            self.problems.add(name, row_no, numbers.get(VILLAGE, 0), "所属村", place)
            self._values_only(lg, name, row_no, raw, numbers)
            prepared = None
        elif not in_scope(self.user, *place):
            self.problems.add(name, row_no, numbers[VILLAGE], "所属村", f"{place[0]}{place[1]}不在您的管辖范围内")
            self._values_only(lg, name, row_no, raw, numbers)
            prepared = None
        else:
            prepared = self._prepare(lg, name, row_no, raw, numbers, village=place[1], township=place[0])
        if code and code not in codes:
            codes[code] = _Parent(row_no, prepared.id if prepared else None, None if isinstance(place, str) else place)

    def _child(self, lg: Ledger, name: str, row_no: int, raw: dict[str, Any], system: dict[str, str],
               numbers: dict[str, int], parents: dict[str, _Parent]) -> None:  # fmt: skip
        code = system.get(PARENT, "")
        parent = parents.get(code) if code else None
        label = parent_code_label(self.store.ledgers, lg)
        if not code:
            self.problems.add(name, row_no, numbers[PARENT], label, "必填")
        elif parent is None:
            title = sheet_name(self.store.ledgers[lg.parent or ""])
            self.problems.add(name, row_no, numbers[PARENT], label, f"“{title}”表中没有编号为“{code}”的记录")
        if parent is None or parent.id is None or parent.place is None:
            self._values_only(lg, name, row_no, raw, numbers)  # the parent's own problems are listed on its row
        else:
            self._prepare(lg, name, row_no, raw, numbers, parent_id=parent.id, parent_place=parent.place)

    def _prepare(self, lg: Ledger, name: str, row_no: int, raw: dict[str, Any], numbers: dict[str, int],
                 **where: Any) -> Prepared | None:  # fmt: skip
        try:
            p = self.store.prepare(self.user, lg.ledger, raw, **where)
        except RecordInvalid as exc:
            self._invalid(lg, name, row_no, exc, numbers)
            return None
        except AccessDenied as exc:
            self.problems.add(name, row_no, numbers.get(VILLAGE, numbers.get(PARENT, 0)), "", str(exc))
            return None
        self.prepared.append(p)
        self.counts[lg.ledger] += 1
        for spec in self._ref_fields.setdefault(lg.ledger, [f for f in lg.fields if f.type == "ref"]):
            if p.values.get(spec.key):
                where_named = (name, row_no, numbers.get(spec.key, 0), spec.label)
                self.refs.setdefault((spec.ledger or "", p.values[spec.key]), []).append(where_named)
        return p

    def _values_only(self, lg: Ledger, name: str, row_no: int, raw: dict[str, Any], numbers: dict[str, int]) -> None:
        """The cell checks of a row that cannot be prepared (its place or parent is wrong), so all are listed."""
        try:
            check_record(lg, check_values(lg, raw, today=self.store.today(), gazetteer=self.store.gazetteer))
        except RecordInvalid as exc:
            self._invalid(lg, name, row_no, exc, numbers)

    def _invalid(self, lg: Ledger, name: str, row_no: int, exc: RecordInvalid, numbers: dict[str, int]) -> None:
        system = {"village": (VILLAGE, "所属村"), "parent_id": (PARENT, "")}
        for key, reason in exc.errors.items():
            if key in system:
                col, label = numbers.get(system[key][0], 0), system[key][1]
            else:
                col, label = numbers.get(key, 0), next((f.label for f in lg.fields if f.key == key), "")
            self.problems.add(name, row_no, col, label, reason)

    # --- references ---------------------------------------------------------------------------------------------

    def check_refs(self) -> None:
        """Every record a ref cell names exists (undeleted) in its ledger; one query per 500 ids."""
        wanted: dict[str, list[str]] = {}
        for target, rid in self.refs:
            wanted.setdefault(target, []).append(rid)
        for target, ids in wanted.items():
            table = self.store.tables[target]
            found: set[str] = set()
            with self.store.engine.connect() as conn:
                for i in range(0, len(ids), _CHUNK):
                    part = ids[i : i + _CHUNK]
                    found |= set(conn.scalars(select(table.c.id).where(table.c.id.in_(part),
                                                                       table.c.deleted.is_(False))))  # fmt: skip
            title = self.store.ledgers[target].title
            for rid in ids:
                if rid not in found:
                    for sheet, row, col, label in self.refs[(target, rid)]:
                        self.problems.add(sheet, row, col, label, f"{title}中没有编号为 {rid} 的记录")

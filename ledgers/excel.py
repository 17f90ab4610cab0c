"""Excel files of a ledger and its child ledgers: the blank template, the export of what a user may read, and the
all-or-nothing import (the whole file is checked before one transaction writes any of it)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from sqlalchemy import select

from core.access import User
from ledgers.codec import to_text
from ledgers.excel_check import Checker, Problem, Problems, TooManyRows
from ledgers.excel_layout import (
    CODE,
    FIRST_DATA_ROW,
    GUIDE,
    OPTIONS,
    PARENT,
    TOWNSHIP,
    VILLAGE,
    Column,
    book_ledgers,
    columns,
    guide_rows,
    header_rows,
    number_format,
    options_book,
    sheet_name,
    validations,
    width,
)
from ledgers.loader import LedgerSet
from ledgers.query import ListQuery, area, list_records, views
from ledgers.schema import Ledger
from ledgers.store import LedgerStore, Record
from ledgers.values import RecordInvalid
from ledgers.xlsx_reader import NotWorkbook
from ledgers.xlsx_reader import Workbook as ReadBook

MAX_ROWS = 500_000  # settings.records.import_max_rows
MAX_MB = 80.0  # settings.records.import_max_mb
MAX_PROBLEMS = 200
PAGE = 500  # records read per query while exporting
__all__ = ["FileRow", "ImportRejected", "ImportReport", "Problem", "export", "import_workbook", "template", "workbook"]


@dataclass
class ImportReport:
    """What an import found: whether it was written, records per ledger, and the problems (at most a cap listed)."""

    ok: bool
    counts: dict[str, int] = field(default_factory=dict)  # ledger title -> records checked (and, when ok, written)
    problems: list[Problem] = field(default_factory=list)
    more: int = 0  # problems found beyond those listed

    def summary(self) -> str:
        """One Chinese sentence for the page or the API."""
        if self.ok:
            return "导入成功:" + ",".join(f"{title} {n} 条" for title, n in self.counts.items())
        total = len(self.problems) + self.more
        listed = f"(以下列出前 {len(self.problems)} 处)" if self.more else ""
        return f"文件未导入,没有写入任何记录:发现 {total} 处问题{listed},请改正后重新导入整个文件。"

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (the API's answer)."""
        return {"ok": self.ok, "summary": self.summary(), "counts": dict(self.counts), "more": self.more,
                "problems": [p.to_dict() for p in self.problems]}  # fmt: skip


class ImportRejected(ValueError):
    """A file that was not imported (nothing written); `report` lists every problem found, the message sums up."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.summary())
        self.report = report


# --- template and export ------------------------------------------------------------------------------------------


def _book(ledgers: LedgerSet, books: list[Ledger], max_rows: int) -> tuple[Workbook, dict[str, Any]]:
    """A write-only workbook with each ledger's sheet headed, the instructions and the hidden option lists."""
    wb = Workbook(write_only=True)
    sheets: dict[str, Any] = {}
    lists = options_book(books)
    option_cols = {name: i for i, (name, _) in enumerate(lists, 1)}
    for lg in books:
        ws = wb.create_sheet(sheet_name(lg))
        cols = columns(ledgers, lg)
        for i, col in enumerate(cols, 1):
            dim = ws.column_dimensions[get_column_letter(i)]
            dim.width, dim.number_format = width(col), number_format(col.spec)
        for dv in validations(lg, cols, option_cols):
            ws.data_validations.append(dv)
        ws.freeze_panes = f"A{FIRST_DATA_ROW}"
        header_rows(ws, cols)
        sheets[lg.ledger] = ws
    guide = wb.create_sheet(GUIDE)
    for letter, w in zip("ABCD", (16, 22, 10, 90), strict=True):
        guide.column_dimensions[letter].width = w
    for line in guide_rows(ledgers, books, max_rows):
        guide.append(line)
    opts = wb.create_sheet(OPTIONS)
    opts.sheet_state = "hidden"
    longest = max((len(o) for _, o in lists), default=0)
    opts.append([name for name, _ in lists])
    for i in range(longest):
        opts.append([o[i] if i < len(o) else None for _, o in lists])
    return wb, sheets


def _save(wb: Workbook) -> bytes:
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def template(ledgers: LedgerSet, key: str, *, max_rows: int = MAX_ROWS) -> bytes:
    """The blank .xlsx of a top ledger: its sheet and one per child ledger, drop-downs, formats, instructions."""
    wb, _ = _book(ledgers, book_ledgers(ledgers, key), max_rows)
    return _save(wb)


@dataclass(frozen=True)
class FileRow:
    """One record as a row of a file: its ledger, its file code (a child row: its parent's), place and values."""

    ledger: str
    code: str
    township: str
    village: str
    values: dict[str, Any]
    masked: frozenset[str] = frozenset()  # fields whose value is the masked text


def _cell(col: Column, row: FileRow) -> Any:
    """A value as its cell: dates and numbers typed, the rest as the text the import takes."""
    spec = col.spec
    if spec is None:
        return {CODE: row.code, PARENT: row.code, TOWNSHIP: row.township, VILLAGE: row.village}[col.key]
    value = row.values.get(col.key)
    if value is None or col.key in row.masked or spec.type in ("integer", "decimal", "date"):
        return value
    return to_text(spec, value)


def workbook(ledgers: LedgerSet, key: str, rows: Iterable[FileRow], *, max_rows: int = MAX_ROWS) -> bytes:
    """A filled .xlsx in the template's layout (streamed: rows are written as they come, parents before their
    children or not, each to its ledger's sheet)."""
    books = book_ledgers(ledgers, key)
    wb, sheets = _book(ledgers, books, max_rows)
    cols = {lg.ledger: columns(ledgers, lg) for lg in books}
    for row in rows:
        sheets[row.ledger].append([_cell(c, row) for c in cols[row.ledger]])
    return _save(wb)


def _children(store: LedgerStore, user: User, child: Ledger, parent_ids: list[str]) -> list[Record]:
    """The undeleted child records of these parents in the user's area, as the user may see them."""
    table = store.tables[child.ledger]
    stmt = (select(table).where(area(table, user), table.c.deleted.is_(False), table.c.parent_id.in_(parent_ids))
            .order_by(table.c.created_at, table.c.id))  # fmt: skip
    with store.engine.connect() as conn:
        rows = list(conn.execute(stmt))
    return views(store, user, child, rows)


def _records(store: LedgerStore, user: User, books: list[Ledger], q: ListQuery,
             counts: dict[str, int]) -> Iterator[FileRow]:  # fmt: skip
    """The matching records and their children as file rows, a page of parents at a time."""
    main, page, serial = books[0], 0, 0
    while True:
        found = list_records(store, user, main.ledger, replace(q, page=page, size=PAGE))
        codes: dict[str, str] = {}
        for rec in found.rows:
            serial += 1
            codes[rec.id] = f"{main.prefix}{serial:06d}"
            yield FileRow(main.ledger, codes[rec.id], rec.township, rec.village, rec.values, rec.masked)
        for child in books[1:] if codes else ():
            for rec in _children(store, user, child, list(codes)):
                counts[child.ledger] += 1
                code = codes.get(rec.parent_id or "", "")
                yield FileRow(child.ledger, code, rec.township, rec.village, rec.values, rec.masked)
        counts[main.ledger] += len(found.rows)
        if len(found.rows) < PAGE:
            return
        page += 1


def export(store: LedgerStore, user: User, key: str, query: ListQuery | None = None) -> bytes:
    """The records of a top ledger the user may read and that match the query, with their child records, in the
    template's layout (so the file can be imported again); personal values as the user sees them; audited."""
    books = book_ledgers(store.ledgers, key)
    for lg in books:
        store.require(user, lg, "export")
    counts = dict.fromkeys((lg.ledger for lg in books), 0)
    data = workbook(store.ledgers, key, _records(store, user, books, query or ListQuery(), counts))
    store.audit(user, "ledger_export", key, True, {"records": counts})
    return data


# --- import -------------------------------------------------------------------------------------------------------


def import_workbook(
    store: LedgerStore, user: User, key: str, data: bytes, ip: str = "", *, max_rows: int = MAX_ROWS,
    max_mb: float = MAX_MB, max_problems: int = MAX_PROBLEMS,
) -> ImportReport:  # fmt: skip
    """Check a whole .xlsx (every cell of every sheet, codes, columns, places, the user's area) and write it in one
    transaction; ImportRejected, with every problem and nothing written, when any of it is wrong."""
    problems = Problems(max_problems)
    try:
        books = book_ledgers(store.ledgers, key)
    except RecordInvalid as exc:
        problems.add("", 0, 0, "", exc.errors["ledger"])
        raise ImportRejected(_report(store, False, {}, problems)) from None
    for lg in books:
        store.require(user, lg, "write")  # a duty refusal is not a problem of the file: AccessDenied
    checker = Checker(store, user, problems, max_rows)
    if len(data) > max_mb * 2**20:
        problems.add("", 0, 0, "", f"文件超过 {max_mb:g} MB 的上限,请拆分后分批导入")
    else:
        try:
            book = ReadBook(data)
            expected = {sheet_name(lg): lg for lg in books}
            for name in book.sheetnames:
                if name not in expected and name not in (GUIDE, OPTIONS):
                    problems.add(name, 0, 0, "", f"无法识别的工作表“{name}”,应为:{'、'.join(expected)}")
            if sheet_name(books[0]) not in book.sheetnames:
                problems.add(sheet_name(books[0]), 0, 0, "", f"缺少工作表“{sheet_name(books[0])}”")
            elif not problems.total:
                for lg in books:
                    if sheet_name(lg) in book.sheetnames:
                        checker.sheet(book, lg)
                checker.check_refs()
        except NotWorkbook as exc:
            problems.add("", 0, 0, "", str(exc))
        except TooManyRows:
            problems.add("", 0, 0, "", f"文件超过 {max_rows} 行数据的上限(各工作表合计),请拆分后分批导入")
    if not problems.total and not checker.prepared:
        problems.add(sheet_name(books[0]), 0, 0, "", "文件中没有可导入的记录(数据从第3行开始填写)")
    if problems.total:
        report = _report(store, False, checker.counts, problems)
        store.audit(user, "ledger_import", key, False, {"problems": problems.total, "rows": checker.rows})
        raise ImportRejected(report)
    try:
        store.insert(user, checker.prepared, ip=ip, action="import")
    except RecordInvalid as exc:  # a referenced record deleted while the file was checked
        for reason in exc.errors.values():
            problems.add("", 0, 0, "", reason)
        raise ImportRejected(_report(store, False, checker.counts, problems)) from None
    return _report(store, True, checker.counts, problems)


def _report(store: LedgerStore, ok: bool, counts: dict[str, int], problems: Problems) -> ImportReport:
    titles = {k: store.ledgers[k].title for k in counts}
    return ImportReport(ok, {titles[k]: n for k, n in counts.items()}, problems.items, problems.more)

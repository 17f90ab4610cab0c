"""The Excel layout of a ledger, shared by the template, the export and the import: one sheet per ledger and child
ledger, Chinese labels in row 1 (required ones marked *), field keys in a hidden row 2, data from row 3."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from openpyxl.cell import WriteOnlyCell
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from ledgers.loader import LedgerSet
from ledgers.schema import FieldSpec, Ledger
from ledgers.values import RecordInvalid

CODE, TOWNSHIP, VILLAGE, PARENT = "_code", "_township", "_village", "_parent"  # system columns' keys (row 2)
GUIDE, OPTIONS = "填写说明", "选项"  # the instructions sheet and the hidden sheet of drop-down lists
FIRST_DATA_ROW = 3
LAST_ROW = 1_048_576
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
REQUIRED_FILL = PatternFill("solid", fgColor="FCE4D6")
NUMBER_FORMATS = {"date": "yyyy-mm-dd", "integer": "0", "text": "@", "enum": "@", "place": "@", "ref": "@",
                  "geo": "@", "attachment": "@"}  # fmt: skip


@dataclass(frozen=True)
class Column:
    """One column of a ledger sheet: a declared field or a system column (code, township, village, parent code)."""

    key: str
    label: str
    required: bool
    spec: FieldSpec | None
    hint: str

    @property
    def header(self) -> str:
        """The label as row 1 shows it, * marking a required column."""
        return self.label + ("*" if self.required else "")


def sheet_name(ledger: Ledger) -> str:
    """The sheet of a ledger: its Chinese title, cut to Excel's 31 characters and rid of the characters it forbids."""
    return re.sub(r"[\[\]:*?/\\]", "", ledger.title)[:31]


def book_ledgers(ledgers: LedgerSet, key: str) -> list[Ledger]:
    """The ledgers of one workbook: a top ledger and its child ledgers; RecordInvalid (Chinese) for a child ledger."""
    lg = ledgers[key]
    if lg.parent is not None:
        parent = ledgers[lg.parent]
        why = f"“{lg.title}”是“{parent.title}”的子台账,请使用“{parent.title}”的模板一并导入导出"
        raise RecordInvalid({"ledger": why})
    return [lg, *ledgers.children(key)]


def parent_code_label(ledgers: LedgerSet, child: Ledger) -> str:
    """The label of a child sheet's column that names its parent row's code."""
    return f"所属{ledgers[child.parent].title}编号" if child.parent else ""


def columns(ledgers: LedgerSet, ledger: Ledger) -> list[Column]:
    """The columns of a ledger's sheet, system columns first, then the declared fields in form order."""
    out: list[Column] = []
    if ledger.parent is not None:
        parent = ledgers[ledger.parent]
        out.append(Column(PARENT, parent_code_label(ledgers, ledger), True, None,
                          f"填写本行所属{parent.title}在“{sheet_name(parent)}”表中的编号"))  # fmt: skip
    else:
        if ledgers.children(ledger.ledger):
            names = "、".join(f"“{sheet_name(c)}”" for c in ledgers.children(ledger.ledger))
            out.append(Column(CODE, "编号", True, None, f"本文件内每行的编号,如 H0001,不能重复;{names}表按此编号对应"))
        out.append(Column(TOWNSHIP, "所属乡镇", False, None, "乡镇名,如 大川镇;县内有重名的村时必须填写"))
        out.append(Column(VILLAGE, "所属村", True, None, "村名,如 狼岔坝村;只能填写您管辖范围内的村"))
    out += [Column(f.key, f.label, f.required, f, hint(ledgers, f)) for f in ledger.fields]
    return out


def hint(ledgers: LedgerSet, spec: FieldSpec) -> str:
    """What a field's cell takes, in Chinese (shown in the header's comment and on the instructions sheet)."""
    unit = spec.unit
    span = "" if spec.min is None and spec.max is None else f",范围 {_num(spec.min)}~{_num(spec.max)}{unit}"
    if spec.type == "text":
        what = {"id_number": "18位身份证号(末位可为X),按文本填写", "phone": "11位手机号或带区号的固定电话"}.get(
            spec.format or "", f"文字,不超过{spec.max_length}字"
        )
    elif spec.type == "integer":
        what = f"整数{span}"
    elif spec.type == "decimal":
        what = f"数字,最多{spec.scale}位小数" + (span or (f",单位{unit}" if unit else ""))
    elif spec.type == "date":
        what = "日期,如 2024-05-01" + (",不能晚于今天" if spec.not_future else "")
    elif spec.type == "enum":
        what = "从下拉列表选择:" + "、".join(spec.options)
    elif spec.type == "bool":
        what = "填“是”或“否”"
    elif spec.type == "ref":
        target = ledgers[spec.ledger or ""]
        what = f"{target.title}的记录编号(如 {target.prefix}-…),可在该台账列表中查到"
    elif spec.type == "place":
        what = "乡镇名" if spec.level == "township" else "村名(重名时写作 乡镇/村)"
    elif spec.type == "geo":
        what = "经度,纬度,如 104.37,33.78(须在舟曲县境内)"
    else:
        what = "附件编号(附件须在网页上传)"
    parts = ["必填" if spec.required else "", what, spec.help]
    return ";".join(p for p in parts if p)


def _num(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def number_format(spec: FieldSpec | None) -> str:
    """The Excel number format of a column (text for codes and places)."""
    if spec is None:
        return "@"
    if spec.type == "decimal":
        return "0" if spec.scale == 0 else "0." + "0" * spec.scale
    return NUMBER_FORMATS.get(spec.type, "General")


def width(col: Column) -> float:
    """A column width that shows its label and typical values."""
    if col.spec is not None and col.spec.format == "id_number":
        return 22
    if col.spec is not None and col.spec.type in ("geo", "ref"):
        return 20
    return max(10.0, min(30.0, 2.2 * len(col.header) + 2))


def options_book(ledgers: list[Ledger]) -> list[tuple[str, list[str]]]:
    """The drop-down lists of a workbook: one column of the hidden options sheet per enum field."""
    return [(f"{lg.ledger}.{f.key}", f.options) for lg in ledgers for f in lg.fields if f.type == "enum"]


def validations(ledger: Ledger, cols: list[Column], option_cols: dict[str, int]) -> list[DataValidation]:
    """Drop-downs for enum and bool columns and range checks for numbers, over every data row of the sheet."""
    out = []
    for i, col in enumerate(cols, 1):
        spec, letter = col.spec, get_column_letter(i)
        if spec is None:
            continue
        dv: DataValidation | None = None
        if spec.type == "enum":
            src = get_column_letter(option_cols[f"{ledger.ledger}.{spec.key}"])
            ref = f"{quote_sheetname(OPTIONS)}!${src}$2:${src}${len(spec.options) + 1}"
            dv = DataValidation(type="list", formula1=ref, allow_blank=True)
        elif spec.type == "bool":
            dv = DataValidation(type="list", formula1='"是,否"', allow_blank=True)
        elif spec.type in ("integer", "decimal") and (spec.min is not None or spec.max is not None):
            kind = "whole" if spec.type == "integer" else "decimal"
            low, high = _num(spec.min) or "-1E+15", _num(spec.max) or "1E+15"
            dv = DataValidation(type=kind, operator="between", formula1=low, formula2=high, allow_blank=True)
        if dv is None:
            continue
        dv.showErrorMessage = True
        dv.errorTitle, dv.error = "输入有误", col.hint[:250]
        dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{LAST_ROW}")
        out.append(dv)
    return out


def header_rows(ws: Any, cols: list[Column]) -> None:
    """Append rows 1-2 to a write-only sheet: styled labels with help comments, and the hidden row of keys."""
    top, keys = [], []
    for col in cols:
        cell = WriteOnlyCell(ws, col.header)
        cell.font = Font(bold=True, color="C00000" if col.required else "000000")
        cell.fill = REQUIRED_FILL if col.required else HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        if col.hint:
            cell.comment = Comment(col.hint, "舟曲县乡村运营平台", width=260, height=120)
        top.append(cell)
        key = WriteOnlyCell(ws, col.key)
        key.font = Font(size=8, color="808080")
        keys.append(key)
    ws.row_dimensions[1].height = 30
    ws.row_dimensions[2].hidden = True
    ws.append(top)
    ws.append(keys)


def guide_rows(ledgers: LedgerSet, books: list[Ledger], max_rows: int) -> list[list[str]]:
    """The instructions sheet, in Chinese: how to fill the file, then every column of every sheet."""
    main, children = books[0], books[1:]
    lines = [
        [f"{main.title} 导入模板 填写说明"],
        [],
        ["1. 每个工作表对应一个台账:" + "、".join(f"“{sheet_name(lg)}”表每行一条{lg.title}记录" for lg in books)
         + "。"],
        ["2. 第1行是列名,带 * 的列必须填写。第2行(已隐藏)是系统识别各列用的字段名,请勿修改或删除;"
         "可以调整列的顺序,但不要修改列名。数据从第3行开始填写。"],
        ["3. “所属村”填写村名;县内有重名的村时同时填写“所属乡镇”。只能导入您管辖范围内的村的记录。"],
    ]  # fmt: skip
    if children:
        names = "、".join(f"“{sheet_name(c)}”" for c in children)
        lines.append([f"4. “编号”是本文件内每条{main.title}记录的编号(如 H0001),同一文件内不能重复;{names}表的"
                      f"“{parent_code_label(ledgers, children[0])}”填写所属记录的编号。"])  # fmt: skip
    lines += [
        ["5. 下拉列表中的列只能选择列表中的值;日期写作 2024-05-01;身份证号、电话等长数字请按文本填写"
         "(模板已设置为文本格式),以免 Excel 把它们变成科学计数法。"],
        ["6. 整份文件一起检查:只要有一个单元格有问题,整份文件都不会导入,系统会列出每个问题所在的工作表、"
         "行号、列和原因;改正后请重新导入整份文件。"],
        [f"7. 每份文件最多 {max_rows} 行数据(各工作表合计)。"],
        [],
        ["工作表", "列名", "是否必填", "填写要求"],
    ]  # fmt: skip
    for lg in books:
        for col in columns(ledgers, lg):
            lines.append([sheet_name(lg), col.label, "必填" if col.required else "", col.hint])
    return lines

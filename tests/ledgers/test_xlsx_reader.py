"""The import's streaming .xlsx reader on files shaped as Excel and WPS write them (shared strings, rich text with
phonetic runs, date formats, namespace prefixes, the 1904 calendar) and on files it must refuse."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime

import openpyxl
import pytest

from ledgers.xlsx_reader import NotWorkbook, Workbook

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"


def book(sheet: str, *, strings: str = "", styles: str = "", date1904: bool = False, prefix: str = "") -> bytes:
    """A minimal workbook as Excel lays it out: one sheet named 户情档案 at xl/worksheets/sheet1.xml."""
    p = f"{prefix}:" if prefix else ""
    ns = f'xmlns{":" + prefix if prefix else ""}="{MAIN}"'
    parts = {
        "_rels/.rels": f'<Relationships xmlns="{PKG}"><Relationship Id="rId1" '
        f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<{p}workbook {ns} xmlns:r="{REL}">'
        + (f'<{p}workbookPr date1904="1"/>' if date1904 else "")
        + f'<{p}sheets><{p}sheet name="户情档案" sheetId="1" r:id="rId1"/></{p}sheets></{p}workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{PKG}">'
        f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{REL}/styles" Target="/xl/styles.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f"<{p}worksheet {ns}><{p}sheetData>{sheet}</{p}sheetData></{p}worksheet>",
        "xl/sharedStrings.xml": f'<{p}sst {ns}>{strings}</{p}sst>',
        "xl/styles.xml": f"<{p}styleSheet {ns}>{styles}</{p}styleSheet>",
    }  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, text in parts.items():
            z.writestr(name, '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + text)
    return out.getvalue()


STYLES = ('<numFmts count="1"><numFmt numFmtId="176" formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/>'
          "</numFmts><cellStyleXfs><xf numFmtId=\"14\"/></cellStyleXfs><cellXfs><xf numFmtId=\"0\"/>"
          '<xf numFmtId="14"/><xf numFmtId="176"/><xf numFmtId="31"/><xf numFmtId="49"/></cellXfs>')  # fmt: skip


def test_shared_strings_rich_text_numbers_booleans_and_dates() -> None:
    strings = ('<si><t>张三</t></si><si><r><t>狼岔</t></r><r><rPr><b/></rPr><t>坝村</t></r>'
               "<rPh sb=\"0\" eb=\"2\"><t>ろう</t></rPh></si><si><t xml:space=\"preserve\"> 3组 </t></si>")  # fmt: skip
    sheet = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="C1" t="s"><v>1</v></c></row>'
             '<row r="4" spans="1:6"><c r="A4" s="1"><v>45413</v></c><c r="B4" s="2"><v>45414</v></c>'
             '<c r="C4" s="3"><v>45415</v></c><c r="D4" t="b"><v>1</v></c><c r="E4"><v>86.5</v></c>'
             '<c r="F4" s="4" t="s"><v>2</v></c><c r="G4"><f>1+1</f><v>2</v></c><c r="H4" t="str"><f>A1</f>'
             '<v>张三</v></c><c r="I4" t="e"><v>#N/A</v></c><c r="J4"/><c r="AA4" t="inlineStr"><is><t>x&amp;y'
             "</t></is></c></row>"
             '<row r="5"><c s="1"/></row><row><c><v>7</v></c><c><v>6.2302319800101005E+17</v></c></row>')  # fmt: skip
    wb = Workbook(book(sheet, strings=strings, styles=STYLES))
    assert wb.sheetnames == ["户情档案"]
    rows = list(wb.rows("户情档案"))
    assert rows[0] == (1, [(1, "张三"), (3, "狼岔坝村")])
    assert rows[1] == (4, [(1, datetime(2024, 5, 1)), (2, datetime(2024, 5, 2)), (3, datetime(2024, 5, 3)),
                           (4, True), (5, 86.5), (6, " 3组 "), (7, 2), (8, "张三"), (9, "#N/A"),
                           (27, "x&y")])  # fmt: skip
    assert rows[2] == (6, [(1, 7), (2, 6.2302319800101005e17)])  # a row without `r` follows the last one
    assert len(rows) == 3  # the row of only an empty styled cell is left out


def test_namespace_prefixes_and_the_1904_calendar() -> None:
    sheet = (
        '<x:row r="2"><x:c r="B2" s="1"><x:v>1</x:v></x:c>'
        '<x:c r="C2" t="inlineStr"><x:is><x:t>是</x:t></x:is></x:c></x:row>'
    )
    wb = Workbook(book(sheet, styles=STYLES.replace("<", "<x:").replace("<x:/", "</x:"), date1904=True, prefix="x"))
    assert list(wb.rows("户情档案")) == [(2, [(2, datetime(1904, 1, 2)), (3, "是")])]


def test_openpyxl_files_read_the_same_as_openpyxl_reads_them() -> None:
    src = openpyxl.Workbook()
    ws = src.active
    ws.title = "家庭成员"
    ws.append(["姓名", "出生日期", "务工时间", "低保", None, "备注"])
    ws.append(["李四", datetime(1990, 3, 3), 8, False, None, "  "])
    out = io.BytesIO()
    src.save(out)
    got = list(Workbook(out.getvalue()).rows("家庭成员"))
    assert got == [(1, [(1, "姓名"), (2, "出生日期"), (3, "务工时间"), (4, "低保"), (6, "备注")]),
                   (2, [(1, "李四"), (2, datetime(1990, 3, 3)), (3, 8), (4, False)])]  # fmt: skip


@pytest.mark.parametrize("data", [
    b"",
    b"just,some,text\n",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512,
    b"PK\x03\x04" + b"\0" * 40,
])  # fmt: skip
def test_what_is_not_a_workbook_is_refused_in_chinese(data: bytes) -> None:
    with pytest.raises(NotWorkbook, match="xls"):
        Workbook(data)


def test_a_zip_without_a_workbook_and_a_doctype_are_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", "<document/>")
    with pytest.raises(NotWorkbook):
        Workbook(out.getvalue())
    laughs = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
              '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row>')  # fmt: skip
    wb_bytes = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(book(""))) as src, zipfile.ZipFile(wb_bytes, "w") as dst:
        for name in src.namelist():
            body = src.read(name)
            dst.writestr(name, laughs if name.endswith("sheet1.xml") else body)
    with pytest.raises(NotWorkbook, match="文档类型声明"):
        list(Workbook(wb_bytes.getvalue()).rows("户情档案"))

"""Excel template, export and all-or-nothing import of the household ledger and its members, on both backends:
round trips, one bad cell rejecting a whole file with every problem located, refusals, masked exports."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from ledger_testkit import COUNTY_ADMIN, COUNTY_OP, OFFICER_A, TOWNSHIP_A, VILLAGE_A, VILLAGE_B, id_number
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select

from core.access import AccessDenied
from ledgers.excel import ImportRejected, export, import_workbook, template
from ledgers.query import ListQuery, children, list_records
from ledgers.store import LedgerStore

HH, MM = "户情档案", "家庭成员"


def fill(data: bytes, sheets: dict[str, list[dict[str, Any]]]) -> bytes:
    """The workbook with rows added under its headers, each cell put in the column whose key (row 2) it names."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for name, rows in sheets.items():
        ws = wb[name]
        keys = {c.value: c.column for c in ws[2] if c.value}
        for values in rows:
            row = ws.max_row + 1
            for key, value in values.items():
                ws.cell(row=row, column=keys[key], value=value)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def columns_of(data: bytes, sheet: str) -> dict[str, tuple[str, str]]:
    """Field key -> (column letter, label) of a sheet."""
    ws = openpyxl.load_workbook(io.BytesIO(data))[sheet]
    pairs = zip(ws[1], ws[2], strict=True)
    return {k.value: (get_column_letter(k.column), str(top.value).rstrip("*")) for top, k in pairs}


def house(code: str, serial: int, village: str = VILLAGE_A, **extra: Any) -> dict[str, Any]:
    """A household row of the file."""
    return {"_code": code, "_village": village, "head_name": f"户主{serial}", "head_id_number": id_number(serial),
            "phone": f"1390941{serial:04d}", "size": 3, "labourers": 2, "poverty_status": "脱贫户",
            "housing_area": 86.5, "surveyed_on": date(2025, 3, 1), "dibao": "否", "house_location": "104.23,33.75",
            **extra}  # fmt: skip


def member(parent: str, serial: int, relation: str = "户主", **extra: Any) -> dict[str, Any]:
    """A member row of the file."""
    return {
        "_parent": parent,
        "name": f"成员{serial}",
        "id_number": id_number(serial, "19900303"),
        "relation": relation,
        "sex": "女",
        "birth_date": date(1990, 3, 3),
        "work_status": "在家务农",
        **extra,
    }


def counts(store: LedgerStore) -> tuple[int, ...]:
    """Rows in the household, member and version tables."""
    from ledgers.tables import versions

    with store.engine.connect() as conn:
        return tuple(conn.scalar(select(func.count()).select_from(t)) or 0
                     for t in (store.tables["household"], store.tables["member"], versions))  # fmt: skip


def snapshot(store: LedgerStore) -> list[tuple[Any, ...]]:
    """Every household with its members' values, as the officer of 狼岔坝村 reads them, ids left out."""
    out = []
    for rec in list_records(store, OFFICER_A, "household", ListQuery(size=500)).rows:
        kids = sorted((sorted(m.values.items()) for m in children(store, OFFICER_A, "member", rec.id)), key=repr)
        out.append((rec.township, rec.village, sorted(rec.values.items()), kids))
    return sorted(out, key=repr)


def test_template_has_a_sheet_per_ledger_marked_labels_keys_and_drop_downs(ledger_store: Any) -> None:
    store, _ = ledger_store
    data = template(store.ledgers, "household")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames[:2] == [HH, MM] and "填写说明" in wb.sheetnames
    ws = wb[HH]
    labels = [c.value for c in ws[1]]
    assert labels[:3] == ["编号*", "所属乡镇", "所属村*"] and "户主姓名*" in labels and "联系电话" in labels
    assert ws.row_dimensions[2].hidden and [c.value for c in ws[2]][:4] == ["_code", "_township", "_village",
                                                                          "head_name"]  # fmt: skip
    cols = columns_of(data, HH)
    drop = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    assert drop[f"{cols['poverty_status'][0]}3"].type == "list"
    assert drop[f"{cols['dibao'][0]}3"].formula1 == '"是,否"'
    assert wb[MM]["A1"].value == "所属户情档案编号*"
    assert ws[f"{cols['head_id_number'][0]}1"].comment is not None


def test_template_round_trip_stores_values_and_links_members(ledger_store: Any) -> None:
    store, log = ledger_store
    data = fill(template(store.ledgers, "household"), {
        HH: [house("H0001", 1), house("H0002", 2, size=2, poverty_status="监测户", monitoring_type="边缘易致贫户")],
        MM: [member("H0001", 11), member("H0001", 12, "配偶", sex="男"), member("H0002", 21)],
    })  # fmt: skip
    report = import_workbook(store, OFFICER_A, "household", data, ip="10.0.0.8")
    assert report.ok and report.counts == {HH: 2, MM: 3}
    assert report.summary() == "导入成功:户情档案 2 条,家庭成员 3 条"
    page = list_records(store, OFFICER_A, "household", ListQuery(lookup=("head_id_number", id_number(1))))
    assert page.total == 1
    rec = page.rows[0]
    assert (rec.township, rec.village) == (TOWNSHIP_A, VILLAGE_A)
    assert rec.values["size"] == 3 and rec.values["housing_area"] == Decimal("86.5")
    assert rec.values["surveyed_on"] == date(2025, 3, 1) and rec.values["dibao"] is False
    assert rec.values["house_location"] == (104.23, 33.75) and rec.values["phone"] == "13909410001"
    kids = children(store, OFFICER_A, "member", rec.id)
    assert sorted(m.values["id_number"] for m in kids) == sorted([id_number(11, "19900303"),
                                                                  id_number(12, "19900303")])  # fmt: skip
    assert {m.values["birth_date"] for m in kids} == {date(1990, 3, 3)}
    assert [(a[1], a[2], a[3]) for a in log.actions("ledger_import")] == [
        ("ledger_import", "household/2", True),
        ("ledger_import", "member/3", True),
    ]


def test_reordered_columns_without_the_key_row_map_by_label(ledger_store: Any) -> None:
    store, _ = ledger_store
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = HH
    ws.append(["户类型", "家庭人口*", "所属村*", "户主身份证号*", "户主姓名", "编号"])
    ws.append(["一般户", 4, VILLAGE_A, id_number(5), "王五", 7])
    out = io.BytesIO()
    wb.save(out)
    assert import_workbook(store, OFFICER_A, "household", out.getvalue()).counts == {HH: 1}
    rec = list_records(store, OFFICER_A, "household", ListQuery()).rows[0]
    assert (rec.values["head_name"], rec.values["size"], rec.values["poverty_status"]) == ("王五", 4, "一般户")


def test_export_then_import_by_an_officer_gives_the_same_records(ledger_store: Any) -> None:
    store, log = ledger_store
    data = fill(template(store.ledgers, "household"), {
        HH: [house(f"H{i}", i, note=f"备注{i}", farmland=Decimal("2.5")) for i in range(1, 6)],
        MM: [member(f"H{i}", 10 * i + j, ("户主", "配偶", "子")[j]) for i in range(1, 6) for j in range(3)],
    })  # fmt: skip
    import_workbook(store, OFFICER_A, "household", data)
    before = snapshot(store)
    exported = export(store, OFFICER_A, "household")
    assert log.actions("ledger_export")[-1][2:4] == ("household", True)
    assert import_workbook(store, OFFICER_A, "household", exported).counts == {HH: 5, MM: 15}
    after = snapshot(store)
    assert len(after) == 10 and sorted(before + before, key=repr) == after


def bad_file(store: LedgerStore) -> tuple[bytes, dict[str, dict[str, tuple[str, str]]]]:
    good_h = [house(f"H{i:03d}", i) for i in range(1, 41)]
    good_m = [member(f"H{i:03d}", 100 + i) for i in range(1, 41)]
    idn = id_number(41)
    wrong = idn[:-1] + ("1" if idn[-1] != "1" else "2")
    good_h[9] = house("H010", 41, head_id_number=wrong)  # row 12: invalid check digit
    good_h[19] = house("H020", 42, size=25)  # row 22: out of range
    good_h[29] = house("H030", 43, village=VILLAGE_B)  # row 32: another village
    good_m[4] = member("H005", 105, relation="表哥")  # row 7: unknown option
    good_m[14] = member("H999", 115)  # row 17: no such household in the file
    tpl = template(store.ledgers, "household")
    return fill(tpl, {HH: good_h, MM: good_m}), {HH: columns_of(tpl, HH), MM: columns_of(tpl, MM)}


def test_one_bad_cell_among_many_rejects_the_whole_file_and_names_each_problem(ledger_store: Any) -> None:
    store, log = ledger_store
    import_workbook(store, OFFICER_A, "household", fill(template(store.ledgers, "household"), {HH: [house("A", 90)]}))
    before = counts(store)
    data, cols = bad_file(store)
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", data)
    report = caught.value.report
    assert not report.ok and counts(store) == before
    got = {(p.sheet, p.row, p.column, p.label): p.reason for p in report.problems}
    h, m = cols[HH], cols[MM]
    assert got == {
        (HH, 12, *h["head_id_number"]): "身份证号校验码不正确",
        (HH, 22, *h["size"]): "不能大于20人",
        (HH, 32, *h["_village"]): "立节镇杰迪村不在您的管辖范围内",
        (MM, 7, *m["relation"]): "应为以下之一:户主、配偶、子、女、儿媳、女婿、孙子、孙女、父亲、母亲、兄弟姐妹、其他",
        (MM, 17, *m["_parent"]): "“户情档案”表中没有编号为“H999”的记录",
    }
    assert str(caught.value) == "文件未导入,没有写入任何记录:发现 5 处问题,请改正后重新导入整个文件。"
    letter = h["head_id_number"][0]
    assert report.problems[0].text() == f"“户情档案”表 第12行 {letter}列(户主身份证号):身份证号校验码不正确"
    assert report.to_dict()["problems"][0] == {
        "sheet": HH,
        "row": 12,
        "column": letter,
        "label": "户主身份证号",
        "reason": "身份证号校验码不正确",
        "text": report.problems[0].text(),
    }
    assert log.actions("ledger_import")[-1][3] is False


def test_problem_list_is_capped_with_a_count_of_the_rest(ledger_store: Any) -> None:
    store, _ = ledger_store
    rows = [house(f"H{i}", i, village=VILLAGE_B) for i in range(30)]
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", fill(template(store.ledgers, "household"), {HH: rows}),
                        max_problems=10)  # fmt: skip
    assert len(caught.value.report.problems) == 10 and caught.value.report.more == 20
    assert "发现 30 处问题(以下列出前 10 处)" in str(caught.value)


@pytest.mark.parametrize(("data", "reason"), [
    (b"name,size\n", "文件不是 Excel 工作簿(.xlsx)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "旧版 .xls"),
    (b"PK\x05\x06" + b"\0" * 18, "文件不是 Excel 工作簿(.xlsx)"),
])  # fmt: skip
def test_bytes_that_are_not_an_xlsx_are_refused_clearly(ledger_store: Any, data: bytes, reason: str) -> None:
    store, _ = ledger_store
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", data)
    assert reason in caught.value.report.problems[0].reason and counts(store) == (0, 0, 0)


def test_wrong_sheets_columns_codes_and_limits_are_problems(ledger_store: Any) -> None:
    store, _ = ledger_store
    tpl = template(store.ledgers, "household")
    wb = openpyxl.load_workbook(io.BytesIO(tpl))
    wb.create_sheet("花名册")
    width = wb[HH].max_column
    wb[HH].cell(row=1, column=width + 1, value="年收入")
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", fill(out.getvalue(), {HH: [house("H1", 1)]}))
    assert [p.reason for p in caught.value.report.problems] == ["无法识别的工作表“花名册”,应为:户情档案、家庭成员"]
    wb.remove(wb["花名册"])
    wb[HH].delete_cols(4)  # 户主姓名*, a required column
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", out.getvalue())
    assert {(p.row, p.column, p.label, p.reason) for p in caught.value.report.problems} == {
        (1, get_column_letter(width), "年收入", "无法识别的列,请使用模板中的列名,不要修改列名"),
        (1, "", "户主姓名", "缺少必填的列"),
    }
    dupes = fill(tpl, {HH: [house("H1", 1), house("H1", 2)]})
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", dupes)
    assert [(p.row, p.label, p.reason) for p in caught.value.report.problems] == [(4, "编号", "编号“H1”与第3行重复")]
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", fill(tpl, {HH: [house(f"H{i}", i) for i in range(4)]}),
                        max_rows=3)  # fmt: skip
    assert "超过 3 行" in caught.value.report.problems[0].reason
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", tpl)
    assert "没有可导入的记录" in str(caught.value.report.problems[0].reason)
    assert counts(store) == (0, 0, 0)


def test_a_reference_to_a_missing_record_is_a_problem(ledger_store: Any) -> None:
    store, _ = ledger_store
    co = store.create(OFFICER_A, "cooperative", {"name": "狼岔坝花椒合作社", "legal_person": "张三", "members": 12,
                                                 "main_product": "花椒"}, village=VILLAGE_A)  # fmt: skip
    tpl = template(store.ledgers, "household")
    ok = import_workbook(store, OFFICER_A, "household", fill(tpl, {HH: [house("H1", 1, cooperative=co.id)]}))
    assert ok.counts == {HH: 1, MM: 0}
    with pytest.raises(ImportRejected) as caught:
        import_workbook(store, OFFICER_A, "household", fill(tpl, {HH: [house("H1", 2, cooperative="CO-0000000000")]}))
    assert caught.value.report.problems[0].reason == "农民专业合作社中没有编号为 CO-0000000000 的记录"


def xml_of(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".xml"))


def test_exports_are_masked_for_county_roles_and_refused_without_the_duty(ledger_store: Any) -> None:
    store, log = ledger_store
    import_workbook(store, OFFICER_A, "household", fill(template(store.ledgers, "household"), {
        HH: [house("H1", 1)], MM: [member("H1", 11)]}))  # fmt: skip
    coop = {"name": "狼岔坝花椒合作社", "legal_person": "张三丰", "members": 12, "main_product": "花椒",
            "phone": "13909419999"}  # fmt: skip
    store.create(OFFICER_A, "cooperative", coop, village=VILLAGE_A)
    with pytest.raises(AccessDenied):
        export(store, COUNTY_OP, "household")  # the household ledger's export duty is officer and admin
    assert log.actions("ledger_denied")[-1][4] == {"action": "export", "reason": "duty"}
    coops = xml_of(export(store, COUNTY_OP, "cooperative"))
    assert "狼岔坝花椒合作社" in coops and "13909419999" not in coops and "139****9999" in coops
    assert "张三丰" not in coops and "张**" in coops
    archive = xml_of(export(store, COUNTY_ADMIN, "household"))
    idn, member_idn = id_number(1), id_number(11, "19900303")
    assert not re.search(idn + "|" + member_idn + "|13909410001|104\\.23", archive)
    assert idn[:6] + "*" * 10 + idn[-2:] in archive and member_idn[:6] + "*" * 10 + member_idn[-2:] in archive
    assert idn in xml_of(export(store, OFFICER_A, "household"))
    with pytest.raises(ImportRejected):  # masked values do not pass as values
        import_workbook(store, OFFICER_A, "household", export(store, COUNTY_ADMIN, "household"))

"""Every field type's checks, required fields, conditional requirements and cross-field checks (pure)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from core.gazetteer import load_gazetteer
from ledgers.schema import FieldSpec, Ledger
from ledgers.values import RecordInvalid, check_record, check_values, parse_value

G = load_gazetteer()
TODAY = date(2026, 12, 3)


def spec(**kw: Any) -> FieldSpec:
    """A field with defaults for what a test does not care about."""
    return FieldSpec(**{"key": "f", "label": "字段", **kw})


def ok(field: FieldSpec, raw: Any) -> Any:
    return parse_value(field, raw, today=TODAY, gazetteer=G)


def bad(field: FieldSpec, raw: Any) -> str:
    with pytest.raises(ValueError) as err:
        parse_value(field, raw, today=TODAY, gazetteer=G)
    return str(err.value)


def test_text() -> None:
    f = spec(type="text", max_length=4, pattern=r"\d+组", pattern_message="应写作“3组”")
    assert ok(f, " 3组 ") == "3组"
    assert ok(f, "") is None
    assert bad(f, "三组") == "应写作“3组”"
    assert bad(f, "12345组") == "不能超过4个字"
    assert bad(spec(type="text"), "a\x07b") == "含有控制字符"


def test_id_number_and_phone_formats() -> None:
    idf, phone = spec(type="text", format="id_number"), spec(type="text", format="phone")
    assert ok(idf, "11010519491231002x") == "11010519491231002X"
    assert bad(idf, "110105194912310021") == "身份证号校验码不正确"
    assert ok(phone, "+86 139 0941 0001") == "13909410001"
    assert ok(phone, "0941-5121234") == "0941-5121234"
    assert bad(phone, "110").startswith("电话号码格式不正确")


def test_integer() -> None:
    f = spec(type="integer", min=1, max=20, unit="人")
    assert ok(f, "4") == 4
    assert ok(f, 7) == 7
    assert ok(f, "1,0") == 10
    assert bad(f, "4.5") == "应为整数"
    assert bad(f, "四") == "应为数字"
    assert bad(f, True) == "应为数字"
    assert bad(f, "0") == "不能小于1人"
    assert bad(f, "21") == "不能大于20人"
    assert bad(f, "nan") == "应为数字"


def test_decimal_with_unit_and_scale() -> None:
    f = spec(type="decimal", min=0, max=5000, unit="平方米", scale=1)
    assert ok(f, "120.5") == Decimal("120.5")
    assert ok(f, 80) == Decimal("80.0")
    assert bad(f, "120.55") == "最多保留1位小数"
    assert bad(f, "-1") == "不能小于0平方米"


def test_date() -> None:
    f = spec(type="date", not_future=True, earliest=date(1900, 1, 1))
    assert ok(f, "2024-05-01") == date(2024, 5, 1)
    assert ok(f, "2024/05/01") == date(2024, 5, 1)
    assert ok(f, "2024-05") == date(2024, 5, 1)
    assert ok(f, date(2020, 1, 2)) == date(2020, 1, 2)
    assert bad(f, "2026-12-04") == "不能晚于今天"
    assert bad(f, "1899-12-31") == "不能早于1900-01-01"
    assert bad(f, "去年") == "日期格式应为 2024-05-01"


def test_enum_and_bool() -> None:
    e = spec(type="enum", options=["一般户", "脱贫户"])
    assert ok(e, "脱贫户") == "脱贫户"
    assert bad(e, "富裕户") == "应为以下之一:一般户、脱贫户"
    b = spec(type="bool")
    assert ok(b, "是") is True
    assert ok(b, "否") is False
    assert ok(b, False) is False
    assert bad(b, "也许") == "应为“是”或“否”"


def test_ref_and_attachment_shapes() -> None:
    assert ok(spec(type="ref", ledger="cooperative"), "CO-0a1b2c3d4e5f") == "CO-0a1b2c3d4e5f"
    assert bad(spec(type="ref", ledger="cooperative"), "'; DROP TABLE") == "不是有效的记录编号"
    assert ok(spec(type="attachment"), "a" * 64) == "a" * 64
    assert bad(spec(type="attachment"), "../etc/passwd") == "不是有效的附件"


def test_place() -> None:
    v, t = spec(type="place"), spec(type="place", level="township")
    assert ok(v, "杰迪村") == "杰迪村"
    assert ok(v, "立节镇/杰迪村") == "杰迪村"
    assert bad(v, "不存在村").startswith("舟曲县没有名为“不存在村”的村")
    assert ok(t, "立节镇") == "立节镇"
    assert bad(t, "杰迪村") == "舟曲县没有名为“杰迪村”的乡镇"


def test_geo_point_inside_the_county() -> None:
    g = spec(type="geo")
    assert ok(g, "104.23,33.75") == (104.23, 33.75)
    assert ok(g, {"lon": 104.23, "lat": 33.75}) == (104.23, 33.75)
    assert ok(g, "104.23，33.75") == (104.23, 33.75)
    assert bad(g, "116.40,39.90") == "坐标不在舟曲县境内"
    assert bad(g, "东经104度").startswith("坐标应为“经度,纬度”")


LEDGER = Ledger(
    ledger="demo", title="演示", prefix="DM",
    fields=[FieldSpec(key="size", label="人口", type="integer", required=True),
            FieldSpec(key="labourers", label="劳动力", type="integer"),
            FieldSpec(key="status", label="户类型", type="enum", options=["一般户", "监测户"]),
            FieldSpec(key="kind", label="监测类型", type="enum", options=["边缘易致贫户"])],
    checks=[{"field": "labourers", "op": "<=", "other": "size", "message": "劳动力不能超过人口"},
            {"field": "size", "op": "<=", "value": 12, "when": {"status": ["监测户"]}, "message": "监测户人口过多"}],
    requires=[{"field": "status", "values": ["监测户"], "then": ["kind"], "message": "监测户须填写监测类型"}],
)  # fmt: skip


def values(**raw: Any) -> dict[str, Any]:
    return check_values(LEDGER, raw, today=TODAY, gazetteer=G)


def test_required_and_unknown_fields_are_reported_together() -> None:
    with pytest.raises(RecordInvalid) as err:
        values(labourers="x", color="red")
    assert err.value.errors == {"color": "不是本台账的字段", "size": "必填", "labourers": "应为数字"}


def test_a_partial_edit_checks_only_what_it_changes() -> None:
    assert check_values(LEDGER, {"labourers": 2}, today=TODAY, gazetteer=G, partial=True) == {"labourers": 2}


def test_cross_field_checks_and_conditional_requirements() -> None:
    check_record(LEDGER, values(size=4, labourers=4))
    with pytest.raises(RecordInvalid) as over:
        check_record(LEDGER, values(size=4, labourers=5))
    assert over.value.errors == {"labourers": "劳动力不能超过人口"}
    with pytest.raises(RecordInvalid) as missing:
        check_record(LEDGER, values(size=13, status="监测户"))
    assert missing.value.errors == {"kind": "监测户须填写监测类型", "size": "监测户人口过多"}
    check_record(LEDGER, values(size=13, status="一般户"))

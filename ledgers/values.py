"""A record's values checked against its ledger: typed, in range, well formed, cross-field consistent (pure)."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.gazetteer import Gazetteer
from core.personal import id_number_problem, normalize, phone_problem
from ledgers.schema import FieldSpec, Ledger

_OPS: dict[str, Callable[[Any, Any], bool]] = {"<": operator.lt, "<=": operator.le, ">": operator.gt,
                                               ">=": operator.ge, "==": operator.eq, "!=": operator.ne}  # fmt: skip
_TRUE, _FALSE = {"是", "true", "1", "yes", "y", "有"}, {"否", "false", "0", "no", "n", "无"}
_ID = re.compile(r"^[A-Z]{2,4}-[0-9a-z]{6,20}$")  # a record id: prefix, dash, base-36 serial


class RecordInvalid(ValueError):
    """Values that do not pass their ledger's checks: field key -> Chinese reason ("" for the record as a whole)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k or '记录'}: {v}" for k, v in errors.items()))
        self.errors = errors


def record_id_ok(value: str) -> bool:
    """Whether a string has the shape of a record id (HH-00012ab)."""
    return bool(_ID.match(value))


def text_of(value: Any) -> str:
    """A value as the text a check's `when`/`where` lists compare with (是/否 for booleans)."""
    if isinstance(value, bool):
        return "是" if value else "否"
    return "" if value is None else str(value)


def parse_value(spec: FieldSpec, raw: Any, *, today: date, gazetteer: Gazetteer) -> Any:
    """One field's value from a form, an API body or an Excel cell, typed; ValueError (Chinese) when it is wrong.
    An empty value is None."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = spec.type
    if kind == "text":
        return _text(spec, str(raw).strip() if not isinstance(raw, float) else f"{raw:.0f}")
    if kind == "integer":
        return _number(spec, raw, integer=True)
    if kind == "decimal":
        return _number(spec, raw, integer=False)
    if kind == "date":
        return _date(spec, raw, today)
    if kind == "bool":
        return _bool(raw)
    if kind == "enum":
        text = str(raw).strip()
        if text not in spec.options:
            raise ValueError(f"应为以下之一:{'、'.join(spec.options)}")
        return text
    if kind in ("ref", "attachment"):
        text = str(raw).strip()
        if not record_id_ok(text) and kind == "ref":
            raise ValueError("不是有效的记录编号")
        if kind == "attachment" and not re.fullmatch(r"[0-9a-f]{64}", text):
            raise ValueError("不是有效的附件")
        return text
    if kind == "place":
        return _place(spec, str(raw).strip(), gazetteer)
    return _geo(raw, gazetteer)


def _text(spec: FieldSpec, text: str) -> str:
    if spec.format == "id_number":
        text = normalize("id_number", text)
        problem = id_number_problem(text)
    elif spec.format == "phone":
        text = normalize("phone", text)
        problem = phone_problem(text)
    else:
        problem = None
    if problem:
        raise ValueError(problem)
    if len(text) > spec.max_length:
        raise ValueError(f"不能超过{spec.max_length}个字")
    if any(ord(c) < 32 for c in text):
        raise ValueError("含有控制字符")
    if spec.pattern and not re.fullmatch(spec.pattern, text):
        raise ValueError(spec.pattern_message or "格式不正确")
    return text


def _number(spec: FieldSpec, raw: Any, *, integer: bool) -> int | Decimal:
    if isinstance(raw, bool):
        raise ValueError("应为数字")
    try:
        num = Decimal(str(raw).strip().replace(",", "")) if not isinstance(raw, Decimal) else raw
    except InvalidOperation:
        raise ValueError("应为数字") from None
    if not num.is_finite():
        raise ValueError("应为数字")
    if integer and num != num.to_integral_value():
        raise ValueError("应为整数")
    unit = spec.unit
    if spec.min is not None and num < spec.min:
        raise ValueError(f"不能小于{spec.min}{unit}")
    if spec.max is not None and num > spec.max:
        raise ValueError(f"不能大于{spec.max}{unit}")
    if integer:
        return int(num)
    quantum = Decimal(1).scaleb(-spec.scale)
    if num.as_tuple().exponent < -spec.scale:  # type: ignore[operator]
        raise ValueError(f"最多保留{spec.scale}位小数")
    return num.quantize(quantum)


def _date(spec: FieldSpec, raw: Any, today: date) -> date:
    if isinstance(raw, datetime):
        value = raw.date()
    elif isinstance(raw, date):
        value = raw
    else:
        text = str(raw).strip().replace("/", "-").replace(".", "-")
        try:
            value = date.fromisoformat(text if len(text) > 7 else f"{text}-01")
        except ValueError:
            raise ValueError("日期格式应为 2024-05-01") from None
    if spec.earliest and value < spec.earliest:
        raise ValueError(f"不能早于{spec.earliest.isoformat()}")
    if spec.not_future and value > today:
        raise ValueError("不能晚于今天")
    return value


def _bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("应为“是”或“否”")


def _place(spec: FieldSpec, text: str, gazetteer: Gazetteer) -> str:
    if spec.level == "township":
        try:
            return gazetteer.township(text).name
        except KeyError:
            raise ValueError(f"舟曲县没有名为“{text}”的乡镇") from None
    township, _, village = text.rpartition("/")
    try:
        return gazetteer.village(village, township or None).name
    except KeyError:
        raise ValueError(f"舟曲县没有名为“{text}”的村(重名时写作 乡镇/村)") from None


def _geo(raw: Any, gazetteer: Gazetteer) -> tuple[float, float]:
    if isinstance(raw, Mapping):
        parts = [raw.get("lon"), raw.get("lat")]
    elif isinstance(raw, list | tuple):
        parts = list(raw)
    else:
        parts = re.split(r"[,\uff0c\s]+", str(raw).strip())  # ASCII or full-width comma, or spaces
    try:
        lon, lat = (float(p) for p in parts)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError("坐标应为“经度,纬度”,如 104.37,33.78") from None
    if not gazetteer.contains(lat, lon):
        raise ValueError("坐标不在舟曲县境内")
    return (round(lon, 6), round(lat, 6))


def check_values(
    ledger: Ledger, raw: Mapping[str, Any], *, today: date, gazetteer: Gazetteer, partial: bool = False
) -> dict[str, Any]:
    """Every declared field of a record typed and checked; RecordInvalid lists each bad field with its reason.
    Keys that are not fields are refused; with `partial`, fields not given keep no value here (an edit's rest)."""
    errors: dict[str, str] = {}
    known = {f.key for f in ledger.fields}
    for key in raw:
        if key not in known:
            errors[str(key)[:40]] = "不是本台账的字段"
    values: dict[str, Any] = {}
    for spec in ledger.fields:
        if partial and spec.key not in raw:
            continue
        try:
            values[spec.key] = parse_value(spec, raw.get(spec.key), today=today, gazetteer=gazetteer)
        except ValueError as exc:
            errors[spec.key] = str(exc)
            continue
        if spec.required and values[spec.key] is None:
            errors[spec.key] = "必填"
    if errors:
        raise RecordInvalid(errors)
    return values


def check_record(ledger: Ledger, values: Mapping[str, Any]) -> None:
    """The cross-field checks and conditional requirements over a whole record's typed values; RecordInvalid."""
    errors: dict[str, str] = {}
    for req in ledger.requires:
        if text_of(values.get(req.field)) in req.values:
            for key in req.then:
                if values.get(key) is None:
                    errors.setdefault(key, req.message)
    for chk in ledger.checks:
        if any(text_of(values.get(k)) not in allowed for k, allowed in chk.when.items()):
            continue
        left = values.get(chk.field)
        right = values.get(chk.other) if chk.other else chk.value
        if left is None or right is None:
            continue
        if isinstance(left, int | Decimal) and isinstance(right, str | int | Decimal):
            right = Decimal(str(right))
            left = Decimal(left)
        elif isinstance(left, date) and isinstance(right, str):
            right = date.fromisoformat(right)
        if not _OPS[chk.op](left, right):
            errors.setdefault(chk.field, chk.message)
    if errors:
        raise RecordInvalid(errors)

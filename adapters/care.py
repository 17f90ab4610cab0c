"""Elderly-care (意康养) person records: who wears which wristband, kept in the Redis hash `care:persons`.

The record holds personal data (name, ID number, phones); it is never logged, and the operations center masks it
for roles that do not need it (`core.access.personal`).
"""

from __future__ import annotations

import re

import msgspec

from adapters.records import MOBILE, RecordHash

PERSONS = "care:persons"  # wristband device id -> Person (msgpack)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)  # GB 11643-1999 check-digit weights
_CHECK = "10X98765432"
_ID = re.compile(r"^\d{17}[\dX]$")


class Person(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The person a wristband belongs to."""

    name: str
    id_number: str  # 18-character resident ID number (GB 11643)
    phone: str  # the person's own mobile number
    family_phone: str = ""  # a family member to call
    birth_year: int = 0


class PersonError(ValueError):
    """A person record that cannot be stored; the message says which field is wrong (without its value)."""


def id_check_digit(first17: str) -> str:
    """The GB 11643 check character (0-9 or X) of the first 17 digits of an ID number."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("an ID number's check digit needs exactly 17 digits")
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def valid_id_number(value: str) -> bool:
    """Whether a value is an 18-character ID number with a correct check character."""
    return bool(_ID.match(value)) and id_check_digit(value[:17]) == value[17]


def check_person(device_id: str, p: Person) -> None:
    """Raise PersonError when a record's fields are malformed (the message names the device and field only)."""
    if not p.name.strip():
        raise PersonError(f"设备 {device_id}: 姓名为空")
    if not valid_id_number(p.id_number):
        raise PersonError(f"设备 {device_id}: 身份证号格式或校验位错误")
    for field, value in (("联系电话", p.phone), ("家属电话", p.family_phone)):
        if value and not MOBILE.match(value):
            raise PersonError(f"设备 {device_id}: {field}须为11位手机号")
    if p.birth_year and str(p.birth_year) != p.id_number[6:10]:
        raise PersonError(f"设备 {device_id}: 出生年份与身份证号不一致")


_RECORDS = RecordHash(PERSONS, Person, check_person)
save_persons = _RECORDS.save  # (redis, {device id: Person}) -> count; all checked first, none stored on error
load_person = _RECORDS.load  # (redis, device id) -> Person | None

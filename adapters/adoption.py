"""云上认养 (cloud adoption) of beehives: who adopted which hive, kept in the Redis hash `hive:adopters`."""

from __future__ import annotations

import datetime as dt

import msgspec

from adapters.records import MOBILE, RecordHash

ADOPTERS = "hive:adopters"  # hive device id -> Adopter (msgpack)


class Adopter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The adopter of one hive and their plan."""

    name: str
    phone: str
    since: str  # adoption start date, ISO YYYY-MM-DD
    plan: str  # the adoption plan as sold, e.g. 年度认养(一箱)


class AdopterError(ValueError):
    """An adopter record that cannot be stored; the message names the hive and the field."""


def check_adopter(hive_id: str, a: Adopter) -> None:
    """Raise AdopterError when a record's fields are malformed."""
    if not a.name.strip():
        raise AdopterError(f"蜂箱 {hive_id}: 认养人姓名为空")
    if not MOBILE.match(a.phone):
        raise AdopterError(f"蜂箱 {hive_id}: 认养人电话须为11位手机号")
    try:
        dt.date.fromisoformat(a.since)
    except ValueError:
        raise AdopterError(f"蜂箱 {hive_id}: 认养日期须为 YYYY-MM-DD") from None
    if not a.plan.strip():
        raise AdopterError(f"蜂箱 {hive_id}: 认养方案为空")


_RECORDS = RecordHash(ADOPTERS, Adopter, check_adopter)
save_adopters = _RECORDS.save  # (redis, {device id: Adopter}) -> count; all checked first, none stored on error
load_adopter = _RECORDS.load  # (redis, device id) -> Adopter | None

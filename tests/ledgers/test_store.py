"""The ledger store on both backends: scope by level and duty, masking by role, versions and restore, stale edits,
blind-index look-up, and no plaintext personal value in the stored bytes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from ledger_testkit import (
    COUNTY_ADMIN,
    COUNTY_OP,
    OFFICER_A,
    OFFICER_B,
    TOWNSHIP_A,
    TOWNSHIP_B,
    TOWNSHIP_OP_A,
    TOWNSHIP_OP_B,
    VILLAGE_A,
    VILLAGE_B,
    household,
    id_number,
)

from core.access import DUTIES, LEVELS, AccessDenied, User
from ledgers.query import ListQuery, children, history, list_records, stats
from ledgers.store import LedgerStore, NotFound, StaleEdit
from ledgers.values import RecordInvalid


def add(store: LedgerStore, user: User, serial: int, village: str = VILLAGE_A, **extra: Any) -> str:
    """Add a household and two members; the household's id."""
    rec = store.create(user, "household", household(serial, **extra), village=village)
    for i, rel in enumerate(("户主", "配偶")):
        store.create(user, "member", {"name": f"成员{serial}{i}", "id_number": id_number(serial * 10 + i, "19820202"),
                                      "relation": rel, "sex": "男" if i == 0 else "女", "birth_date": "1982-02-02"},
                     parent_id=rec.id)  # fmt: skip
    return rec.id


def test_an_officer_adds_a_household_and_reads_it_whole(ledger_store: Any) -> None:
    store, log = ledger_store
    rid = add(store, OFFICER_A, 1)
    rec = store.get(OFFICER_A, "household", rid)
    assert rec.values["head_id_number"] == id_number(1)
    assert rec.values["size"] == 4
    assert rec.township == TOWNSHIP_A
    assert rec.masked == frozenset()
    assert [m.values["relation"] for m in children(store, OFFICER_A, "member", rid)] == ["户主", "配偶"]
    assert log.actions("ledger_personal_view")[-1][2] == "member/list"


def test_masking_for_each_role(ledger_store: Any) -> None:
    store, _ = ledger_store
    rid = add(store, OFFICER_A, 2)
    idn = id_number(2)
    for user in (COUNTY_OP, COUNTY_ADMIN, TOWNSHIP_OP_A):
        rec = store.get(user, "household", rid)
        assert rec.values["head_id_number"] == idn[:6] + "*" * 10 + idn[-2:], user.username
        assert rec.values["phone"] == "139****0002", user.username
        assert rec.values["head_name"] == "测****", user.username
        assert rec.values["house_location"] == "***", user.username
        assert rec.values["size"] == 4, user.username
        assert "head_id_number" in rec.masked, user.username


SCOPED = [User(username=f"{lv}_{d}", name="x", level=lv, duties=[d],
               township=TOWNSHIP_B if lv != "county" else "", village=VILLAGE_B if lv == "village" else "")
          for lv in LEVELS for d in DUTIES]  # fmt: skip


def test_every_duty_and_level_of_another_place_is_refused_and_audited(ledger_store: Any) -> None:
    store, log = ledger_store
    rid = add(store, OFFICER_A, 3)
    for user in SCOPED:
        if user.level == "county":
            continue  # the county's area holds every village
        before = len(log.actions("ledger_denied"))
        with pytest.raises((NotFound, AccessDenied)):
            store.get(user, "household", rid)
        with pytest.raises((NotFound, AccessDenied)):
            store.update(user, "household", rid, {"size": 5}, version=1)
        with pytest.raises((NotFound, AccessDenied)):
            store.create(user, "household", household(300), village=VILLAGE_A)
        assert len(log.actions("ledger_denied")) == before + 3, user.username
        page = list_records(store, user, "household", ListQuery()) if store.may(user, store.ledger("household"),
                                                                                 "read") else None  # fmt: skip
        assert page is None or page.total == 0, user.username
    assert store.get(OFFICER_A, "household", rid).version == 1


def test_duties_without_read_or_write_are_refused_even_in_their_own_village(ledger_store: Any) -> None:
    store, log = ledger_store
    rid = add(store, OFFICER_A, 4)
    for duty in ("responder", "kiosk"):
        user = User(username=duty, name="x", level="village", duties=[duty], township=TOWNSHIP_A, village=VILLAGE_A)
        with pytest.raises(AccessDenied):
            store.get(user, "household", rid)
        assert log.actions("ledger_denied")[-1][4] == {"action": "read", "reason": "duty"}
    with pytest.raises(AccessDenied):
        store.update(TOWNSHIP_OP_A, "household", rid, {"size": 5}, version=1)


def test_a_township_operator_reads_and_counts_only_its_township(ledger_store: Any) -> None:
    store, _ = ledger_store
    add(store, OFFICER_A, 5)
    add(store, OFFICER_B, 6, village=VILLAGE_B)
    assert list_records(store, TOWNSHIP_OP_A, "household", ListQuery()).total == 1
    assert list_records(store, COUNTY_OP, "household", ListQuery()).total == 2
    assert [r["township"] for r in stats(store, TOWNSHIP_OP_B, "household")] == [TOWNSHIP_B]
    county = {r["township"]: r for r in stats(store, COUNTY_OP, "household")}
    assert county[TOWNSHIP_A]["households"] == 1
    assert county[TOWNSHIP_A]["persons"] == 4


def test_every_change_is_a_version_and_an_admin_restores_a_deleted_record(ledger_store: Any) -> None:
    store, _ = ledger_store
    rid = add(store, OFFICER_A, 7)
    store.update(OFFICER_A, "household", rid, {"size": 5, "phone": "13909419999"}, version=1)
    store.delete(OFFICER_A, "household", rid, version=2)
    with pytest.raises(NotFound):
        store.get(OFFICER_A, "household", rid)
    with pytest.raises(AccessDenied):
        store.restore(OFFICER_A, "household", rid)
    assert list_records(store, COUNTY_ADMIN, "household", ListQuery(deleted=True)).total == 1
    back = store.restore(COUNTY_ADMIN, "household", rid, ip="10.0.0.9")
    assert back.version == 4
    versions = history(store, OFFICER_A, "household", rid)
    assert [v.action for v in versions] == ["create", "update", "delete", "restore"]
    assert versions[1].before == {"size": "4", "phone": "13909410007"}
    assert versions[1].after == {"size": "5", "phone": "13909419999"}
    assert versions[1].by == "officer_a"
    assert versions[3].ip == "10.0.0.9"
    assert history(store, COUNTY_OP, "household", rid)[1].after["phone"] == "139****9999"


def test_a_stale_edit_is_refused_and_changes_nothing(ledger_store: Any) -> None:
    store, _ = ledger_store
    rid = add(store, OFFICER_A, 8)
    store.update(OFFICER_A, "household", rid, {"size": 6}, version=1)
    with pytest.raises(StaleEdit, match="已被 officer_a 修改"):
        store.update(OFFICER_A, "household", rid, {"size": 3}, version=1)
    assert store.get(OFFICER_A, "household", rid).values["size"] == 6
    assert len(history(store, OFFICER_A, "household", rid)) == 2


def test_bad_values_name_each_field_and_store_nothing(ledger_store: Any) -> None:
    store, _ = ledger_store
    bad_id = id_number(9)[:-1] + ("0" if id_number(9)[-1] != "0" else "1")
    with pytest.raises(RecordInvalid) as err:
        bad = household(9, head_id_number=bad_id, size=0, phone="12345", poverty_status="富裕户", bogus=1)
        store.create(OFFICER_A, "household", bad, village=VILLAGE_A)
    assert err.value.errors["head_id_number"] == "身份证号校验码不正确"
    assert err.value.errors["size"].startswith("不能小于")
    assert "电话号码格式不正确" in err.value.errors["phone"]
    assert "应为以下之一" in err.value.errors["poverty_status"]
    assert err.value.errors["bogus"] == "不是本台账的字段"
    with pytest.raises(RecordInvalid) as cross:
        store.create(OFFICER_A, "household", household(10, labourers=9), village=VILLAGE_A)
    assert "labourers" in cross.value.errors
    assert list_records(store, COUNTY_OP, "household", ListQuery()).total == 0


def test_a_person_is_found_by_id_number_through_the_blind_index(ledger_store: Any) -> None:
    store, _ = ledger_store
    for n in range(11, 16):
        add(store, OFFICER_A, n)
    wanted = id_number(131, "19820202")
    found = list_records(store, COUNTY_OP, "member", ListQuery(lookup=("id_number", wanted)))
    assert found.total == 1
    assert found.rows[0].values["name"] == "成****"
    assert list_records(store, TOWNSHIP_OP_B, "member", ListQuery(lookup=("id_number", wanted))).total == 0
    lower = list_records(store, OFFICER_A, "household", ListQuery(lookup=("phone", " 139 0941 0012")))
    assert lower.total == 1


PLAIN = re.compile(rb"623023(?:19|20)\d{9}[\dX]|1390941\d{4}|" + "测试户主".encode())


def test_stored_bytes_hold_no_plaintext_id_number_phone_or_name(ledger_url: str, request: Any) -> None:
    from ledger_testkit import open_store

    store, _ = open_store(ledger_url)
    for n in range(20, 30):
        rid = add(store, OFFICER_A, n)
        store.update(OFFICER_A, "household", rid, {"phone": f"1390941{n + 100:04d}"}, version=1)
    assert store.get(OFFICER_A, "household", rid).values["phone"] == "13909410129"
    store.engine.dispose()
    if ledger_url.startswith("sqlite"):
        path = ledger_url.removeprefix("sqlite:///")
        blob = b"".join(Path(p).read_bytes() for p in (path, path + "-wal") if Path(p).exists())
    else:
        blob = request.getfixturevalue("postgres_server").dump(ledger_url.rsplit("/", 1)[1])
    assert len(blob) > 10_000
    assert PLAIN.findall(blob) == []



def test_the_household_module_checks_what_the_declaration_cannot(ledger_store: Any) -> None:
    store, _ = ledger_store
    with pytest.raises(RecordInvalid) as err:
        store.create(OFFICER_A, "household", household(40, poverty_status="一般户", monitoring_type="边缘易致贫户"),
                     village=VILLAGE_A)  # fmt: skip
    assert err.value.errors == {"monitoring_type": "只有监测户填写监测类型"}

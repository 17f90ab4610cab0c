"""The ledger JSON API over a real SQLite store and the session's Redis: every status it answers (400, 401, 403, 404,
409, 413, 500 without a trace), scope and duty refusals audited with the caller's address, masking by role, the list
query, history and restore, statistics, Excel files and attachments."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_kit import AUDITOR, KIOSK, PNG, Api, audits
from ledger_testkit import (
    COUNTY_ADMIN,
    COUNTY_OP,
    OFFICER_A,
    OFFICER_B,
    TOWNSHIP_OP_A,
    TOWNSHIP_OP_B,
    VILLAGE_A,
    household,
    id_number,
)

from core.access import User


async def new_household(api: Api, serial: int, user: User = OFFICER_A, village: str = VILLAGE_A, **extra: Any
                        ) -> dict[str, Any]:  # fmt: skip
    """POST a valid household; its record."""
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", user,
                                     body={"village": village, "values": household(serial, **extra)})  # fmt: skip
    assert status == 201, body
    return dict(body)


@pytest.mark.asyncio
async def test_without_a_login_every_route_answers_401_in_chinese(api: Api) -> None:
    rec = await new_household(api, 1)
    one = f"/api/ledgers/household/records/{rec['id']}"
    for method, path in (("GET", "/api/ledgers"), ("GET", "/api/ledgers/household/records"),
                         ("POST", "/api/ledgers/household/records"), ("GET", one), ("PUT", one), ("DELETE", one),
                         ("GET", f"{one}/history"), ("POST", f"{one}/restore"),
                         ("GET", "/api/ledgers/household/stats"), ("GET", "/api/ledgers/household/template"),
                         ("GET", "/api/ledgers/household/export"), ("POST", "/api/ledgers/household/import"),
                         ("GET", f"/attachment?sha={'0' * 64}&ledger=household&id={rec['id']}")):  # fmt: skip
        status, body, _ = await api.call(method, path)
        assert (status, body) == (401, {"error": "请先登录"}), (method, path)


@pytest.mark.asyncio
async def test_a_change_without_the_csrf_header_is_refused_and_audited(api: Api) -> None:
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", OFFICER_A, xhr=False,
                                     body={"village": VILLAGE_A, "values": household(2)})  # fmt: skip
    assert status == 403 and "X-Requested-With" in body["error"]
    status, body, _ = await api.call("GET", "/api/ledgers/household/records", OFFICER_A, xhr=False)
    assert status == 200 and body["total"] == 0  # reads need no header, and nothing was written
    [rec] = await audits(api.ctx, "ledger_view_denied")
    assert (rec["user"], rec["ok"], rec["ip"]) == ("officer_a", False, "127.0.0.1")


@pytest.mark.asyncio
async def test_create_read_update_delete_restore_and_history(api: Api) -> None:
    rec = await new_household(api, 3)
    path = f"/api/ledgers/household/records/{rec['id']}"
    assert rec["version"] == 1 and rec["village"] == VILLAGE_A and rec["masked"] == []
    status, got, _ = await api.call("GET", path, OFFICER_A)
    assert status == 200 and got["values"]["head_id_number"] == id_number(3) and got["values"]["size"] == 4
    status, got, _ = await api.call("PUT", path, OFFICER_A, body={"version": 1, "values": {"size": 5}})
    assert status == 200 and got["version"] == 2 and got["values"]["size"] == 5
    status, body, _ = await api.call("PUT", path, OFFICER_A, body={"version": 1, "values": {"size": 6}})
    assert status == 409 and "已被" in body["error"]  # the edit made on version 1 is refused, nothing lost
    status, body, _ = await api.call("PUT", path, OFFICER_A, body={"values": {"size": 6}})
    assert status == 400 and "version" in body["fields"]
    status, body, _ = await api.call("DELETE", path, OFFICER_A, params={"version": "1"})
    assert status == 409
    status, body, _ = await api.call("DELETE", path, OFFICER_A, params={"version": "2"})
    assert (status, body) == (200, {"deleted": rec["id"]})
    status, body, _ = await api.call("GET", path, OFFICER_A)
    assert status == 404 and "未找到记录" in body["error"]
    status, body, _ = await api.call("POST", path + "/restore", OFFICER_A)
    assert status == 403  # officers don't restore
    status, got, _ = await api.call("POST", path + "/restore", COUNTY_ADMIN)
    assert status == 200 and got["deleted"] is False and got["version"] == 4
    status, hist, _ = await api.call("GET", path + "/history", OFFICER_A)
    assert status == 200
    assert [v["action"] for v in hist["versions"]] == ["create", "update", "delete", "restore"]
    assert hist["versions"][1]["before"] == {"size": "4"} and hist["versions"][1]["after"] == {"size": "5"}
    assert {v["ip"] for v in hist["versions"]} == {"127.0.0.1"}


@pytest.mark.asyncio
async def test_invalid_values_answer_400_with_a_chinese_reason_per_field(api: Api) -> None:
    bad = household(4, head_id_number="623023198001010010", size=0, labourers="两个")
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", OFFICER_A,
                                     body={"village": VILLAGE_A, "values": {**bad, "colour": "red"}})  # fmt: skip
    assert status == 400
    assert set(body["fields"]) == {"head_id_number", "size", "labourers", "colour"}
    assert body["fields"]["size"] == "不能小于1人" and "校验码" in body["fields"]["head_id_number"]
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", OFFICER_A,
                                     body={"village": "没有这个村", "values": household(5)})  # fmt: skip
    assert status == 400 and "village" in body["fields"]
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", OFFICER_A, data=b"{not json")
    assert status == 400 and body["error"] == "请求内容不是有效的 JSON"


@pytest.mark.asyncio
async def test_another_townships_operator_gets_404_and_the_refusal_is_audited(api: Api) -> None:
    rec = await new_household(api, 6)
    path = f"/api/ledgers/household/records/{rec['id']}"
    for user in (TOWNSHIP_OP_B, OFFICER_B):
        status, body, _ = await api.call("GET", path, user)
        assert status == 404 and "不在您的管辖范围内" in body["error"]
        status, _, _ = await api.call("GET", path + "/history", user)
        assert status == 404
    status, _, _ = await api.call("PUT", path, OFFICER_B, body={"version": 1, "values": {"size": 2}})
    assert status == 404
    refused = await audits(api.ctx, "ledger_denied")
    mine = [r for r in refused if r["user"] == "op_b" and r["target"] == f"household/{rec['id']}"]
    assert mine and not mine[0]["ok"] and mine[0]["ip"] == "127.0.0.1" and '"scope"' in mine[0]["detail"]
    status, _, _ = await api.call("GET", path, TOWNSHIP_OP_A)  # its own township's operator reads it
    assert status == 200
    status, page, _ = await api.call("GET", "/api/ledgers/household/records", TOWNSHIP_OP_B)
    assert status == 200 and page["total"] == 0  # the other township's list holds none of it


@pytest.mark.asyncio
async def test_personal_fields_are_masked_by_role(api: Api) -> None:
    rec = await new_household(api, 7, wages="12000")
    idn, path = id_number(7), f"/api/ledgers/household/records/{rec['id']}"
    for user in (COUNTY_OP, COUNTY_ADMIN, TOWNSHIP_OP_A, AUDITOR):
        status, got, _ = await api.call("GET", path, user)
        assert status == 200, user.username
        values = got["values"]
        assert values["head_id_number"] == idn[:6] + "*" * 10 + idn[-2:], user.username
        assert values["phone"] == "139****0007" and values["wages"] == "***" and values["head_name"] == "测****"
        assert {"head_id_number", "phone", "head_name", "wages", "house_location"} <= set(got["masked"])
    status, got, _ = await api.call("GET", path, OFFICER_A)
    assert got["values"]["head_id_number"] == idn and got["values"]["wages"] == "12000.00" and got["masked"] == []
    status, page, _ = await api.call("GET", "/api/ledgers/household/records", COUNTY_OP)
    assert page["records"][0]["values"]["phone"] == "139****0007"
    status, hist, _ = await api.call("GET", path + "/history", COUNTY_OP)
    assert hist["versions"][0]["after"]["head_id_number"] == idn[:6] + "*" * 10 + idn[-2:]
    viewed = await audits(api.ctx, "ledger_personal_view")
    assert {r["user"] for r in viewed} == {"officer_a"}  # only the unmasked views are audited as such


@pytest.mark.asyncio
async def test_duties_refused_with_403(api: Api) -> None:
    rec = await new_household(api, 8)
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", COUNTY_OP,
                                     body={"village": VILLAGE_A, "values": household(9)})  # fmt: skip
    assert status == 403 and "无权" in body["error"]
    for path in ("/api/ledgers/household/records", f"/api/ledgers/household/records/{rec['id']}",
                 "/api/ledgers/household/stats"):  # fmt: skip
        status, body, _ = await api.call("GET", path, KIOSK)
        assert status == 403, path
    status, listed, _ = await api.call("GET", "/api/ledgers", KIOSK)
    assert status == 200 and listed["ledgers"] == []
    status, listed, _ = await api.call("GET", "/api/ledgers", OFFICER_A)
    household_decl = next(lg for lg in listed["ledgers"] if lg["ledger"] == "household")
    assert household_decl["may"] == {"read": True, "write": True, "export": True, "restore": False}
    assert household_decl["fields"][0]["key"] == "head_name"


@pytest.mark.asyncio
async def test_malformed_keys_and_ids_are_refused_in_chinese_and_audited(api: Api) -> None:
    status, body, _ = await api.call("GET", "/api/ledgers/nosuch/records", OFFICER_A)
    assert status == 404 and "nosuch" in body["error"]
    status, body, _ = await api.call("GET", "/api/ledgers/household/records/%3Cscript%3E", OFFICER_A)
    assert status == 400 and body["error"].startswith("记录编号格式不正确")
    refused = await audits(api.ctx, "ledger_view_denied")
    assert {r["target"] for r in refused} >= {"nosuch", "household/<script>"}


@pytest.mark.asyncio
async def test_too_large_bodies_answer_413(api: Api) -> None:
    status, body, _ = await api.call("POST", "/api/ledgers/household/records", OFFICER_A, data=b"{" + b" " * 2**21)
    assert status == 413 and "过大" in body["error"]
    status, body, _ = await api.call("POST", "/api/ledgers/facility/attachments", OFFICER_A,
                                     params={"filename": "big.png"}, data=PNG + b"\x00" * 2**21)  # fmt: skip
    assert status == 413


@pytest.mark.asyncio
async def test_the_list_query_search_filter_sort_lookup_and_paging(api: Api) -> None:
    for i in range(12):
        watched = i % 3 == 0
        await new_household(api, 20 + i, size=1 + i % 5, labourers=1, poverty_status="监测户" if watched else "一般户",
                            monitoring_type="边缘易致贫户" if watched else None, address=f"狼岔坝村{i}号")  # fmt: skip
    base = "/api/ledgers/household/records"
    status, page, _ = await api.call("GET", base, OFFICER_A)
    assert (page["total"], page["size"], len(page["records"])) == (12, 10, 10)
    status, page, _ = await api.call("GET", base, OFFICER_A, params={"page": "1"})
    assert len(page["records"]) == 2
    status, page, _ = await api.call("GET", base, OFFICER_A, params={"filter.poverty_status": "监测户"})
    assert page["total"] == 4
    status, page, _ = await api.call("GET", base, OFFICER_A, params={"sort": "size", "desc": "0"})
    assert [r["values"]["size"] for r in page["records"]] == [1, 1, 1, 2, 2, 2, 3, 3, 4, 4]
    for rooms in (3, 8, 12):
        values = {"name": f"民宿{rooms}", "rooms": rooms}
        status, _, _ = await api.call("POST", "/api/ledgers/facility/records", OFFICER_A,
                                      body={"village": VILLAGE_A, "values": values})  # fmt: skip
        assert status == 201
    status, page, _ = await api.call("GET", "/api/ledgers/facility/records", OFFICER_A,
                                     params={"filter.rooms": "4..12", "sort": "rooms", "desc": "0"})  # fmt: skip
    assert [r["values"]["rooms"] for r in page["records"]] == [8, 12]
    status, page, _ = await api.call("GET", base, OFFICER_A, params={"search": "7号"})
    assert page["total"] == 1
    status, page, _ = await api.call("GET", base, COUNTY_OP, params={"lookup.head_id_number": id_number(25)})
    assert page["total"] == 1 and page["records"][0]["values"]["head_id_number"].startswith("623023**")
    status, body, _ = await api.call("GET", base, OFFICER_A, params={"sort": "head_name", "filter.phone": "1"})
    assert status == 400 and set(body["fields"]) == {"sort", "phone"}
    parent = page["records"][0]["id"]
    member = {"name": "成员甲", "id_number": id_number(99), "relation": "户主", "sex": "男", "birth_date": "1980-01-01"}
    status, _, _ = await api.call("POST", "/api/ledgers/member/records", OFFICER_A,
                                  body={"parent_id": parent, "values": member})  # fmt: skip
    assert status == 201
    status, page, _ = await api.call("GET", "/api/ledgers/member/records", OFFICER_A, params={"parent": parent})
    assert page["total"] == 1 and page["records"][0]["parent_id"] == parent
    status, body, _ = await api.call("GET", "/api/ledgers/member/records", OFFICER_A, params={"parent": "<x>"})
    assert status == 400 and "parent" in body["fields"]


@pytest.mark.asyncio
async def test_statistics_by_township_and_village(api: Api) -> None:
    await new_household(api, 40)
    await new_household(api, 41, size=2)
    await new_household(api, 42, user=OFFICER_B, village="杰迪村")
    status, body, _ = await api.call("GET", "/api/ledgers/household/stats", COUNTY_OP, params={"by": "village"})
    assert status == 200 and body["by"] == "village"
    rows = {r["village"]: r for r in body["rows"]}
    assert rows[VILLAGE_A]["households"] == 2 and rows[VILLAGE_A]["persons"] == 6 and rows["杰迪村"]["households"] == 1
    status, body, _ = await api.call("GET", "/api/ledgers/household/stats", TOWNSHIP_OP_B)
    assert [r["township"] for r in body["rows"]] == ["立节镇"]
    status, body, _ = await api.call("GET", "/api/ledgers/household/stats", COUNTY_OP, params={"by": "street"})
    assert status == 400 and "by" in body["fields"]


@pytest.mark.asyncio
async def test_template_export_and_an_import_that_is_all_or_nothing(api: Api) -> None:
    await new_household(api, 50)
    status, data, headers = await api.call("GET", "/api/ledgers/household/template", OFFICER_A)
    assert status == 200 and data[:2] == b"PK"
    assert headers["Content-Disposition"].startswith("attachment;") and headers["X-Content-Type-Options"] == "nosniff"
    status, exported, _ = await api.call("GET", "/api/ledgers/household/export", OFFICER_A,
                                         params={"filter.poverty_status": "脱贫户"})  # fmt: skip
    assert status == 200 and exported[:2] == b"PK"
    status, body, _ = await api.call("GET", "/api/ledgers/household/export", COUNTY_OP)
    assert status == 403  # the household ledger's export is for officers and admins
    status, body, _ = await api.call("GET", "/api/ledgers/member/template", OFFICER_A)
    assert status == 400 and "户情档案" in body["error"]  # members come in the household's workbook
    status, body, _ = await api.call("POST", "/api/ledgers/household/import", OFFICER_A, data=b"not a workbook")
    assert status == 400 and body["report"]["ok"] is False and body["report"]["problems"]
    status, body, _ = await api.call("POST", "/api/ledgers/household/import", OFFICER_A, data=exported)
    assert status == 200 and body["report"]["ok"] is True, body
    status, page, _ = await api.call("GET", "/api/ledgers/household/records", OFFICER_A)
    assert page["total"] == 2  # the exported household came back in as a new record
    status, body, _ = await api.call("POST", "/api/ledgers/household/import", OFFICER_B, data=exported)
    assert status == 400 and body["report"]["problems"]  # 狼岔坝村 is outside 杰迪村's officer's area
    status, page, _ = await api.call("GET", "/api/ledgers/household/records", OFFICER_B)
    assert page["total"] == 0


@pytest.mark.asyncio
async def test_attachments_upload_and_download_within_the_area(api: Api) -> None:
    status, up, _ = await api.call("POST", "/api/ledgers/facility/attachments", OFFICER_A,
                                   params={"filename": "../../门牌照片.png"}, data=PNG)  # fmt: skip
    assert status == 201 and up["filename"] == "门牌照片.png" and len(up["sha256"]) == 64
    values = {"name": "村卫生室", "photo": up["sha256"]}
    status, rec, _ = await api.call("POST", "/api/ledgers/facility/records", OFFICER_A,
                                    body={"village": VILLAGE_A, "values": values})  # fmt: skip
    assert status == 201, rec
    url = f"/attachment?sha={up['sha256']}&ledger=facility&id={rec['id']}"
    status, data, headers = await api.call("GET", url, TOWNSHIP_OP_A)
    assert status == 200 and data == PNG and headers["Content-Type"] == "image/png"
    assert "attachment;" in headers["Content-Disposition"] and headers["X-Content-Type-Options"] == "nosniff"
    status, body, _ = await api.call("GET", url, TOWNSHIP_OP_B)
    assert status == 404  # outside the area: as if there were no such record
    other = "f" * 64
    status, body, _ = await api.call("GET", f"/attachment?sha={other}&ledger=facility&id={rec['id']}", OFFICER_A)
    assert status == 404 and "附件" in body["error"]
    status, body, _ = await api.call("GET", f"/attachment?sha=xyz&ledger=facility&id={rec['id']}", OFFICER_A)
    assert status == 400
    status, body, _ = await api.call("POST", "/api/ledgers/facility/attachments", OFFICER_A,
                                     params={"filename": "run.exe"}, data=b"MZ\x90\x00")  # fmt: skip
    assert status == 400 and "不接受" in body["error"]
    status, body, _ = await api.call("POST", "/api/ledgers/facility/attachments", OFFICER_A,
                                     params={"filename": "fake.png"}, data=b"GIF89a")  # fmt: skip
    assert status == 400 and "不符" in body["error"]
    refused = await audits(api.ctx, "ledger_denied")
    assert any(r["user"] == "op_b" and r["target"] == f"facility/{rec['id']}" for r in refused)


@pytest.mark.asyncio
async def test_an_unexpected_failure_is_a_500_without_a_trace(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    rec = await new_household(api, 60)
    store = api.ctx.ledgers
    assert store is not None

    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database exploded at /srv/secret/path")

    monkeypatch.setattr(type(store), "get", broken)
    status, body, _ = await api.call("GET", f"/api/ledgers/household/records/{rec['id']}", OFFICER_A)
    assert (status, body) == (500, {"error": "服务器内部错误,请稍后重试"})
    status, body, _ = await api.call("PATCH", "/api/ledgers/household/records", OFFICER_A)
    assert status == 405 and "Traceback" not in str(body)

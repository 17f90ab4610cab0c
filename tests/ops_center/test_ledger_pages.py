"""The ledger pages without a browser, built as the server builds them (real SQLite store, real Redis, real Panel
models): every page of every ledger for each role, markup in any parameter or stored value shown as text, the form
adding a household and its members, per-field reasons, stale edits, the household card, list paging, restore."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import pytest
from ledger_kit import AUDITOR, KIOSK, PASSWORD, PNG, audits
from ledger_testkit import (
    COUNTY_ADMIN,
    COUNTY_OP,
    OFFICER_A,
    OFFICER_B,
    TOWNSHIP_OP_A,
    TOWNSHIP_OP_B,
    VILLAGE_A,
    AuditLog,
    household,
    id_number,
)
from test_page_markup import PAYLOADS, assert_no_markup, page_html

from core.access import User
from ledgers.attachments import Attachments
from ledgers.query import ListQuery, list_records
from ledgers.store import LedgerStore
from ops_center.auth import SessionAuth
from ops_center.context import OpsContext
from ops_center.layout import page_modules
from ops_center.ledger_views.detail import RecordDetail
from ops_center.ledger_views.form import RecordForm
from ops_center.ledger_views.listing import LedgerList
from ops_center.ledger_views.widgets import store_of
from ops_center.session import OpsSession
from runtime.demo_records import load_demo_records

PAGES = ("ledgers", "ledger", "record", "ledger_io", "ledger_stats")
ERRORS = ("暂时无法", "Traceback", "无法显示")


def mods() -> dict[str, Any]:
    """The ledger page modules by slug."""
    found = {m.SLUG: m for m in page_modules()}
    assert set(PAGES) <= set(found)
    return found


async def sids(ctx: OpsContext, auth: SessionAuth, *users: User) -> dict[str, str]:
    """A login session of each account, known to the auth provider."""
    out = {}
    for user in users:
        account, sid = await ctx.accounts.login(user.username, PASSWORD)
        auth.sessions[sid] = account
        out[user.username] = sid
    return out


def session(ctx: OpsContext, user: User, ip: str = "10.0.0.7") -> OpsSession:
    """A browser session of the account."""
    return OpsSession(ctx, user, "sid-" + user.username, ip)


def store(ctx: OpsContext) -> LedgerStore:
    """The context's store (the fixture always has one)."""
    assert ctx.ledgers is not None
    return ctx.ledgers


def form_for(ctx: OpsContext, user: User, key: str, **kw: Any) -> RecordForm:
    """A record form of one session."""
    s = session(ctx, user)
    st = store_of(s)
    assert st is not None
    return RecordForm(s, st, Attachments.of(st, ctx.settings), st.ledgers[key], **kw)


def fill(form: RecordForm, **values: str) -> None:
    """Type values into a form's fields (a geo field takes "lon,lat")."""
    for key, text in values.items():
        widgets = form.fields[key].widgets
        if form.fields[key].spec.type == "geo":
            widgets[0].value, widgets[1].value = text.split(",")
        else:
            widgets[0].value = text


async def settle(lst: LedgerList) -> None:
    """Reload a list and wait until the newest page asked for (a widget change asks too) is drawn."""
    await lst.reload()
    for _ in range(500):
        if not lst.loading:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the list never finished loading")


def shown(form: RecordForm) -> str:
    """What the form's message line and error lines say, as text."""
    return html.unescape(" ".join([str(form.message.object)] + [str(f.error.object) for f in form.fields.values()]))


@pytest.mark.asyncio
async def test_every_ledger_page_builds_for_each_role(ledger_ctx: tuple[OpsContext, AuditLog]) -> None:
    ctx, _ = ledger_ctx
    written = load_demo_records(store(ctx), households=10)
    assert written["household"] == 10 and len(written) >= 10
    assert load_demo_records(store(ctx), households=10) == {}  # once: households there, nothing more is written
    auth, pages = SessionAuth(ctx.accounts), mods()
    users = (OFFICER_A, COUNTY_OP, COUNTY_ADMIN, KIOSK)
    logins = await sids(ctx, auth, *users)
    first = {key: list_records(store(ctx), COUNTY_ADMIN, key, ListQuery(size=1)).rows
             for key in store(ctx).ledgers.ledgers}  # fmt: skip
    for user in users:
        sid = logins[user.username]
        texts = " ".join(await page_html(ctx, auth, pages["ledgers"], {}, sid))
        assert ("户情档案" in texts) == (user is not KIOSK), user.username
        for key, lg in store(ctx).ledgers.ledgers.items():
            opened = [(pages[slug], {"name": key}) for slug in ("ledger", "ledger_io", "ledger_stats")]
            opened += [(pages["record"], {"ledger": key, "id": r.id}) for r in first[key]]
            for mod, args in opened:
                page = " ".join(await page_html(ctx, auth, mod, args, sid))
                assert not any(e in page for e in ERRORS), (user.username, mod.SLUG, key, page[-500:])
                readable = store(ctx).may(user, lg, "read")
                assert (lg.title in page) == readable or (not readable and "无权" in page), (user.username, key)
    scope = " ".join(await page_html(ctx, auth, pages["ledger"], {"name": "household"}, logins["officer_a"]))
    assert '共 <b class="zq-total">' in scope and "新增户情档案" in scope


@pytest.mark.asyncio
async def test_markup_in_any_parameter_or_stored_value_is_shown_as_text(ctx_and_records: Any) -> None:
    ctx, auth, rid, mid = ctx_and_records
    pages = mods()
    logins = await sids(ctx, auth, OFFICER_A, COUNTY_OP, COUNTY_ADMIN)
    params = ("name", "ledger", "id", "parent", "new", "edit", "search", "sort", "desc", "page", "by", "township",
              "village", "deleted", "filter.poverty_status", "filter.size", "lookup.head_id_number", "q")  # fmt: skip
    opened = [
        ({"ledger": "member", "id": mid}, ("officer_a", "county_op")),
        ({"ledger": "household", "id": rid, "edit": "1"}, ("officer_a",)),
    ]  # stored markup, each way it's shown
    for payload in PAYLOADS:
        everything = dict.fromkeys(params, payload)
        cases = [everything, {**everything, "name": "household"}, {**everything, "ledger": "household"},
                 {**everything, "ledger": "household", "id": rid}]  # fmt: skip
        opened += [(args, ("officer_a", "county_admin")) for args in cases]
        opened += [({"ledger": "member", "new": "1", "parent": payload}, ("officer_a",))]
    for args, users in opened:
        for user in users:
            for slug in PAGES:
                where = f"/{slug} {args} as {user}"
                assert_no_markup(await page_html(ctx, auth, pages[slug], args, logins[user]), where)
    texts = await page_html(ctx, auth, pages["ledger"], {"name": PAYLOADS[0]}, logins["county_op"])
    [refused] = [t for t in texts if "台账名称格式不正确" in t]
    assert html.escape(PAYLOADS[0]) in refused
    texts = await page_html(ctx, auth, pages["record"], {"ledger": "household", "id": PAYLOADS[1]},
                            logins["county_op"])  # fmt: skip
    assert any("记录编号格式不正确" in t and html.escape(PAYLOADS[1]) in t for t in texts)
    refusals = await audits(ctx, "ledger_view_denied")
    assert {r["user"] for r in refusals} >= {"officer_a", "county_op"} and not any(r["ok"] for r in refusals)
    record = " ".join(await page_html(ctx, auth, pages["record"], {"ledger": "household", "id": rid},
                                      logins["officer_a"]))  # fmt: skip
    assert html.escape(PAYLOADS[0]) in record  # the stored markup is there, as text


@pytest.fixture
def ctx_and_records(ledger_ctx: tuple[OpsContext, AuditLog]) -> tuple[OpsContext, SessionAuth, str, str]:
    """The context, an auth provider, a household of 狼岔坝村 and one of its members, both with markup in values."""
    ctx, _ = ledger_ctx
    st = store(ctx)
    rec = st.create(OFFICER_A, "household", household(1, address=PAYLOADS[0], note=PAYLOADS[1]), village=VILLAGE_A)
    member = st.create(OFFICER_A, "member", {"name": PAYLOADS[2][:20], "id_number": id_number(2), "relation": "户主",
                                             "sex": "男", "birth_date": "1980-01-01", "work_place": PAYLOADS[3]},
                       parent_id=rec.id)  # fmt: skip
    return ctx, SessionAuth(ctx.accounts), rec.id, member.id


@pytest.mark.asyncio
async def test_a_village_officer_adds_a_household_and_two_members_through_the_form(
    ledger_ctx: tuple[OpsContext, AuditLog],
) -> None:
    ctx, _ = ledger_ctx
    form = form_for(ctx, OFFICER_A, "household")
    await form.load()
    assert form.place is not None and form.place.value == "大川镇/狼岔坝村" and form.place.disabled
    fill(form, head_name="王建国", head_id_number=id_number(11), phone="13909410011", size="3",
         poverty_status="一般户", labourers="2", house_location="104.61,33.29", farmland="3.5")  # fmt: skip
    await form.submit()
    hid = form.saved
    assert hid.startswith("HH-"), shown(form)
    assert "已保存新记录" in shown(form) and "添加家庭成员" in shown(form) and form.save.disabled
    for i, (name, rel, sex) in enumerate((("王建国", "户主", "男"), ("李秀英", "配偶", "女"))):
        parent = store(ctx).get(OFFICER_A, "household", hid)
        member = form_for(ctx, OFFICER_A, "member", parent=parent)
        assert member.place is None
        fill(member, name=name, id_number=id_number(12 + i), relation=rel, sex=sex, birth_date="1978-05-0" + str(i + 1))
        await member.submit()
        assert member.saved.startswith("HM-"), shown(member)
        assert "继续添加家庭成员" in shown(member)
    st = store(ctx)
    rec = st.get(OFFICER_A, "household", hid)
    assert rec.values["farmland"] == 3.5 and rec.values["house_location"] == (104.61, 33.29)
    versions = [v for v in await audits(ctx, "ledger_create") if v["target"].startswith(("household/", "member/"))]
    assert len(versions) == 3 and {v["ip"] for v in versions} == {"10.0.0.7"}
    # another township's operator can't open it; the county's operator sees it masked
    auth, pages = SessionAuth(ctx.accounts), mods()
    logins = await sids(ctx, auth, TOWNSHIP_OP_B, COUNTY_OP)
    other = " ".join(await page_html(ctx, auth, pages["record"], {"ledger": "household", "id": hid}, logins["op_b"]))
    assert "不在您的管辖范围内" in other and "王建国" not in other and "王**" not in other
    refused = await audits(ctx, "ledger_denied")
    assert any(r["user"] == "op_b" and r["target"] == f"household/{hid}" and not r["ok"] for r in refused)
    county = " ".join(await page_html(ctx, auth, pages["record"], {"ledger": "household", "id": hid},
                                      logins["county_op"]))  # fmt: skip
    assert "王**" in county and "王建国" not in county and id_number(11) not in county and "已脱敏" in county
    assert "收入信息仅对本村干部可见" in county and "李**" in county


@pytest.mark.asyncio
async def test_reasons_per_field_and_a_stale_edit_that_keeps_the_typed_values(
    ledger_ctx: tuple[OpsContext, AuditLog],
) -> None:
    ctx, _ = ledger_ctx
    form = form_for(ctx, OFFICER_B, "household")
    fill(form, head_name="赵六", head_id_number="623023198001010010", size="0", poverty_status="监测户",
         labourers="abc")  # fmt: skip
    await form.submit()
    assert not form.saved
    errors = {k: html.unescape(str(f.error.object)) for k, f in form.fields.items() if f.error.object}
    assert set(errors) == {"head_id_number", "size", "labourers"}
    assert "校验码" in errors["head_id_number"] and "不能小于1" in errors["size"] and "应为数字" in errors["labourers"]
    fill(form, head_id_number=id_number(21), size="2", labourers="1")
    await form.submit()
    assert "监测户须填写监测类型" in shown(form) and not form.saved
    fill(form, monitoring_type="边缘易致贫户")
    await form.submit()
    assert form.saved, shown(form)
    st = store(ctx)
    rec = st.get(OFFICER_B, "household", form.saved)
    mine, theirs = form_for(ctx, OFFICER_B, "household", record=rec), form_for(ctx, OFFICER_B, "household", record=rec)
    fill(theirs, size="3")
    await theirs.submit()
    assert "第 2 版" in shown(theirs)
    fill(mine, size="4", note="我写的备注")
    await mine.submit()
    assert "已被" in shown(mine) and "仍保留在表单中" in shown(mine)
    assert mine.fields["note"].widgets[0].value == "我写的备注" and mine.fields["size"].widgets[0].value == "4"
    assert st.get(OFFICER_B, "household", rec.id).values["size"] == 3
    nothing = form_for(ctx, OFFICER_B, "household", record=st.get(OFFICER_B, "household", rec.id))
    await nothing.submit()
    assert "没有修改任何内容" in shown(nothing)


@pytest.mark.asyncio
async def test_masked_fields_are_locked_in_an_edit_and_never_sent(ledger_ctx: tuple[OpsContext, AuditLog]) -> None:
    ctx, _ = ledger_ctx
    county_officer = User(username="county_officer", name="县干部", level="county", duties=["officer"])
    st = store(ctx)
    rec = st.create(OFFICER_A, "household", household(31), village=VILLAGE_A)
    form = form_for(ctx, county_officer, "household", record=st.get(county_officer, "household", rec.id))
    assert form.fields["head_id_number"].locked and form.fields["head_id_number"].widgets[0].disabled
    fill(form, size="5")
    assert form.payload() == {"size": "5"}
    await form.submit()
    after = st.get(OFFICER_A, "household", rec.id)
    assert after.values["size"] == 5 and after.values["head_id_number"] == id_number(31)


@pytest.mark.asyncio
async def test_the_household_card_shows_income_only_to_its_officer(ledger_ctx: tuple[OpsContext, AuditLog]) -> None:
    ctx, _ = ledger_ctx
    st = store(ctx)
    rec = st.create(OFFICER_A, "household", household(41, size=3, wages="20000", production_income="5000",
                                                       costs="1000"), village=VILLAGE_A)  # fmt: skip
    st.create(OFFICER_A, "member", {"name": "王小明", "id_number": id_number(42, "20150601"), "relation": "子",
                                    "sex": "男", "birth_date": "2015-06-01"}, parent_id=rec.id)  # fmt: skip
    auth, pages = SessionAuth(ctx.accounts), mods()
    logins = await sids(ctx, auth, OFFICER_A, TOWNSHIP_OP_A, COUNTY_ADMIN)
    seen = {u: " ".join(await page_html(ctx, auth, pages["record"], {"ledger": "household", "id": rec.id}, sid))
            for u, sid in logins.items()}  # fmt: skip
    officer = seen["officer_a"]
    assert "户档案袋" in officer and "家庭总收入 K" in officer and "25,000.00" in officer and "8,000.00" in officer
    assert "王小明" in officer and " 岁" in officer
    for user in ("op_a", "county_admin"):
        assert "户档案袋" in seen[user] and "收入信息仅对本村干部可见" in seen[user] and "25,000.00" not in seen[user]


@pytest.mark.asyncio
async def test_the_list_filters_sorts_and_pages_on_the_server(ledger_ctx: tuple[OpsContext, AuditLog]) -> None:
    ctx, _ = ledger_ctx
    st = store(ctx)
    for i in range(23):
        st.create(OFFICER_A, "household", household(50 + i, poverty_status="脱贫户" if i % 2 else "一般户",
                                                    size=1 + i % 4, labourers=1), village=VILLAGE_A)  # fmt: skip
    st.create(OFFICER_B, "household", household(90), village="杰迪村")
    s = session(ctx, TOWNSHIP_OP_A)
    lst = LedgerList(s, store_of(s), st.ledgers["household"], {"filter.poverty_status": "脱贫户"})  # type: ignore[arg-type]
    assert not lst.township.visible and lst.village.visible  # a township account picks among its villages
    await settle(lst)
    assert lst.total == 11 and lst.table.object.count('class="zq-record-link"') == 10
    assert "zq-masked" in lst.table.object  # the township's operator sees names masked
    lst.page = 1
    await settle(lst)
    assert lst.table.object.count('class="zq-record-link"') == 1 and lst.next.disabled and not lst.prev.disabled
    lst.filters["poverty_status"][0].value = ""
    lst.page = 0
    await settle(lst)
    assert lst.total == 23  # 杰迪村's household is another township's
    lst.lookup_value.value = id_number(55)
    await settle(lst)
    assert lst.total == 1
    lst.lookup_value.value = ""
    lst.sort.value, lst.desc.value = "size", False
    await settle(lst)
    assert lst.args()["sort"] == "size" and lst.args()["desc"] == "0"
    assert "<td>1 人</td>" in lst.table.object.split("</tr>")[1]  # the smallest household first
    county = session(ctx, COUNTY_OP)
    whole = LedgerList(county, store_of(county), st.ledgers["household"], {"township": "立节镇"})  # type: ignore[arg-type]
    await settle(whole)
    assert whole.township.visible and whole.total == 1


@pytest.mark.asyncio
async def test_an_admin_restores_a_deleted_record_from_its_page(ledger_ctx: tuple[OpsContext, AuditLog]) -> None:
    ctx, _ = ledger_ctx
    st = store(ctx)
    rec = st.create(OFFICER_A, "household", household(70), village=VILLAGE_A)
    s = session(ctx, OFFICER_A)
    page = RecordDetail(s, store_of(s), Attachments.of(st, ctx.settings), st.ledgers["household"], rec.id)  # type: ignore[arg-type]
    await page.load()
    assert page.delete.visible and not page.restore.visible
    page._ask()
    await page._delete()
    assert "已删除记录" in str(page.body.objects[0].object)
    a = session(ctx, COUNTY_ADMIN)
    admin = RecordDetail(a, store_of(a), Attachments.of(st, ctx.settings), st.ledgers["household"], rec.id)  # type: ignore[arg-type]
    await admin.load()
    assert admin.restore.visible and not admin.delete.visible
    await admin._restore()
    assert "记录已恢复" in str(admin.message.object)
    assert not st.get(OFFICER_A, "household", rec.id).deleted


@pytest.mark.asyncio
async def test_an_attachment_uploaded_in_the_form_is_linked_from_the_record(
    ledger_ctx: tuple[OpsContext, AuditLog],
) -> None:
    ctx, _ = ledger_ctx
    form = form_for(ctx, OFFICER_A, "facility")
    await form.load()
    fill(form, name="村卫生室", rooms="4", floor_area="120.5", opened="2020-05-01", grade="甲", open_now="是",
         served="大川镇/狼岔坝村", position="104.61,33.29", phone="13909410099")  # fmt: skip
    upload = form.fields["photo"].widgets[0]
    upload.filename = "门牌.png"
    upload.value = PNG
    for _ in range(100):  # the upload runs in a thread
        if form.uploaded:
            break
        await asyncio.sleep(0.02)
    assert "photo" in form.uploaded, shown(form)
    await form.submit()
    assert form.saved, shown(form)
    s = session(ctx, AUDITOR)
    page = RecordDetail(s, store_of(s), Attachments.of(store(ctx), ctx.settings), store(ctx).ledgers["facility"],  # type: ignore[arg-type]
                        form.saved)  # fmt: skip
    await page.load()
    body = " ".join(str(getattr(p, "object", "")) for p in page.body.objects)
    assert f"/attachment?sha={form.uploaded['photo']}&amp;ledger=facility&amp;id={form.saved}" in body
    assert "门牌.png" in body and "120.5 平方米" in body and "139****0099" in body

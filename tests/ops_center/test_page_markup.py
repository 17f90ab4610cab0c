"""Markup in request parameters never reaches a page as markup: every page (ops_center/pages) and every device page
kind (ops_center/devices) is built the way the server builds it (the server's page factory, a Bokeh document of a
GET request with the login cookie), its load callbacks run, and every HTML the browser would insert is checked.
Real Redis, real chDB, real Panel/Bokeh models."""

from __future__ import annotations

import asyncio
import html
import inspect
import re
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import panel as pn
import pytest
import pytest_asyncio
from bokeh.document import Document
from bokeh.models.widgets.markups import Div
from bokeh.server.contexts import BokehSessionContext, _RequestProxy
from panel.io.state import set_curdoc
from panel.models.markup import HTML as PanelHTML
from tornado.httputil import HTTPHeaders, HTTPServerRequest

from adapters import audit, bus, registry
from adapters.telemetry import ChdbBackend
from core.access import User
from core.kinds import DeviceProfile
from core.settings import Settings
from ledgers.startup import open_store
from ops_center.auth import COOKIE, SessionAuth
from ops_center.context import OpsContext, valid_id
from ops_center.layout import page_modules
from ops_center.ledger_views.common import audits_written
from ops_center.live import LiveState
from ops_center.server import _factory

PAYLOADS = ('<img src=x onerror="window.__xss=1">', "<script>window.__xss=1</script>",
            '"><svg onload=alert(1)>', "[点我](javascript:alert(1))")  # fmt: skip
SCRIPT_LINK = re.compile(r"""(href|src)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)  # a Markdown link, rendered
PARAMS = ("ticket", "village", "township", "id", "next", "q", "name", "ledger", "parent", "new", "edit", "search",
          "sort", "desc", "page", "by", "deleted", "filter.poverty_status", "lookup.head_id_number")  # every query
# parameter any page reads (the ledger pages read filter.<field> and lookup.<field> of any declared field), and others
PASSWORD = "Zhouqu-2026-ok"
USERS = [
    User(username="county_op", name="县值班员", level="county", duties=["operator"]),
    User(username="county_admin", name="县管理员", level="county", duties=["admin"]),
    User(username="jiedi_officer", name="杰迪村干部", level="village", duties=["officer"], township="立节镇",
         village="杰迪村"),
    User(username="lijie_resp", name="立节镇处置员", level="township", duties=["responder"], township="立节镇"),
]  # fmt: skip
DEVICES = [DeviceProfile(device_id=f"{kind[:2]}-m01", kind=kind, village="杰迪村", township="立节镇", lat=33.863,
                         lon=103.946) for kind in ("wristband", "beehive", "camera", "station", "gate")]  # fmt: skip


@pytest_asyncio.fixture
async def served(redis_url: str, var_dir: Path, backend: ChdbBackend) -> AsyncIterator[tuple[OpsContext, SessionAuth]]:
    """An ops context with the devices registered and the users logged in (their sessions known to the auth)."""

    async def query(sql: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(backend.query, sql)

    ctx = OpsContext(Settings(var_dir=var_dir), bus.connect(redis_url), query)
    ctx.ledgers = open_store(Settings(var_dir=var_dir))  # the default ledgers on SQLite under var/records
    await registry.register(ctx.redis, DEVICES)
    ctx.live = LiveState(ctx)
    await ctx.live.refresh()
    auth = SessionAuth(ctx.accounts)
    for user in USERS:
        await ctx.accounts.create(user, PASSWORD)
    try:
        yield ctx, auth
    finally:
        await audits_written()
        await ctx.redis.aclose()
        ctx.ledgers.engine.dispose()


async def login(ctx: OpsContext, auth: SessionAuth, username: str) -> str:
    """A live login session id, known to the auth provider as after a page request."""
    user, sid = await ctx.accounts.login(username, PASSWORD)
    auth.sessions[sid] = user
    return sid


def request_document(slug: str, args: dict[str, str], sid: str) -> Document:
    """A Bokeh document as the server opens one for `GET /<slug>?<args>` with the login cookie."""
    doc = Document()
    uri = f"/{slug}?{urlencode(args)}"
    request = HTTPServerRequest(method="GET", uri=uri, headers=HTTPHeaders({"Cookie": f"{COOKIE}={sid}"}))
    context = BokehSessionContext("markup-test", None, doc)  # type: ignore[arg-type]  # no server context needed
    context._request = _RequestProxy(request, cookies={COOKIE: sid})
    doc._session_context = weakref.ref(context)
    doc.__dict__["_zq_context"] = context  # the document holds its context only weakly
    return doc


async def page_html(ctx: OpsContext, auth: SessionAuth, mod: Any, args: dict[str, str], sid: str) -> list[str]:
    """Every HTML text the browser would insert for the page, after its load callbacks and async parts ran."""
    doc = request_document(mod.SLUG, args, sid)
    with set_curdoc(doc):
        page = _factory(ctx, auth, mod)()
        for callback, _threaded in pn.state._onload.pop(doc, []):
            result = callback()
            if inspect.isawaitable(result):
                await result
        seen: list[str] = []
        for _ in range(20):  # async views (param.depends coroutines) render on the loop: wait until stable
            root = page.get_root(doc)
            texts = sorted(html.unescape(m.text) if isinstance(m, PanelHTML) else m.text
                           for m in root.references() if isinstance(m, PanelHTML | Div))  # fmt: skip
            if texts == seen:
                break
            seen = texts
            await asyncio.sleep(0.1)
    return seen


def assert_no_markup(texts: list[str], where: str) -> None:
    """No payload arrived as markup (escaped copies shown as text are fine)."""
    for text in texts:
        for payload in PAYLOADS:
            assert "<" not in payload or payload not in text, f"{where}: {payload!r} reached the page as HTML"
        assert not SCRIPT_LINK.search(text), f"{where}: a javascript: link was drawn"


@pytest.mark.asyncio
@pytest.mark.parametrize("payload", PAYLOADS)
async def test_markup_in_any_parameter_of_any_page_is_never_markup(
    served: tuple[OpsContext, SessionAuth], payload: str
) -> None:  # fmt: skip
    ctx, auth = served
    sids = {u.username: await login(ctx, auth, u.username) for u in USERS}
    args = dict.fromkeys(PARAMS, payload)
    mods = page_modules()
    assert {"incidents", "bigscreen", "device", "map", "audit", "admin", "health", "account", "ledgers", "ledger",
            "record", "ledger_io", "ledger_stats"} <= {m.SLUG for m in mods}  # fmt: skip
    for mod in mods:
        for username, sid in sids.items():
            assert_no_markup(await page_html(ctx, auth, mod, args, sid), f"/{mod.SLUG} as {username}")
    device = next(m for m in mods if m.SLUG == "device")
    for profile in DEVICES:  # each kind's page, opened for a real device with markup in every other parameter
        for username in ("county_op", "jiedi_officer"):
            texts = await page_html(ctx, auth, device, {**args, "id": profile.device_id}, sids[username])
            assert any(profile.device_id in t for t in texts), f"the {profile.kind} page did not open"
            assert_no_markup(texts, f"/device?id={profile.device_id} as {username}")


@pytest.mark.asyncio
async def test_a_malformed_id_is_refused_in_plain_chinese_and_quoted_as_text(
    served: tuple[OpsContext, SessionAuth],
) -> None:
    ctx, auth = served
    sid = await login(ctx, auth, "county_op")
    payload = PAYLOADS[0]
    mods = {m.SLUG: m for m in page_modules()}
    for slug, param, words in (("incidents", "ticket", "工单编号格式不正确"), ("device", "id", "设备编号格式不正确"),
                               ("bigscreen", "village", "村名或乡镇名格式不正确")):  # fmt: skip
        texts = await page_html(ctx, auth, mods[slug], {param: payload}, sid)
        [shown] = [t for t in texts if words in t]
        assert html.escape(payload) in shown, f"/{slug}: the refused value is not quoted as text"
    for good, kind in (("rule_sos:杰迪村:1700000000000", "ticket"), ("report:0a1b2c3d4e5f", "ticket"),
                       ("wb-00001", "device"), ("狼岔坝村", "place")):  # fmt: skip
        assert valid_id(kind, good)
    for bad, kind in ((payload, "ticket"), ("wb 1", "device"), ("村</b>", "place"), ("a\n", "ticket")):
        assert not valid_id(kind, bad)


@pytest.mark.asyncio
async def test_a_page_refused_for_lack_of_permission_is_audited(served: tuple[OpsContext, SessionAuth]) -> None:
    ctx, auth = served
    sid = await login(ctx, auth, "lijie_resp")
    mods = {m.SLUG: m for m in page_modules()}
    texts = await page_html(ctx, auth, mods["admin"], {}, sid)
    assert any("您没有访问此页面的权限" in t for t in texts)
    for _ in range(50):
        refused = [r for r in await audit.recent(ctx.redis) if r["action"] == "page_denied"]
        if refused:
            break
        await asyncio.sleep(0.05)
    [rec] = refused
    assert (rec["user"], rec["target"], rec["ok"]) == ("lijie_resp", "admin", False)

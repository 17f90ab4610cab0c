"""Public and service pages: home, 公示公告 and objections, 事项指南, 民事直说, 评价, 村通讯录."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
from aiohttp import web
from aiohttp.web_request import FileField

from adapters.bus import COMMANDS
from adapters.citizen.context import CitizenContext
from adapters.citizen.login import current_user, require_user
from adapters.citizen.open311 import SERVICES
from adapters.citizen.pages_apply import UploadRefused, store_image
from adapters.citizen.render import day, esc, money, page, refusal
from adapters.reports import submit_report
from core.events import now_ms
from core.incidents import TicketCommand
from core.personal import mask
from ledgers.query import ListQuery, list_records
from ledgers.startup import SYSTEM
from ledgers.store import NotFound
from workflows.engine import Command
from workflows.schema import Item

MAX_TEXT = 500
CATEGORIES = {s.name: s.category for s in SERVICES}
REPORTER_TTL_S = 90 * 86400


def _reporter_key(ticket_id: str) -> str:
    return f"h5:report:{ticket_id}"


def guide_steps(item: Item) -> list[str]:
    """The item's steps in declaration order: state label with its time limit or 公示 days."""
    out = []
    for s in item.states:
        if s.end:
            continue
        if s.posting_days:
            out.append(f"{s.label}(公示{s.posting_days}天)")
        elif s.sla_days:
            out.append(f"{s.label}({s.sla_days}个工作日)")
        else:
            out.append(s.label)
    return out


def routes(ctx: CitizenContext) -> list[web.RouteDef]:
    """The home page and every page beside the application ones."""
    wf, gaz = ctx.workflows, ctx.ledgers.gazetteer

    def _village(request: web.Request) -> tuple[str, str]:
        name = request.query.get("village", "").strip()[:20]
        try:
            v = gaz.village(name, request.query.get("township", "").strip()[:20] or None)
        except KeyError:
            shown = refusal("村名有误", f"舟曲县没有“{name}”这个村,请检查村名")
            raise web.HTTPBadRequest(text=shown.text, content_type="text/html") from None
        return v.township, v.name

    async def home(request: web.Request) -> web.Response:
        user = await current_user(ctx, request)
        v = f"?village={esc(user.village)}" if user else ""
        links = [("/h5/items", "我要办事"), ("/h5/mine", "我的申请"), ("/h5/messages", "我的消息"),
                 (f"/h5/notices{v}", "公示公告"), ("/h5/guide", "事项指南"), ("/h5/report", "民事直说"),
                 (f"/h5/directory{v}", "村通讯录")]  # fmt: skip
        nav = "".join(f'<div class="card"><a href="{h}">{esc(t)}</a></div>' for h, t in links)
        return page("乡村惠民服务", nav, user_name=user.name if user else "")

    async def notices(request: web.Request) -> web.Response:
        township, village = _village(request)
        user = await current_user(ctx, request)
        now = wf.clock()
        found = await asyncio.to_thread(wf.find, SYSTEM, village=village, open_only=True, limit=500)
        posted = [
            (i, x)
            for i, x in found
            if x.township == township and i.state(x.state).posting_days and (x.posting_until or 0) > now
        ]
        may_object = user is not None and user.village == village and user.township == township
        parts = []
        for item, inst in posted:
            parts.append(
                f'<div class="card"><b>{esc(item.title)}</b><div>申请人:{esc(mask("name", inst.applicant_name))}</div>'
                f"<div>金额:{esc(money(inst.amount))}</div><div>公示截止:{esc(day(inst.posting_until))}</div>"
            )
            if may_object:
                parts.append(
                    f'<form method="post" action="/h5/notices/{esc(inst.id)}/object"><input type="hidden" name="key" '
                    f'value="{uuid.uuid4().hex}"><label>提出异议</label><textarea name="opinion" '
                    f'maxlength="{MAX_TEXT}" required></textarea><button>提交异议</button></form>'
                )
            parts.append("</div>")
        body = "".join(parts) or '<p class="muted">目前没有公示中的事项。</p>'
        return page(f"{village}公示公告", body, user_name=user.name if user else "")

    async def object_(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        data = await request.post()
        opinion, key = str(data.get("opinion", "")).strip(), str(data.get("key", ""))[:64]
        if not opinion or not key:
            return refusal("公示公告", "请写明异议内容", 400, user.name)
        if len(opinion) > MAX_TEXT:
            return refusal("公示公告", f"异议不超过{MAX_TEXT}字", 400, user.name)
        cmd = Command(key=f"h5:{key}", instance_id=request.match_info["id"][:32], action="object", ts=now_ms(),
                      opinion=opinion, ip=request.remote or "")  # fmt: skip
        out = await asyncio.to_thread(wf.act, user, cmd)
        if not out.ok:
            return refusal("公示公告", out.reason, 403 if out.kind == "access" else 400, user.name)
        body = '<div class="ok">异议已提交,将退回重新审核。</div><p><a href="/h5">返回首页</a></p>'
        return page("公示公告", body, user_name=user.name)

    async def guide(request: web.Request) -> web.Response:
        rows = "".join(
            f'<div class="card"><a href="/h5/guide/{esc(i.item)}">{esc(i.title)}</a>'
            f'<div class="muted">{esc(i.category)} · {esc(i.summary)}</div></div>'
            for i in wf.items.items.values()
            if "citizen" in i.applicants
        )
        return page("事项指南", rows)

    async def guide_item(request: web.Request) -> web.Response:
        try:
            item = wf.item(request.match_info["item"])
        except NotFound as exc:
            return refusal("事项指南", str(exc), 404)
        materials = "".join(f"<li>{esc(m)}</li>" for m in item.materials) or "<li>无</li>"
        steps = "".join(f"<li>{esc(s)}</li>" for s in guide_steps(item))
        body = (
            f'<div class="card"><h2>事项说明</h2><p>{esc(item.summary)}</p>'
            + (f"<h2>办理依据</h2><p>{esc(item.basis)}</p>" if item.basis else "")
            + (f"<h2>办理机构</h2><p>{esc(item.handler)}</p>" if item.handler else "")
            + f"<h2>申请材料</h2><ul>{materials}</ul><h2>办理流程</h2><ol>{steps}</ol></div>"
            + f'<p><a href="/h5/apply/{esc(item.item)}">在线申请</a></p>'
        )
        return page(item.title, body)

    def _report_form(message: str = "", text: str = "") -> str:
        note = f'<div class="msg">{esc(message)}</div>' if message else ""
        opts = "".join(f"<option>{esc(c)}</option>" for c in CATEGORIES)
        return (
            f'{note}<form class="card" method="post" enctype="multipart/form-data" action="/h5/report">'
            f'<label for="t">反映内容 *</label><textarea id="t" name="text" maxlength="{MAX_TEXT}" rows="4" '
            f'required>{esc(text)}</textarea><label for="c">类别 *</label>'
            f'<select id="c" name="category">{opts}</select>'
            '<label for="p">照片(可选)</label><input id="p" name="photo" type="file" accept="image/*">'
            '<label>位置(可选)</label><input name="lat" inputmode="decimal" placeholder="纬度">'
            '<input name="lon" inputmode="decimal" placeholder="经度"><button>提交</button></form>'
        )

    async def report_form(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        return page("民事直说", _report_form(), user_name=user.name)

    async def report(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        try:
            data = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return refusal("民事直说", "照片太大,请压缩后再上传", 413, user.name)
        text, name = str(data.get("text", "")).strip(), str(data.get("category", ""))
        if not text or len(text) > MAX_TEXT:
            return page("民事直说", _report_form(f"请填写反映内容,不超过{MAX_TEXT}字", text[:MAX_TEXT]), status=400,
                        user_name=user.name)  # fmt: skip
        if name not in CATEGORIES:
            return page("民事直说", _report_form("请选择类别", text), status=400, user_name=user.name)
        try:
            lat = float(str(data["lat"])) if str(data.get("lat", "")).strip() else None
            lon = float(str(data["lon"])) if str(data.get("lon", "")).strip() else None
        except ValueError:
            lat = lon = -999.0
        if (lat is None) != (lon is None) or (lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)):  # type: ignore[operator]
            return page(
                "民事直说", _report_form("位置须同时填写有效的纬度和经度", text), status=400, user_name=user.name
            )
        photo = data.get("photo")
        body = photo.file.read() if isinstance(photo, FileField) else b""
        if body:
            try:
                sha = await asyncio.to_thread(store_image, ctx, body)
            except UploadRefused as exc:
                return page("民事直说", _report_form(str(exc), text), status=400, user_name=user.name)
            text = f"{text}\n[照片 {sha}]"
        tid = await submit_report(ctx.redis, text=text, village=user.village, category=CATEGORIES[name],
                                  reporter=user.username, source="citizen", lat=lat, lon=lon)  # fmt: skip
        await ctx.redis.set(_reporter_key(tid), user.username, ex=REPORTER_TTL_S)
        body_html = (
            f'<div class="ok">已提交,工单编号:{esc(tid)}</div><p>办结后可<a href="/h5/rate/{esc(tid)}">评价</a>。</p>'
        )
        return page("民事直说", body_html, user_name=user.name)

    async def _own_ticket(user_name: str, tid: str) -> bool:
        who = await ctx.redis.get(_reporter_key(tid[:80]))
        return who is not None and who == user_name.encode()

    async def rate_form(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        tid = request.match_info["ticket_id"]
        if not await _own_ticket(user.username, tid):
            return refusal("服务评价", "只能评价本人反映的事项", 403, user.name)
        opts = "".join(f'<option value="{n}">{n}星</option>' for n in range(5, 0, -1))
        body = (
            f'<form class="card" method="post" action="/h5/rate/{esc(tid)}"><input type="hidden" name="key" '
            f'value="{uuid.uuid4().hex}"><label>评分</label><select name="rating">{opts}</select><label>评价</label>'
            f'<textarea name="comment" maxlength="{MAX_TEXT}"></textarea><button>提交评价</button></form>'
        )
        return page("服务评价", body, user_name=user.name)

    async def rate(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        tid = request.match_info["ticket_id"]
        if not await _own_ticket(user.username, tid):
            return refusal("服务评价", "只能评价本人反映的事项", 403, user.name)
        data = await request.post()
        rating, comment = str(data.get("rating", "")), str(data.get("comment", "")).strip()
        key = str(data.get("key", ""))[:64]
        if rating not in {"1", "2", "3", "4", "5"} or not key:
            return refusal("服务评价", "评分须为1到5星", 400, user.name)
        if len(comment) > MAX_TEXT:
            return refusal("服务评价", f"评价不超过{MAX_TEXT}字", 400, user.name)
        cmd = TicketCommand(key=f"h5:{key}", ticket_id=tid, action="evaluate", actor=user.username, ts=now_ms(),
                            note=comment, rating=int(rating))  # fmt: skip
        await ctx.redis.xadd(COMMANDS, {b"c": msgspec.msgpack.encode(cmd)})
        return page("服务评价", '<div class="ok">感谢您的评价!</div>', user_name=user.name)

    async def directory(request: web.Request) -> web.Response:
        township, village = _village(request)
        if "directory" not in ctx.ledgers.ledgers:
            return refusal("村通讯录", "通讯录尚未启用", 404)
        q = ListQuery(township=township, village=village, sort="post", descending=False, size=200)
        rows = (await asyncio.to_thread(list_records, ctx.ledgers, SYSTEM, "directory", q)).rows
        cards = "".join(
            f'<div class="card"><b>{esc(r.values.get("post", ""))}</b> <span class="muted">'
            f'{esc(r.values.get("category", ""))}</span><div>{esc(r.values.get("organization") or "")}</div>'
            + (f'<div>办公电话:<a href="tel:{esc(r.values["office_phone"])}">{esc(r.values["office_phone"])}</a></div>'
               if r.values.get("office_phone") else "")
            + "</div>"
            for r in rows
        )  # fmt: skip
        return page(f"{village}通讯录", cards or '<p class="muted">暂无通讯录信息。</p>')

    return [
        web.get("/h5", home),
        web.get("/h5/notices", notices),
        web.post("/h5/notices/{id}/object", object_),
        web.get("/h5/guide", guide),
        web.get("/h5/guide/{item}", guide_item),
        web.get("/h5/report", report_form),
        web.post("/h5/report", report),
        web.get("/h5/rate/{ticket_id}", rate_form),
        web.post("/h5/rate/{ticket_id}", rate),
        web.get("/h5/directory", directory),
    ]

"""我要办事 and 我的申请: the items a village runs, their forms, uploads, the applicant's applications."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from adapters.citizen.context import CitizenContext
from adapters.citizen.login import require_user
from adapters.citizen.render import esc, moment, money, page, refusal
from core.access import User
from core.events import now_ms
from ledgers.schema import FieldSpec
from ledgers.store import NotFound
from ledgers.values import RecordInvalid
from workflows import documents, engine
from workflows.engine import Command, Refused
from workflows.schema import Item

PNG, JPEG = b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"
NOT_IMAGE = "只能上传JPG或PNG图片"


class UploadRefused(ValueError):
    """An upload that is too large or no real JPEG/PNG; the message is Chinese."""


def store_image(ctx: CitizenContext, data: bytes) -> str:
    """Keep a JPEG or PNG under the attachments folder by its SHA-256 and return the digest; UploadRefused."""
    limit = ctx.settings.records.attachment_max_mb
    if len(data) > limit * 1024 * 1024:
        raise UploadRefused(f"图片不能超过{limit:g}MB")
    if not (data.startswith(PNG) or data.startswith(JPEG)):
        raise UploadRefused(NOT_IMAGE)
    sha = hashlib.sha256(data).hexdigest()
    path = ctx.attachments_dir / sha
    if not path.exists():
        ctx.attachments_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return sha


def _input(spec: FieldSpec, value: str) -> str:
    name, v = esc(spec.key), esc(value)
    req = " required" if spec.required else ""
    if spec.type == "attachment":
        return f'<input id="f_{name}" name="{name}" type="file" accept="image/*"{req}>'
    if spec.type in ("enum", "bool"):
        options = spec.options if spec.type == "enum" else ["是", "否"]
        opts = '<option value="">请选择</option>' + "".join(
            f"<option{' selected' if o == value else ''}>{esc(o)}</option>" for o in options
        )
        return f'<select id="f_{name}" name="{name}"{req}>{opts}</select>'
    kind = {"integer": ' type="number" inputmode="numeric" step="1"', "decimal": ' inputmode="decimal"',
            "date": ' type="date"'}.get(spec.type, f' maxlength="{spec.max_length}"')  # fmt: skip
    return f'<input id="f_{name}" name="{name}" value="{v}"{kind}{req}>'


def form_html(item: Item, values: dict[str, str], errors: dict[str, str], message: str = "") -> str:
    """The application form of an item, with the values given back and each field's Chinese error."""
    parts = [f'<div class="msg">{esc(message)}</div>' if message else ""]
    if errors.get(""):
        parts.append(f'<div class="msg">{esc(errors[""])}</div>')
    parts.append(f'<form class="card" method="post" enctype="multipart/form-data" action="/h5/apply/{esc(item.item)}">')
    parts.append(f'<input type="hidden" name="_key" value="{esc(values.get("_key") or uuid.uuid4().hex)}">')
    for spec in item.form:
        unit = f"({esc(spec.unit)})" if spec.unit else ""
        star = " *" if spec.required else ""
        parts.append(f'<label for="f_{esc(spec.key)}">{esc(spec.label)}{unit}{star}</label>')
        parts.append(_input(spec, values.get(spec.key, "")))
        if spec.help:
            parts.append(f'<div class="muted">{esc(spec.help)}</div>')
        if spec.key in errors:
            parts.append(f'<div class="err">{esc(errors[spec.key])}</div>')
    parts.append("<button>提交申请</button></form>")
    return "".join(parts)


def _refused(title: str, exc: Refused, user: User) -> web.Response:
    return refusal(title, exc.reason, 403 if exc.kind == "access" else 400, user.name)


def routes(ctx: CitizenContext) -> list[web.RouteDef]:
    """Items, the application form and its submission, my applications, one application and its actions."""
    wf = ctx.workflows

    async def items(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        found = [i for i in wf.items_for(user.village) if "citizen" in i.applicants]
        rows = "".join(
            f'<div class="card"><a href="/h5/apply/{esc(i.item)}">{esc(i.title)}</a>'
            f'<div class="muted">{esc(i.summary)}</div>'
            f'<a class="muted" href="/h5/guide/{esc(i.item)}">办事指南</a></div>'
            for i in found
        )
        return page("我要办事", rows or '<p class="muted">本村暂未开通网上办理事项。</p>', user_name=user.name)

    def _item(user: User, key: str) -> Item:
        item = wf.item(key)
        if "citizen" not in item.applicants or not wf.enabled(key, user.village):
            raise NotFound(f"{user.village}尚未开通“{item.title}”网上办理")
        return item

    async def apply_form(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        try:
            item = _item(user, request.match_info["item"])
        except NotFound as exc:
            return refusal("我要办事", str(exc), 404, user.name)
        return page(item.title, form_html(item, {}, {}), user_name=user.name)

    async def apply_post(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        try:
            item = _item(user, request.match_info["item"])
        except NotFound as exc:
            return refusal("我要办事", str(exc), 404, user.name)
        try:
            data = await request.post()
        except web.HTTPRequestEntityTooLarge:
            limit = ctx.settings.records.attachment_max_mb
            return refusal(item.title, f"上传的图片太大,每张不能超过{limit:g}MB", 413, user.name)
        raw: dict[str, Any] = {}
        shown: dict[str, str] = {"_key": str(data.get("_key", ""))[:64]}
        try:
            for spec in item.form:
                value = data.get(spec.key)
                if spec.type == "attachment":
                    body = value.file.read() if isinstance(value, FileField) else b""
                    raw[spec.key] = await asyncio.to_thread(store_image, ctx, body) if body else ""
                else:
                    raw[spec.key] = shown[spec.key] = str(value or "").strip()
        except UploadRefused as exc:
            return page(item.title, form_html(item, shown, {}, str(exc)), status=400, user_name=user.name)
        try:
            once = f"h5:{user.username}:{shown['_key']}" if shown["_key"] else ""
            where = {"village": user.village, "township": user.township, "ip": request.remote or ""}
            inst = await asyncio.to_thread(wf.submit, user, item.item, raw, idempotency=once, **where)
        except RecordInvalid as exc:
            errors = {("" if k == "village" else k): v for k, v in exc.errors.items()}
            return page(item.title, form_html(item, shown, errors, "请按提示修改后重新提交,图片需重新选择"),
                        status=400, user_name=user.name)  # fmt: skip
        except Refused as exc:
            return _refused(item.title, exc, user)
        raise web.HTTPSeeOther(f"/h5/app/{inst.id}")

    async def mine(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        found = await asyncio.to_thread(wf.find, user, applicant=user.username)
        rows = "".join(
            f'<div class="card"><a href="/h5/app/{esc(x.id)}">{esc(i.title)}</a> <span class="muted">{esc(x.id)}</span>'
            f"<div>{esc(i.state(x.state).label)} · 提交于{esc(moment(x.created_at))}</div></div>"
            for i, x in found
        )
        return page("我的申请", rows or '<p class="muted">您还没有提交过申请。</p>', user_name=user.name)

    async def detail(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        iid = request.match_info["id"]
        try:
            item, inst = await asyncio.to_thread(wf.get, user, iid)
            steps = await asyncio.to_thread(wf.timeline, user, iid)
        except NotFound as exc:
            return refusal("我的申请", str(exc), 404, user.name)
        state = item.state(inst.state)
        parts = [
            f'<div class="card"><b>{esc(item.title)}</b><div class="muted">编号 {esc(inst.id)}</div>',
            f"<div>当前状态:{esc(state.label)}</div><div>金额:{esc(money(inst.amount))}</div>",
        ]
        if inst.amount_basis:
            parts.append(f'<div class="muted">{esc(inst.amount_basis)}</div>')
        if inst.posting_until:
            parts.append(f"<div>公示至:{esc(moment(inst.posting_until))}</div>")
        parts.append('</div><h2>办理进度</h2><ol class="card">')
        for s in steps:
            opinion = f'<div class="muted">意见:{esc(s.opinion)}</div>' if s.opinion else ""
            parts.append(f"<li>{esc(moment(s.ts))} {esc(s.label)} · {esc(s.actor_name)}{opinion}</li>")
        parts.append("</ol>")
        for t in engine.available(item, inst, user, wf.clock()):
            if t.by != "applicant" or t.action == "object":
                continue
            parts.append(
                f'<form method="post" action="/h5/app/{esc(inst.id)}/act"><input type="hidden" name="action" '
                f'value="{esc(t.action)}"><input type="hidden" name="version" value="{inst.version}">'
                f'<input type="hidden" name="key" value="{uuid.uuid4().hex}"><button>{esc(t.label)}</button></form>'
            )
        issued = item.document is not None and bool(inst.outcome)
        if issued and await asyncio.to_thread(documents.has_document, wf.engine, inst.id):
            assert item.document is not None
            parts.append(f'<p><a href="/h5/app/{esc(inst.id)}/pdf">下载{esc(item.document.title)}(PDF)</a></p>')
        return page("申请详情", "".join(parts), user_name=user.name)

    async def act(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        iid = request.match_info["id"]
        data = await request.post()
        action, key = str(data.get("action", ""))[:40], str(data.get("key", ""))[:64]
        version = str(data.get("version", ""))
        if not key or action == "object" or not version.isdigit():
            return refusal("我的申请", "请求不完整,请刷新页面后重试", 400, user.name)
        cmd = Command(key=f"h5:{key}", instance_id=iid[:32], action=action, ts=now_ms(), version=int(version),
                      ip=request.remote or "")  # fmt: skip
        out = await asyncio.to_thread(wf.act, user, cmd)
        if not out.ok:
            return refusal("我的申请", out.reason, 403 if out.kind == "access" else 400, user.name)
        raise web.HTTPSeeOther(f"/h5/app/{iid}")

    async def pdf(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        iid = request.match_info["id"]
        try:
            await asyncio.to_thread(wf.get, user, iid)
        except NotFound as exc:
            return refusal("我的申请", str(exc), 404, user.name)
        body = await asyncio.to_thread(documents.document_pdf, wf, iid)
        if not body:
            return refusal("我的申请", "该申请尚未出具文书", 404, user.name)
        return web.Response(body=body, content_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{iid}.pdf"'})  # fmt: skip

    return [
        web.get("/h5/items", items),
        web.get("/h5/apply/{item}", apply_form),
        web.post("/h5/apply/{item}", apply_post),
        web.get("/h5/mine", mine),
        web.get("/h5/app/{id}", detail),
        web.post("/h5/app/{id}/act", act),
        web.get("/h5/app/{id}/pdf", pdf),
    ]

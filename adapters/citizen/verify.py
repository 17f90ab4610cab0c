"""Public pages of the phone end: a document's verification by its code, and a villager's messages."""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from aiohttp import web

from adapters.citizen.context import CitizenContext
from adapters.citizen.login import require_user
from adapters.citizen.render import esc, moment, page, refusal
from workflows.documents import code_ok, find_document
from workflows.notices import messages_for


def routes(ctx: CitizenContext) -> list[web.RouteDef]:
    """/verify (a form), /verify/{code} (what was issued, to whom masked, when) and /h5/messages."""
    engine = ctx.workflows.engine

    async def ask(request: web.Request) -> web.Response:
        code = request.query.get("code", "").strip()
        if code:
            raise web.HTTPFound(f"/verify/{quote(code[:20], safe='')}")
        form = ('<form class="card" method="get" action="/verify"><label>验证码<input name="code" maxlength="20" '
                'required></label><button>查验</button></form>')  # fmt: skip
        return page("证明文书查验", form)

    async def check(request: web.Request) -> web.Response:
        code = request.match_info["code"].strip().upper()
        if not code_ok(code):
            return refusal("证明文书查验", "验证码格式不正确(12位字母数字),请核对后重新输入", 400)
        doc = await asyncio.to_thread(find_document, engine, code)
        if doc is None:
            return refusal("证明文书查验", f"未查到验证码为“{code}”的文书,该文书可能不是本平台出具", 404)
        rows = [("文书", doc.title), ("编号", doc.instance_id), ("出具给", doc.issued_to),
                ("所在村", f"{doc.township}{doc.village}"), ("出具时间", moment(doc.issued_at)), ("验证码", doc.code),
                ("文件指纹", doc.sha256[:16])]  # fmt: skip
        table = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
        return page("证明文书查验", f'<div class="ok">真实有效:本平台出具的文书</div><table>{table}</table>')

    async def messages(request: web.Request) -> web.Response:
        user = await require_user(ctx, request)
        found = await asyncio.to_thread(messages_for, engine, user.username)
        items = "".join(f'<div class="card"><small>{esc(moment(m.at))}</small><br>{esc(m.text)} '
                        f'<a href="/h5/app/{esc(m.instance_id)}">查看</a></div>' for m in found)  # fmt: skip
        return page("我的消息", items or "<p>暂无消息</p>", user_name=user.name)

    return [web.get("/verify", ask), web.get("/verify/{code}", check), web.get("/h5/messages", messages)]

"""The ledger JSON API under /api/ledgers, for the same logins as the pages (the session cookie); a request that
changes anything must carry `X-Requested-With: XMLHttpRequest` (a cross-site form can't). Every check is the store's:
400 with per-field reasons, 401 without a login, 403 refused, 404 not found or outside the area, 409 stale edit,
413 too large; the reasons are Chinese and no answer carries a stack trace."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from tornado.web import RequestHandler

from adapters import audit
from core.access import AccessDenied, User
from ledgers.attachments import AttachmentRefused
from ledgers.excel import ImportRejected
from ledgers.query import history, list_records, stats
from ledgers.store import LedgerStore, NotFound, StaleEdit
from ledgers.values import RecordInvalid
from ops_center.auth import COOKIE
from ops_center.context import OpsContext
from ops_center.ledger_views.common import id_ok, key_ok, list_query, record_json, session_store

log = logging.getLogger(__name__)
T = TypeVar("T")
JSON_MAX = 1 << 20  # largest JSON body accepted (a record's values)
HEADER = "X-Requested-With"
REASON_ZH = {400: "请求有误", 401: "请先登录", 403: "无权操作", 404: "未找到", 405: "不支持此请求方法",
             409: "记录已被他人修改", 413: "请求内容过大", 500: "服务器内部错误,请稍后重试",
             503: "台账服务未启用"}  # fmt: skip


class Refused(Exception):
    """An answer other than success: HTTP status, Chinese reason, per-field reasons."""

    def __init__(self, status: int, error: str, fields: dict[str, str] | None = None, **more: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.fields, self.more = status, error, fields, more


class ApiHandler(RequestHandler):
    """Login, CSRF header and the mapping of the store's refusals to statuses, for every ledger API handler."""

    user: User
    store: LedgerStore

    def initialize(self, ctx: OpsContext) -> None:
        self.ctx = ctx

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")

    async def prepare(self) -> None:
        user = await self.ctx.accounts.session_user(self.get_cookie(COOKIE) or "")
        if user is None:
            return self.answer(401, {"error": "请先登录"})
        if self.request.method not in ("GET", "HEAD") and self.request.headers.get(HEADER) != "XMLHttpRequest":
            await self.audit_refusal(user, "csrf", self.request.path)
            return self.answer(403, {"error": f"请求缺少 {HEADER}: XMLHttpRequest 头,已拒绝(防止跨站请求)"})
        if self.ctx.ledgers is None:
            return self.answer(503, {"error": REASON_ZH[503]})
        self.user = user
        self.store = session_store(self.ctx.ledgers, self.ctx.redis, self.ip)
        return None

    @property
    def ip(self) -> str:
        """The peer address (client headers are not trusted)."""
        return self.request.remote_ip or ""

    def answer(self, status: int, body: Any) -> None:
        """Finish with a JSON body."""
        self.set_status(status)
        self.finish(json.dumps(body, ensure_ascii=False, default=str))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error tornado raises itself answers in JSON, with a Chinese reason and no trace."""
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps({"error": REASON_ZH.get(status_code, "请求失败")}, ensure_ascii=False))

    async def audit_refusal(self, user: User, why: str, target: str) -> None:
        """Audit a request refused before it reached the store (a malformed id or key, a missing header)."""
        await audit.record(self.ctx.redis, user.username, "ledger_view_denied", target[:120], ok=False, ip=self.ip,
                           detail={"why": why, "via": "api"})  # fmt: skip

    async def checked(self, key: str, rid: str | None = None) -> None:
        """Refused (404/400, audited) unless the path's key and id have their shapes and the ledger exists."""
        if not key_ok(key) or key not in self.store.ledgers:
            await self.audit_refusal(self.user, "ledger", key[:60])
            raise Refused(404, f"没有名为“{key[:40]}”的台账")
        if rid is not None and not id_ok(rid):
            await self.audit_refusal(self.user, "id", f"{key}/{rid[:60]}")
            raise Refused(400, f"记录编号格式不正确:{rid[:40]}", {"id": "记录编号格式不正确"})

    def args(self) -> dict[str, str]:
        """The query arguments, first value of each, cut to 200 characters."""
        return {k: self.get_argument(k, "")[:200] for k in self.request.arguments}

    def body_json(self) -> dict[str, Any]:
        """The request's JSON object; 413 over JSON_MAX, 400 when it is not a JSON object."""
        if len(self.request.body) > JSON_MAX:
            raise Refused(413, f"请求内容过大(不能超过 {JSON_MAX // 1024} KB)")
        try:
            doc = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Refused(400, "请求内容不是有效的 JSON") from None
        if not isinstance(doc, dict):
            raise Refused(400, "请求内容应为 JSON 对象")
        return doc

    def version(self, doc: dict[str, Any]) -> int:
        """The record version the client read (body `version`, or the `version` query argument)."""
        raw = doc.get("version", self.get_argument("version", ""))
        if isinstance(raw, bool) or not str(raw).strip().isdigit():
            raise Refused(400, "须提供读取记录时的版本号 version", {"version": "须为读取记录时的版本号(整数)"})
        return int(str(raw).strip())

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call in a thread; the store's refusals become Refused with their statuses."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except RecordInvalid as exc:
            raise Refused(400, f"有 {len(exc.errors)} 处内容不正确", exc.errors) from None
        except AccessDenied as exc:
            raise Refused(403, str(exc)) from None
        except NotFound as exc:
            raise Refused(404, str(exc)) from None
        except StaleEdit as exc:
            raise Refused(409, str(exc)) from None
        except ImportRejected as exc:
            raise Refused(400, str(exc), report=exc.report.to_dict()) from None
        except AttachmentRefused as exc:
            raise Refused(413 if "过大" in str(exc) else 400, str(exc)) from None

    async def run(self, work: Callable[[], Any], status: int = 200) -> None:
        """Answer with what `work` returns (JSON), or with its refusal; anything unexpected is a 500 without trace."""
        try:
            body = await work()
        except Refused as exc:
            self.answer(exc.status, {"error": exc.error, **({"fields": exc.fields} if exc.fields else {}), **exc.more})
            return
        except Exception as exc:
            log.warning("ledger api %s %s failed: %s: %s", self.request.method, self.request.path, type(exc).__name__,
                        str(exc)[:300])  # fmt: skip
            self.answer(500, {"error": REASON_ZH[500]})
            return
        if isinstance(body, bytes):
            self.finish(body)
        else:
            self.answer(status, body)


class LedgersHandler(ApiHandler):
    """GET /api/ledgers: the declarations of the ledgers the user may read, with what the user may do in each."""

    async def get(self) -> None:
        async def work() -> Any:
            out = []
            for lg in self.store.ledgers.ledgers.values():
                if self.store.may(self.user, lg, "read"):
                    may = {a: self.store.may(self.user, lg, a) for a in ("read", "write", "export", "restore")}
                    out.append({**lg.model_dump(mode="json"), "may": may})
            return {"ledgers": out}

        await self.run(work)


class RecordsHandler(ApiHandler):
    """GET: a page of records (search, filter.<field>, lookup.<field>, sort, desc, page, township, village);
    POST {village, township?, parent_id?, values}: a new record (201)."""

    async def get(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            ledger = self.store.ledgers[key]
            size = self.ctx.settings.records.page_size
            try:
                q = list_query(self.store, ledger, self.args(), size)
            except RecordInvalid as exc:
                raise Refused(400, "查询条件有误", exc.errors) from None
            page = await self.call(list_records, self.store, self.user, key, q)
            return {"total": page.total, "page": page.page, "size": page.size,
                    "records": [record_json(r) for r in page.rows]}  # fmt: skip

        await self.run(work)

    async def post(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            doc = self.body_json()
            values = doc.get("values")
            if not isinstance(values, dict):
                raise Refused(400, "请求内容须含 values 对象", {"values": "须为字段到取值的对象"})
            parent = doc.get("parent_id")
            if parent is not None and (not isinstance(parent, str) or not id_ok(parent)):
                raise Refused(400, "parent_id 格式不正确", {"parent_id": "记录编号格式不正确"})
            rec = await self.call(self.store.create, self.user, key, values, village=str(doc.get("village") or ""),
                                  township=str(doc.get("township") or ""), parent_id=parent, ip=self.ip)  # fmt: skip
            return record_json(rec)

        await self.run(work, 201)


class RecordHandler(ApiHandler):
    """GET, PUT {version, values} and DELETE (?version= or {version}) of one record."""

    async def get(self, key: str, rid: str) -> None:
        async def work() -> Any:
            await self.checked(key, rid)
            return record_json(await self.call(self.store.get, self.user, key, rid))

        await self.run(work)

    async def put(self, key: str, rid: str) -> None:
        async def work() -> Any:
            await self.checked(key, rid)
            doc = self.body_json()
            version, values = self.version(doc), doc.get("values")
            if not isinstance(values, dict):
                raise Refused(400, "请求内容须含 values 对象", {"values": "须为字段到取值的对象"})
            return record_json(await self.call(self.store.update, self.user, key, rid, values, version=version,
                                               ip=self.ip))  # fmt: skip

        await self.run(work)

    async def delete(self, key: str, rid: str) -> None:
        async def work() -> Any:
            await self.checked(key, rid)
            version = self.version(self.body_json() if self.request.body else {})
            await self.call(self.store.delete, self.user, key, rid, version=version, ip=self.ip)
            return {"deleted": rid}

        await self.run(work)


class HistoryHandler(ApiHandler):
    """GET /api/ledgers/<key>/records/<id>/history: every version, oldest first, masked as the viewer needs."""

    async def get(self, key: str, rid: str) -> None:
        async def work() -> Any:
            await self.checked(key, rid)
            versions = await self.call(history, self.store, self.user, key, rid)
            return {"versions": [{"version": v.version, "action": v.action, "at": v.at, "by": v.by, "ip": v.ip,
                                  "before": v.before, "after": v.after} for v in versions]}  # fmt: skip

        await self.run(work)


class RestoreHandler(ApiHandler):
    """POST /api/ledgers/<key>/records/<id>/restore: bring a deleted record back (admins)."""

    async def post(self, key: str, rid: str) -> None:
        async def work() -> Any:
            await self.checked(key, rid)
            return record_json(await self.call(self.store.restore, self.user, key, rid, ip=self.ip))

        await self.run(work)


class StatsHandler(ApiHandler):
    """GET /api/ledgers/<key>/stats?by=township|village: the declared measures in the user's area."""

    async def get(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            by = self.get_argument("by", "township")
            rows = await self.call(stats, self.store, self.user, key, by)
            ledger = self.store.ledgers[key]
            return {"by": by, "measures": [{"key": m.key, "label": m.label} for m in ledger.stats], "rows": rows}

        await self.run(work)


def record_patterns(ctx: OpsContext) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """The routes of declarations, records, history, restore and statistics."""
    part = r"([^/]{1,100})"
    routes: list[tuple[str, type[RequestHandler]]] = [
        (r"/api/ledgers", LedgersHandler),
        (rf"/api/ledgers/{part}/records", RecordsHandler),
        (rf"/api/ledgers/{part}/records/{part}", RecordHandler),
        (rf"/api/ledgers/{part}/records/{part}/history", HistoryHandler),
        (rf"/api/ledgers/{part}/records/{part}/restore", RestoreHandler),
        (rf"/api/ledgers/{part}/stats", StatsHandler),
    ]
    return [(p, h, {"ctx": ctx}) for p, h in routes]

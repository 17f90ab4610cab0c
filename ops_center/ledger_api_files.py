"""The ledger API's files: the Excel template, the export of a list's query, the all-or-nothing import, attachment
uploads, and the attachment download (/attachment?sha=&ledger=&id=, read access to a record that holds it)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tornado.web import RequestHandler

from ledgers.attachments import Attachments, sha_ok
from ledgers.excel import export, import_workbook, template
from ledgers.values import RecordInvalid
from ops_center.context import OpsContext
from ops_center.ledger_api import ApiHandler, Refused
from ops_center.ledger_views.common import list_query

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def disposition(filename: str) -> str:
    """A Content-Disposition that makes the browser save the file under its (possibly Chinese) name."""
    ascii_name = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "_" for c in filename) or "file"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


class FileHandler(ApiHandler):
    """An API handler whose success is a file to save, not JSON."""

    def send(self, data: bytes, filename: str, content_type: str) -> bytes:
        """Headers of a download; returns the body."""
        self.set_header("Content-Type", content_type)
        self.set_header("Content-Disposition", disposition(filename))
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("Cache-Control", "private, no-store")
        return data


class TemplateHandler(FileHandler):
    """GET /api/ledgers/<key>/template: the blank .xlsx of a ledger the user may read."""

    async def get(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            ledger = self.store.ledgers[key]
            if ledger.parent:
                raise Refused(400, f"“{ledger.title}”随“{self.store.ledgers[ledger.parent].title}”的模板一起提供")
            await self.call(self.store.require, self.user, ledger, "read", "template")
            rows = self.ctx.settings.records.import_max_rows
            data = await self.call(template, self.store.ledgers, key, max_rows=rows)
            return self.send(data, f"{ledger.title}-导入模板.xlsx", XLSX)

        await self.run(work)


class ExportHandler(FileHandler):
    """GET /api/ledgers/<key>/export?<the list's query>: the matching records (and their child records) as .xlsx."""

    async def get(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            ledger = self.store.ledgers[key]
            try:
                q = list_query(self.store, ledger, self.args(), 500)
            except RecordInvalid as exc:
                raise Refused(400, "查询条件有误", exc.errors) from None
            data = await self.call(export, self.store, self.user, key, q)
            return self.send(data, f"{ledger.title}-导出.xlsx", XLSX)

        await self.run(work)


class ImportHandler(ApiHandler):
    """POST /api/ledgers/<key>/import (the .xlsx as the body): written whole, or 400 with every problem found."""

    async def post(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            limits = self.ctx.settings.records
            if len(self.request.body) > limits.import_max_mb * 2**20:
                raise Refused(413, f"文件超过 {limits.import_max_mb:g} MB 的上限,请拆分后分批导入")
            report = await self.call(import_workbook, self.store, self.user, key, self.request.body, self.ip,
                                     max_rows=limits.import_max_rows, max_mb=limits.import_max_mb)  # fmt: skip
            return {"report": report.to_dict()}

        await self.run(work)


class UploadHandler(ApiHandler):
    """POST /api/ledgers/<key>/attachments?filename=<name>[&record=<id>] (the file as the body): its digest."""

    async def post(self, key: str) -> None:
        async def work() -> Any:
            await self.checked(key)
            limits = self.ctx.settings.records
            if len(self.request.body) > limits.attachment_max_mb * 2**20:
                raise Refused(413, f"文件过大,不能超过 {limits.attachment_max_mb:g} MB")
            rid = self.get_argument("record", "") or None
            if rid is not None:
                await self.checked(key, rid)
            files = Attachments.of(self.store, self.ctx.settings)
            info = await self.call(files.add, self.user, key, self.get_argument("filename", "附件")[:200],
                                   self.request.body, record_id=rid)  # fmt: skip
            return {"sha256": info.sha256, "filename": info.filename, "size": info.size,
                    "content_type": info.content_type}  # fmt: skip

        await self.run(work, 201)


class AttachmentHandler(FileHandler):
    """GET /attachment?sha=<digest>&ledger=<key>&id=<record>: the file, for readers of a record that holds it."""

    async def get(self) -> None:
        async def work() -> Any:
            key, rid, sha = (self.get_argument(k, "")[:100] for k in ("ledger", "id", "sha"))
            await self.checked(key, rid)
            if not sha_ok(sha):
                await self.audit_refusal(self.user, "attachment", f"{key}/{rid}/{sha[:20]}")
                raise Refused(400, "附件编号格式不正确")
            files = Attachments.of(self.store, self.ctx.settings)
            info, data = await self.call(files.open, self.user, key, rid, sha)
            return self.send(data, info.filename, info.content_type)

        await self.run(work)


def file_patterns(ctx: OpsContext) -> list[tuple[str, type[RequestHandler], dict[str, Any]]]:
    """The file routes."""
    part = r"([^/]{1,100})"
    routes: list[tuple[str, type[RequestHandler]]] = [
        (rf"/api/ledgers/{part}/template", TemplateHandler),
        (rf"/api/ledgers/{part}/export", ExportHandler),
        (rf"/api/ledgers/{part}/import", ImportHandler),
        (rf"/api/ledgers/{part}/attachments", UploadHandler),
        (r"/attachment", AttachmentHandler),
    ]
    return [(p, h, {"ctx": ctx}) for p, h in routes]

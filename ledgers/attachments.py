"""Attachments of ledger records: each file kept once, by SHA-256, under var/records/attachments/, checked for size
and type on the way in; reading one needs read access to a record that holds it (scope checked by the store)."""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update

from core.access import User
from core.settings import Settings
from core.settings.records import RecordsSettings
from ledgers.store import LedgerStore, NotFound, Record
from ledgers.tables import attachments

# content type by file name extension; a file must also start the way files of its type start
TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "pdf": "application/pdf",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
         "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}  # fmt: skip
MAGIC = {"jpg": b"\xff\xd8\xff", "jpeg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-",
         "xlsx": b"PK\x03\x04", "docx": b"PK\x03\x04"}  # fmt: skip
_SHA = re.compile(r"^[0-9a-f]{64}$")


class AttachmentRefused(ValueError):
    """A file that may not be attached (too large, a type not accepted, not what its name says); Chinese."""


@dataclass(frozen=True)
class Attachment:
    """One stored file: its digest, the ledger (and record, once saved) it came with, name, type and size."""

    sha256: str
    ledger: str
    record_id: str | None
    filename: str
    content_type: str
    size: int
    at: int
    by: str


def sha_ok(value: str) -> bool:
    """Whether a string has the shape of an attachment's digest (64 lower-case hex digits)."""
    return bool(_SHA.match(value))


def clean_name(filename: str) -> str:
    """A file name as kept and offered for download: no folders, no control characters, at most 200 characters."""
    name = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().lstrip(".")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:190] + dot + ext[:8]) if dot else name[:200]
    return name or "附件"


def held(store: LedgerStore, record: Record) -> list[str]:
    """The digests a record's attachment fields hold (masked ones are not there to be read)."""
    ledger = store.ledger(record.ledger)
    return [v for f in ledger.fields if f.type == "attachment" and isinstance(v := record.values.get(f.key), str)
            and sha_ok(v)]  # fmt: skip


class Attachments:
    """The attachment files of one store and their rows in ledger_attachments."""

    def __init__(self, store: LedgerStore, root: Path, limits: RecordsSettings) -> None:
        self.store, self.root, self.limits = store, root, limits

    @classmethod
    def of(cls, store: LedgerStore, settings: Settings) -> Attachments:
        """The attachments under the settings' var/records/attachments/."""
        return cls(store, settings.var_dir / "records" / "attachments", settings.records)

    def path(self, sha: str) -> Path:
        """Where the file of a digest lies."""
        return self.root / sha[:2] / sha

    def check(self, filename: str, data: bytes) -> tuple[str, str]:
        """(clean name, content type) of an acceptable file; AttachmentRefused says why one is not."""
        name = clean_name(filename)
        ext = name.rpartition(".")[2].lower() if "." in name else ""
        accepted = [t.lower() for t in self.limits.attachment_types]
        if ext not in accepted:
            raise AttachmentRefused(f"不接受此类文件:{ext or '无扩展名'};可上传 {'、'.join(accepted)}")
        limit = self.limits.attachment_max_mb
        if len(data) > limit * 2**20:
            raise AttachmentRefused(f"文件过大:{len(data) / 2**20:.1f} MB,不能超过 {limit:g} MB")
        if not data:
            raise AttachmentRefused("文件是空的")
        if ext in MAGIC and not data.startswith(MAGIC[ext]):
            raise AttachmentRefused(f"文件内容与扩展名 .{ext} 不符")
        return name, TYPES.get(ext, "application/octet-stream")

    def add(self, user: User, key: str, filename: str, data: bytes, *, record_id: str | None = None) -> Attachment:
        """Keep a file for a ledger the user may write (and a record of it in the user's area, if given)."""
        ledger = self.store.ledger(key)
        self.store.require(user, ledger, "write", record_id or "attachment")
        if record_id:
            self.store.get(user, key, record_id)
        name, ctype = self.check(filename, data)
        sha = hashlib.sha256(data).hexdigest()
        path = self.path(sha)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{sha}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        with self.store.engine.begin() as conn:
            if conn.execute(select(attachments.c.sha256).where(attachments.c.sha256 == sha)).first() is None:
                conn.execute(insert(attachments).values(sha256=sha, ledger=key, record_id=record_id, filename=name,
                                                        content_type=ctype, size=len(data), at=self.store.clock(),
                                                        by_user=user.username))  # fmt: skip
        self.store.audit(user, "ledger_attachment_add", f"{key}/{record_id or '-'}/{sha[:16]}", True,
                         {"filename": name, "size": len(data)})  # fmt: skip
        return Attachment(sha, key, record_id, name, ctype, len(data), self.store.clock(), user.username)

    def link(self, key: str, record_id: str, shas: list[str]) -> None:
        """Name the record that files uploaded with its form (before it existed) belong to."""
        if not shas:
            return
        with self.store.engine.begin() as conn:
            conn.execute(update(attachments).where(attachments.c.sha256.in_(shas), attachments.c.record_id.is_(None))
                         .values(record_id=record_id, ledger=key))  # fmt: skip

    def info(self, shas: list[str]) -> dict[str, Attachment]:
        """The stored rows of these digests."""
        if not shas:
            return {}
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(attachments).where(attachments.c.sha256.in_(shas))).all()
        return {r.sha256: _attachment(r._mapping) for r in rows}

    def of_record(self, record: Record) -> list[Attachment]:
        """The attachments a record holds, in field order."""
        shas = held(self.store, record)
        found = self.info(shas)
        return [found[s] for s in shas if s in found]

    def open(self, user: User, key: str, record_id: str, sha: str) -> tuple[Attachment, bytes]:
        """A file of a record the user may read; NotFound (audited) when the record does not hold it."""
        ledger = self.store.ledger(key)
        if not sha_ok(sha):
            self.store.denied(user, ledger, "read", f"{record_id[:24]}/attachment", "bad digest")
            raise NotFound("附件编号格式不正确")
        record = self.store.get(user, key, record_id)  # duty and scope checked, refusals audited
        info = self.info([sha]).get(sha) if sha in held(self.store, record) else None
        path = self.path(sha)
        if info is None or not path.is_file():
            self.store.denied(user, ledger, "read", f"{record_id}/{sha[:16]}", "attachment")
            raise NotFound("未找到该附件,或它不属于这条记录")
        self.store.audit(user, "ledger_attachment_read", f"{key}/{record_id}/{sha[:16]}", True,
                         {"filename": info.filename})  # fmt: skip
        return info, path.read_bytes()


def _attachment(m: Any) -> Attachment:
    return Attachment(m["sha256"], m["ledger"], m["record_id"], m["filename"], m["content_type"], int(m["size"]),
                      int(m["at"]), m["by_user"])  # fmt: skip

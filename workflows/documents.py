"""Documents an item issues in its end state: a Chinese A4 PDF with a verification code and a QR to the public check."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.clock import local_time
from core.personal import mask
from core.settings.workflows import WorkflowSettings
from workflows.codec import InstanceCodec
from workflows.engine import Instance
from workflows.schema import Item
from workflows.tables import documents, instances


class WorkflowStore(Protocol):
    """What drawing a document needs of the workflow store (which imports this module: no import back)."""

    engine: Engine
    settings: WorkflowSettings
    codec: InstanceCodec

    def definition(self, digest: str) -> Item: ...


FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT = "WQYMicroHei"
COUNTY = "舟曲县"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud or typed from paper without doubt
CODE_LENGTH = 12
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_ID_NUMBER = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9Xx])")
_KIND = {"certificate": "证明", "notice": "通知书"}


class DocumentError(RuntimeError):
    """A document cannot be made here (the CJK font is missing)."""


@dataclass(frozen=True)
class DocumentInfo:
    """What the public verification page shows of an issued document; the name is masked."""

    code: str
    title: str
    issued_to: str
    township: str
    village: str
    issued_at: int
    instance_id: str
    sha256: str


def new_code() -> str:
    """A fresh verification code: 12 characters of an unambiguous alphabet, from the system's CSPRNG."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def code_ok(code: str) -> bool:
    """Whether a text has the form of a verification code (length and alphabet)."""
    return isinstance(code, str) and len(code) == CODE_LENGTH and all(c in ALPHABET for c in code)


@cache
def _font() -> str:
    if not FONT_PATH.is_file():
        raise DocumentError(f"中文字体缺失:{FONT_PATH}(请运行 make system-deps 安装 fonts-wqy-microhei)")
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_PATH), subfontIndex=0))
    return FONT


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal(1))) if value == value.to_integral_value() else f"{value:.2f}"
    if isinstance(value, (dt.date, str, int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "、".join(_text(v) for v in value)
    return str(value)


def _values(item: Item, inst: Instance) -> dict[str, str]:
    """What the body's placeholders may name: facts, the form (personal fields masked), amount, name and place."""
    form = {}
    for key, value in inst.form.items():
        spec = item.field(key) if key in {f.key for f in item.form} else None
        text = _text(value)
        form[key] = mask(spec.personal, text) if spec is not None and spec.personal else text
    return {
        **{k: _text(v) for k, v in inst.facts.items()},
        **form,
        "amount": _text(inst.amount),
        "applicant_name": mask("name", inst.applicant_name),
        "village": inst.village,
        "township": inst.township,
        "id": inst.id,
    }


def fill(item: Item, inst: Instance, body: str) -> str:
    """The body with its {placeholders} filled (unknown ones empty) and any ID number left in it masked."""
    values = _values(item, inst)
    text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip(), ""), body)
    return _ID_NUMBER.sub(lambda m: mask("id_number", m.group(0)), text)


def issuer_line(item: Item, inst: Instance) -> str:
    """Whose seal the document carries: the village committee or the township government."""
    doc = item.document
    if doc is not None and doc.issuer == "township":
        return f"{COUNTY}{inst.township}人民政府"
    return f"{COUNTY}{inst.township}{inst.village}村民委员会"


def _wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Lines of Chinese text that fit the width, broken between characters (and at newlines)."""
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line = ""
        for ch in para:
            if line and pdfmetrics.stringWidth(line + ch, font, size) > width:
                lines.append(line)
                line = ""
            line += ch
        lines.append(line)
    return lines


def render_pdf(item: Item, inst: Instance, code: str, verify_url: str, issued_at: int) -> bytes:
    """The document as A4 PDF bytes: title, number, body, issuer, Beijing date, verification code and QR."""
    if item.document is None:
        raise DocumentError(f"事项“{item.title}”未声明文书")
    font, doc = _font(), item.document
    buf = io.BytesIO()
    page_w, page_h = A4
    left, right = 25 * mm, page_w - 25 * mm
    c = Canvas(buf, pagesize=A4, invariant=True)
    c.setTitle(doc.title)
    c.setAuthor(issuer_line(item, inst))
    c.setFont(font, 20)
    c.drawCentredString(page_w / 2, page_h - 40 * mm, doc.title)
    c.setFont(font, 11)
    c.drawRightString(right, page_h - 52 * mm, f"编号:{inst.id}")
    y = page_h - 70 * mm
    c.setFont(font, 14)
    for line in _wrap("　　" + fill(item, inst, doc.body), font, 14, right - left):
        c.drawString(left, y, line)
        y -= 9 * mm
    y = min(y - 15 * mm, page_h - 150 * mm)
    c.drawRightString(right, y, issuer_line(item, inst))
    c.drawRightString(right, y - 9 * mm, local_time(issued_at, "%Y年%m月%d日"))
    c.setFont(font, 10)
    c.drawString(left, 60 * mm, f"{_KIND[doc.kind]}验证码:{code}")
    c.drawString(left, 54 * mm, "扫描右侧二维码或访问以下网址核验真伪:")
    for i, line in enumerate(_wrap(verify_url, font, 10, right - left - 45 * mm)[:3]):
        c.drawString(left, 48 * mm - i * 5 * mm, line)
    qr = QrCodeWidget(verify_url)
    x0, y0, x1, y1 = qr.getBounds()
    side = 38 * mm
    drawing = Drawing(side, side, transform=[side / (x1 - x0), 0, 0, side / (y1 - y0), 0, 0])
    drawing.add(qr)
    renderPDF.draw(drawing, c, right - side, 30 * mm)
    c.showPage()
    c.save()
    return buf.getvalue()


def _existing(conn: Connection, instance_id: str) -> str | None:
    q = sa.select(documents.c.code).where(documents.c.instance_id == instance_id[:32])
    found: str | None = conn.execute(q).scalar()
    return found


def issue(conn: Connection, item: Item, inst: Instance, now: int) -> str | None:
    """Issue the item's document for an application in its issuing state, in the caller's transaction; its code.

    Only the code and what the verification page shows are written here (the PDF takes tens of milliseconds to
    draw, too long for the transaction): `document_pdf` or the workflow host's `render_pending` draws it after,
    from the same pinned definition and ended instance, so it is the same whenever it is drawn. Once per
    application: a repeat returns the code already issued. None when the item issues nothing in this state."""
    doc = item.document
    if doc is None or inst.state != doc.state:
        return None
    found = _existing(conn, inst.id)
    if found is not None:
        return found
    for _ in range(3):  # a code collision (31^12 codes) is astronomically rare; draw again
        code = new_code()
        row = {"code": code, "instance_id": inst.id[:32], "item": item.item[:40], "title": doc.title[:60],
               "issued_to": mask("name", inst.applicant_name)[:40], "township": inst.township[:20],
               "village": inst.village[:20], "issued_at": now, "sha256": "", "pdf": b""}  # fmt: skip
        # no savepoint (pysqlite may commit one on release): an insert that does nothing on a taken code or instance
        insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(documents).values(**row)
        if conn.execute(insert.on_conflict_do_nothing()).rowcount == 1:
            return code
        found = _existing(conn, inst.id)
        if found is not None:
            return found
    raise DocumentError("文书验证码生成失败,请重试")


def _draw(store: WorkflowStore, conn: Connection, row: Any) -> bytes:
    """Draw a pending document's PDF from its instance and write it, unless another drawer was first."""
    found = conn.execute(sa.select(instances.c.definition, instances.c.body).where(instances.c.id == row.instance_id))
    inst_row = found.first()
    if inst_row is None:
        raise DocumentError(f"文书 {row.code} 的申请不存在")
    item = store.definition(inst_row.definition)
    inst = store.codec.open_instance(item, row.instance_id, inst_row.body)
    url = store.settings.public_url.rstrip("/") + "/verify/" + row.code
    pdf = render_pdf(item, inst, row.code, url, row.issued_at)
    conn.execute(documents.update().where(documents.c.code == row.code, documents.c.sha256 == "")
                 .values(pdf=pdf, sha256=hashlib.sha256(pdf).hexdigest()))  # fmt: skip
    return pdf


def render_pending(store: WorkflowStore, limit: int = 50) -> int:
    """Draw the PDFs issued but not drawn yet (the workflow host runs this after its rounds); how many were."""
    q = sa.select(documents.c.code, documents.c.instance_id, documents.c.issued_at).where(documents.c.sha256 == "")
    with store.engine.begin() as conn:
        rows = conn.execute(q.limit(limit)).all()
        for row in rows:
            _draw(store, conn, row)
    return len(rows)


def has_document(engine: Engine, instance_id: str) -> bool:
    """Whether a document was issued for an application (drawn or not yet)."""
    with engine.connect() as conn:
        q = sa.select(documents.c.code).where(documents.c.instance_id == instance_id[:32])
        return conn.execute(q).first() is not None


def find_document(engine: Engine, code: str) -> DocumentInfo | None:
    """The document of a verification code (None for an unknown or malformed one, which is never queried)."""
    code = code.strip().upper() if isinstance(code, str) else ""
    if not code_ok(code):
        return None
    cols = [c for c in documents.c if c.key not in ("pdf", "item")]
    with engine.connect() as conn:
        row = conn.execute(sa.select(*cols).where(documents.c.code == code)).first()
    if row is None:
        return None
    return DocumentInfo(
        code=row.code,
        title=row.title,
        issued_to=row.issued_to,
        township=row.township,
        village=row.village,
        issued_at=row.issued_at,
        instance_id=row.instance_id,
        sha256=row.sha256,
    )


def document_pdf(store: WorkflowStore, instance_id: str) -> bytes | None:
    """The PDF issued for an application (drawn now if the host has not yet), None when none was issued."""
    q = sa.select(documents.c.code, documents.c.instance_id, documents.c.issued_at, documents.c.pdf)
    with store.engine.begin() as conn:
        row = conn.execute(q.where(documents.c.instance_id == instance_id[:32])).first()
        if row is None:
            return None
        return bytes(row.pdf) if row.pdf else _draw(store, conn, row)


__all__ = [
    "DocumentError",
    "DocumentInfo",
    "code_ok",
    "document_pdf",
    "find_document",
    "has_document",
    "issue",
    "issuer_line",
    "new_code",
    "render_pdf",
    "render_pending",
]

"""Issued documents: 劳务补贴 taken to `approved` on SQLite issues one notice PDF, masked and verifiable."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from ledger_testkit import KEY, OFFICER_A, household, id_number, open_store, sqlite_url
from pypdf import PdfReader

from core.access import User
from core.clock import local_time
from core.personal import Sealer
from core.settings.workflows import WorkflowSettings
from workflows import documents
from workflows.engine import Command
from workflows.loader import load_items
from workflows.schema import Item
from workflows.store import WorkflowStore, open_workflows
from workflows.tables import documents as documents_table

NAME = "王小明"
ID = id_number(7)
TOWNSHIP = User(username="t_off", name="大川镇审批", level="township", duties=["officer"], township="大川镇")
PUBLIC = "https://zq.example.cn"


@dataclass
class Approved:
    wf: WorkflowStore
    iid: str
    approved_at: int


@pytest.fixture(scope="module")
def approved(tmp_path_factory: pytest.TempPathFactory) -> Approved:
    """One 劳务补贴 application through village review, the 公示 (run_due past its end) and township approval."""
    clock = [1_780_000_000_000]
    ls, _ = open_store(sqlite_url(tmp_path_factory.mktemp("docs")), clock=lambda: clock[0])
    hh = ls.create(OFFICER_A, "household", household(1), village="狼岔坝村")
    member = {"name": NAME, "id_number": ID, "relation": "户主", "sex": "男", "birth_date": "1980-01-01",
              "work_status": "省外务工", "work_place": "江苏省苏州市", "work_months": 6}  # fmt: skip
    ls.create(OFFICER_A, "member", member, village="狼岔坝村", parent_id=hh.id)
    wf = open_workflows(ls, Sealer(KEY), WorkflowSettings(public_url=PUBLIC + "/"), load_items())
    citizen = User(
        username="c:13909410001", name=NAME, level="village", duties=[], township="大川镇", village="狼岔坝村"
    )
    sha = hashlib.sha256(b"x").hexdigest()
    form = {"id_number": ID, "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6,
            "id_photo": sha, "work_proof": sha}  # fmt: skip
    inst = wf.submit(citizen, "labour_subsidy", form, village="狼岔坝村")
    assert wf.act(OFFICER_A, Command(key="k1", instance_id=inst.id, action="approve", ts=0, opinion="同意")).ok
    assert documents.document_pdf(wf, inst.id) is None  # not yet in the issuing state
    clock[0] += 6 * 86_400_000
    assert [a.state for a in wf.run_due(clock[0])] == ["township_review"]
    assert documents.document_pdf(wf, inst.id) is None
    out = wf.act(
        TOWNSHIP, Command(key="k2", instance_id=inst.id, action="approve", ts=0, opinion="同意", signature="李四")
    )
    assert out.ok and out.state == "approved"
    [pending] = _rows(wf)  # issued in the approval's transaction; drawn after it
    assert (pending.sha256, pending.pdf) == ("", b"") and documents.code_ok(pending.code)
    assert documents.has_document(wf.engine, inst.id)
    assert documents.render_pending(wf) == 1 and documents.render_pending(wf) == 0
    return Approved(wf, inst.id, clock[0])


def _rows(wf: WorkflowStore) -> list[sa.Row]:
    with wf.engine.connect() as conn:
        return list(conn.execute(sa.select(documents_table)).all())


def _text(pdf: bytes) -> str:
    return "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)


def test_approval_issues_one_document_row(approved: Approved) -> None:
    rows = _rows(approved.wf)
    assert len(rows) == 1
    row = rows[0]
    assert row.instance_id == approved.iid and row.item == "labour_subsidy"
    assert row.title == "一次性劳务补贴审批通知书"
    assert row.issued_to == "王**" and (row.township, row.village) == ("大川镇", "狼岔坝村")
    assert row.issued_at == approved.approved_at
    assert documents.code_ok(row.code)
    assert row.sha256 == hashlib.sha256(row.pdf).hexdigest()
    assert documents.document_pdf(approved.wf, approved.iid) == row.pdf


def test_pdf_text_is_filled_masked_and_verifiable(approved: Approved) -> None:
    row = _rows(approved.wf)[0]
    text = _text(row.pdf)
    assert row.pdf.startswith(b"%PDF")
    for expected in ("一次性劳务补贴审批通知书", approved.iid, "600元", "王**", "江苏省苏州市", "务工6个月", row.code,
                     "舟曲县大川镇人民政府", local_time(approved.approved_at, "%Y年%m月%d日"),
                     f"{PUBLIC}/verify/{row.code}"):  # fmt: skip
        assert expected in text, expected
    assert NAME not in text
    assert ID not in text and ID[6:14] not in text
    assert "{" not in text


def test_find_document_by_code(approved: Approved) -> None:
    row = _rows(approved.wf)[0]
    info = documents.find_document(approved.wf.engine, row.code)
    assert info is not None
    assert (info.code, info.instance_id, info.issued_to, info.sha256) == (row.code, approved.iid, "王**", row.sha256)
    assert (info.title, info.township, info.village) == (row.title, "大川镇", "狼岔坝村")
    assert documents.find_document(approved.wf.engine, f" {row.code.lower()} ") == info  # typed from paper


@pytest.mark.parametrize("code", ["", "ABC", "O0I1L0O0I1L0", "' OR 1=1 --", "23456789ABCDE", "23456789abc!"])
def test_malformed_code_is_none_without_a_query(approved: Approved, code: str) -> None:
    assert not documents.code_ok(code)
    broken = sa.create_engine("sqlite:///" + str(Path("/nonexistent/dir/none.db")))  # any query would raise
    assert documents.find_document(broken, code) is None


def test_unknown_well_formed_code_is_none(approved: Approved) -> None:
    row = _rows(approved.wf)[0]
    other = next(c for c in iter(documents.new_code, None) if c != row.code)
    assert documents.find_document(approved.wf.engine, other) is None
    assert documents.document_pdf(approved.wf, "LW-none") is None


def test_issuing_twice_keeps_one_document(approved: Approved) -> None:
    wf, row = approved.wf, _rows(approved.wf)[0]
    item, inst = wf.get(TOWNSHIP, approved.iid)
    with wf.engine.begin() as conn:
        assert documents.issue(conn, item, inst, approved.approved_at + 1000) == row.code
    again = Command(key="k2", instance_id=approved.iid, action="approve", ts=0, opinion="同意", signature="李四")
    repeat = wf.act(TOWNSHIP, again)
    assert repeat.state == "approved"
    assert [(r.code, r.sha256) for r in _rows(wf)] == [(row.code, row.sha256)]


def test_codes_are_unambiguous_and_fresh() -> None:
    codes = {documents.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(documents.code_ok(c) for c in codes)
    assert not set("".join(codes)) & set("01OIL")


def _with_body(item: Item, body: str) -> Item:
    assert item.document is not None
    return item.model_copy(update={"document": item.document.model_copy(update={"body": body})})


def test_unknown_placeholders_render_empty_and_id_numbers_are_masked(approved: Approved) -> None:
    item, inst = approved.wf.get(TOWNSHIP, approved.iid)
    odd = _with_body(item, "甲{nope}乙{0}丙{a.b}丁{id_number}戊{amount}己 身份证" + ID)
    text = _text(documents.render_pdf(odd, inst, "23456789ABCD", PUBLIC + "/verify/23456789ABCD", approved.approved_at))
    assert "甲乙丙丁" + ID[:6] + "**********" + ID[-2:] + "戊600己" in text
    assert ID not in text


def test_missing_font_fails_clearly(approved: Approved, monkeypatch: pytest.MonkeyPatch) -> None:
    item, inst = approved.wf.get(TOWNSHIP, approved.iid)
    documents._font.cache_clear()
    monkeypatch.setattr(documents, "FONT_PATH", Path("/nonexistent/wqy-microhei.ttc"))
    try:
        with pytest.raises(documents.DocumentError, match="fonts-wqy-microhei"):
            documents.render_pdf(item, inst, "23456789ABCD", PUBLIC, approved.approved_at)
    finally:
        documents._font.cache_clear()

"""What the ledger pages and the ledger API share (no UI toolkit here): the per-session store whose audit sink knows
the address, request arguments to a list query, values as text and as JSON."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from adapters import audit
from core.access import User
from core.clock import BEIJING
from ledgers.query import SORT_SYSTEM, ListQuery
from ledgers.schema import FieldSpec, Ledger
from ledgers.store import Audit, LedgerStore, Record
from ledgers.values import RecordInvalid, parse_value, record_id_ok

log = logging.getLogger(__name__)
KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
PLACE = re.compile(r"^\w{1,40}$")
MAX_PAGE = 100_000
_pending: set[Any] = set()  # audit writes scheduled from worker threads, held until done
ACTION_ZH = {"create": "新增", "update": "修改", "delete": "删除", "restore": "恢复", "import": "导入"}


def audit_sink(redis: aioredis.Redis, ip: str, loop: asyncio.AbstractEventLoop | None = None) -> Audit:
    """An audit sink for the store that writes through adapters.audit on `loop`, from any thread, with the address."""
    target_loop = loop or asyncio.get_running_loop()

    def sink(user: User, action: str, target: str, ok: bool, detail: dict[str, Any]) -> None:
        coro = audit.record(redis, user.username, action, target, ok=ok, ip=ip, detail=detail)
        try:
            here = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        try:
            if here is target_loop:
                task: Any = target_loop.create_task(coro)
            else:
                task = asyncio.run_coroutine_threadsafe(coro, target_loop)
        except RuntimeError:  # the loop has closed (shutting down): the record is logged, not lost silently
            coro.close()
            log.warning("ledger audit not written (loop closed): user=%s action=%s target=%s", user.username, action,
                        target)  # fmt: skip
            return
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    return sink


async def audits_written() -> None:
    """Wait until the audit records scheduled so far are written (tests and shutdown)."""
    for item in list(_pending):
        if isinstance(item, concurrent.futures.Future):
            await asyncio.wrap_future(item)
        else:
            await item


def session_store(store: LedgerStore, redis: aioredis.Redis, ip: str) -> LedgerStore:
    """The store as one session (or request) uses it: its refusals and personal views audited with its address."""
    return store.with_audit(audit_sink(redis, ip))


def key_ok(key: str) -> bool:
    """Whether a request's ledger key has the shape of one (the store then says whether it exists)."""
    return bool(KEY.match(key))


def id_ok(rid: str) -> bool:
    """Whether a request's record id has the shape of one."""
    return record_id_ok(rid)


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on", "是")


def _typed(store: LedgerStore, spec: FieldSpec, text: str) -> Any:
    try:
        return parse_value(spec, text, today=store.today(), gazetteer=store.gazetteer)
    except ValueError as exc:
        raise RecordInvalid({spec.key: str(exc)}) from None


def list_query(store: LedgerStore, ledger: Ledger, args: Mapping[str, str], size: int) -> ListQuery:
    """A ListQuery from request arguments: search, filter.<field> (a value, or low..high for numbers and dates),
    lookup.<field>, sort, desc, page, township, village, parent (a child ledger's records of one parent), deleted;
    RecordInvalid names each bad part."""
    by_key = {f.key: f for f in ledger.fields}
    filters: dict[str, Any] = {}
    lookup: tuple[str, str] | None = None
    errors: dict[str, str] = {}
    for name, text in args.items():
        if not text.strip():
            continue
        kind, _, key = name.partition(".")
        if kind not in ("filter", "lookup") or not key:
            continue
        spec = by_key.get(key)
        if kind == "lookup":
            if spec is None or not spec.lookup:
                errors[key[:40]] = "不能按此字段查找"
            else:
                lookup = (key, text.strip()[:100])
            continue
        if spec is None or not spec.filter:
            errors[key[:40]] = "不能按此字段筛选"
            continue
        try:
            if ".." in text and spec.type in ("integer", "decimal", "date"):
                low, _, high = text.partition("..")
                filters[key] = (_typed(store, spec, low) if low.strip() else None,
                                _typed(store, spec, high) if high.strip() else None)  # fmt: skip
            else:
                filters[key] = _typed(store, spec, text)
        except RecordInvalid as exc:
            errors.update(exc.errors)
    sort = args.get("sort", "").strip() or "updated_at"
    if sort not in {f.key for f in ledger.fields if f.sort} | set(SORT_SYSTEM):
        errors["sort"] = "不能按此字段排序"
    page_text = args.get("page", "0").strip() or "0"
    if not page_text.isdigit() or int(page_text) > MAX_PAGE:
        errors["page"] = "页码应为非负整数"
    parent = args.get("parent", "").strip()
    if parent and not record_id_ok(parent):
        errors["parent"] = "所属记录编号格式不正确"
    place = {k: args.get(k, "").strip() for k in ("township", "village")}
    errors.update({k: "乡镇或村名格式不正确" for k, v in place.items() if v and not PLACE.match(v)})
    if errors:
        raise RecordInvalid(errors)
    desc = args.get("desc")
    return ListQuery(search=args.get("search", "")[:50], filters=filters, township=place["township"],
                     village=place["village"], parent_id=parent or None, sort=sort,
                     descending=_flag(desc) if desc is not None else True, page=int(page_text), size=size,
                     deleted=_flag(args.get("deleted", "")), lookup=lookup)  # fmt: skip


def display(spec: FieldSpec, value: Any, *, unit: bool = True) -> str:
    """A value as the pages show it (a masked value is already text): 是/否, 12.5 亩, 2024-05-01, 104.37, 33.78."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, tuple | list) and len(value) == 2:
        return f"{value[0]}, {value[1]}"
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value)
    return f"{text} {spec.unit}" if unit and spec.unit and isinstance(value, int | Decimal) else text


def when(ms: int) -> str:
    """Epoch milliseconds as Beijing time, to the minute."""
    return dt.datetime.fromtimestamp(ms / 1000, BEIJING).strftime("%Y-%m-%d %H:%M")


def json_value(value: Any) -> Any:
    """A value for JSON: decimals as text (exact), dates ISO, points {lon, lat}."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, tuple):
        return {"lon": value[0], "lat": value[1]}
    return value


def record_json(record: Record) -> dict[str, Any]:
    """A record as the API returns it (values masked as the store returned them; `masked` names those)."""
    return {"ledger": record.ledger, "id": record.id, "township": record.township, "village": record.village,
            "parent_id": record.parent_id, "version": record.version, "deleted": record.deleted,
            "created_at": record.created_at, "created_by": record.created_by, "updated_at": record.updated_at,
            "updated_by": record.updated_by, "values": {k: json_value(v) for k, v in record.values.items()},
            "masked": sorted(record.masked)}  # fmt: skip


def title_of(ledger: Ledger, record: Record) -> str:
    """A short name of a record: its first listed text field (masked as due), else its id."""
    for f in ledger.fields:
        if f.column and f.type in ("text", "enum") and record.values.get(f.key):
            return str(record.values[f.key])
    return record.id

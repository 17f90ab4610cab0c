"""Reading many records: the list page (search, filters, sort, paging), blind-index look-up, history, statistics,
map points; all limited to the user's area on the server."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, and_, case, false, func, or_, select

from core.access import AccessDenied, User, can, in_scope, sees_personal
from core.personal import mask, normalize
from ledgers.codec import from_text
from ledgers.schema import Ledger
from ledgers.store import LedgerStore, Record
from ledgers.tables import geo_columns, index_column, versions
from ledgers.values import RecordInvalid, text_of

SORT_SYSTEM = ("updated_at", "created_at", "village", "id")


@dataclass(frozen=True)
class ListQuery:
    """What a list page asks for; every part is checked against the declaration before it reaches SQL."""

    search: str = ""
    filters: dict[str, Any] = field(default_factory=dict)  # exact value, or (low, high) for numbers and dates
    township: str = ""
    village: str = ""
    parent_id: str | None = None
    sort: str = "updated_at"
    descending: bool = True
    page: int = 0
    size: int = 50
    deleted: bool = False  # the deleted records (admins restore them)
    lookup: tuple[str, str] | None = None  # (personal field, value): exact match through the blind index


@dataclass(frozen=True)
class Page:
    """One page of records and how many match in all."""

    rows: list[Record]
    total: int
    page: int
    size: int


@dataclass(frozen=True)
class Version:
    """One change of a record: who, when, from where, and the changed fields before and after (masked as due)."""

    version: int
    action: str
    at: int
    by: str
    ip: str
    before: dict[str, str]
    after: dict[str, str]


def area(table: Table, user: User) -> ColumnElement[bool]:
    """The SQL condition of the user's area."""
    if user.level == "county":
        return table.c.id.is_not(None)
    if user.level == "township":
        return table.c.township == user.township
    return and_(table.c.township == user.township, table.c.village == user.village)


def _conditions(store: LedgerStore, ledger: Ledger, table: Table, q: ListQuery) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [table.c.deleted.is_(q.deleted)]
    if q.township:
        conds.append(table.c.township == q.township)
    if q.village:
        conds.append(table.c.village == q.village)
    if q.parent_id is not None:
        conds.append(table.c.parent_id == q.parent_id)
    for key, value in q.filters.items():
        spec = ledger.field(key) if ledger.has(key) else None
        if spec is None or not spec.filter:
            raise RecordInvalid({key[:40]: "不能按此字段筛选"})
        col = table.c[key]
        if isinstance(value, tuple):
            low, high = value
            conds += [col >= low] if low is not None else []
            conds += [col <= high] if high is not None else []
        else:
            conds.append(col == value)
    term = q.search.strip()[:50]
    searchable = [f.key for f in ledger.fields if f.search]
    if term and searchable:
        like = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conds.append(or_(*(table.c[k].like(like, escape="\\") for k in searchable)))
    if q.lookup is not None:
        key, value = q.lookup
        spec = ledger.field(key) if ledger.has(key) else None
        if spec is None or not spec.lookup or spec.personal is None:
            raise RecordInvalid({key[:40]: "不能按此字段查找"})
        bix = store.codecs[ledger.ledger].index_of(key, normalize(spec.personal, value))
        conds.append(table.c[index_column(key)] == bix)
    return conds


def list_records(store: LedgerStore, user: User, key: str, q: ListQuery) -> Page:
    """One page of the records the user may read that match the query, and the number that match in all."""
    ledger = store.ledger(key)
    store.require(user, ledger, "restore" if q.deleted else "read")
    table = store.tables[key]
    sortable = {f.key for f in ledger.fields if f.sort} | set(SORT_SYSTEM)
    if q.sort not in sortable:
        raise RecordInvalid({q.sort[:40]: "不能按此字段排序"})
    where = and_(area(table, user), *_conditions(store, ledger, table, q))
    size = max(1, min(q.size, 500))
    order = table.c[q.sort].desc() if q.descending else table.c[q.sort].asc()
    stmt: Select[Any] = select(table).where(where).order_by(order, table.c.id).limit(size).offset(q.page * size)
    with store.engine.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(table).where(where)) or 0
        rows = list(conn.execute(stmt))
    return Page(views(store, user, ledger, rows), int(total), q.page, size)


def views(store: LedgerStore, user: User, ledger: Ledger, rows: list[Any]) -> list[Record]:
    """Rows as the user may see them; the records shown unmasked are audited once for the whole batch."""
    whole = [r for r in rows if sees_personal(user, r.township, r.village)]
    if whole and any(f.personal for f in ledger.fields):
        store.audit(user, "ledger_personal_view", f"{ledger.ledger}/list", True, {"records": [r.id for r in whole]})
    return [store.view(user, ledger, r, audited=True) for r in rows]


def children(store: LedgerStore, user: User, key: str, parent_id: str) -> list[Record]:
    """The child records (members of a household) of a record the user may read, in the order they were added."""
    ledger = store.ledger(key)
    if ledger.parent is None:
        raise RecordInvalid({"": f"“{ledger.title}”不是子台账"})
    store.get(user, ledger.parent, parent_id)  # the parent must be readable: scope checked and audited there
    page = list_records(store, user, key, ListQuery(parent_id=parent_id, sort="created_at", descending=False,
                                                    size=500))  # fmt: skip
    return page.rows


def history(store: LedgerStore, user: User, key: str, rid: str) -> list[Version]:
    """Every version of a record the user may read, oldest first; personal values masked as the viewer needs."""
    ledger = store.ledger(key)
    row = store.locate(user, key, rid, deleted=True)  # an admin may read the history of a deleted record
    township, village = row.township, row.village
    with store.engine.connect() as conn:
        rows = list(conn.execute(select(versions).where(versions.c.ledger == key, versions.c.record_id == rid)
                                 .order_by(versions.c.version)))  # fmt: skip
    whole = sees_personal(user, township, village)
    codec, out = store.codecs[key], []
    for v in rows:
        diff = codec.open_diff(v.diff)
        for side in ("before", "after"):
            for k, text in diff[side].items():
                spec = ledger.field(k) if ledger.has(k) else None
                if spec is not None and spec.personal and not whole:
                    diff[side][k] = mask(spec.personal, text)
        out.append(Version(v.version, v.action, v.at, v.by_user, v.ip, diff["before"], diff["after"]))
    if whole:
        store.audit(user, "ledger_personal_view", f"{key}/{rid}/history", True, {"versions": len(out)})
    return out


def stats(store: LedgerStore, user: User, key: str, by: str = "township") -> list[dict[str, Any]]:
    """The ledger's declared measures per township (or per village), within the user's area."""
    ledger = store.ledger(key)
    store.require(user, ledger, "read", "stats")
    if by not in ("township", "village"):
        raise RecordInvalid({"by": "只能按乡镇或村统计"})
    return _measures(store, ledger, area(store.tables[key], user), by)


def _measures(store: LedgerStore, ledger: Ledger, where: ColumnElement[bool], by: str) -> list[dict[str, Any]]:
    """The declared measures of the undeleted records matching `where`, grouped by township (and village)."""
    table = store.tables[ledger.ledger]
    groups = [table.c.township] + ([table.c.village] if by == "village" else [])
    cols = []
    for m in ledger.stats:
        cond = and_(*(table.c[k].in_([from_text(ledger.field(k), t) for t in vals]) for k, vals in m.where.items()))
        target: Any = table.c[m.sum] if m.sum else 1
        expr = func.sum(case((cond, target), else_=0)) if m.where else (func.sum(target) if m.sum else func.count())
        cols.append(func.coalesce(expr, 0).label(m.key))
    stmt = select(*groups, *cols).where(where, table.c.deleted == false()).group_by(*groups).order_by(*groups)
    with store.engine.connect() as conn:
        rows = list(conn.execute(stmt))
    return [{k: (float(v) if isinstance(v, Decimal) else v) for k, v in r._mapping.items()} for r in rows]


def points(store: LedgerStore, user: User, key: str, *, township: str = "", village: str = "") -> list[dict[str, Any]]:
    """The map layer's points of a located ledger in the user's area: id, title, lon, lat, township, village."""
    ledger = store.ledger(key)
    if ledger.map is None:
        return []
    store.require(user, ledger, "read", "map")
    table = store.tables[key]
    lon, lat = (table.c[c] for c in geo_columns(ledger.map.field))
    conds = [area(table, user), table.c.deleted == false(), lon.is_not(None)]
    conds += [table.c.township == township] if township else []
    conds += [table.c.village == village] if village else []
    stmt = select(table.c.id, table.c[ledger.map.title].label("title"), lon.label("lon"), lat.label("lat"),
                  table.c.township, table.c.village).where(*conds)  # fmt: skip
    with store.engine.connect() as conn:
        return [{**r._mapping, "title": text_of(r.title)} for r in conn.execute(stmt)]


def _screen(store: LedgerStore, user: User, ledger: Ledger, township: str, village: str, what: str) -> None:
    """AccessDenied (audited) unless the user may show this village on a screen."""
    if not (can(user, "screen") and in_scope(user, township, village)):
        store.denied(user, ledger, what, f"{township}/{village}", "screen")
        raise AccessDenied(f"{township}{village}不在您的展示范围内")


def village_summary(store: LedgerStore, user: User, key: str, township: str, village: str) -> dict[str, Any]:
    """The declared measures of one village, for a screen of that village (aggregates only, no record)."""
    ledger = store.ledger(key)
    _screen(store, user, ledger, township, village, "summary")
    table = store.tables[key]
    rows = _measures(store, ledger, and_(table.c.township == township, table.c.village == village), "village")
    return {m.key: (rows[0] if rows else {}).get(m.key, 0) for m in ledger.stats}


def village_positions(store: LedgerStore, user: User, key: str, field_key: str, township: str, village: str
                      ) -> list[tuple[float, float, str]]:  # fmt: skip
    """(lon, lat, name) of one village's records for its screen: positions only, a name only where the ledger's
    map layer names a public title; a sealed position is opened here and the view audited."""
    ledger = store.ledger(key)
    _screen(store, user, ledger, township, village, "positions")
    spec, table = ledger.field(field_key), store.tables[key]
    title = ledger.map.title if ledger.map is not None else None
    cols = [table.c[c] for c in ((field_key,) if spec.personal else geo_columns(field_key))]
    cols += [table.c[title]] if title else []
    stmt = select(*cols).where(table.c.township == township, table.c.village == village, table.c.deleted == false())
    codec, out = store.codecs[key], []
    with store.engine.connect() as conn:
        for r in conn.execute(stmt):
            if spec.personal:
                if r[0] is None:
                    continue
                lon, lat = from_text(spec, codec.sealer.open(r[0], codec.context(spec)))
            elif r[0] is None or r[1] is None:
                continue
            else:
                lon, lat = r[0], r[1]
            out.append((float(lon), float(lat), text_of(r[-1]) if title else ""))
    if spec.personal:
        store.audit(user, "ledger_positions_view", f"{key}/{township}/{village}", True, {"points": len(out)})
    return out

"""`python -m sim.bench ledgers` (or runtime.bench ledgers): the synthetic county (sim.population, 35,000
households and their ~139,000 members, plus the industry rows of the key villages) through the ledger store, on
SQLite and on PostgreSQL.

The county is written to .xlsx files in the import template's layout (timed apart: write_s), the household file
(households and members) is imported whole as a county-level officer (import_s: check every cell, then one
transaction), the industry files after it. Then, over `requests` calls each, p95 of: a township operator's list page
(脱贫户 of the township, 50 a page sorted by size, descending, random page: list_p95_ms), the county operator's
look-up of a person by ID number through the blind index (id_lookup_p95_ms) and the household statistics per
township (stats_p95_ms); and the household list page's load in headless Chromium (page_first_paint_ms).

With --backend sqlite|postgres it prints one JSON object; by default both run and it prints a list of two.
PostgreSQL is a private server (adapters.postgres_server) started and removed here; after its import the planner
statistics are taken (ANALYZE), as autovacuum would soon after a bulk load (SQLite runs without them)."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import text

from adapters.postgres_server import PostgresServer
from core.access import User
from core.gazetteer import load_gazetteer
from core.personal import Sealer
from core.settings import Settings
from ledgers.excel import FileRow, import_workbook, workbook
from ledgers.loader import LedgerSet, load_ledgers
from ledgers.migrate import prepare
from ledgers.query import ListQuery, list_records, stats
from ledgers.store import LedgerStore, open_engine
from sim.population import county

BACKENDS = ("sqlite", "postgres")
TARGETS = {"import_s": 60.0, "list_p95_ms": 100.0, "id_lookup_p95_ms": 20.0, "stats_p95_ms": 300.0}
SEAL_KEY = b"zhouqu-bench-records-master-key-0123456789"  # the bench's own throw-away sealing key
IMPORTER = User(username="bench_importer", name="县级数据录入员", level="county", duties=["officer"])
COUNTY_OP = User(username="bench_county_op", name="县值班员", level="county", duties=["operator"])


@dataclass
class County:
    """The generated county as file rows per top ledger, and the ID numbers of its members."""

    rows: dict[str, list[FileRow]] = field(default_factory=dict)  # top ledger -> its rows and its children's
    households: int = 0
    persons: int = 0
    member_ids: list[str] = field(default_factory=list)


def generate(households: int, seed: int, ledgers: LedgerSet) -> County:
    """The synthetic county, grouped by the workbook each row goes to."""
    out = County()
    for row in county(seed, households):
        top = ledgers[row.ledger].parent or row.ledger
        out.rows.setdefault(top, []).append(FileRow(row.ledger, row.parent or row.code, row.township, row.village,
                                                    row.values))  # fmt: skip
        if row.ledger == "household":
            out.households += 1
        elif row.ledger == "member":
            out.persons += 1
            out.member_ids.append(row.values["id_number"])
    return out


def p95(samples: list[float]) -> float:
    """The 95th percentile (nearest rank) in ms, rounded to 0.1."""
    ordered = sorted(samples)
    return round(ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)], 1)


def timed_ms(call: Callable[[], Any], n: int) -> list[float]:
    """Milliseconds of n calls (after three untimed warm-up calls)."""
    for _ in range(3):
        call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def first_paint_ms(store: LedgerStore, settings: Settings, loads: int = 5) -> float | None:
    """Median ms from navigation to the first rows of /ledger?name=household in headless Chromium, signed in as the
    county operator (an operations center serving this store, with its own Redis); None when it cannot run."""
    try:
        return asyncio.run(_first_paint(store, settings, loads))
    except Exception as exc:  # the browser or the page is not available here: the other figures still count
        print(f"page_first_paint_ms: not measured: {type(exc).__name__}: {str(exc)[:300]}", file=sys.stderr)
        return None


async def _first_paint(store: LedgerStore, settings: Settings, loads: int) -> float:
    import redis.asyncio as aioredis
    from playwright.async_api import async_playwright

    from adapters.accounts_cli import create_demo_accounts
    from adapters.redis_server import RedisServer
    from ops_center.context import OpsContext
    from ops_center.server import OpsServer

    async def no_clickhouse(_: str) -> list[dict[str, Any]]:
        return []

    server = RedisServer(settings.var_dir / "redis")
    redis = aioredis.Redis.from_url(server.start())
    ops = None
    try:
        own = settings.model_copy(update={"redis_url": server.url, "ops": settings.ops.model_copy(update={"port": 0})})
        ctx = OpsContext(own, redis, no_clickhouse, ledgers=store)
        password = {u.username: pw for u, pw in await create_demo_accounts(ctx.accounts)}["county_op"]
        ops = OpsServer(ctx)
        base = f"http://127.0.0.1:{await ops.start()}"
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = await browser.new_page()
            await page.goto(f"{base}/ledgers")
            await page.fill("#username", "county_op")
            await page.fill("#password", password)
            await page.click("#login")
            await page.wait_for_selector("#logout", state="attached", timeout=60_000)
            times = []
            for i in range(loads + 1):  # the first load warms the server's caches and is not counted
                start = time.perf_counter()
                await page.goto(f"{base}/ledger?name=household")
                await page.wait_for_selector(".zq-records tbody tr", timeout=30_000)
                if i:
                    times.append((time.perf_counter() - start) * 1000)
            await browser.close()
        return round(statistics.median(times), 1)
    finally:
        if ops is not None:
            await ops.stop()
        await redis.aclose()
        server.stop()


def _queries(store: LedgerStore, county_rows: County, requests: int, seed: int) -> dict[str, float]:
    """p95 of list pages, ID look-ups and statistics."""
    rng = random.Random(seed)
    townships = [t.name for t in store.gazetteer.townships]
    ops = {t: User(username=f"bench_op_{i}", name=f"{t}值班员", level="township", duties=["operator"], township=t)
           for i, t in enumerate(townships)}  # fmt: skip
    wanted = ListQuery(filters={"poverty_status": "脱贫户"}, sort="size", descending=True, size=50)
    pages = {t: max(1, math.ceil(list_records(store, ops[t], "household", wanted).total / 50)) for t in townships}

    def list_page() -> None:
        t = rng.choice(townships)
        list_records(store, ops[t], "household", replace(wanted, page=rng.randrange(pages[t])))

    def lookup() -> None:
        idn = rng.choice(county_rows.member_ids)
        page = list_records(store, COUNTY_OP, "member", ListQuery(lookup=("id_number", idn)))
        assert page.total >= 1, idn

    def by_township() -> None:
        stats(store, COUNTY_OP, "household", "township")

    return {"list_p95_ms": p95(timed_ms(list_page, requests)), "id_lookup_p95_ms": p95(timed_ms(lookup, requests)),
            "stats_p95_ms": p95(timed_ms(by_township, requests))}  # fmt: skip


def run_backend(backend: str, files: dict[str, bytes], data: County, requests: int, seed: int,
                write_s: float) -> dict[str, Any]:  # fmt: skip
    """Import the county into a fresh store on one backend and measure it."""
    var = Path(tempfile.mkdtemp(prefix=f"zq-bench-ledgers-{backend}-"))
    pg = PostgresServer(var / "pg") if backend == "postgres" else None
    if pg is not None:
        var.chmod(0o755)  # the server runs as the postgres user and must reach its data directory
    try:
        settings = Settings(var_dir=var, database_url=pg.start() if pg is not None else None)
        engine = open_engine(settings)
        ledgers = load_ledgers()
        prepare(engine, ledgers)
        store = LedgerStore(engine, ledgers, Sealer(SEAL_KEY), load_gazetteer(), lambda *_: None)
        rows = settings.records.import_max_rows
        start = time.perf_counter()
        report = import_workbook(store, IMPORTER, "household", files["household"], max_rows=rows)
        import_s = time.perf_counter() - start
        for key, blob in files.items():
            if key != "household":
                import_workbook(store, IMPORTER, key, blob, max_rows=rows)
        if pg is not None:  # planner statistics, as autovacuum takes them soon after a bulk load
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        counts = report.counts
        result: dict[str, Any] = {
            "backend": backend,
            "households": counts.get(ledgers["household"].title, 0),
            "persons": counts.get(ledgers["member"].title, 0),
            "import_s": round(import_s, 1),
        }
        result |= _queries(store, data, requests, seed)
        result["page_first_paint_ms"] = first_paint_ms(store, settings)
        result["write_s"] = round(write_s, 1)
        engine.dispose()
        return result
    finally:
        if pg is not None:
            pg.remove()


def ledgers_bench(backend: str, households: int = 35_000, requests: int = 300, seed: int = 0) -> Any:
    """Run the benchmark on one backend (one JSON object) or on both ("both": a list of two)."""
    ledgers = load_ledgers()
    data = generate(households, seed, ledgers)
    start = time.perf_counter()
    files = {key: workbook(ledgers, key, rows) for key, rows in data.rows.items()}
    write_s = time.perf_counter() - start
    chosen = BACKENDS if backend == "both" else (backend,)
    results = [run_backend(b, files, data, requests, seed, write_s) for b in chosen]
    for r in results:
        missed = [k for k, limit in TARGETS.items() if r[k] > limit]
        if missed:
            print(f"{r['backend']}: over target: {', '.join(f'{k} {r[k]} > {TARGETS[k]}' for k in missed)}",
                  file=sys.stderr)  # fmt: skip
    return results[0] if len(results) == 1 else results

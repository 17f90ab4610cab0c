"""`python -m sim.bench workflows --json`: labour-subsidy applications through the workflow host's streams.

A fresh store (SQLite in a temp dir; PostgreSQL too when DATABASE_URL is set) and a private Redis. Households and
members go in by the ledger store's bulk insert, so every applicant is eligible; the applications are submitted on
the store directly. Then simulated officers in worker processes push commands through `wf.commands` -> the host
loop (this process, on an injected clock) -> `wf.results`: village approve (some rejects, some resent keys),
the 公示 ends when the clock is advanced past it and the host's timers fire, then township approve. Per command:
send -> outcome seen. `double_applied` counts steps repeated for one (application, action, from state)."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from actors.workflow_host import WorkflowLoop, open_loop
from adapters import bus
from adapters.redis_server import RedisServer
from adapters.workflow_bus import WF_COMMANDS, encode, wait_result
from core.access import User
from core.gazetteer import load_gazetteer
from core.personal import id_check_digit
from core.settings import Settings
from core.settings.workflows import WorkflowSettings
from ledgers.startup import SYSTEM
from workflows.engine import Command
from workflows.tables import instances, outbox, steps

T0 = 1_780_000_000_000  # 2026-05-28 (Thursday), Beijing
DAY_MS = 86_400_000
TARGETS = {"transitions_per_s": 500.0, "p99_ms": 200.0}
SHA = "0" * 64


def _id_number(i: int) -> str:
    birth = (dt.date(1970, 1, 1) + dt.timedelta(days=i // 900)).strftime("%Y%m%d")
    first = f"623023{birth}{i % 900 + 100:03d}"
    return first + id_check_digit(first)


def _population(loop: WorkflowLoop, villages: list[tuple[str, str]], n: int) -> None:
    """One eligible household with one migrant member per application, in batches of one transaction each."""
    ls = loop.store.ledgers
    for start in range(0, n, 1000):
        batch = []
        for i in range(start, min(n, start + 1000)):
            township, village = villages[i % len(villages)]
            hh = ls.prepare(SYSTEM, "household", {"head_name": f"户主{i}", "head_id_number": _id_number(i),
                            "phone": f"139{i:08d}", "size": 3, "poverty_status": "脱贫户", "labourers": 1,
                            "house_location": "104.23,33.75"}, village=village, township=township)  # fmt: skip
            member = {"name": f"户主{i}", "id_number": _id_number(i), "relation": "户主", "sex": "男",
                      "birth_date": "1980-01-01", "work_status": "省外务工", "work_place": "江苏省苏州市",
                      "work_months": 6}  # fmt: skip
            batch += [hh, ls.prepare(SYSTEM, "member", member, parent_id=hh.id, parent_place=(township, village))]
        ls.insert(SYSTEM, batch, action="import")


def _submit(loop: WorkflowLoop, villages: list[tuple[str, str]], n: int) -> list[tuple[str, str, str]]:
    """(id, township, village) of n applications, each by its member's own phone account."""
    out = []
    for i in range(n):
        township, village = villages[i % len(villages)]
        citizen = User(username=f"c:139{i:08d}", name=f"户主{i}", level="village", duties=[], township=township,
                       village=village)  # fmt: skip
        form = {"id_number": _id_number(i), "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6,
                "id_photo": SHA, "work_proof": SHA}  # fmt: skip
        out.append((loop.store.submit(citizen, "labour_subsidy", form, village=village, township=township).id,
                    township, village))  # fmt: skip
    return out


def _push(url: str, items: list[tuple[str, dict[bytes, bytes]]], concurrency: int) -> list[tuple[str, float, bool]]:
    """Worker process: send each (key, signed fields) and wait for its outcome; (key, latency ms or NaN, ok)."""

    async def run() -> list[tuple[str, float, bool]]:
        redis = bus.connect(url, max_connections=concurrency + 4)
        queue = list(reversed(items))
        out: list[tuple[str, float, bool]] = []

        async def officer() -> None:
            while queue:
                key, fields = queue.pop()
                started = time.perf_counter()
                await redis.xadd(WF_COMMANDS, fields)  # type: ignore[arg-type]
                res = await wait_result(redis, key, 30)
                out.append((key, (time.perf_counter() - started) * 1000 if res else math.nan, bool(res and res["ok"])))

        await asyncio.gather(*(officer() for _ in range(concurrency)))
        await redis.aclose()
        return out

    return asyncio.run(run())


def _ready(seconds: float) -> None:
    """Worker warm-up: runs in this module, so its imports happen before the clock starts."""
    time.sleep(seconds)


def _phase(url: str, cmds: list[tuple[User, Command]], key: bytes, workers: int, concurrency: int
           ) -> tuple[float, list[Any]]:  # fmt: skip
    items = [(c.key, encode(u, c, key)) for u, c in cmds]
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(_ready, [0.5] * workers))  # the processes up, this module imported, before the clock starts
        started = time.perf_counter()
        futures = [pool.submit(_push, url, items[w::workers], concurrency) for w in range(workers)]
        done = [r for f in futures for r in f.result()]
    return time.perf_counter() - started, done


def _count(loop: WorkflowLoop, state: str) -> int:
    with loop.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(instances.c.state == state)).scalar() or 0)


def _double_applied(loop: WorkflowLoop) -> int:
    seen: set[tuple[str, str, str]] = set()
    doubles = 0
    with loop.store.engine.connect() as conn:
        for row in conn.execute(sa.select(steps.c.instance_id, steps.c.seq, steps.c.body)):
            s = loop.store.codec.open_step(row.instance_id, row.seq, row.body)
            if s.action == "sla_breached":
                continue
            mark = (row.instance_id, s.action, s.from_state)
            doubles += mark in seen
            seen.add(mark)
    return doubles


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)], 1) if ordered else 0.0


def run_one(backend: str, applications: int, villages_n: int, workers: int, concurrency: int) -> dict[str, Any]:
    """One backend: population, applications, the three phases through the host; the figures."""
    tmp = Path(tempfile.mkdtemp(prefix="zq-wf-bench-"))
    server = RedisServer(tmp / "redis")
    url = server.start()
    gz = load_gazetteer()
    villages = [(v.township, v.name) for v in gz.villages[:villages_n]]
    database = os.environ.get("DATABASE_URL") if backend == "postgres" else None
    enabled = WorkflowSettings(villages={"*": [v for _, v in villages]}, timer_interval_s=0.1)
    settings = Settings(var_dir=tmp / "var", redis_url=url, database_url=database, workflows=enabled)
    now = [T0]
    loop: WorkflowLoop | None = None
    stop = threading.Event()
    try:
        loop = open_loop(settings, bus.connect(url), lambda: now[0])
        t = time.perf_counter()
        _population(loop, villages, applications)
        ids = _submit(loop, villages, applications)
        setup_s = time.perf_counter() - t
        loop.audits.take()  # the loading's audit records: not the host's work
        host = threading.Thread(target=_serve, args=(loop, stop), daemon=True)
        host.start()
        while _unsent(loop):  # the applications' receipts relayed before the officers start
            time.sleep(0.05)
        officers = {v: User(username=f"v_{v}", name=f"{v}村干部", level="village", duties=["officer"],
                            township=tw, village=v) for tw, v in villages}  # fmt: skip
        towns = {tw: User(username=f"t_{tw}", name=f"{tw}审批", level="township", duties=["officer"], township=tw)
                 for tw, _ in villages}  # fmt: skip
        village_cmds: list[tuple[User, Command]] = []
        for i, (iid, _, v) in enumerate(ids):
            if i % 50 == 49:
                continue  # left in village review: its SLA breaches once the clock moves on
            action = "reject" if i % 12 == 11 else "approve"
            village_cmds.append((officers[v], Command(key=f"v:{iid}", instance_id=iid, action=action, ts=0,
                                                      opinion="经审核,情况属实")))  # fmt: skip
            if i % 40 == 7:
                village_cmds.append(village_cmds[-1])  # a resent key: applies once
        wall_a, res_a = _phase(url, village_cmds, loop.key, workers, concurrency)
        now[0] += 8 * DAY_MS  # the 公示 runs out; the host's timers move them on
        t = time.perf_counter()
        while _count(loop, "village_posting"):
            time.sleep(0.05)
        timers_s = time.perf_counter() - t
        review = _in(loop, "township_review")
        township_cmds = [(towns[tw], Command(key=f"t:{iid}", instance_id=iid, action="approve", ts=0, opinion="同意",
                                             signature="李四")) for iid, tw, _ in ids if iid in review]  # fmt: skip
        wall_c, res_c = _phase(url, township_cmds, loop.key, workers, concurrency)
        done = res_a + res_c
        latencies = [ms for _, ms, _ in done if not math.isnan(ms)]
        transitions = len({k for k, _, ok in done if ok})
        return {
            "applications": applications,
            "transitions": transitions,
            "transitions_per_s": round(transitions / (wall_a + wall_c), 1),
            "p99_ms": _p99(latencies),
            "lost": sum(math.isnan(ms) for _, ms, _ in done),
            "double_applied": _double_applied(loop),
            "backend": backend,
            "commands": len(done),
            "village_per_s": round(len(res_a) / wall_a, 1),
            "village_p99_ms": _p99([ms for _, ms, _ in res_a if not math.isnan(ms)]),
            "township_per_s": round(len(res_c) / wall_c, 1),
            "township_p99_ms": _p99([ms for _, ms, _ in res_c if not math.isnan(ms)]),
            "timer_steps": loop.stats["timers"],
            "timers_s": round(timers_s, 2),
            "approved": _count(loop, "approved"),
            "escalations": loop.stats["escalations"],
            "setup_s": round(setup_s, 1),
            "villages": len(villages),
            "targets": TARGETS,
        }
    finally:
        stop.set()
        time.sleep(0.3)
        if loop is not None:
            loop.store.engine.dispose()
        server.stop()


def _in(loop: WorkflowLoop, state: str) -> set[str]:
    with loop.store.engine.connect() as conn:
        return set(conn.execute(sa.select(instances.c.id).where(instances.c.state == state)).scalars())


def _unsent(loop: WorkflowLoop) -> int:
    with loop.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(outbox.c.sent_at.is_(None))).scalar() or 0)


def _serve(loop: WorkflowLoop, stop: threading.Event) -> None:
    """The host loop in its own thread (its own event loop) until `stop` is set."""

    async def serve() -> None:
        await loop.start()
        task = asyncio.create_task(bus.run_rounds("workflow host", loop.round, [loop.consumer], trim_every_s=60))
        while not stop.is_set():
            await asyncio.sleep(0.1)
        task.cancel()

    asyncio.run(serve())


def workflows_bench(applications: int, villages: int, workers: int, concurrency: int) -> Any:
    """SQLite, and PostgreSQL as well when DATABASE_URL is set (then a list of two)."""
    out = [run_one("sqlite", applications, villages, workers, concurrency)]
    if os.environ.get("DATABASE_URL"):
        out.append(run_one("postgres", applications, villages, workers, concurrency))
    return out[0] if len(out) == 1 else out

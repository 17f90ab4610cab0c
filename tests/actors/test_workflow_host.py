"""The workflow host in a real process, killed with SIGKILL mid-run and restarted: every command applies once."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import sqlalchemy as sa
from ledger_testkit import OFFICER_A, TOWNSHIP_OP_A, household, id_number

from actors.workflow_host import WorkflowLoop, mask_phones, open_loop
from adapters.workflow_bus import WF_COMMANDS, WF_RESULTS, command_key, encode, send, wait_result
from core.access import User
from core.settings import Settings
from core.settings.workflows import WorkflowSettings
from ledgers.store import master_key
from workflows.engine import Command
from workflows.tables import commands, outbox, steps

ROOT = Path(__file__).resolve().parents[2]
SHA = hashlib.sha256(b"x").hexdigest()
CITIZEN = User(username="c:13909410001", name="张三", level="village", duties=[], township="大川镇", village="狼岔坝村")
T0 = 1_780_000_000_000  # 2026-05-28, a Thursday


def _settings(var: Path, redis_url: str) -> Settings:
    return Settings(var_dir=var, redis_url=redis_url, database_url=None,
                    workflows=WorkflowSettings(timer_interval_s=0.05))  # fmt: skip


def _applications(loop: WorkflowLoop, n: int) -> list[str]:
    ls = loop.store.ledgers
    hh = ls.create(OFFICER_A, "household", household(1), village="狼岔坝村")
    member = {"name": "张三", "id_number": id_number(7), "relation": "户主", "sex": "男", "birth_date": "1980-01-01",
              "work_status": "省外务工", "work_place": "江苏省苏州市", "work_months": 6}  # fmt: skip
    ls.create(OFFICER_A, "member", member, village="狼岔坝村", parent_id=hh.id)
    form = {"id_number": id_number(7), "work_place": "江苏省苏州市", "employer": "苏州某厂", "months": 6,
            "id_photo": SHA, "work_proof": SHA}  # fmt: skip
    return [loop.store.submit(CITIZEN, "labour_subsidy", form, village="狼岔坝村").id for _ in range(n)]


def _commands(ids: list[str]) -> tuple[list[Command], set[str]]:
    """Approve/reject mixes; some applications get a second, contrary command; some keys are sent again."""
    out, allowed = [], set()
    for i, iid in enumerate(ids):
        first = Command(key=f"k{i}", instance_id=iid, action="approve" if i % 3 else "reject", ts=0, opinion="同意")
        allowed.add(first.key)
        out.append(first)
        if i % 4 == 0:
            out.append(Command(key=f"x{i}", instance_id=iid, action="reject" if i % 3 else "approve", ts=0,
                               opinion="不同意"))  # fmt: skip
        if i % 2 == 0:
            out.append(first)
        if i % 8 == 1:
            out.append(first)
    return out, allowed


def _start(var: Path, redis_url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ZQ_DATABASE_URL")}
    env["ZQ_BUS__READ_COUNT"] = "4"  # small rounds, so the kill lands between (or inside) them
    cmd = [sys.executable, "-m", "actors.workflow_host", "--serve", "--var-dir", str(var), "--redis-url", redis_url]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_results(client: redis.Redis, n: int, proc: subprocess.Popen[bytes], limit_s: float = 20.0) -> None:
    end = time.monotonic() + limit_s
    while client.xlen(WF_RESULTS) < n:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else "host exited"
        assert time.monotonic() < end, f"only {client.xlen(WF_RESULTS)} of {n} results"
        time.sleep(0.005)


def test_sigkill_mid_run_applies_every_command_once(tmp_path: Path, redis_url: str) -> None:
    var = tmp_path / "var"
    loop = asyncio.run(_open(var, redis_url))
    ids = _applications(loop, 170)
    loop.store.engine.dispose()
    cmds, allowed = _commands(ids)
    assert len(cmds) >= 300
    client = redis.Redis.from_url(redis_url)

    key = command_key(master_key(_settings(var, redis_url)))

    async def send_all(batch: list[Command]) -> None:
        r = aioredis.Redis.from_url(redis_url)
        for c in batch:
            await send(r, OFFICER_A, c, key)
        await r.aclose()

    half = len(cmds) // 2
    asyncio.run(send_all(cmds[:half]))
    proc = _start(var, redis_url)
    try:
        _wait_results(client, 20, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        asyncio.run(send_all(cmds[half:]))  # sent while the host is down
        proc = _start(var, redis_url)
        _wait_results(client, len(cmds), proc)
        time.sleep(0.3)  # any further (wrong) result would show up now
    finally:
        proc.kill()
        proc.wait()
    results = [(f[b"key"].decode(), json.loads(f[b"result"])) for _, f in client.xrange(WF_RESULTS)]
    assert len(results) == len(cmds)  # one outcome per entry sent, none lost, none published twice
    assert client.xpending(WF_COMMANDS, "workflows")["pending"] == 0
    engine = sa.create_engine(f"sqlite:///{var / 'records' / 'ledgers.db'}")
    with engine.connect() as conn:
        rows = conn.execute(sa.select(steps.c.instance_id, steps.c.action, steps.c.body)).all()
        keys = set(conn.execute(sa.select(commands.c.key)).scalars())
    engine.dispose()
    per: dict[str, list[str]] = {}
    for row in rows:
        per.setdefault(row.instance_id, []).append(row.action)
    for i, iid in enumerate(ids):  # the apply step and exactly the first command's step
        assert per[iid] == ["apply", "approve" if i % 3 else "reject"], iid
    assert allowed <= keys and not any(k.startswith("x") for k in keys)
    by_key: dict[str, list[dict[str, Any]]] = {}
    for key, res in results:
        by_key.setdefault(key, []).append(res)
    for key in allowed:
        assert all(r["ok"] for r in by_key[key])
        assert sum(not r["repeat"] for r in by_key[key]) <= 1
    assert all(not r["ok"] and r["kind"] in ("invalid", "ended") for k, rs in by_key.items() if k[0] == "x" for r in rs)


async def _open(var: Path, redis_url: str, clock: Any = None) -> WorkflowLoop:
    r = aioredis.Redis.from_url(redis_url)
    extra = {"clock": clock} if clock else {}
    return await asyncio.to_thread(open_loop, _settings(var, redis_url), r, **extra)


@pytest.mark.asyncio
async def test_timers_on_an_advanced_clock_and_the_outbox(tmp_path: Path, redis_url: str) -> None:
    now = [T0]
    loop = await _open(tmp_path / "var", redis_url, lambda: now[0])
    a, b = await asyncio.to_thread(_applications, loop, 2)
    await loop.start()
    r = loop.redis
    await send(r, OFFICER_A, Command(key="v1", instance_id=a, action="approve", ts=0, opinion="同意"), loop.key)
    await send(r, OFFICER_A, Command(key="bad", instance_id=a, action="approve", ts=0, opinion=""), loop.key)
    garbage = b"\x01garbage"
    await r.xadd(WF_COMMANDS, {b"c": garbage, b"s": hmac.new(loop.key, garbage, hashlib.sha256).hexdigest()})
    forged = encode(OFFICER_A, Command(key="f1", instance_id=b, action="reject", ts=0, opinion="伪造"), b"not-the-key")
    await r.xadd(WF_COMMANDS, forged)  # type: ignore[arg-type]
    await r.xadd(WF_COMMANDS, {b"c": forged[b"c"]})  # no signature at all
    await loop.round()
    assert (await wait_result(r, "v1", 1))["state"] == "village_posting"
    refused = await wait_result(r, "bad", 1)
    assert refused is not None and not refused["ok"]  # moved already; a refusal changes nothing
    now[0] += 8 * 86_400_000  # past the 公示 and past b's 5 working days
    loop._next_timer = 0
    await loop.round()
    _, inst = loop.store.get(TOWNSHIP_OP_A, a)
    assert inst.state == "township_review"
    _, other = loop.store.get(TOWNSHIP_OP_A, b)
    assert other.overdue and other.state == "village_review"
    lines = [json.loads(x) for x in (tmp_path / "var" / "workflows" / "notices.jsonl").read_text().splitlines()]
    assert {x["to"] for x in lines} == {"c:139****0001"}
    assert any("公示" in x["text"] for x in lines)
    breaches = [f for _, f in await r.xrange("audit") if f[b"action"] == b"wf_sla_breach"]
    assert len(breaches) == 1 and breaches[0][b"target"].decode() == b
    with loop.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(outbox.c.sent_at.is_(None))).scalar() == 0
    assert [f[b"action"] for _, f in await r.xrange("audit")].count(b"wf_forged") == 2
    assert await wait_result(r, "f1", 0.1) is None  # a forged entry's key is not trusted either
    assert loop.stats["malformed"] == 1 and loop.stats["forged"] == 2
    assert await r.xpending(WF_COMMANDS, "workflows") == {"pending": 0, "min": None, "max": None, "consumers": []}
    await r.aclose()
    loop.store.engine.dispose()


def test_phones_masked() -> None:
    assert mask_phones("c:13909410001") == "c:139****0001"


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

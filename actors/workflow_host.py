"""The workflow host: commands from `wf.commands` applied on the workflow store, timers run, the outbox relayed.

A command is acknowledged only after the database has committed its step; a command delivered again after a crash
finds its key in the store's command table and applies once (its first outcome is published again). The loop is
`WorkflowLoop.run`, the same in the Ray actor and in `python -m actors.workflow_host --serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import ray
import redis.asyncio as aioredis
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from adapters import audit, bus
from adapters.bus import Consumer, Entry, Fields
from adapters.workflow_bus import RESULT_KEY, RESULT_TTL_S, WF_COMMANDS, WF_RESULTS, Forged, command_key, decode
from core.access import User
from core.events import now_ms
from core.personal import Sealer, mask
from core.settings import Settings, load_settings
from ledgers.startup import open_store
from ledgers.store import master_key
from workflows import documents
from workflows.engine import Command
from workflows.loader import load_items
from workflows.store import Applied, WorkflowStore, open_workflows
from workflows.tables import outbox

log = logging.getLogger(__name__)
GROUP = "workflows"
FORGER = User(username="unknown", name="未知来源", level="county", duties=[])  # who an unsigned entry claims
RELAY_BATCH = 500  # outbox rows relayed per round
RELAY_EVERY_S = 0.5  # while commands keep coming, the outbox is relayed at most this often
_PHONE = re.compile(r"1\d{10}")
_JSON = msgspec.json.Encoder(decimal_format="string")


def mask_phones(text: str) -> str:
    """Mobile numbers in a text masked (c:13909410001 -> c:139****0001)."""
    return _PHONE.sub(lambda m: mask("phone", m.group(0)), text)


class AuditQueue:
    """The stores' audit sink: records taken from worker threads, written to Redis by the loop after each round."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[tuple[str, str, str, bool, dict[str, Any]]] = []

    def __call__(self, user: User, action: str, target: str, ok: bool, detail: dict[str, Any]) -> None:
        with self._lock:
            self._records.append((user.username, action, target, ok, detail))

    def take(self) -> list[tuple[str, str, str, bool, dict[str, Any]]]:
        """The records queued so far, removed from the queue."""
        with self._lock:
            out, self._records = self._records, []
        return out


class WorkflowLoop:
    """One consumer of `wf.commands` on one workflow store, with its timers and its outbox relay."""

    def __init__(
        self,
        redis: aioredis.Redis,
        store: WorkflowStore,
        settings: Settings,
        audits: AuditQueue | None = None,
        clock: Callable[[], int] = now_ms,
        name: str = "host-0",
    ) -> None:
        self.redis, self.store, self.clock, self.audits = redis, store, clock, audits or AuditQueue()
        store.clock = store.ledgers.clock = clock  # every `now` of the host (acts, timers, dates) is this clock
        self.consumer = Consumer(redis, WF_COMMANDS, GROUP, name, settings.bus)
        self.key = command_key(master_key(settings))
        self.interval_s = settings.workflows.timer_interval_s
        self.notices = settings.var_dir / "workflows" / "notices.jsonl"
        self.trim_s = 60.0
        self._next_timer = self._next_relay = 0.0
        self.stats = {"commands": 0, "applied": 0, "refused": 0, "repeats": 0, "malformed": 0, "errors": 0,
                      "timers": 0, "notices": 0, "escalations": 0, "documents": 0, "forged": 0}  # fmt: skip

    async def start(self) -> None:
        """The consumer group, created when missing."""
        await self.consumer.ensure_group()

    async def run(self) -> None:
        """Rounds until cancelled; a failed round re-reads the pending commands (their keys make them apply once)."""
        await self.start()
        await bus.run_rounds("workflow host", self.round, [self.consumer], trim_every_s=self.trim_s)

    async def round(self) -> int:
        """Commands (people wait on them), then due timers every `timer_interval_s`, then the outbox."""
        entries = await self.consumer.read()
        if entries:
            outcomes, poison = await asyncio.to_thread(self._apply, entries)
            await self._commit(entries, outcomes, poison)
        if time.monotonic() >= self._next_timer:
            self._next_timer = time.monotonic() + self.interval_s
            self.stats["timers"] += len(await asyncio.to_thread(self.store.run_due, self.clock()))
        if not entries or time.monotonic() >= self._next_relay:  # notices wait half a second while commands flow
            self._next_relay = time.monotonic() + RELAY_EVERY_S
            await self._relay()
        await self._flush_audit()
        if not entries:  # an idle moment: draw the documents issued meanwhile
            self.stats["documents"] += await asyncio.to_thread(documents.render_pending, self.store)
        return len(entries)

    def _apply(self, entries: list[Entry]) -> tuple[list[tuple[str, str]], list[Entry]]:
        """The round's commands in one transaction (worker thread); (key, outcome JSON) per entry, and the poison.
        If the batch fails on something other than the database, each command is tried on its own to find it."""
        outcomes: list[tuple[str, str]] = []
        decoded: list[tuple[Entry, User, Command]] = []
        for entry in entries:
            self.stats["commands"] += 1
            try:
                user, cmd = decode(entry[1], self.key)
            except Forged:
                self.stats["forged"] += 1
                bad = Applied("", False, reason="指令签名无效,已拒绝并记录", kind="access")
                outcomes.append(("", _JSON.encode(dataclasses.asdict(bad)).decode()))
                self.audits(FORGER, "wf_forged", entry[0].decode(), False, {"stream": WF_COMMANDS})
                continue
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                self.stats["malformed"] += 1
                bad = Applied("", False, reason=f"指令格式不正确:{type(exc).__name__}", kind="invalid")
                outcomes.append(("", _JSON.encode(dataclasses.asdict(bad)).decode()))
                continue
            decoded.append((entry, user, cmd))
        try:
            outs = self.store.act_many([(user, cmd) for _, user, cmd in decoded])
        except DBAPIError:
            raise  # the database is away: the whole round is retried from the pending list
        except Exception:
            log.exception("a workflow batch failed; applying its commands one by one")
            poison: list[Entry] = []
            return outcomes + self._one_by_one(decoded, poison), poison
        for (_, _, cmd), out in zip(decoded, outs, strict=True):
            self._count(out)
            outcomes.append((cmd.key, _JSON.encode(dataclasses.asdict(out)).decode()))
        return outcomes, []

    def _one_by_one(self, decoded: list[tuple[Entry, User, Command]], poison: list[Entry]) -> list[tuple[str, str]]:
        outcomes = []
        for entry, user, cmd in decoded:
            try:
                out = self.store.act(user, cmd)
            except DBAPIError:
                raise
            except Exception:  # a bug on this one command: it would fail on every delivery
                log.exception("workflow command %s crashed the host", cmd.key)
                self.stats["errors"] += 1
                poison.append(entry)
                out = Applied(cmd.instance_id, False, reason="办理出错,请联系管理员", kind="error")
                outcomes.append((cmd.key, _JSON.encode(dataclasses.asdict(out)).decode()))
                continue
            self._count(out)
            outcomes.append((cmd.key, _JSON.encode(dataclasses.asdict(out)).decode()))
        return outcomes

    def _count(self, out: Applied) -> None:
        self.stats["repeats" if out.repeat else "applied" if out.ok else "refused"] += 1

    async def _commit(self, entries: list[Entry], outcomes: list[tuple[str, str]], poison: list[Entry]) -> None:
        """Outcomes on `wf.results` and for their waiters, with the acks, in one MULTI (the DB has committed)."""
        if poison:
            await self.consumer.dead_letter(poison, "crashed the workflow host")
        async with self.redis.pipeline(transaction=True) as pipe:
            for key, result in outcomes:
                fields: Fields = {b"key": key, b"result": result}
                pipe.xadd(WF_RESULTS, fields)
                if key:
                    pipe.rpush(RESULT_KEY + key, result)
                    pipe.expire(RESULT_KEY + key, RESULT_TTL_S)
            done = {e[0] for e in poison}
            self.consumer.ack_in(pipe, [e[0] for e in entries if e[0] not in done])
            await pipe.execute()

    def _unsent(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            q = sa.select(outbox).where(outbox.c.sent_at.is_(None)).order_by(outbox.c.id).limit(RELAY_BATCH)
            return list(conn.execute(q).all())

    def _mark_sent(self, ids: list[int], now: int) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(outbox.update().where(outbox.c.id.in_(ids)).values(sent_at=now))

    async def _relay(self) -> None:
        """Unsent notices: to applicants as lines of notices.jsonl (the push/SMS edge), escalations to the audit path.

        At least once: a crash between the relay and marking the rows sent relays those rows again."""
        rows = await asyncio.to_thread(self._unsent)
        if not rows:
            return
        lines = []
        for row in rows:
            if row.to_user.startswith("level:"):
                detail = {"to": row.to_user, "text": row.text, "at": row.at}
                await audit.record(self.redis, "system", "wf_sla_breach", row.instance_id, detail=detail)
                self.stats["escalations"] += 1
                continue
            lines.append(json.dumps({"id": row.id, "at": row.at, "instance_id": row.instance_id,
                                     "to": mask_phones(row.to_user), "text": mask_phones(row.text)},
                                    ensure_ascii=False))  # fmt: skip
        if lines:
            await asyncio.to_thread(_append, self.notices, lines)
            self.stats["notices"] += len(lines)
        await asyncio.to_thread(self._mark_sent, [r.id for r in rows], self.clock())

    async def _flush_audit(self) -> None:
        """The stores' audit records of this round, in one MULTI."""
        await audit.record_many(self.redis, self.audits.take())


def _append(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
        fh.flush()
        os.fsync(fh.fileno())


def open_loop(settings: Settings, redis: aioredis.Redis, clock: Callable[[], int] = now_ms) -> WorkflowLoop:
    """The host loop on the configured stores: ledger store, workflow store (migrated) and the sealing key."""
    audits = AuditQueue()
    ledgers = open_store(settings, audits)
    ledgers.clock = clock
    store = open_workflows(ledgers, Sealer(master_key(settings)), settings.workflows,
                           load_items(settings.workflows.items_dir))  # fmt: skip
    return WorkflowLoop(redis, store, settings, audits, clock)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class WorkflowHost:
    """Applications' commands in, outcomes, timers and notices out; one per deployment."""

    async def __init__(self, settings: Settings, redis_url: str) -> None:  # type: ignore[misc]  # Ray allows async
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
        self.loop = await asyncio.to_thread(open_loop, settings, bus.connect(redis_url))
        self.task = asyncio.get_running_loop().create_task(self.loop.run())

    async def stats(self) -> dict[str, Any]:
        """Counters and pid."""
        return {**self.loop.stats, "pid": os.getpid(), "alive": not self.task.done()}


def main() -> None:
    """`python -m actors.workflow_host --serve`: the host loop in a plain process, without Ray."""
    parser = argparse.ArgumentParser(description="Run the workflow host loop in this process.")
    parser.add_argument("--serve", action="store_true", required=True)
    parser.add_argument("--var-dir", type=Path, default=None)
    parser.add_argument("--redis-url", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    overrides = {k: v for k, v in (("var_dir", args.var_dir), ("redis_url", args.redis_url)) if v is not None}
    settings = load_settings(**overrides)
    if not settings.redis_url:
        raise SystemExit("workflow host: set REDIS_URL or --redis-url")

    async def serve() -> None:
        loop = await asyncio.to_thread(open_loop, settings, bus.connect(settings.redis_url or ""))
        print("workflow host ready", flush=True)
        await loop.run()

    asyncio.run(serve())


if __name__ == "__main__":
    main()

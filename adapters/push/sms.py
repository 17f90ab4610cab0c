"""SMS fallback for dispatches a phone did not acknowledge while offline: the outbox interface and a file backend."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Protocol

from adapters.push.store import PushStore, now_ms
from core.incidents import Dispatch

log = logging.getLogger(__name__)

SEVERITY = {1: "紧急", 2: "重要", 3: "一般", 4: "提示"}


def mask_phone(phone: str) -> str:
    """Phone number with the middle hidden: 13812345678 -> 138****5678 (never log a full number)."""
    p = phone.strip()
    if len(p) >= 11:
        return p[:-8] + "****" + p[-4:]
    if len(p) > 2:
        return "*" * (len(p) - 2) + p[-2:]
    return "*" * len(p)


def sms_text(d: Dispatch) -> str:
    """The Chinese SMS text for a dispatch."""
    where = f"，{d.village}" if d.village else ""
    level = SEVERITY.get(d.severity, str(d.severity))
    return f"【舟曲县】您有新的派单（{level}{where}）：{d.title}。单号 {d.ticket_id}，请尽快打开处置页面接单。"


class SmsOutbox(Protocol):
    """Where SMS go: a gateway adapter in production, a file here (no gateway is reachable)."""

    async def send(self, recipient: str, phone: str, text: str, dispatch_id: str) -> None:
        """Queue one SMS; raises when it could not be queued."""
        ...

    async def contains(self, dispatch_id: str) -> bool:
        """True when an SMS for this dispatch was already queued (recovery after a crash mid-send)."""
        ...


class FileSmsOutbox:
    """JSON lines under var/sms_outbox.jsonl with the phone number masked; fsynced before send returns."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = asyncio.Lock()

    async def send(self, recipient: str, phone: str, text: str, dispatch_id: str) -> None:
        """Append one line: recipient, masked phone, text, dispatch id, ts."""
        line = {"recipient": recipient, "phone": mask_phone(phone), "text": text, "dispatch_id": dispatch_id,
                "ts": now_ms()}  # fmt: skip
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode()
        async with self._lock:
            await asyncio.to_thread(self._append, data)

    async def contains(self, dispatch_id: str) -> bool:
        """Scan the file for a line of this dispatch."""
        return await asyncio.to_thread(self._contains, dispatch_id)

    async def prune(self, days: float) -> int:
        """Drop lines queued more than `days` ago (rewritten atomically); returns how many went."""
        async with self._lock:
            return await asyncio.to_thread(self._prune, now_ms() - int(days * 86_400_000))

    def _prune(self, cutoff_ms: int) -> int:
        if not self.path.exists():
            return 0
        raw = [x for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()]
        keep = [x for x in raw if int(json.loads(x).get("ts", 0)) >= cutoff_ms]
        if len(keep) < len(raw):
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                fh.write("".join(x + "\n" for x in keep).encode())
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        return len(raw) - len(keep)

    def lines(self) -> list[dict[str, object]]:
        """Every queued SMS (for tests and operators)."""
        if not self.path.exists():
            return []
        return [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()]

    def _append(self, data: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def _contains(self, dispatch_id: str) -> bool:
        return any(line.get("dispatch_id") == dispatch_id for line in self.lines())


class SmsFallback:
    """Every check: dispatches past their deadline whose user has no live connection get exactly one SMS."""

    def __init__(self, store: PushStore, outbox: SmsOutbox, check_ms: int) -> None:
        self.store = store
        self.outbox = outbox
        self.check_ms = check_ms

    async def recover(self) -> None:
        """Finish SMS claims a stopped service left unconfirmed (send only when the outbox lacks them)."""
        for user, dispatch_id in await self.store.sms_in_flight():
            if await self.outbox.contains(dispatch_id):
                await self.store.sms_done(user, dispatch_id, "sent")
            else:
                await self._send(user, dispatch_id)

    async def tick(self) -> int:
        """One pass over due dispatches; returns how many SMS were queued."""
        now = now_ms()
        sent = 0
        for user, dispatch_id in await self.store.due(now):
            if await self.store.online(user, now):
                await self.store.postpone(user, dispatch_id, now + self.check_ms)
            elif await self.store.claim_sms(user, dispatch_id):
                sent += await self._send(user, dispatch_id)
        return sent

    async def _send(self, user: str, dispatch_id: str) -> int:
        d = await self.store.get(user, dispatch_id)
        if d is None:  # acknowledged meanwhile
            await self.store.sms_done(user, dispatch_id, "acked")
            return 0
        phone = await self.store.phone(user)
        if not phone:
            log.warning("no phone number for user %s: dispatch %s has no SMS fallback", user, dispatch_id)
            await self.store.sms_done(user, dispatch_id, "nophone")
            return 0
        try:
            await self.outbox.send(user, phone, sms_text(d), dispatch_id)
        except Exception:
            log.exception("SMS outbox failed for dispatch %s (user %s); retrying", dispatch_id, user)
            await self.store.sms_failed(user, dispatch_id, now_ms() + self.check_ms)
            return 0
        await self.store.sms_done(user, dispatch_id, "sent")
        log.info("dispatch %s to user %s went to SMS (%s)", dispatch_id, user, mask_phone(phone))
        return 1

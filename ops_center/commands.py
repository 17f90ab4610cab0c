"""Ticket actions from the operations center: checked here (duty, area, action), sent on `commands`, audited."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, NamedTuple, cast

import msgspec

from actors.incident_desk import TICKETS
from actors.ticket import TicketActor
from adapters.bus import COMMANDS, RESULTS
from core.access import DESK_ACTIONS, AccessDenied, in_scope, require
from core.events import now_ms
from core.incidents import TicketCommand
from ops_center.archive import archived_ticket
from ops_center.context import valid_id
from ops_center.session import OpsSession

RESULT_WAIT_S = 5.0  # how long the page waits for the desk's answer before saying it is still pending


class CommandResult(NamedTuple):
    """What the desk said about a command: applied, refused with a reason, or not answered yet."""

    key: str
    ok: bool | None  # None: no answer within RESULT_WAIT_S (the command stays queued)
    error: str


def new_key() -> str:
    """A fresh idempotency key for one intended ticket action (the desk applies each key once)."""
    return f"ops:{uuid.uuid4().hex}"


async def load_ticket(session: OpsSession, ticket_id: str) -> TicketActor:
    """The ticket, if it exists and lies in the user's area (else AccessDenied; unknown ids look the same)."""
    if not valid_id("ticket", ticket_id):
        raise AccessDenied(f"工单编号格式不正确:{ticket_id[:80]}")
    blob = await session.ctx.redis.hget(TICKETS, ticket_id)
    # a ticket closed longer than bus.closed_ticket_keep_s has left the hash: its history is in ClickHouse
    ticket = TicketActor.restore(cast(bytes, blob)) if blob else await archived_ticket(session.ctx.query, ticket_id)
    if ticket is None:
        raise AccessDenied(f"工单 {ticket_id} 不存在或不在您的管辖范围内")
    inc = ticket.state.incident
    if not in_scope(session.user, inc.township, inc.village):  # the same words as for a missing ticket: no probing
        raise AccessDenied(f"工单 {ticket_id} 不存在或不在您的管辖范围内")
    return ticket


async def send(
    session: OpsSession, ticket_id: str, action: str, *, target: str = "", note: str = "", key: str = ""
) -> CommandResult:
    """Check and send one ticket command (`key`: the intended action's idempotency key, else a fresh one), wait
    briefly for the desk's result, and audit it either way."""
    try:
        require(session.user, "act")
        if action not in DESK_ACTIONS:
            raise AccessDenied(f"操作中心不能执行 {action}")
        if not await session.touch():
            raise AccessDenied("登录已失效,请重新登录")
        await load_ticket(session, ticket_id)
        if action == "merge":
            await load_ticket(session, target)  # both tickets must be the user's to merge
    except AccessDenied as exc:
        await session.audit(action, ticket_id, ok=False, to=target, why=str(exc))
        raise
    key = key or new_key()
    cmd = TicketCommand(key=key, ticket_id=ticket_id, action=action, actor=session.user.username, ts=now_ms(),
                        note=note[:500], target=target)  # fmt: skip
    redis = session.ctx.redis
    last = cast(list[Any], await redis.xrevrange(RESULTS, count=1))
    since = last[0][0] if last else b"0-0"
    await redis.xadd(COMMANDS, {b"c": msgspec.msgpack.encode(cmd)})
    result = await _wait_result(session, key, since)
    await session.audit(action, ticket_id, ok=bool(result.ok), to=target, note=note[:200], key=key,
                        error=result.error, pending=result.ok is None)  # fmt: skip
    return result


async def _wait_result(session: OpsSession, key: str, since: bytes) -> CommandResult:
    redis, loop = session.ctx.redis, asyncio.get_running_loop()
    deadline = loop.time() + RESULT_WAIT_S
    while (left := deadline - loop.time()) > 0:
        got = cast(list[Any], await redis.xread({RESULTS: since}, count=200, block=max(1, int(left * 1000))))
        for entry_id, fields in got[0][1] if got else []:
            since = entry_id
            if fields.get(b"key") == key.encode():
                return CommandResult(key, fields.get(b"ok") == b"1", fields.get(b"error", b"").decode())
    return CommandResult(key, None, "")

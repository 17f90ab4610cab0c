"""Closed tickets that left the desk and the `tickets` hash, rebuilt read-only from ClickHouse `zq.ticket_events`."""

from __future__ import annotations

import json
import logging

import msgspec

from actors.ticket import TicketActor, TicketState
from actors.ticket_routing import TERMINAL
from core.incidents import Incident, TicketEvent
from ops_center.context import Query, sql_str

log = logging.getLogger(__name__)


async def archived_ticket(query: Query, ticket_id: str) -> TicketActor | None:
    """A closed or merged ticket as its history tells it; None when there is none, it is not finished, or no store."""
    sql = ("SELECT seq, toUnixTimestamp64Milli(ts) AS ms, actor, action, from_state, to_state, note, key, detail "
           f"FROM zq.ticket_events WHERE ticket_id = {sql_str(ticket_id)} ORDER BY seq LIMIT 1 BY seq")  # fmt: skip
    try:
        rows = await query(sql)
    except Exception as exc:  # the store is down or busy: the ticket reads as unknown
        log.warning("archived ticket query failed: %s", str(exc)[:200])
        return None
    history = [TicketEvent(ticket_id=ticket_id, seq=int(r["seq"]), ts=int(r["ms"]), actor=str(r["actor"]),
                           action=str(r["action"]), from_state=str(r["from_state"]), to_state=str(r["to_state"]),
                           note=str(r["note"]), key=str(r["key"]), detail=json.loads(r["detail"] or "{}"))
               for r in rows]  # fmt: skip
    if not history or history[0].action != "open" or history[-1].to_state not in TERMINAL:
        return None
    first, d = history[0], history[0].detail
    text = {k: str(d.get(k, "")) for k in ("rule", "category", "department", "village", "township", "device_id")}
    inc = msgspec.convert({
        "incident_id": ticket_id, "title": first.note, "severity": int(d.get("severity", 4)), "group_key": "",
        "first_ts": first.ts, "last_ts": int(d.get("event_ts", first.ts)), "count": int(d.get("count", 1)),
        "source": str(d.get("source", "rule")), "detail": {"event": d.get("event") or {}}, **text,
    }, Incident)  # fmt: skip
    responders = [str(e.detail.get("responder", "")) for e in history if e.action == "dispatch"]
    return TicketActor(TicketState(ticket_id=ticket_id, incident=inc, state=history[-1].to_state, opened=first.ts,
                                   entered=history[-1].ts, responder=responders[-1] if responders else "",
                                   history=history))  # fmt: skip

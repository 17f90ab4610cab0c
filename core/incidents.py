"""Incidents, ticket commands, ticket events and dispatches: what flows after device events (msgpack on the wire)."""

from __future__ import annotations

from typing import Any

import msgspec


class Incident(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An incident raised or updated by a rule (or opened by a person); the rules engine's output."""

    incident_id: str  # deterministic: rule id + group key + first event time, so a replay raises the same id
    rule: str  # rule id, or "manual" for a citizen report / officer entry
    title: str  # Chinese, for people
    severity: int  # 1 (critical) .. 4 (info)
    category: str  # routes to a department
    department: str
    group_key: str  # what the rule grouped by: a device id, a village, a scenario
    village: str = ""
    township: str = ""
    lat: float | None = None
    lon: float | None = None
    first_ts: int  # ms
    last_ts: int  # ms
    count: int = 1  # events folded into this incident (dedup)
    event_ids: list[str] = []  # the newest few device events behind it
    device_id: str = ""
    escalation: str = ""  # escalation policy name
    source: str = "rule"  # "rule", "citizen" or "officer"
    detail: dict[str, Any] = {}


class TicketCommand(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An operator, responder or system action on a ticket; `key` makes it idempotent."""

    key: str  # idempotency key: a command with a key already applied is ignored
    ticket_id: str
    action: str  # accept, dispatch, start, arrive, resolve, evaluate, return, merge, close, escalate, ack
    actor: str  # who (user id or "system")
    ts: int  # ms
    note: str = ""
    target: str = ""  # responder for dispatch, original ticket for merge
    photo: str = ""  # path of an uploaded photo for resolve
    rating: int = 0  # 1..5 for evaluate


class TicketEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One transition in a ticket's append-only history (stream `incidents`, ClickHouse `ticket_events`)."""

    ticket_id: str
    seq: int  # position in the ticket's history, from 1
    ts: int  # ms
    actor: str
    action: str
    from_state: str
    to_state: str
    note: str = ""
    key: str = ""  # the command's idempotency key
    detail: dict[str, Any] = {}


class Dispatch(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A ticket pushed to a person's phone (responder, village officer or family contact)."""

    dispatch_id: str  # deterministic: ticket id + recipient + ticket event seq
    ticket_id: str
    recipient: str  # user id
    role: str  # responder, officer, family
    title: str
    severity: int
    village: str = ""
    lat: float | None = None
    lon: float | None = None
    ts: int  # when the dispatch was created, ms
    origin_ts: int = 0  # device send time of the event behind it, for end-to-end latency
    detail: dict[str, Any] = {}

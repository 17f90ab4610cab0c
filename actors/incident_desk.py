"""The incident desk: device events through the rules engine into ticket actors; commands move the tickets.

Everything one round produces (ticket history, ClickHouse rows, dispatches, command results, snapshots) is
committed in one MULTI with the acks of what it consumed, so a restart neither loses nor repeats a transition.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis

from actors.ticket import TicketActor, TicketError, merge_followup
from actors.ticket_routing import TERMINAL
from adapters import registry
from adapters.bus import (
    COMMANDS,
    DISPATCH,
    EVENTS,
    INCIDENTS,
    RESULTS,
    STORE,
    Consumer,
    Entry,
    Fields,
    run_rounds,
    trim_stream,
)  # fmt: skip
from adapters.reports import REPORTS
from adapters.rosters import OFFICERS, ROSTERS
from adapters.speaker.requests import SpeakerRequest, queue, rule_warning
from adapters.telemetry import TICKET_EVENTS_TABLE
from core.events import EVENT_DECODER, DeviceEvent, now_ms
from core.gazetteer import load_gazetteer
from core.incidents import Dispatch, Incident, TicketCommand, TicketEvent
from core.settings import Settings
from rules.engine import RulesEngine, township_lookup
from rules.loader import RulesError, load_rules

log = logging.getLogger(__name__)

ENGINE_KEY = "desk:engine"  # rules engine snapshot
TICKETS = "tickets"  # ticket id -> TicketActor snapshot; the ops center reads it
AUTO_DISPATCH_CATEGORIES = ("养老服务",)  # categories whose severity-1 incidents go straight to the duty officer
_JSON = msgspec.json.Encoder()
_CMD = msgspec.msgpack.Decoder(TicketCommand)
_INCIDENT = msgspec.msgpack.Decoder(Incident)
RULES_CHECK_S = 2.0  # how often rule files are checked for edits
TRIM_EVERY_S = 60.0  # how often the desk applies bus.retention to every named stream


def _mtime(directory: Path) -> float:
    """Newest modification time among a directory's rule files (0 when none)."""
    return max((f.stat().st_mtime for f in directory.glob("*.yaml")), default=0.0)


def ticket_row(e: TicketEvent) -> bytes:
    """JSONCompactEachRow line for the ticket_events table."""
    detail = _JSON.encode(e.detail).decode()
    row = [e.ticket_id, e.seq, e.ts / 1000, e.actor, e.action, e.from_state, e.to_state, e.note, e.key, detail]
    return _JSON.encode(row)


class _Round:
    """What one round produces, committed together."""

    def __init__(self) -> None:
        self.history: list[TicketEvent] = []
        self.touched: dict[str, TicketActor] = {}
        self.results: list[dict[bytes, bytes]] = []
        self.dropped: list[str] = []  # tickets closed longer than closed_ticket_keep_s: leave memory and the hash
        self.speaker: list[SpeakerRequest] = []  # voice warnings for station loudspeakers

    def record(self, ticket: TicketActor, events: list[TicketEvent]) -> None:
        if events:
            self.history += events
            self.touched[ticket.ticket_id] = ticket


class _Poison(Exception):
    """An entry whose application raised: applying is pure in-memory work, so it would raise on every retry."""

    def __init__(self, consumer: Consumer, entry: Entry, error: str) -> None:
        super().__init__(error)
        self.consumer, self.entry, self.error = consumer, entry, error


class IncidentDesk:
    """Rules engine plus the ticket actors, in one process (one desk per deployment)."""

    def __init__(self, redis: aioredis.Redis, settings: Settings, clock: Callable[[], int] = now_ms) -> None:
        self.redis = redis
        self.clock = clock
        gazetteer = load_gazetteer()
        self.ruleset = load_rules(settings.rules_dir)
        self.engine = RulesEngine(self.ruleset, township_lookup(gazetteer))
        self.gazetteer = gazetteer
        self._rules_mtime = _mtime(self.ruleset.directory)
        self._next_rules_check = 0.0
        self.reports = Consumer(redis, REPORTS, "tickets", "desk-0", settings.bus)
        self.tickets: dict[str, TicketActor] = {}  # open tickets and those closed within closed_ticket_keep_s
        self.closed: dict[str, int] = {}  # closed or merged ticket id -> when it ended (ms)
        self.bus = settings.bus
        self._trimmed = time.monotonic()
        self.events = Consumer(redis, EVENTS, "rules", "desk-0", settings.bus)
        self.commands = Consumer(redis, COMMANDS, "tickets", "desk-0", settings.bus)
        self.stats = {"events": 0, "incidents": 0, "commands": 0, "refused": 0, "dispatches": 0}
        self._next_tick = 0

    async def start(self) -> None:
        """Create groups; restore the engine and the open (and recently closed) tickets; drop long-closed ones."""
        await self.events.ensure_group()
        await self.commands.ensure_group()
        await self.reports.ensure_group()
        blob = await self.redis.get(ENGINE_KEY)
        if blob:
            self.engine.restore(cast(bytes, blob))
        self.tickets.clear()
        self.closed.clear()
        now, stale = self.clock(), []
        for tid, snap in cast(dict[bytes, bytes], await self.redis.hgetall(TICKETS)).items():
            ticket = TicketActor.restore(snap)
            if ticket.status in TERMINAL and now - ticket.state.entered >= self.bus.closed_ticket_keep_s * 1000:
                stale.append(tid)
                continue
            self.tickets[tid.decode()] = ticket
            if ticket.status in TERMINAL:
                self.closed[tid.decode()] = ticket.state.entered
        for i in range(0, len(stale), 1000):
            await self.redis.hdel(TICKETS, *stale[i : i + 1000])

    async def round(self) -> int:
        """Commands first (people are waiting on them), then device events, then timers."""
        self._reload_rules_if_changed()
        cmds = await self.commands.read(block_ms=0)
        reports = await self.reports.read(block_ms=0)
        evs = await self.events.read(block_ms=0 if cmds else 50)
        now = self.clock()
        decoded = await self._decode(evs)
        device_events = [ev for _, ev in decoded]
        contacts = await self._contacts(device_events)
        skip: set[tuple[str, bytes]] = set()  # (stream, id) of entries that crashed: dead-lettered, not applied
        while True:
            try:
                out = self._apply(cmds, reports, decoded, contacts, now, skip)
                break
            except _Poison as poison:  # only that entry goes; the others are applied again from the last commit
                await poison.consumer.dead_letter([poison.entry], poison.error)
                skip.add((poison.consumer.stream, poison.entry[0]))
                await self._rebuild()
        if now >= self._next_tick:
            self._next_tick = now + 1000
            await self._tick(now, out)
        self._settle(now, out)
        if cmds or evs or reports or out.history or out.dropped:
            await self._commit([(self.commands, cmds), (self.reports, reports), (self.events, evs)], out)
        self.stats["events"] += len(device_events)
        self.stats["commands"] += len(cmds)
        return len(out.history)

    async def _tick(self, now: int, out: _Round) -> None:
        """Timers of the engine and of open tickets; long-closed tickets leave; streams get their retention."""
        for incident in self.engine.tick(now):
            self._incident(incident, {}, now, out)
        for tid, ticket in list(self.tickets.items()):
            if tid not in self.closed:
                out.record(ticket, ticket.tick(now))
        keep_ms = self.bus.closed_ticket_keep_s * 1000
        out.dropped = [t for t, ended in self.closed.items() if now - ended >= keep_ms and t not in out.touched]
        for tid in out.dropped:
            del self.tickets[tid], self.closed[tid]
        if time.monotonic() - self._trimmed >= TRIM_EVERY_S:
            self._trimmed = time.monotonic()
            for stream in self.bus.retention:  # a pattern name such as `tele` is no stream: nothing to trim
                await trim_stream(self.redis, stream, self.bus)

    def _settle(self, now: int, out: _Round) -> None:
        """A ticket that just closed or merged starts its grace period; the engine forgets its incident."""
        for tid, ticket in out.touched.items():
            if ticket.status in TERMINAL and tid not in self.closed:
                self.closed[tid] = now
                with contextlib.suppress(KeyError):  # KeyError: a citizen report, or resolved by a recovery already
                    self.engine.resolve(tid, now, by="ticket")  # a repeat after this opens a new incident

    async def _decode(self, evs: list[Entry]) -> list[tuple[Entry, DeviceEvent]]:
        """The batch's device events; an undecodable entry is dead-lettered at once and its batch-mates go on."""
        decoded = []
        for entry in evs:
            try:
                decoded.append((entry, EVENT_DECODER.decode(entry[1][b"e"])))
            except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self.events.dead_letter([entry], f"undecodable event: {type(exc).__name__}: {exc}")
        return decoded

    def _apply(
        self, cmds: list[Entry], reports: list[Entry], decoded: list[tuple[Entry, DeviceEvent]],
        contacts: dict[str, dict[str, Any]], now: int, skip: set[tuple[str, bytes]],
    ) -> _Round:  # fmt: skip
        """Apply each entry in isolation; _Poison names the first that crashes (this pass's state is then spoilt)."""
        out = _Round()
        steps = [*((self.commands, e, partial(self._command, e[1], now, out)) for e in cmds),
                 *((self.reports, e, partial(self._report, e[1], now, out)) for e in reports),
                 *((self.events, e, partial(self._event, ev, contacts.get(ev.device_id, {}), now, out))
                   for e, ev in decoded)]  # fmt: skip
        for consumer, entry, apply in steps:
            if (consumer.stream, entry[0]) not in skip:
                try:
                    apply()
                except Exception as exc:
                    raise _Poison(consumer, entry, f"crashed the incident desk: {type(exc).__name__}: {exc}") from exc
        return out

    def _event(self, ev: DeviceEvent, contacts: dict[str, Any], now: int, out: _Round) -> None:
        for incident in self.engine.process(ev, now):
            self._incident(incident, contacts, now, out)
            self._voice(ev, incident, now, out)

    def _incident(self, incident: Incident, contacts: dict[str, Any], now: int, out: _Round) -> None:
        ticket = self.tickets.get(incident.incident_id)
        if ticket is None:
            if incident.detail.get("state", "open") != "open":
                return
            incident = msgspec.structs.replace(incident, detail={**incident.detail, **contacts})
            ticket, events = TicketActor.open(incident, now, gazetteer=self.gazetteer)
            self.tickets[ticket.ticket_id] = ticket
            self.stats["incidents"] += 1
            events += self._auto_dispatch(ticket, incident, now)
        else:
            try:
                events = ticket.incident_update(incident, now)
            except TicketError:
                return  # a repeat for a closed or merged ticket changes nothing
        out.record(ticket, events)

    def _voice(self, event: DeviceEvent, incident: Incident, now: int, out: _Round) -> None:
        """A station event that opened or updated an incident of a rule with `voice` plays it on that station."""
        if incident.detail.get("state", "open") == "resolved":
            return
        try:
            rule = self.ruleset.rule(incident.rule)
        except KeyError:
            return
        req = rule_warning(event, rule.id, rule.voice, now)
        if req is not None:
            out.speaker.append(req)

    def _auto_dispatch(self, ticket: TicketActor, incident: Incident, now: int) -> list[TicketEvent]:
        """A critical elderly alarm is accepted and sent to the village duty officer at once, without a human."""
        officer = incident.detail.get("officer")
        if incident.severity != 1 or not officer or incident.category not in AUTO_DISPATCH_CATEGORIES:
            return []
        tid = ticket.ticket_id
        steps = [("accept", ""), ("dispatch", str(officer))]
        return [
            ev
            for action, target in steps
            for ev in ticket.handle(
                TicketCommand(key=f"{tid}:auto-{action}", ticket_id=tid, action=action, actor="system", ts=now,
                              target=target, note="危急老人报警，自动派发给村值班干部"),
                now,
            )
        ]  # fmt: skip

    def _report(self, fields: dict[bytes, bytes], now: int, out: _Round) -> None:
        """A citizen's report or an officer's entry opens a ticket on the same path as a rule's incident."""
        try:
            incident = _INCIDENT.decode(fields[b"i"])
            if incident.source not in ("citizen", "officer"):
                raise ValueError(f"source must be citizen or officer, not {incident.source!r}")
        except (KeyError, ValueError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.stats["refused"] += 1
            out.results.append({b"key": b"", b"ok": b"0", b"error": f"malformed report: {exc}".encode()})
            return
        department = incident.department or self.ruleset.departments.get(incident.category, "")
        self._incident(msgspec.structs.replace(incident, department=department), {}, now, out)
        out.results.append({b"key": incident.incident_id.encode(), b"ok": b"1", b"error": b""})

    def _reload_rules_if_changed(self) -> None:
        """Edited rule files take effect without a restart; a bad edit is logged and the running rules stay."""
        if time.monotonic() < self._next_rules_check:  # a directory scan every round would sit on the hot path
            return
        self._next_rules_check = time.monotonic() + RULES_CHECK_S
        mtime = _mtime(self.ruleset.directory)
        if mtime == self._rules_mtime:
            return
        self._rules_mtime = mtime
        try:
            self.ruleset = self.ruleset.reload()
        except RulesError as exc:
            log.error("rules not reloaded, keeping the running set: %s", exc)
            return
        self.engine.use(self.ruleset)
        log.info("rules reloaded from %s (%d rules)", self.ruleset.directory, len(self.ruleset.rules))

    def _command(self, fields: dict[bytes, bytes], now: int, out: _Round) -> None:
        try:
            cmd = _CMD.decode(fields[b"c"])
        except (KeyError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.stats["refused"] += 1
            out.results.append({b"key": b"", b"ok": b"0", b"error": f"malformed command: {exc}".encode()})
            return
        ticket = self.tickets.get(cmd.ticket_id)
        try:
            if ticket is None:
                raise TicketError(cmd.ticket_id, "", cmd.action, "工单不存在", "no such ticket")
            events = ticket.handle(cmd, now)
        except TicketError as exc:
            self.stats["refused"] += 1
            out.results.append({b"key": cmd.key.encode(), b"ok": b"0", b"error": str(exc).encode()})
            return
        out.record(ticket, events)
        out.results.append({b"key": cmd.key.encode(), b"ok": b"1", b"error": b""})
        for ev in events:  # a merge also records itself on the original ticket
            follow = merge_followup(ev, now)
            original = self.tickets.get(follow.ticket_id) if follow else None
            if follow and original:
                out.record(original, original.handle(follow, now))

    async def _contacts(self, events: list[DeviceEvent]) -> dict[str, dict[str, Any]]:
        """Family contact (from the device profile) and the village duty officer, for elderly notifications."""
        if not events:
            return {}
        ids = sorted({e.device_id for e in events})
        profiles = await registry.load_some(self.redis, ids)
        villages = sorted({e.village for e in events if e.village})
        found = cast(list[bytes | None], await self.redis.hmget(OFFICERS, villages)) if villages else []
        officers = dict(zip(villages, found, strict=True))
        out: dict[str, dict[str, Any]] = {}
        for e in events:
            c: dict[str, Any] = {}
            if (p := profiles.get(e.device_id)) and p.params.get("family"):
                c["family"] = p.params["family"]
            if officer := officers.get(e.village):
                c["officer"] = officer.decode()
            out[e.device_id] = c
        return out

    async def _escalations(self, out: _Round) -> list[Dispatch]:
        """Escalation levels reach a person: the village officer, the township duty officer, then the county."""
        found = []
        for ev in out.history:
            roster = ROSTERS.get(str(ev.detail.get("to"))) if ev.action == "escalate" else None
            if roster is None:
                continue
            key, scope = roster
            who = await self.redis.hget(key, str(ev.detail.get(scope, "")) if scope else "duty")
            if who:
                found.append(self.tickets[ev.ticket_id].notify(ev, cast(bytes, who).decode(), "escalation"))
        return found

    async def _commit(self, consumed: list[tuple[Consumer, list[Entry]]], out: _Round) -> None:
        # one push per person per ticket and round; a responder's dispatch wins over a notification
        pushes = sorted(
            [*(d for t in out.touched.values() for d in t.dispatches(out.history)), *await self._escalations(out)],
            key=lambda d: d.role != "responder",
        )
        dispatches = list({(d.ticket_id, d.recipient): d for d in reversed(pushes)}.values())
        async with self.redis.pipeline(transaction=True) as pipe:
            for e in out.history:
                pipe.xadd(INCIDENTS, {b"t": msgspec.msgpack.encode(e)})
            if out.history:
                rows = b"\n".join(map(ticket_row, out.history))
                pipe.xadd(STORE, {b"t": TICKET_EVENTS_TABLE, b"r": rows, b"n": len(out.history)})
            for d in dispatches:
                pipe.xadd(DISPATCH, {b"d": msgspec.msgpack.encode(d)})
            for r in out.results:
                pipe.xadd(RESULTS, cast(Fields, r))
            queue(pipe, out.speaker)
            if out.touched:
                pipe.hset(TICKETS, mapping={tid: t.snapshot() for tid, t in out.touched.items()})
            if out.dropped:
                pipe.hdel(TICKETS, *out.dropped)
            pipe.set(ENGINE_KEY, self.engine.snapshot())
            for consumer, entries in consumed:
                consumer.ack_in(pipe, [e[0] for e in entries])
            await pipe.execute()
        self.stats["dispatches"] += len(dispatches)

    async def run(self) -> None:
        """Process until cancelled; a failed round is retried from the pending lists after a restore."""
        await self.start()
        # trim_every_s None: every named stream, its own included, gets its retention in `_tick`
        await run_rounds("incident desk", self.round, [self.events, self.commands, self.reports], trim_every_s=None,
                         recover=self._rebuild)  # fmt: skip

    async def _rebuild(self) -> None:
        """In-memory state back to the last commit: the engine and the tickets as Redis holds them."""
        self.engine = RulesEngine(self.ruleset, township_lookup(self.gazetteer))
        await self.start()  # start reloads the tickets

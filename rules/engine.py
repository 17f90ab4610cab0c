"""The rules engine: device events in, incidents out; pure and clock-injected, state snapshotted with msgspec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from core.events import DeviceEvent
from core.incidents import Incident
from rules.escalation import Due, EscalationTracker
from rules.loader import RuleSet
from rules.match import conditions_hold, group_key
from rules.schema import Rule

KEEP_EVENT_IDS = 10  # newest device events kept on an incident
SEEN_KEEP_MS = 6 * 3_600_000  # replayed event ids are recognised this long (event time)


class _Open(msgspec.Struct, kw_only=True):
    """An incident the engine still tracks (open or acknowledged)."""

    incident: Incident
    state: str = "open"  # open | acked


class _Group(msgspec.Struct, kw_only=True):
    """Per (rule, group key) evaluation state."""

    window: list[tuple[int, str]] = []  # (event ts, event id) of matching events in the window
    since: int | None = None  # event ts at which a `for` condition started to hold
    pending: DeviceEvent | None = None  # newest matching event while a `for` condition holds
    pending_ids: list[str] = []
    open_id: str = ""  # the incident repeats fold into


class _State(msgspec.Struct, kw_only=True):
    groups: dict[str, _Group] = {}
    incidents: dict[str, _Open] = {}
    marks: dict[str, int] = {}  # "<event type>|<scope>|<value>" -> newest ts of an inhibiting event
    seen: dict[str, int] = {}  # event id -> event ts, so a replayed event is ignored
    escalation: bytes = b""


def township_lookup(gazetteer: Any) -> Callable[[str], str]:
    """A village -> township function over a core.gazetteer.Gazetteer ("" when unknown or ambiguous)."""

    def lookup(village: str) -> str:
        try:
            return str(gazetteer.village(village).township) if village else ""
        except KeyError:
            return ""

    return lookup


def _copy(inc: Incident) -> Incident:
    return msgspec.msgpack.decode(msgspec.msgpack.encode(inc), type=Incident)


class RulesEngine:
    """Evaluates a RuleSet over device events; `process` and `tick` return new or changed incidents."""

    def __init__(self, ruleset: RuleSet, gazetteer_lookup: Callable[[str], str] = lambda _v: "") -> None:
        self.township = gazetteer_lookup
        self.escalation = EscalationTracker()
        self._s = _State()
        self.use(ruleset)

    def use(self, ruleset: RuleSet) -> None:
        """Switch to another RuleSet (e.g. after reload), keeping open incidents and escalation."""
        self.ruleset = ruleset
        self._rules = {r.id: r for r in ruleset.active()}
        self._marked = {i.event for r in self._rules.values() for i in r.inhibit if i.event}
        fors = [i.for_ or 0 for r in self._rules.values() for i in r.inhibit if i.event]
        self._mark_keep = max(fors, default=0)

    # --- inputs -----------------------------------------------------------------------------

    def process(self, event: DeviceEvent, now: int) -> list[Incident]:
        """Apply one device event at time now (ms); returns incidents opened, updated or resolved by it."""
        s = self._s
        if event.event_id in s.seen:
            return []
        s.seen[event.event_id] = event.ts
        if event.type in self._marked:
            for scope, value in self._scopes(event).items():
                key = f"{event.type}|{scope}|{value}"
                s.marks[key] = max(s.marks.get(key, event.ts), event.ts)
        out: list[Incident] = []
        for rule in self._rules.values():
            if not rule.matches_type(event.type, event.kind):
                continue
            key = group_key(rule, event)
            if not conditions_hold(rule, event):
                if rule.for_ is not None and (g := s.groups.get(f"{rule.id}|{key}")) is not None:
                    g.since, g.pending, g.pending_ids = None, None, []  # the condition stopped holding
                continue
            if rule.resolves:
                out += self._recover(rule, event, now)
            elif not self._inhibited(rule, event):
                inc = self._feed(rule, key, event, now)
                if inc is not None:
                    out.append(inc)
        return out

    def tick(self, now: int) -> list[Incident]:
        """Time passes: open `for` incidents whose duration elapsed, expire windows, dedup and replay memory."""
        s, out = self._s, []
        for gk in sorted(s.groups):
            g = s.groups[gk]
            rule = self._rules.get(gk.split("|", 1)[0])
            if rule is None:
                del s.groups[gk]
                continue
            if rule.for_ is not None and g.pending is not None and g.since is not None and now - g.since >= rule.for_:
                out.append(self._open(rule, gk.split("|", 1)[1], g.pending, g.since, g.pending_ids, now))
                g.since, g.pending, g.pending_ids = None, None, []
            if rule.window is not None:
                g.window = [(t, i) for t, i in g.window if t >= now - rule.window.within]
            cur = s.incidents.get(g.open_id)
            if cur is None or (rule.dedup_reset is not None and now - cur.incident.last_ts >= rule.dedup_reset):
                g.open_id = ""
            if not (g.window or g.pending or g.open_id):
                del s.groups[gk]
        s.seen = {e: t for e, t in s.seen.items() if t >= now - SEEN_KEEP_MS}
        s.marks = {k: t for k, t in s.marks.items() if t >= now - self._mark_keep}
        return out

    def ack(self, incident_id: str, now: int) -> Incident:
        """Acknowledge an open incident: escalation stops; KeyError when it is not open."""
        o = self._s.incidents[incident_id]
        o.state = "acked"
        detail = {**o.incident.detail, "state": "acked", "acked_ts": now}
        o.incident = msgspec.structs.replace(o.incident, detail=detail)
        self.escalation.ack(incident_id)
        return _copy(o.incident)

    def resolve(self, incident_id: str, now: int, by: str = "manual") -> Incident:
        """Resolve an incident: it is forgotten, escalation stops and a repeat opens a new one; KeyError if unknown."""
        o = self._s.incidents.pop(incident_id)
        self.escalation.stop(incident_id)
        for g in self._s.groups.values():
            if g.open_id == incident_id:
                g.open_id = ""
        detail = {**o.incident.detail, "state": "resolved", "resolved_ts": now, "resolved_by": by}
        return _copy(msgspec.structs.replace(o.incident, detail=detail))

    def due(self, now: int) -> list[Due]:
        """Escalation levels that came due by now (each once, in order)."""
        return self.escalation.due(now)

    def open_incidents(self) -> list[Incident]:
        """Incidents still open or acknowledged, oldest first."""
        items = sorted(self._s.incidents.values(), key=lambda o: (o.incident.first_ts, o.incident.incident_id))
        return [_copy(o.incident) for o in items]

    # --- persistence ------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Serialised engine state, escalation included (msgpack)."""
        self._s.escalation = self.escalation.snapshot()
        return msgspec.msgpack.encode(self._s)

    def restore(self, blob: bytes) -> None:
        """Continue from a `snapshot` (e.g. after a restart); replaces all current state."""
        self._s = msgspec.msgpack.decode(blob, type=_State)
        self.escalation = EscalationTracker.restore(self._s.escalation) if self._s.escalation else EscalationTracker()

    # --- internals --------------------------------------------------------------------------

    def _scopes(self, event: DeviceEvent) -> dict[str, str]:
        out = {"device": event.device_id, "village": event.village, "township": self.township(event.village)}
        return {k: v for k, v in out.items() if v}

    def _inhibited(self, rule: Rule, event: DeviceEvent) -> bool:
        scopes = self._scopes(event)
        for inh in rule.inhibit:
            value = scopes.get(inh.same)
            if not value:
                continue
            if inh.event is not None and inh.for_ is not None:
                t = self._s.marks.get(f"{inh.event}|{inh.same}|{value}")
                if t is not None and t >= event.ts - inh.for_:
                    return True
            if inh.rule is not None:
                attr = {"device": "device_id", "village": "village", "township": "township"}[inh.same]
                live = (o.incident for o in self._s.incidents.values())
                if any(i.rule == inh.rule and getattr(i, attr) == value for i in live):
                    return True
        return False

    def _feed(self, rule: Rule, key: str, event: DeviceEvent, now: int) -> Incident | None:
        """Fold a matching, uninhibited event into its group; the incident it opens or updates, if any."""
        g = self._s.groups.setdefault(f"{rule.id}|{key}", _Group())
        cur = self._s.incidents.get(g.open_id) if g.open_id else None
        fresh = cur is not None and (rule.dedup_reset is None or event.ts - cur.incident.last_ts < rule.dedup_reset)
        if cur is not None and rule.dedup and fresh:
            return self._update(cur, event)
        g.open_id = ""
        if rule.window is not None:
            g.window = [(t, i) for t, i in g.window if t >= event.ts - rule.window.within]
            g.window.append((event.ts, event.event_id))
            if len(g.window) < rule.window.count:
                return None
            first, ids = g.window[0][0], [i for _, i in g.window]
            g.window = []
            return self._open(rule, key, event, first, ids, now)
        if rule.for_ is not None:
            if g.since is None:
                g.since, g.pending_ids = event.ts, []
            g.pending = event
            g.pending_ids = [*g.pending_ids, event.event_id][-KEEP_EVENT_IDS:]
            if event.ts - g.since < rule.for_:
                return None
            first, ids = g.since, g.pending_ids
            g.since, g.pending, g.pending_ids = None, None, []
            return self._open(rule, key, event, first, ids, now)
        return self._open(rule, key, event, event.ts, [event.event_id], now)

    def _open(self, rule: Rule, key: str, event: DeviceEvent, first: int, ids: list[str], now: int) -> Incident:
        """Open a new incident for a group; its id is rule id + group key + first event time."""
        base = f"{rule.id}:{key}:{first}"
        iid, n = base, 1
        while iid in self._s.incidents:  # only without dedup, two events of one group at the same ms
            n += 1
            iid = f"{base}:{n}"
        inc = Incident(
            incident_id=iid, rule=rule.id, title=rule.title, severity=rule.severity or 4,
            category=rule.category or "", department=self.ruleset.departments.get(rule.category or "", ""),
            group_key=key, village=event.village, township=self.township(event.village),
            lat=event.lat, lon=event.lon, first_ts=first, last_ts=max(first, event.ts), count=len(ids),
            event_ids=ids[-KEEP_EVENT_IDS:], device_id=event.device_id, escalation=rule.escalation or "",
            detail={"state": "open", "event_type": event.type, "kind": event.kind, "event": dict(event.detail),
                    **({"channel": event.channel} if event.channel else {})},  # an unauthenticated channel is shown
        )  # fmt: skip
        self._s.incidents[iid] = _Open(incident=inc)
        self._s.groups.setdefault(f"{rule.id}|{key}", _Group()).open_id = iid
        if rule.escalation:
            self.escalation.start(iid, self.ruleset.policies[rule.escalation], now)
        return _copy(inc)

    def _update(self, cur: _Open, event: DeviceEvent) -> Incident:
        """Fold a repeat into an open incident: count, last time, newest event ids and position."""
        inc = cur.incident
        cur.incident = msgspec.structs.replace(
            inc, count=inc.count + 1, last_ts=max(inc.last_ts, event.ts),
            event_ids=[*inc.event_ids, event.event_id][-KEEP_EVENT_IDS:],
            lat=event.lat if event.lat is not None else inc.lat, lon=event.lon if event.lon is not None else inc.lon,
            device_id=event.device_id or inc.device_id,
            detail={**inc.detail, "event_type": event.type, "event": dict(event.detail)},
        )  # fmt: skip
        return _copy(cur.incident)

    def _recover(self, rule: Rule, event: DeviceEvent, now: int) -> list[Incident]:
        """A recovery event: resolve the target rules' open incidents of the same group and clear pending state."""
        out = []
        for target_id in rule.resolves:
            target = self._rules.get(target_id)
            if target is None:
                continue
            g = self._s.groups.get(f"{target_id}|{group_key(target, event)}")
            if g is None:
                continue
            g.since, g.pending, g.pending_ids, g.window = None, None, [], []
            if g.open_id in self._s.incidents:
                out.append(self.resolve(g.open_id, now, by=event.event_id))
        return out

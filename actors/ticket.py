"""Ticket actor: the 一网统管 lifecycle of one incident; pure, clock-injected, event-sourced, snapshot/restore."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from actors.ticket_routing import (
    ACTION_ZH,
    ACTIONS,
    ASSIGNEE_ACTIONS,
    DISCOVERED,
    ELDERLY_CATEGORIES,
    ELDERLY_RULES,
    ESCALATION_LEVELS,
    NOTE_REQUIRED,
    REPORTED,
    RESTART_ACTIONS,
    STATE_EN,
    TARGET_REQUIRED,
    TERMINAL,
    TRANSITIONS,
    UNACCEPTED,
    escalation_for,
    sla_for,
    township_for,
)
from core.incidents import Dispatch, Incident, TicketCommand, TicketEvent

if TYPE_CHECKING:
    from core.gazetteer import Gazetteer


class TicketError(ValueError):
    """A command the ticket refuses (unknown, not allowed now, or invalid); the ticket is left unchanged."""

    def __init__(self, ticket_id: str, state: str, action: str, zh: str, en: str) -> None:
        self.ticket_id, self.state, self.action = ticket_id, state, action
        super().__init__(f"工单 {ticket_id}({state}){zh} / ticket {ticket_id} ({STATE_EN.get(state, state)}): {en}")


class TicketState(msgspec.Struct, kw_only=True):
    """Everything a ticket remembers; snapshotted whole."""

    ticket_id: str
    incident: Incident
    state: str
    opened: int  # ms
    entered: int  # when the current state visit began, ms
    deadline: int = 0  # SLA deadline of the current visit, ms; 0 = none
    breached: bool = False  # the current visit's deadline was reported
    sla: dict[str, int] = {}  # state -> ms to leave it, resolved for this ticket's severity
    escalation_ms: list[int] = []  # level n fires escalation_ms[n-1] after opening
    escalation_level: int = 0
    acked: bool = False
    responder: str = ""
    rating: int = 0
    original: str = ""  # ticket this one was merged into
    merged: list[str] = []  # duplicates merged into this one
    keys: list[str] = []  # newest applied command keys (bounded)
    history: list[TicketEvent] = []


class TicketActor:
    """One ticket: commands, incident repeats and timer ticks in, append-only TicketEvents out."""

    max_keys: ClassVar[int] = 256

    def __init__(self, state: TicketState) -> None:
        self.state = state

    @classmethod
    def open(
        cls,
        incident: Incident,
        now: int,
        actor: str = "system",
        *,
        sla: Mapping[str, int] | None = None,
        escalation: Sequence[int] | None = None,
        gazetteer: Gazetteer | None = None,
    ) -> tuple[TicketActor, list[TicketEvent]]:
        """Open the ticket of an incident (ticket id = incident id): 发现 from a rule, 上报 from a report."""
        # sla: per-state deadline overrides (ms); escalation: level offsets (ms after opening) overriding the
        # incident's named policy, e.g. [lv.after for lv in policy.levels] of a loaded rules policy.
        township = township_for(incident.village, incident.township, gazetteer)
        inc = msgspec.structs.replace(incident, township=township)
        start = DISCOVERED if incident.source == "rule" else REPORTED
        st = TicketState(
            ticket_id=inc.incident_id, incident=inc, state=start, opened=now, entered=now,
            sla=sla_for(inc.severity, sla), escalation_ms=escalation_for(inc.severity, inc.escalation, escalation),
        )  # fmt: skip
        self = cls(st)
        self._enter(start, now)
        detail = {
            "incident_id": inc.incident_id, "rule": inc.rule, "source": inc.source, "severity": inc.severity,
            "category": inc.category, "department": inc.department, "village": inc.village, "township": township,
            "count": inc.count, "device_id": inc.device_id, "event_type": inc.detail.get("event_type", ""),
            "event_ts": inc.last_ts, "event": dict(inc.detail.get("event") or {}),  # the evidence (e.g. snapshot)
        }  # fmt: skip
        if inc.detail.get("channel"):
            detail["channel"] = inc.detail["channel"]  # e.g. watch-tcp: raised over an unauthenticated channel
        return self, [self._append(now, actor, "open", "", start, inc.title, "", detail)]

    # --- read-only views ------------------------------------------------------------------------------------

    @property
    def ticket_id(self) -> str:
        """The ticket's id (its incident's id)."""
        return self.state.ticket_id

    @property
    def status(self) -> str:
        """Current state, in Chinese (上报, 发现, 受理, ...)."""
        return self.state.state

    @property
    def history(self) -> list[TicketEvent]:
        """Every event of this ticket, seq 1..n."""
        return list(self.state.history)

    # --- inputs ---------------------------------------------------------------------------------------------

    def handle(self, cmd: TicketCommand, now: int) -> list[TicketEvent]:
        """Apply one command; [] when its key was already applied; TicketError (state unchanged) when refused."""
        st = self.state
        if cmd.key and cmd.key in st.keys:
            return []
        to, detail = self._check(cmd)
        src = st.state
        if cmd.ts and cmd.ts != now:
            detail["cmd_ts"] = cmd.ts
        event = self._append(now, cmd.actor, cmd.action, src, to, cmd.note, cmd.key, detail)
        self._effect(cmd, detail)
        if cmd.key:
            st.keys.append(cmd.key)
            del st.keys[: -self.max_keys]
        if to != src or cmd.action in RESTART_ACTIONS:
            self._enter(to, now)
        return [event]

    def incident_update(self, incident: Incident, now: int) -> list[TicketEvent]:
        """Record a dedup repeat of the incident (count, last time) without changing state; [] when nothing new."""
        st, old = self.state, self.state.incident
        if incident.incident_id != old.incident_id:
            raise self._error("incident_update", "不是本工单的事件", f"incident {incident.incident_id} is another's")
        if st.state in TERMINAL:
            raise self._error("incident_update", "已结束, 不再接收重复事件", "is finished; open a new ticket")
        if incident.count <= old.count and incident.last_ts <= old.last_ts:
            return []
        count, last_ts = max(incident.count, old.count), max(incident.last_ts, old.last_ts)
        st.incident = msgspec.structs.replace(
            old, count=count, last_ts=last_ts, event_ids=incident.event_ids or old.event_ids
        )
        detail = {
            "count": count, "added": count - old.count, "last_ts": last_ts,
            "event_type": incident.detail.get("event_type", ""), "event": dict(incident.detail.get("event") or {}),
        }  # fmt: skip
        return [self._append(now, "system", "repeat", st.state, st.state, f"重复事件 ×{count}", "", detail)]

    def tick(self, now: int) -> list[TicketEvent]:
        """Timer checks at `now`: one SLA breach per state visit; escalation levels until ack or accept."""
        st, events = self.state, []
        if st.deadline and not st.breached and now >= st.deadline:
            st.breached = True
            detail = {"deadline": st.deadline, "sla_ms": st.deadline - st.entered, "overdue_ms": now - st.deadline}
            note = f"{st.state}超时 / SLA breached in {STATE_EN[st.state]}"
            events.append(self._append(now, "system", "sla_breach", st.state, st.state, note, "", detail))
        if st.state in UNACCEPTED and not st.acked:
            while st.escalation_level < len(st.escalation_ms):
                if now < st.opened + st.escalation_ms[st.escalation_level]:
                    break
                st.escalation_level += 1
                due = st.opened + st.escalation_ms[st.escalation_level - 1]
                detail = self._escalation(st.escalation_level) | {"due": due}
                note = f"升级至{detail['to_zh']}"
                events.append(self._append(now, "system", "escalate", st.state, st.state, note, "", detail))
        return events

    # --- outputs --------------------------------------------------------------------------------------------

    def dispatches(
        self,
        events: Iterable[TicketEvent],
        *,
        elderly_categories: Iterable[str] = ELDERLY_CATEGORIES,
        elderly_rules: Iterable[str] = ELDERLY_RULES,
    ) -> list[Dispatch]:
        """Who must be told: the responder on dispatch; officer and family on open of a severity-1 elderly alarm."""
        inc, out = self.state.incident, []
        elderly = inc.severity == 1 and (inc.category in set(elderly_categories) or inc.rule in set(elderly_rules))
        for ev in events:
            if ev.ticket_id != self.ticket_id:
                continue
            if ev.action == "dispatch":
                out.append(self._dispatch(ev, ev.detail["responder"], "responder", origin_ts=inc.last_ts))
            elif ev.action == "open" and elderly:
                officer = inc.detail.get("officer") or ""
                family = inc.detail.get("family") or []
                people = ([(str(officer), "officer")] if officer else []) + [
                    (str(f), "family") for f in ([family] if isinstance(family, str) else family)
                ]
                out += [self._dispatch(ev, who, role, origin_ts=inc.last_ts) for who, role in people]
        return out

    def snapshot(self) -> bytes:
        """Serialised state (history, timers and remembered keys), restorable with `restore`."""
        return msgspec.msgpack.encode(self.state)

    @classmethod
    def restore(cls, blob: bytes) -> TicketActor:
        """Rebuild a ticket from its snapshot; behaves exactly as before."""
        return cls(msgspec.msgpack.decode(blob, type=TicketState))

    def live(self) -> dict[str, Any]:
        """Summary for the operations center (no history)."""
        st, inc = self.state, self.state.incident
        return {
            "ticket_id": st.ticket_id, "state": st.state, "title": inc.title, "severity": inc.severity,
            "category": inc.category, "department": inc.department, "village": inc.village,
            "township": inc.township, "device_id": inc.device_id, "lat": inc.lat, "lon": inc.lon,
            "opened": st.opened, "entered": st.entered,
            "deadline": st.deadline, "breached": st.breached, "escalation_level": st.escalation_level,
            "acked": st.acked, "responder": st.responder, "count": inc.count, "events": len(st.history),
        }  # fmt: skip

    # --- internals ------------------------------------------------------------------------------------------

    def _check(self, cmd: TicketCommand) -> tuple[str, dict[str, Any]]:
        """Validate a command against the transition table; the next state and event detail, or TicketError."""
        st, act = self.state, cmd.action
        if cmd.ticket_id != st.ticket_id:
            raise self._error(act, f"收到发给 {cmd.ticket_id} 的指令", f"command is for ticket {cmd.ticket_id}")
        if act not in ACTIONS:
            raise self._error(act, f"未知操作 {act!r}", f"unknown action {act!r}; known: {sorted(ACTIONS)}")
        allowed = TRANSITIONS[st.state]
        if act not in allowed:
            ok = ", ".join(sorted(allowed)) or "none"
            raise self._error(act, f"当前状态不允许{ACTION_ZH[act]}", f"{act!r} is not allowed here (allowed: {ok})")
        if act in NOTE_REQUIRED and not cmd.note.strip():
            raise self._error(act, f"{ACTION_ZH[act]}须填写说明", f"{act!r} requires a note")
        if act in TARGET_REQUIRED and not cmd.target:
            raise self._error(act, f"{ACTION_ZH[act]}须指定对象", f"{act!r} requires a target")
        if act in ASSIGNEE_ACTIONS and cmd.actor != st.responder:
            raise self._error(act, "只能由当前处置人操作", "only the current assignee may do this")
        detail: dict[str, Any] = {}
        if act == "dispatch":
            detail["responder"] = cmd.target
        elif act == "merge":
            if cmd.target == st.ticket_id:
                raise self._error(act, "不能合并到自身", "cannot merge a ticket into itself")
            detail["original"] = cmd.target
        elif act == "merged":
            detail["duplicate"] = cmd.target
        elif act == "resolve" and cmd.photo:
            detail["photo"] = cmd.photo
        elif act == "evaluate":
            if not 1 <= cmd.rating <= 5:
                raise self._error(act, f"评分须为1-5, 收到 {cmd.rating}", f"rating must be 1..5, got {cmd.rating}")
            detail["rating"] = cmd.rating
        elif act == "return":
            detail["returned_from"] = st.state
        elif act == "escalate":
            level = int(cmd.target) if cmd.target.isdigit() else st.escalation_level + 1
            if not st.escalation_level < level <= len(ESCALATION_LEVELS):
                raise self._error(
                    act, f"已升级到{st.escalation_level}级, 不能升级到{level}级",
                    f"already at level {st.escalation_level}; cannot escalate to {level}",
                )  # fmt: skip
            detail = self._escalation(level)
        return allowed[act] or st.state, detail

    def _effect(self, cmd: TicketCommand, detail: dict[str, Any]) -> None:
        """Remember what a validated command changes besides the state."""
        st = self.state
        if cmd.action == "dispatch":
            st.responder = cmd.target
        elif cmd.action == "ack":
            st.acked = True
        elif cmd.action == "escalate":
            st.escalation_level = detail["level"]
        elif cmd.action == "evaluate":
            st.rating = cmd.rating
        elif cmd.action == "merge":
            st.original = cmd.target
        elif cmd.action == "merged" and cmd.target not in st.merged:
            st.merged.append(cmd.target)

    def _enter(self, state: str, now: int) -> None:
        """Start a new visit of `state`: its SLA deadline restarts and may breach once more."""
        st = self.state
        st.state, st.entered, st.breached = state, now, False
        st.deadline = now + st.sla[state] if state in st.sla else 0

    def _append(
        self, now: int, actor: str, action: str, src: str, dst: str, note: str, key: str, detail: dict[str, Any]
    ) -> TicketEvent:
        """Append one event to the history (seq = its position from 1) and return it."""
        st = self.state
        event = TicketEvent(
            ticket_id=st.ticket_id, seq=len(st.history) + 1, ts=now, actor=actor, action=action,
            from_state=src, to_state=dst, note=note, key=key, detail=detail,
        )  # fmt: skip
        st.history.append(event)
        return event

    def _escalation(self, level: int) -> dict[str, Any]:
        """Event detail of an escalation to `level` (1 village officer, 2 township duty, 3 county)."""
        to, to_zh = ESCALATION_LEVELS[level]
        inc = self.state.incident
        return {"level": level, "to": to, "to_zh": to_zh, "village": inc.village, "township": inc.township}

    def notify(self, ev: TicketEvent, recipient: str, role: str) -> Dispatch:
        """A push about one of this ticket's history entries to a person (e.g. an escalation's recipient)."""
        return self._dispatch(ev, recipient, role, origin_ts=self.state.incident.last_ts)

    def _dispatch(self, ev: TicketEvent, recipient: str, role: str, origin_ts: int = 0) -> Dispatch:
        """A push of this ticket to one person, id deterministic in (ticket, recipient, event seq)."""
        inc = self.state.incident
        detail = {"action": ev.action, "state": ev.to_state, "category": inc.category, "department": inc.department}
        if snapshot := (inc.detail.get("event") or {}).get("snapshot"):
            detail["snapshot"] = snapshot  # evidence picture of a camera or station event (path under var/)
        return Dispatch(
            dispatch_id=f"{self.ticket_id}:{recipient}:{ev.seq}", ticket_id=self.ticket_id, recipient=recipient,
            role=role, title=inc.title, severity=inc.severity, village=inc.village, lat=inc.lat, lon=inc.lon,
            ts=ev.ts, origin_ts=origin_ts, detail=detail,
        )  # fmt: skip

    def _error(self, action: str, zh: str, en: str) -> TicketError:
        """A TicketError about this ticket in its current state."""
        return TicketError(self.state.ticket_id, self.state.state, action, zh, en)


def merge_followup(event: TicketEvent, now: int) -> TicketCommand | None:
    """The command that records a merge on the original ticket (None for any other event); idempotent by key."""
    if event.action != "merge":
        return None
    return TicketCommand(
        key=f"{event.ticket_id}:merged:{event.seq}", ticket_id=event.detail["original"], action="merged",
        actor=event.actor, ts=now, note=event.note, target=event.ticket_id,
    )  # fmt: skip

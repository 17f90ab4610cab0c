"""TicketActor: lifecycle table, idempotent commands, refusals, SLA breaches, escalation, snapshots, dispatches."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest

from actors.ticket import TicketActor, TicketError, merge_followup
from actors.ticket_routing import (
    ACCEPTED,
    ASSIGNEE_ACTIONS,
    CLOSED,
    DISCOVERED,
    DISPATCHED,
    EVALUATED,
    IN_PROGRESS,
    MERGED,
    REPORTED,
    RESOLVED,
    RETURNED,
)
from core.incidents import Incident, TicketCommand

T0 = 1_717_207_200_000  # 2024-06-01 10:00 China time, ms
S = 1000
MIN = 60 * S
_keys = itertools.count(1)


def incident(incident_id: str = "inc-1", **kw: Any) -> Incident:
    """A rule incident in 杰迪村 (立节镇) with no township given; kw overrides fields."""
    fields: dict[str, Any] = dict(
        incident_id=incident_id, rule="road_blocked", title="道路塌方", severity=2, category="交通",
        department="交通运输局", group_key="cam-001", village="杰迪村", first_ts=T0, last_ts=T0,
    )  # fmt: skip
    return Incident(**(fields | kw))


def cmd(ticket: TicketActor, action: str, at: int, key: str | None = None, **kw: Any) -> TicketCommand:
    """A command on that ticket by operator op-1 (the assignee for its own steps) with a fresh key unless given."""
    actor = kw.pop("actor", ticket.state.responder if action in ASSIGNEE_ACTIONS else "op-1")
    return TicketCommand(
        key=key or f"k{next(_keys)}", ticket_id=ticket.ticket_id, action=action, actor=actor, ts=at, **kw
    )


def run(ticket: TicketActor, at: int, *steps: tuple[str, dict[str, Any]]) -> None:
    """Apply commands one minute apart starting at `at`."""
    for i, (action, kw) in enumerate(steps):
        ticket.handle(cmd(ticket, action, at + i * MIN, **kw), at + i * MIN)


def opened(**kw: Any) -> TicketActor:
    """A ticket opened at T0 from incident(**kw)."""
    ticket, _ = TicketActor.open(incident(**kw), T0)
    return ticket


def test_happy_path_from_rule_with_history_seq_1_to_n() -> None:
    ticket, events = TicketActor.open(incident(), T0)
    assert ticket.status == DISCOVERED and events[0].to_state == DISCOVERED and events[0].from_state == ""
    assert events[0].detail["township"] == "立节镇"  # routed from the village through the gazetteer
    run(
        ticket, T0 + MIN,
        ("accept", {}), ("dispatch", {"target": "resp-7"}), ("start", {}), ("arrive", {}),
        ("resolve", {"note": "已清理", "photo": "var/photos/t1.jpg"}), ("evaluate", {"rating": 5}), ("close", {}),
    )  # fmt: skip
    hist = ticket.history
    assert [e.seq for e in hist] == list(range(1, 9))
    assert [e.to_state for e in hist] == [
        DISCOVERED, ACCEPTED, DISPATCHED, IN_PROGRESS, IN_PROGRESS, RESOLVED, EVALUATED, CLOSED,
    ]  # fmt: skip
    assert [e.from_state for e in hist[1:]] == [e.to_state for e in hist[:-1]]
    assert hist[5].note == "已清理" and hist[5].detail["photo"] == "var/photos/t1.jpg"
    assert hist[6].detail["rating"] == 5 and hist[2].detail["responder"] == "resp-7"


def test_citizen_report_starts_at_reported() -> None:
    ticket, events = TicketActor.open(incident(source="citizen", rule="manual"), T0, actor="citizen-9")
    assert ticket.status == REPORTED and events[0].actor == "citizen-9"


def test_return_then_redispatch() -> None:
    ticket = opened()
    run(ticket, T0, ("accept", {}), ("dispatch", {"target": "resp-1"}))
    [ev] = ticket.handle(cmd(ticket, "return", T0 + 5 * MIN, note="不归本部门管辖"), T0 + 5 * MIN)
    assert (ev.from_state, ev.to_state, ev.note) == (DISPATCHED, RETURNED, "不归本部门管辖")
    [ev] = ticket.handle(cmd(ticket, "dispatch", T0 + 6 * MIN, target="resp-2"), T0 + 6 * MIN)
    assert (ev.from_state, ev.to_state) == (RETURNED, DISPATCHED) and ticket.state.responder == "resp-2"


def test_return_requires_a_note() -> None:
    ticket = opened()
    run(ticket, T0, ("accept", {}), ("dispatch", {"target": "resp-1"}))
    with pytest.raises(TicketError, match="requires a note"):
        ticket.handle(cmd(ticket, "return", T0 + 5 * MIN), T0 + 5 * MIN)
    assert ticket.status == DISPATCHED


def test_merge_duplicate_into_original() -> None:
    original, dup = opened(incident_id="inc-1"), opened(incident_id="inc-2")
    [ev] = dup.handle(cmd(dup, "merge", T0 + MIN, target="inc-1", note="同一处塌方"), T0 + MIN)
    assert dup.status == MERGED and ev.detail["original"] == "inc-1"
    follow = merge_followup(ev, T0 + MIN)
    assert follow is not None
    [rec] = original.handle(follow, T0 + MIN)
    assert original.status == DISCOVERED and (rec.action, rec.detail["duplicate"]) == ("merged", "inc-2")
    assert original.state.merged == ["inc-2"] and original.handle(follow, T0 + MIN) == []
    with pytest.raises(TicketError):
        dup.handle(cmd(dup, "accept", T0 + 2 * MIN), T0 + 2 * MIN)


def test_same_command_key_twice_applies_once() -> None:
    ticket = opened()
    accept = cmd(ticket, "accept", T0 + MIN, key="op-1:accept:1")
    assert len(ticket.handle(accept, T0 + MIN)) == 1
    assert ticket.handle(accept, T0 + 2 * MIN) == []
    assert ticket.status == ACCEPTED and len(ticket.history) == 2


def test_unknown_action_raises_and_changes_nothing() -> None:
    ticket = opened()
    before = ticket.snapshot()
    with pytest.raises(TicketError, match=r"未知操作.*unknown action 'teleport'"):
        ticket.handle(cmd(ticket, "teleport", T0 + MIN), T0 + MIN)
    assert ticket.snapshot() == before


def test_command_on_closed_ticket_raises_and_changes_nothing() -> None:
    ticket = opened()
    run(ticket, T0, ("close", {"note": "误报"}))
    before = ticket.snapshot()
    with pytest.raises(TicketError, match=r"关闭.*closed"):
        ticket.handle(cmd(ticket, "accept", T0 + MIN), T0 + MIN)
    assert ticket.snapshot() == before and ticket.status == CLOSED and len(ticket.history) == 2


def test_action_not_allowed_in_state_is_refused() -> None:
    ticket = opened()
    with pytest.raises(TicketError, match="not allowed"):
        ticket.handle(cmd(ticket, "resolve", T0 + MIN, note="x"), T0 + MIN)
    assert ticket.status == DISCOVERED and len(ticket.history) == 1


def test_only_the_current_assignee_takes_the_responders_steps() -> None:
    ticket = opened()
    run(ticket, T0, ("accept", {}), ("dispatch", {"target": "resp-7"}))
    with pytest.raises(TicketError, match="current assignee"):  # another responder
        ticket.handle(cmd(ticket, "start", T0 + 5 * MIN, actor="resp-8"), T0 + 5 * MIN)
    with pytest.raises(TicketError, match="current assignee"):  # an operator does not act for the responder
        ticket.handle(cmd(ticket, "start", T0 + 5 * MIN, actor="op-1"), T0 + 5 * MIN)
    run(ticket, T0 + 6 * MIN, ("dispatch", {"target": "resp-8"}))  # re-dispatched away from resp-7
    for action in ("start", "arrive"):
        with pytest.raises(TicketError, match="current assignee"):
            ticket.handle(cmd(ticket, action, T0 + 8 * MIN, actor="resp-7"), T0 + 8 * MIN)
    assert ticket.status == DISPATCHED and len(ticket.history) == 4
    [ev] = ticket.handle(cmd(ticket, "start", T0 + 9 * MIN, actor="resp-8"), T0 + 9 * MIN)
    assert (ev.actor, ev.to_state) == ("resp-8", IN_PROGRESS)
    with pytest.raises(TicketError, match="current assignee"):
        ticket.handle(cmd(ticket, "resolve", T0 + 10 * MIN, actor="resp-7", note="x"), T0 + 10 * MIN)
    assert ticket.status == IN_PROGRESS


def test_evaluate_rating_out_of_range_is_refused() -> None:
    ticket = opened()
    run(ticket, T0, ("accept", {}), ("dispatch", {"target": "r"}), ("start", {}), ("resolve", {"note": "ok"}))
    with pytest.raises(TicketError, match=r"1\.\.5"):
        ticket.handle(cmd(ticket, "evaluate", T0 + 9 * MIN, rating=6), T0 + 9 * MIN)
    assert ticket.status == RESOLVED


def test_incident_repeat_adds_history_without_state_change() -> None:
    ticket = opened()
    [ev] = ticket.incident_update(incident(count=3, last_ts=T0 + MIN), T0 + MIN)
    assert (ev.action, ev.from_state, ev.to_state, ev.detail["count"]) == ("repeat", DISCOVERED, DISCOVERED, 3)
    assert ticket.incident_update(incident(count=3, last_ts=T0 + MIN), T0 + 2 * MIN) == []
    assert ticket.status == DISCOVERED


def test_sla_breach_once_at_deadline_not_before() -> None:
    ticket, _ = TicketActor.open(incident(severity=1), T0, escalation=[])  # accept within 5 min; SLA alone
    assert ticket.tick(T0 + 5 * MIN - 1) == []
    [ev] = ticket.tick(T0 + 5 * MIN)
    assert ev.action == "sla_breach" and ev.detail["deadline"] == T0 + 5 * MIN
    assert ticket.tick(T0 + 6 * MIN) == [] and ticket.tick(T0 + 60 * MIN) == []


def test_sla_rearms_on_next_state_and_override() -> None:
    ticket, _ = TicketActor.open(incident(), T0, sla={DISPATCHED: 2 * MIN}, escalation=[])
    run(ticket, T0, ("accept", {}), ("dispatch", {"target": "r"}))  # dispatched at T0 + 1 min
    assert ticket.tick(T0 + 3 * MIN - 1) == []
    assert [e.detail["sla_ms"] for e in ticket.tick(T0 + 3 * MIN)] == [2 * MIN]


def test_escalation_levels_in_order() -> None:
    ticket = opened(severity=1)  # levels at 5, 15, 30 min
    levels = [e.detail["level"] for t in range(0, 40) for e in ticket.tick(T0 + t * MIN) if e.action == "escalate"]
    assert levels == [1, 2, 3]
    assert [e.detail["to"] for e in ticket.history if e.action == "escalate"] == [
        "village_officer",
        "township_duty",
        "county",
    ]


def test_named_policy_escalates_from_opening() -> None:
    ticket = opened(severity=1, escalation="elderly_emergency")  # levels at 0, 3, 10 min
    assert [e.detail["level"] for e in ticket.tick(T0) if e.action == "escalate"] == [1]
    assert ticket.tick(T0 + 3 * MIN - 1) == []
    assert [e.detail["level"] for e in ticket.tick(T0 + 3 * MIN)] == [2]


def test_no_escalation_after_ack() -> None:
    ticket = opened(severity=1)
    assert [e.action for e in ticket.tick(T0 + 5 * MIN)] == ["sla_breach", "escalate"]
    ticket.handle(cmd(ticket, "ack", T0 + 6 * MIN), T0 + 6 * MIN)
    assert ticket.tick(T0 + 60 * MIN) == [] and ticket.status == DISCOVERED


def test_manual_escalation_skips_lower_levels_and_refuses_going_back() -> None:
    ticket = opened(severity=1)
    [ev] = ticket.handle(cmd(ticket, "escalate", T0 + MIN, target="3"), T0 + MIN)
    assert (ev.detail["level"], ev.detail["to"]) == (3, "county")
    assert [e.action for e in ticket.tick(T0 + 60 * MIN)] == ["sla_breach"]
    with pytest.raises(TicketError, match="already at level 3"):
        ticket.handle(cmd(ticket, "escalate", T0 + 61 * MIN, target="2"), T0 + 61 * MIN)


def test_no_escalation_after_accept() -> None:
    ticket = opened(severity=1)
    run(ticket, T0 + MIN, ("accept", {}))
    assert [e.action for e in ticket.tick(T0 + 40 * MIN)] == ["sla_breach"]  # 受理: dispatch within 10 min


def test_snapshot_restore_keeps_keys_and_timers() -> None:
    ticket = opened(severity=1)
    accept = cmd(ticket, "accept", T0 + MIN)
    ticket.handle(accept, T0 + MIN)
    ticket.handle(cmd(ticket, "dispatch", T0 + 2 * MIN, target="r"), T0 + 2 * MIN)
    twin = TicketActor.restore(ticket.snapshot())
    assert twin.handle(accept, T0 + 3 * MIN) == []  # replayed after a restart: not applied twice
    assert twin.tick(T0 + 12 * MIN - 1) == []
    a, b = ticket.tick(T0 + 12 * MIN), twin.tick(T0 + 12 * MIN)
    assert a == b and [e.action for e in b] == ["sla_breach"]
    assert msgspec.msgpack.encode(twin.state) == ticket.snapshot()


def test_dispatch_notifies_responder() -> None:
    ticket = opened()
    run(ticket, T0, ("accept", {}))
    events = ticket.handle(cmd(ticket, "dispatch", T0 + MIN, target="resp-7"), T0 + MIN)
    [d] = ticket.dispatches(events)
    assert (d.recipient, d.role, d.dispatch_id, d.ts) == ("resp-7", "responder", "inc-1:resp-7:3", T0 + MIN)


def test_severity_1_sos_notifies_officer_and_family_on_open() -> None:
    sos = incident(
        rule="wristband.sos", category="养老服务", severity=1, title="紧急呼救(SOS)", last_ts=T0 - 2 * S,
        detail={"officer": "off-3", "family": ["fam-1", "fam-2"]},
    )  # fmt: skip
    ticket, events = TicketActor.open(sos, T0)
    got = [(d.recipient, d.role, d.origin_ts) for d in ticket.dispatches(events)]
    assert got == [("off-3", "officer", T0 - 2 * S), ("fam-1", "family", T0 - 2 * S), ("fam-2", "family", T0 - 2 * S)]


def test_non_elderly_open_notifies_nobody() -> None:
    ticket, events = TicketActor.open(incident(severity=1, detail={"officer": "off-3"}), T0)
    assert ticket.dispatches(events) == []
    assert len(ticket.dispatches(events, elderly_rules={"road_blocked"})) == 1

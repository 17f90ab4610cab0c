"""EscalationTracker: each level once, in order, at its time; nothing after ack; snapshot/restore."""

from __future__ import annotations

from pathlib import Path

from rules_testkit import MIN, SEC, T0, engine, ev

from rules.engine import RulesEngine
from rules.escalation import Due, EscalationTracker
from rules.schema import EscalationPolicy

ELDERLY = EscalationPolicy.model_validate(
    {
        "name": "elderly_emergency",
        "levels": [
            {"notify": "village_officer", "after": "0s"},
            {"notify": "township_duty", "after": "3m"},
            {"notify": "county", "after": "10m"},
        ],
    }
)


def test_levels_fire_at_their_time_in_order_once() -> None:
    t = EscalationTracker()
    t.start("inc-1", ELDERLY, T0)
    assert t.due(T0) == [Due("inc-1", 0, "village_officer")]
    assert t.due(T0 + 3 * MIN - SEC) == []
    assert t.due(T0 + 3 * MIN) == [Due("inc-1", 1, "township_duty")]
    assert t.due(T0 + 9 * MIN) == []
    assert t.due(T0 + 10 * MIN) == [Due("inc-1", 2, "county")]
    assert t.due(T0 + 100 * MIN) == []


def test_late_poll_returns_all_due_levels_in_order() -> None:
    t = EscalationTracker()
    t.start("inc-1", ELDERLY, T0)
    assert [d.level for d in t.due(T0 + 11 * MIN)] == [0, 1, 2]


def test_nothing_after_ack() -> None:
    t = EscalationTracker()
    t.start("inc-1", ELDERLY, T0)
    t.due(T0)
    assert t.ack("inc-1") is True
    assert t.due(T0 + 60 * MIN) == [] and t.pending("inc-1") == []


def test_ack_unknown_incident() -> None:
    assert EscalationTracker().ack("nope") is False


def test_incidents_are_independent_and_ordered_by_start() -> None:
    t = EscalationTracker()
    t.start("b", ELDERLY, T0 + MIN)
    t.start("a", ELDERLY, T0)
    assert [(d.incident_id, d.level) for d in t.due(T0 + 4 * MIN)] == [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    assert t.next_due_at() == T0 + 10 * MIN


def test_snapshot_restore_mid_escalation() -> None:
    t = EscalationTracker()
    t.start("inc-1", ELDERLY, T0)
    t.due(T0 + 3 * MIN)  # levels 0 and 1 fired
    restored = EscalationTracker.restore(t.snapshot())
    assert restored.due(T0 + 5 * MIN) == []
    assert restored.pending("inc-1") == ["county"]
    assert restored.due(T0 + 10 * MIN) == [Due("inc-1", 2, "county")]


SOS = """
rules:
  - id: sos
    title: 老人紧急呼救
    when: {event: sos}
    severity: 1
    category: 养老服务
    escalation: elderly_emergency
"""


def test_engine_escalation_survives_engine_snapshot(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [inc] = eng.process(ev("sos", T0), T0)
    assert [d.notify for d in eng.due(T0 + MIN)] == ["village_officer"]
    again = RulesEngine(eng.ruleset)
    again.restore(eng.snapshot())
    assert again.due(T0 + 2 * MIN) == []
    assert again.due(T0 + 3 * MIN) == [Due(inc.incident_id, 1, "township_duty")]
    again.ack(inc.incident_id, T0 + 4 * MIN)
    assert again.due(T0 + 20 * MIN) == []

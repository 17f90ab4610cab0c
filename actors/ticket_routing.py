"""Ticket lifecycle tables: states, allowed transitions, SLA deadlines, escalation schedule and township routing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.gazetteer import Gazetteer

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS

# --- states (一网统管 lifecycle); the Chinese value is what is stored and shown ------------------------------
REPORTED = "上报"  # opened by a citizen or officer report
DISCOVERED = "发现"  # opened by a rule
ACCEPTED = "受理"
DISPATCHED = "分拨"
IN_PROGRESS = "处置中"  # responder took it (接单) or arrived (到场)
RESOLVED = "办结"
EVALUATED = "评价"
RETURNED = "退回"  # sent back with a reason; waits for re-dispatch like 受理
MERGED = "合并"  # closed as a duplicate of another ticket
CLOSED = "关闭"

STATE_EN = {
    REPORTED: "reported", DISCOVERED: "discovered", ACCEPTED: "accepted", DISPATCHED: "dispatched",
    IN_PROGRESS: "in progress", RESOLVED: "resolved", EVALUATED: "evaluated", RETURNED: "returned",
    MERGED: "merged", CLOSED: "closed",
}  # fmt: skip
TERMINAL = frozenset({MERGED, CLOSED})
UNACCEPTED = frozenset({REPORTED, DISCOVERED})  # escalation runs here until ack or accept

ACTION_ZH = {
    "accept": "受理", "dispatch": "分拨", "start": "接单", "arrive": "到场", "resolve": "办结", "evaluate": "评价",
    "return": "退回", "merge": "合并", "merged": "并入重复工单", "close": "关闭", "ack": "确认", "escalate": "升级",
}  # fmt: skip
ACTIONS = frozenset(ACTION_ZH)

# --- allowed transitions: state -> action -> next state (anything absent is refused) --------------------------
_PENDING = {"ack": "", "escalate": "", "merged": ""}  # "" = stay in the same state
_CLOSE = {"close": CLOSED, **_PENDING}
_NEW = {"accept": ACCEPTED, "merge": MERGED, "close": CLOSED, **_PENDING}
_AWAITING_DISPATCH = {"dispatch": DISPATCHED, "merge": MERGED, "close": CLOSED, **_PENDING}
TRANSITIONS: dict[str, dict[str, str]] = {
    REPORTED: _NEW,
    DISCOVERED: _NEW,
    ACCEPTED: _AWAITING_DISPATCH,
    RETURNED: _AWAITING_DISPATCH,
    DISPATCHED: {"start": IN_PROGRESS, "arrive": IN_PROGRESS, "dispatch": DISPATCHED, "return": RETURNED, **_CLOSE},
    IN_PROGRESS: {"arrive": "", "resolve": RESOLVED, "return": RETURNED, "close": CLOSED, **_PENDING},
    RESOLVED: {"evaluate": EVALUATED, "return": RETURNED, "close": CLOSED, "merged": ""},
    EVALUATED: {"close": CLOSED, "merged": ""},
    MERGED: {},
    CLOSED: {},
}
RESTART_ACTIONS = frozenset({"dispatch"})  # a self-transition that still starts a new state visit (new SLA)
NOTE_REQUIRED = frozenset({"resolve", "return"})
ASSIGNEE_ACTIONS = frozenset({"start", "arrive", "resolve"})  # the responder's own steps: the current assignee only
TARGET_REQUIRED = frozenset({"dispatch", "merge", "merged"})

# --- SLA: state -> (ms for severity 1, ms otherwise) to leave that state; absent = no deadline -----------------
SLA_MS: dict[str, tuple[int, int]] = {
    DISCOVERED: (5 * MINUTE_MS, 30 * MINUTE_MS),  # accept
    REPORTED: (5 * MINUTE_MS, 30 * MINUTE_MS),  # accept
    ACCEPTED: (10 * MINUTE_MS, HOUR_MS),  # dispatch
    RETURNED: (10 * MINUTE_MS, HOUR_MS),  # re-dispatch
    DISPATCHED: (10 * MINUTE_MS, 10 * MINUTE_MS),  # responder takes it (接单)
    IN_PROGRESS: (2 * HOUR_MS, 24 * HOUR_MS),  # resolve
}

# --- escalation while unaccepted: level n fires this long after opening, until ack or accept -------------------
# Named policies mirror rules/default/policies.yaml (incident.escalation names one); else by severity.
ESCALATION_POLICIES: dict[str, tuple[int, ...]] = {
    "elderly_emergency": (0, 3 * MINUTE_MS, 10 * MINUTE_MS),
    "public_emergency": (0, 5 * MINUTE_MS, 15 * MINUTE_MS),
    "standard": (0, 30 * MINUTE_MS, 2 * HOUR_MS),
}
ESCALATION_MS: dict[bool, tuple[int, ...]] = {
    True: (5 * MINUTE_MS, 15 * MINUTE_MS, 30 * MINUTE_MS),  # severity 1
    False: (30 * MINUTE_MS, 2 * HOUR_MS, 4 * HOUR_MS),
}
ESCALATION_LEVELS = {1: ("village_officer", "村干部"), 2: ("township_duty", "乡镇值班"), 3: ("county", "县级指挥中心")}

# --- who is told at once on open: severity-1 elderly alarms go to the village officer and the family -------------
ELDERLY_CATEGORIES = frozenset({"养老服务"})
ELDERLY_RULES = frozenset({"wristband.sos", "wristband.fall", "camera.person_fall"})  # rule ids of rules/default


def sla_for(severity: int, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Per-state deadlines (ms) for a ticket of this severity; overrides replace a state's value (0 = none)."""
    out = {state: pair[0 if severity == 1 else 1] for state, pair in SLA_MS.items()}
    for state, ms in (overrides or {}).items():
        if state not in STATE_EN:
            raise ValueError(f"SLA override names unknown state {state!r}; known: {sorted(STATE_EN)}")
        out[state] = int(ms)
    return {state: ms for state, ms in out.items() if ms > 0}


def escalation_for(severity: int, policy: str = "", override: Sequence[int] | None = None) -> list[int]:
    """Escalation offsets (ms after opening) of levels 1..: override, else the named policy, else by severity."""
    if override is None:
        override = ESCALATION_POLICIES.get(policy) or ESCALATION_MS[severity == 1]
    offsets = list(override)
    if len(offsets) > len(ESCALATION_LEVELS) or offsets != sorted(offsets) or any(ms < 0 for ms in offsets):
        raise ValueError(f"escalation offsets must be at most {len(ESCALATION_LEVELS)} ascending ms values: {offsets}")
    return offsets


def township_for(village: str, township: str, gazetteer: Gazetteer | None = None) -> str:
    """The township given, else the village's township in the gazetteer ("" when unknown or ambiguous)."""
    if township or not village:
        return township
    if gazetteer is None:
        from core.gazetteer import load_gazetteer  # cached read of the packaged gazetteer

        gazetteer = load_gazetteer()
    try:
        return gazetteer.village(village).township
    except KeyError:
        pass
    try:
        return gazetteer.township(village).name  # some sources put the township in the village field
    except KeyError:
        return ""

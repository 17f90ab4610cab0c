"""The workflow declaration: who applies, the form, states with SLA and 公示, transitions by duty and level, rules."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from core.access import DUTIES, LEVELS
from core.declared import located
from ledgers.schema import KEY, Check, FieldSpec, Ledger, Requires
from workflows.expr import ExpressionError, compile_rule, symbol_types
from workflows.facts import FACTS

# who starts an item: a villager on the phone, or staff at a level (a township sends a task to villages)
Applicant = Literal["citizen", "village", "township", "county"]
# what a step must add beside the state change
Addition = Literal["opinion", "signature", "amount"]
# the built-in actions the engine itself takes: timers and the village's objection to a posting
TIMER_ACTIONS = frozenset({"posting_ended", "sla_breached"})
OBJECT = "object"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class State(_Strict):
    """One state of an item: its label, who is working on it, its time limit, and whether it is a 公示 or an end."""

    key: str = Field(pattern=KEY, description="State name, unique in the item.")
    label: str = Field(min_length=1, max_length=20, description="Chinese label shown on timelines (村委会审核).")
    sla_days: int | None = Field(
        None, ge=1, le=90, description="Working days (the Chinese calendar) allowed in this state before it is overdue."
    )
    escalate_to: Literal["township", "county"] = Field(
        "township", description="Level told when the SLA is breached (like a ticket's escalation)."
    )
    posting_days: int | None = Field(
        None, ge=1, le=30, description="A 公示: calendar days it stays posted in the village; then `posting_ended`."
    )
    objection_to: str | None = Field(
        None, description="Of a 公示: the state an objection (异议) returns the application to, objection attached."
    )
    end: Literal["approved", "rejected", "withdrawn", "done"] | None = Field(
        None, description="An end state and its outcome; no transition leaves it."
    )

    @model_validator(mode="after")
    def _coherent(self) -> State:
        if (self.posting_days is None) != (self.objection_to is None):
            raise ValueError(f"state {self.key}: a 公示 takes both `posting_days` and `objection_to`")
        if self.end and (self.sla_days or self.posting_days):
            raise ValueError(f"state {self.key}: an end state has no time limit and is no 公示")
        return self


class Transition(_Strict):
    """One action: from which states to which, who may take it (duty and level, or the applicant), and its guard."""

    action: str = Field(pattern=KEY, description="Action name (approve, reject, return …); unique per source state.")
    label: str = Field(min_length=1, max_length=20, description="Chinese button label (同意, 退回 …).")
    source: list[str] = Field(min_length=1, alias="from", description="States the action may be taken from.")
    to: str = Field(description="State the action leads to.")
    by: Literal["staff", "applicant", "timer"] = Field(
        "staff", description="Staff (by duty and level), the applicant, or the engine's own timer (posting_ended)."
    )
    duties: list[str] = Field(default_factory=lambda: ["officer"], description="Staff duties that may take it.")
    level: Literal["county", "township", "village"] = Field(
        "village", description="Level of the staff who may take it; their area must hold the application's village."
    )
    when: str | None = Field(
        None, description="Guard on the form and facts (rule-engine expression), e.g. `amount > 2000`."
    )
    fills: list[str] = Field(
        default_factory=list, description="Form fields this step fills in (a village reporting a task's data)."
    )
    adds: list[Addition] = Field(
        default_factory=list, description="What the step must add: opinion, signature, amount."
    )
    internal: bool = Field(False, description="The step's opinion is internal: the applicant's timeline omits it.")
    self_approval: bool = Field(False, description="The applicant's own account may take it (normally refused).")
    notify: str = Field("", max_length=80, description="Chinese message to the applicant; empty means the state label.")
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _coherent(self) -> Transition:
        unknown = sorted(set(self.duties) - set(DUTIES))
        if unknown:
            raise ValueError(f"action {self.action}: unknown duties {', '.join(unknown)}")
        if self.level not in LEVELS:
            raise ValueError(f"action {self.action}: unknown level {self.level}")
        if (self.by == "timer") != (self.action in TIMER_ACTIONS):
            raise ValueError(f"action {self.action}: timer actions are {', '.join(sorted(TIMER_ACTIONS))}")
        return self


class Case(_Strict):
    """One line of an amount rule: the first case whose `when` holds gives the amount."""

    when: str = Field("true", description="Condition on the form and facts (rule-engine expression).")
    amount: Decimal = Field(ge=0, description="Amount in 元 (or, with `per`, per unit).")
    per: str | None = Field(None, description="A number field or fact multiplied by `amount` (亩, 头, 箱).")
    label: str = Field("", description="Chinese explanation shown with the computed amount (省外务工).")


class Rules(_Strict):
    """Eligibility and amount: expressions over the form and the facts drawn from the ledgers, never `eval`."""

    eligible: str | None = Field(None, description="Who qualifies (expression); refused applications say why.")
    eligible_message: str = Field("", description="Chinese reason shown when `eligible` does not hold.")
    amount: list[Case] = Field(default_factory=list, description="Amount cases, first match wins; none: no amount.")
    year: int | None = Field(None, ge=2020, le=2035, description="Year the rates apply to (dated configuration).")


class Document(_Strict):
    """What an approved item issues: a PDF with a verification code and QR."""

    kind: Literal["certificate", "notice"] = Field(description="A certificate (证明) or an approval notice (通知书).")
    title: str = Field(min_length=1, description="Chinese title printed on the document.")
    body: str = Field(min_length=1, description="Text with {field} and {fact} placeholders, filled at issue.")
    issuer: Literal["village", "township"] = Field("village", description="Whose seal the document carries.")
    state: str = Field(description="State in which the document is issued (an end state).")


class Item(_Strict):
    """One declared item (事项): the form, the states, the transitions, the rules and the guide text."""

    item: str = Field(pattern=KEY, description="Item key; unique over all files.")
    title: str = Field(min_length=1, max_length=30, description="Chinese title (劳务补贴申请).")
    category: Literal["小微权力", "证明开具", "民事村办", "民宿预约", "任务"] = Field(description="Where it is listed.")
    prefix: str = Field(pattern=r"^[A-Z]{2,4}$", description="Application number prefix.")
    summary: str = Field(min_length=1, max_length=300, description="Chinese summary for the 事项指南.")
    basis: str = Field("", max_length=300, description="Legal or policy basis shown in the guide.")
    handler: str = Field("", max_length=60, description="Who handles it, shown in the guide (村委会, 乡镇民政办).")
    materials: list[str] = Field(default_factory=list, description="Materials the applicant prepares (guide).")
    applicants: list[Applicant] = Field(min_length=1, description="Who may start it.")
    household: bool = Field(
        False, description="The applicant must be in the 户情 ledger; their household's facts feed the rules."
    )
    module: str | None = Field(
        None,
        pattern=KEY,
        description="Module workflows.extra.<name>: `check(store, township, village, form)` at apply.",
    )
    form: list[FieldSpec] = Field(min_length=1, description="The form, typed and checked like ledger fields.")
    checks: list[Check] = Field(default_factory=list, description="Cross-field checks on the form.")
    requires: list[Requires] = Field(default_factory=list, description="Conditional requirements on the form.")
    states: list[State] = Field(min_length=2, description="The states; the first is where an application starts.")
    transitions: list[Transition] = Field(min_length=1, description="The declared actions.")
    rules: Rules = Field(default_factory=Rules, description="Eligibility and amount.")
    document: Document | None = Field(None, description="The document an approved application issues.")
    _states: dict[str, State] = PrivateAttr(default_factory=dict)
    _fields: dict[str, FieldSpec] = PrivateAttr(default_factory=dict)
    _form: Ledger | None = PrivateAttr(None)
    _symbols: tuple[tuple[str, str], ...] = PrivateAttr(())

    @model_validator(mode="after")
    def _consistent(self) -> Item:
        self._symbols = symbol_types(self.form, FACTS)
        states = {s.key: s for s in self.states}
        problems: list[tuple[str, str]] = []
        if len(states) != len(self.states):
            problems.append(("states", "duplicate state key"))
        keys = [f.key for f in self.form]
        problems += [("form", f"duplicate field key {k!r}") for k in sorted({k for k in keys if keys.count(k) > 1})]
        seen: set[tuple[str, str]] = set()
        for i, t in enumerate(self.transitions):
            at = f"transitions.{i}"
            for name in (*t.source, t.to):
                if name not in states:
                    problems.append((at, f"action {t.action} names unknown state {name!r}"))
            for name in t.source:
                if name in states and states[name].end:
                    problems.append((at, f"action {t.action} leaves the end state {name!r}"))
                if (name, t.action) in seen:
                    problems.append((at, f"action {t.action} is declared twice from {name!r}"))
                seen.add((name, t.action))
        known = {f.key for f in self.form}
        for i, t in enumerate(self.transitions):
            problems += [(f"transitions.{i}.fills", f"action {t.action} fills unknown field {k!r}")
                         for k in t.fills if k not in known]  # fmt: skip
        for i, s in enumerate(self.states):
            if s.objection_to is not None and s.objection_to not in states:
                problems.append((f"states.{i}", f"objection_to names unknown state {s.objection_to!r}"))
            if s.posting_days and not any(t.action == "posting_ended" and s.key in t.source for t in self.transitions):
                problems.append((f"states.{i}", f"公示 {s.key} needs a `posting_ended` transition out of it"))
            if not s.end and not any(s.key in t.source for t in self.transitions):
                problems.append((f"states.{i}", f"state {s.key} is no end state and no action leaves it"))
        if self.states[0].end:
            problems.append(("states.0", "an application cannot start in an end state"))
        if self.document is not None and (self.document.state not in states or not states[self.document.state].end):
            problems.append(("document.state", "the document is issued in an end state"))
        problems += self._expression_problems()
        try:
            form = Ledger(
                ledger=self.item,
                title=self.title,
                prefix=self.prefix,
                fields=self.form,
                checks=self.checks,
                requires=self.requires,
            )
        except ValidationError as exc:
            problems += [("form", e["msg"].removeprefix("Value error, ").replace("\x00", " ")) for e in exc.errors()]
        if problems:
            raise ValueError(located(problems))
        self._states, self._fields, self._form = states, {f.key: f for f in self.form}, form
        return self

    def _expression_problems(self) -> list[tuple[str, str]]:
        """Every expression compiled against the form's and the facts' types."""
        exprs = [(f"transitions.{i}.when", t.when) for i, t in enumerate(self.transitions) if t.when]
        exprs += [("rules.eligible", self.rules.eligible)] if self.rules.eligible else []
        exprs += [(f"rules.amount.{i}.when", c.when) for i, c in enumerate(self.rules.amount)]
        out = []
        for at, text in exprs:
            try:
                compile_rule(text, self.symbols)
            except ExpressionError as exc:
                out.append((at, str(exc)))
        numbers = {k for k, kind in self.symbols if kind in ("integer", "decimal")}
        out += [
            (f"rules.amount.{i}.per", f"`per` must name a number field or fact, not {c.per!r}")
            for i, c in enumerate(self.rules.amount)
            if c.per is not None and c.per not in numbers
        ]
        return out

    @property
    def symbols(self) -> tuple[tuple[str, str], ...]:
        """The typed symbols the item's expressions may name."""
        return self._symbols

    @property
    def form_ledger(self) -> Ledger:
        """The form as a ledger declaration, so its values are checked exactly like ledger records."""
        assert self._form is not None
        return self._form

    @property
    def definition(self) -> str:
        """The declaration's version: a digest of its content; every application is pinned to the one it began on."""
        return hashlib.sha256(self.model_dump_json(by_alias=True).encode()).hexdigest()[:16]

    def state(self, key: str) -> State:
        """The state of that key; KeyError when none."""
        return self._states[key]

    def field(self, key: str) -> FieldSpec:
        """The form field of that key; KeyError when none."""
        return self._fields[key]

    @property
    def start(self) -> State:
        """The state every application starts in."""
        return self.states[0]

    def actions_from(self, state: str) -> list[Transition]:
        """The declared actions out of a state, in declaration order."""
        return [t for t in self.transitions if state in t.source]

"""The pure workflow engine: open an application, take an action, run a timer. The clock is always an argument."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import msgspec

from core.access import LEVEL_ZH, User, in_scope
from workflows.calendar import posting_ends, working_days_due
from workflows.expr import holds
from workflows.schema import OBJECT, Item, Transition

MAX_OPINION = 500


class Instance(msgspec.Struct, kw_only=True):
    """One application (or task) and where it stands; pinned to the item definition it started on."""

    id: str
    item: str
    definition: str
    township: str
    village: str
    applicant: str  # the applicant's account (a citizen's or staff's username)
    applicant_name: str
    state: str
    version: int = 1
    form: dict[str, Any] = msgspec.field(default_factory=dict)  # typed values
    facts: dict[str, Any] = msgspec.field(default_factory=dict)
    amount: Decimal | None = None
    amount_basis: str = ""  # why the amount is what it is
    entered_at: int = 0  # when the current state was entered
    sla_due: int | None = None
    posting_until: int | None = None
    overdue: bool = False
    objections: int = 0
    created_at: int = 0
    updated_at: int = 0
    batch: str = ""  # tasks: the send they belong to
    outcome: str = ""  # approved | rejected | withdrawn | done, once ended


class Step(msgspec.Struct, kw_only=True):
    """One transition as audited: who (account, duty, level), when, from where, and what they added."""

    seq: int
    action: str
    label: str
    from_state: str
    to_state: str
    actor: str
    actor_name: str
    duty: str
    level: str
    ts: int
    ip: str = ""
    opinion: str = ""
    internal: bool = False
    signature: str = ""
    amount: Decimal | None = None
    trace: list[str] = msgspec.field(default_factory=list)


class Command(msgspec.Struct, kw_only=True):
    """An action asked for; `key` makes it idempotent end to end (a repeat applies once)."""

    key: str
    instance_id: str
    action: str
    ts: int
    opinion: str = ""
    signature: str = ""
    amount: Decimal | None = None
    version: int | None = None  # the version the actor saw; a different one is a stale action
    ip: str = ""
    values: dict[str, Any] = msgspec.field(default_factory=dict)  # form fields the step fills (typed by the store)


class Notice(msgspec.Struct, kw_only=True):
    """A message the step sends: to the applicant (push, SMS fallback) or to a level on an SLA breach."""

    instance_id: str
    to: str  # an account, or "level:<township|county>" for escalations
    text: str
    ts: int


class Refused(ValueError):
    """An action or application refused; `kind` is access | invalid | stale | ended, the message is Chinese."""

    def __init__(self, kind: str, reason: str, errors: Mapping[str, str] | None = None) -> None:
        super().__init__(reason)
        self.kind, self.reason, self.errors = kind, reason, dict(errors or {})


class Result(msgspec.Struct, kw_only=True):
    """What one action produced: the instance after it, the step to log, the notices to send."""

    instance: Instance
    step: Step
    notices: list[Notice]


def is_citizen(user: User) -> bool:
    """A villager's account from the phone end: it holds no staff duty."""
    return not user.duties


def _duty_of(user: User, allowed: list[str]) -> str:
    return next((d for d in user.duties if d in allowed), "")


def refusal(t: Transition, inst: Instance, user: User) -> str | None:
    """Why the user may not take the action on this application (None: they may)."""
    if t.by == "timer":
        return "此步骤由系统按时限自动办理"
    if t.by == "applicant":
        return None if user.username == inst.applicant else "只有申请人本人可以办理此步骤"
    if not _duty_of(user, t.duties) or user.level != t.level:
        return f"此步骤须由{LEVEL_ZH[t.level]}相关人员办理"
    if not in_scope(user, inst.township, inst.village):
        return "该申请不在您的管辖范围内"
    if user.username == inst.applicant and not t.self_approval:
        return "不能审批本人提交的申请"
    return None


def _values(inst: Instance) -> dict[str, Any]:
    return {**inst.facts, **inst.form, "amount": inst.amount, "objections": inst.objections}


def available(item: Item, inst: Instance, user: User, now: int) -> list[Transition]:
    """The actions the user may take now: declared from the state, allowed for them, their guard holding."""
    out = [
        t
        for t in item.actions_from(inst.state)
        if refusal(t, inst, user) is None and (t.when is None or holds(t.when, item.symbols, _values(inst)))
    ]
    if may_object(item, inst, user, now):
        out.append(objection(item, inst))
    return out


def may_object(item: Item, inst: Instance, user: User, now: int) -> bool:
    """Whether the user may file an objection: the application is posted, the posting runs, they are of the village."""
    state = item.state(inst.state)
    return (
        state.posting_days is not None
        and inst.posting_until is not None
        and now < inst.posting_until
        and in_scope(user, inst.township, inst.village)
        and user.level == "village"
    )


def objection(item: Item, inst: Instance) -> Transition:
    """The built-in objection (异议) of a 公示: back to the declared state, the objection attached."""
    back = item.state(inst.state).objection_to or inst.state
    return Transition.model_validate(
        {
            "action": OBJECT,
            "label": "提出异议",
            "from": [inst.state],
            "to": back,
            "by": "applicant",
            "adds": ["opinion"],
            "notify": "公示期间收到异议,退回重新审核",
        }
    )


def amount_of(item: Item, values: Mapping[str, Any]) -> tuple[Decimal | None, str]:
    """The declared amount on these values and its explanation (None, reason when no case applies)."""
    for case in item.rules.amount:
        if not holds(case.when, item.symbols, values):
            continue
        if case.per is None:
            return case.amount, f"{case.label or case.when}:{case.amount}元"
        units = values.get(case.per)
        if units is None:
            return None, f"{case.label or case.when}:缺少{case.per}"
        total = (case.amount * Decimal(str(units))).quantize(Decimal("0.01"))
        return total, f"{case.label or case.when}:{case.amount}元 × {units} = {total}元"
    return None, "无适用的补贴标准" if item.rules.amount else ""


def _enter(item: Item, inst: Instance, state: str, now: int) -> Instance:
    s = item.state(state)
    return msgspec.structs.replace(
        inst,
        state=state,
        entered_at=now,
        overdue=False,
        updated_at=now,
        sla_due=working_days_due(now, s.sla_days) if s.sla_days else None,
        posting_until=posting_ends(now, s.posting_days) if s.posting_days else None,
        outcome=s.end or "",
    )


def _notice(t: Transition, item: Item, inst: Instance, now: int) -> Notice:
    text = t.notify or f"您的“{item.title}”({inst.id})已进入“{item.state(inst.state).label}”"
    return Notice(instance_id=inst.id, to=inst.applicant, text=text, ts=now)


def open_application(
    item: Item,
    user: User,
    *,
    id: str,
    township: str,
    village: str,
    form: dict[str, Any],
    facts: dict[str, Any],
    applicant_name: str,
    now: int,
    batch: str = "",
) -> Result:
    """A new application in the item's first state, its eligibility checked and its amount computed; Refused."""
    kind = "citizen" if is_citizen(user) else user.level
    if kind not in item.applicants:
        raise Refused("access", f"“{item.title}”不受理此类账号的申请")
    if not is_citizen(user) and not in_scope(user, township, village):
        raise Refused("access", "申请所在村不在您的管辖范围内")
    values = {**facts, **form}
    if item.rules.eligible and not holds(item.rules.eligible, item.symbols, values):
        raise Refused("invalid", item.rules.eligible_message or "不符合申请条件")
    amount, basis = amount_of(item, values)
    inst = Instance(
        id=id,
        item=item.item,
        definition=item.definition,
        township=township,
        village=village,
        applicant=user.username,
        applicant_name=applicant_name,
        state=item.start.key,
        form=form,
        facts=facts,
        amount=amount,
        amount_basis=basis,
        created_at=now,
        batch=batch,
    )
    inst = _enter(item, inst, item.start.key, now)
    trace = [f"条件:{item.rules.eligible} 成立"] if item.rules.eligible else []
    step = Step(
        seq=1,
        action="apply",
        label="提交申请",
        from_state="",
        to_state=inst.state,
        actor=user.username,
        actor_name=user.name,
        duty=_duty_of(user, list(user.duties)) or "citizen",
        level=user.level,
        ts=now,
        amount=amount,
        trace=trace + ([basis] if basis else []),
    )
    notice = Notice(instance_id=id, to=user.username, text=f"您的“{item.title}”已受理,编号{id}", ts=now)
    return Result(instance=inst, step=step, notices=[notice])


def _find(item: Item, inst: Instance, cmd: Command, user: User, now: int) -> Transition:
    if item.state(inst.state).end:
        raise Refused("ended", "该申请已办结,不能再办理")
    if cmd.action == OBJECT:
        if item.state(inst.state).posting_days is None:
            raise Refused("invalid", "该申请不在公示期,不能提出异议")
        if inst.posting_until is not None and now >= inst.posting_until:
            raise Refused("invalid", "公示期已结束,不能再提出异议")
        if not may_object(item, inst, user, now):
            raise Refused("access", "只有本村村民和村干部可以对本村公示提出异议")
        return objection(item, inst)
    t = next((t for t in item.actions_from(inst.state) if t.action == cmd.action), None)
    if t is None:
        raise Refused("invalid", f"当前状态“{item.state(inst.state).label}”不能办理“{cmd.action[:20]}”")
    reason = refusal(t, inst, user)
    if reason is not None:
        raise Refused("access", reason)
    if t.when is not None and not holds(t.when, item.symbols, _values(inst)):
        raise Refused("invalid", f"不满足办理条件:{t.when}")
    return t


def _additions(t: Transition, cmd: Command) -> dict[str, str]:
    errors = {}
    if "opinion" in t.adds and not cmd.opinion.strip():
        errors["opinion"] = "请填写意见" if t.action != OBJECT else "请写明异议内容"
    if "signature" in t.adds and not cmd.signature.strip():
        errors["signature"] = "请签名"
    if "amount" in t.adds and (cmd.amount is None or cmd.amount < 0):
        errors["amount"] = "请填写核定金额"
    if len(cmd.opinion) > MAX_OPINION:
        errors["opinion"] = f"意见不超过{MAX_OPINION}字"
    for key in cmd.values:
        if key not in t.fills:
            errors[str(key)[:40]] = "此步骤不能填写该项"
    return errors


def apply(item: Item, inst: Instance, cmd: Command, user: User, seq: int, now: int) -> Result:
    """Take an action: declared, allowed, guarded, current, with what it must add; Refused otherwise."""
    if cmd.version is not None and cmd.version != inst.version:
        raise Refused("stale", "该申请已被他人办理,请刷新后再操作")
    t = _find(item, inst, cmd, user, now)
    errors = _additions(t, cmd)
    if errors:
        raise Refused("invalid", "；".join(errors.values()), errors)
    moved = _enter(item, inst, t.to, now)
    amount = cmd.amount if "amount" in t.adds else inst.amount
    moved = msgspec.structs.replace(
        moved,
        version=inst.version + 1,
        amount=amount,
        objections=inst.objections + (t.action == OBJECT),
        form={**inst.form, **cmd.values},
    )
    trace = [f"条件:{t.when} 成立"] if t.when else []
    step = Step(
        seq=seq,
        action=t.action,
        label=t.label,
        from_state=inst.state,
        to_state=t.to,
        actor=user.username,
        actor_name=user.name,
        duty=_duty_of(user, t.duties if t.by == "staff" else list(user.duties))
        or ("applicant" if user.username == inst.applicant else "citizen"),
        level=user.level,
        ts=now,
        ip=cmd.ip,
        opinion=cmd.opinion.strip(),
        internal=t.internal,
        signature=cmd.signature.strip(),
        amount=amount if "amount" in t.adds else None,
        trace=trace,
    )
    return Result(instance=moved, step=step, notices=[_notice(t, item, moved, now)])


def due(item: Item, inst: Instance, now: int) -> str | None:
    """The timer action that is due now, if any: a 公示 that has run out, or a breached SLA."""
    if item.state(inst.state).end:
        return None
    if inst.posting_until is not None and now >= inst.posting_until:
        return "posting_ended"
    if inst.sla_due is not None and not inst.overdue and now >= inst.sla_due:
        return "sla_breached"
    return None


def next_due(inst: Instance) -> int | None:
    """When the instance's next timer falls due (None: no timer runs)."""
    times = [t for t in (inst.posting_until, None if inst.overdue else inst.sla_due) if t is not None]
    return min(times) if times else None


def run_timer(item: Item, inst: Instance, action: str, seq: int, now: int) -> Result:
    """The engine's own step: end a 公示 along its declared transition, or mark an SLA breach and escalate."""
    state = item.state(inst.state)
    if action == "posting_ended":
        t = next(t for t in item.actions_from(inst.state) if t.action == "posting_ended")
        moved = msgspec.structs.replace(_enter(item, inst, t.to, now), version=inst.version + 1)
        step = Step(
            seq=seq,
            action=t.action,
            label=t.label,
            from_state=inst.state,
            to_state=t.to,
            actor="system",
            actor_name="系统",
            duty="timer",
            level="",
            ts=now,
            trace=[f"公示{state.posting_days}天期满,无异议"],
        )
        return Result(instance=moved, step=step, notices=[_notice(t, item, moved, now)])
    moved = msgspec.structs.replace(inst, overdue=True, version=inst.version + 1, updated_at=now)
    text = f"“{item.title}”{inst.id}在“{state.label}”超过{state.sla_days}个工作日未办理({inst.township}{inst.village})"
    step = Step(
        seq=seq,
        action="sla_breached",
        label="超时督办",
        from_state=inst.state,
        to_state=inst.state,
        actor="system",
        actor_name="系统",
        duty="timer",
        level="",
        ts=now,
        trace=[f"时限{state.sla_days}个工作日,已超时,上报{LEVEL_ZH[state.escalate_to]}"],
    )
    return Result(
        instance=moved,
        step=step,
        notices=[Notice(instance_id=inst.id, to=f"level:{state.escalate_to}", text=text, ts=now)],
    )


def applicant_view(steps: list[Step]) -> list[Step]:
    """The timeline the applicant sees: every step, internal opinions and staff accounts left out."""
    return [
        msgspec.structs.replace(s, opinion="" if s.internal else s.opinion, actor="", ip="", trace=[]) for s in steps
    ]

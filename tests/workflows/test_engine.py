"""The pure workflow engine on a small inline item: guards, additions, working-day SLA, 公示 and objections."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
import yaml
from ledger_testkit import OFFICER_A, OFFICER_B, TOWNSHIP_OP_A, TOWNSHIP_OP_B

from core.access import User
from core.clock import BEIJING
from workflows import engine
from workflows.calendar import is_working_day, posting_ends, working_days_due
from workflows.engine import Command, Instance, Refused, Step
from workflows.schema import Item

ITEM = Item.model_validate(
    yaml.safe_load(
        """
item: test_grant
title: 测试补贴
category: 小微权力
prefix: TG
summary: 测试用事项。
applicants: [citizen, village]
form:
  - {key: reason, label: 事由, type: text, required: true}
  - {key: acres, label: 亩数, type: decimal}
rules:
  amount:
    - {when: acres > 0, amount: 100, per: acres, label: 每亩补贴}
states:
  - {key: village_review, label: 村委会审核, sla_days: 5}
  - {key: posting, label: 村内公示, posting_days: 5, objection_to: village_review}
  - {key: township_review, label: 乡镇复核, sla_days: 10}
  - {key: approved, label: 已审批, end: approved}
  - {key: rejected, label: 未通过, end: rejected}
  - {key: withdrawn, label: 已撤回, end: withdrawn}
transitions:
  - {action: approve, label: 通过并公示, from: [village_review], to: posting, adds: [opinion], when: amount > 0}
  - {action: reject, label: 不予通过, from: [village_review], to: rejected, adds: [opinion]}
  - {action: posting_ended, label: 公示期满, from: [posting], to: township_review, by: timer}
  - {action: approve, label: 复核通过, from: [township_review], to: approved, duties: [officer, operator],
     level: township, adds: [opinion, signature, amount]}
  - {action: return, label: 退回, from: [township_review], to: village_review, duties: [officer, operator],
     level: township, adds: [opinion], internal: true}
  - {action: withdraw, label: 撤回申请, from: [village_review], to: withdrawn, by: applicant}
"""
    )
)
T0 = int(dt.datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING).timestamp() * 1000)  # the eve of 国庆 2026
HOUR = 3_600_000
CITIZEN = User(username="c:13909410001", name="张三", level="village", duties=[], township="大川镇", village="狼岔坝村")
NEIGHBOUR = User(
    username="c:13909410002", name="李四", level="village", duties=[], township="大川镇", village="狼岔坝村"
)
RESPONDER_A = User(username="resp_a", name="处置员", level="village", duties=["responder"], township="大川镇",
                   village="狼岔坝村")  # fmt: skip


def _ms(y: int, m: int, d: int) -> int:
    return int(dt.datetime(y, m, d, tzinfo=BEIJING).timestamp() * 1000)


def _open(user: User = CITIZEN, acres: str | None = "2.5", now: int = T0) -> Instance:
    form = {"reason": "种植", **({"acres": Decimal(acres)} if acres else {})}
    return engine.open_application(
        ITEM,
        user,
        id="TG1",
        township="大川镇",
        village="狼岔坝村",
        form=form,
        facts={},
        applicant_name=user.name,
        now=now,
    ).instance


def _cmd(action: str, **kw: object) -> Command:
    return Command(key=f"k-{action}", instance_id="TG1", action=action, ts=0, **kw)  # type: ignore[arg-type]


def _act(inst: Instance, user: User, action: str, now: int = T0, **kw: object) -> Instance:
    return engine.apply(ITEM, inst, _cmd(action, **kw), user, inst.version + 1, now).instance


def _at_township(now: int = T0) -> Instance:
    posted = _act(_open(), OFFICER_A, "approve", opinion="同意", now=now)
    return engine.run_timer(ITEM, posted, "posting_ended", 3, posted.posting_until or 0).instance


def _actions(inst: Instance, user: User, now: int = T0) -> list[str]:
    return [t.action for t in engine.available(ITEM, inst, user, now)]


def test_open_computes_amount_and_sla() -> None:
    inst = _open()
    assert (inst.state, inst.amount, inst.version) == ("village_review", Decimal("250.00"), 1)
    assert "250.00元" in inst.amount_basis
    assert inst.sla_due == working_days_due(T0, 5)
    with pytest.raises(Refused) as exc:
        _open(user=TOWNSHIP_OP_B)
    assert exc.value.kind == "access"


def test_available_lists_exactly_the_allowed_actions() -> None:
    inst = _open()
    assert _actions(inst, OFFICER_A) == ["approve", "reject"]
    assert _actions(inst, CITIZEN) == ["withdraw"]
    assert _actions(inst, NEIGHBOUR) == []
    assert _actions(inst, TOWNSHIP_OP_A) == []
    assert _actions(inst, OFFICER_B) == []
    assert _actions(inst, RESPONDER_A) == []
    assert _actions(_open(acres=None), OFFICER_A) == ["reject"]  # the `when: amount > 0` guard fails
    up = _at_township()
    assert _actions(up, TOWNSHIP_OP_A, up.entered_at) == ["approve", "return"]
    assert _actions(up, OFFICER_A, up.entered_at) == []
    assert _actions(up, TOWNSHIP_OP_B, up.entered_at) == []


@pytest.mark.parametrize(
    ("case", "user", "action", "kind", "reason"),
    [
        ("wrong level", TOWNSHIP_OP_A, "approve", "access", "此步骤须由村级相关人员办理"),
        ("wrong duty", RESPONDER_A, "approve", "access", "此步骤须由村级相关人员办理"),
        ("other village", OFFICER_B, "approve", "access", "该申请不在您的管辖范围内"),
        ("applicant only", OFFICER_A, "withdraw", "access", "只有申请人本人可以办理此步骤"),
        ("citizen approves", CITIZEN, "approve", "access", "此步骤须由村级相关人员办理"),
        ("timer action", OFFICER_A, "posting_ended", "invalid", "不能办理"),
        ("undeclared", OFFICER_A, "teleport", "invalid", "当前状态“村委会审核”不能办理“teleport”"),
    ],
)
def test_guards_refuse_with_kind_and_chinese_reason(case: str, user: User, action: str, kind: str, reason: str) -> None:
    inst = _open()
    before = copy.deepcopy(inst)
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, inst, _cmd(action, opinion="同意"), user, 2, T0)
    assert exc.value.kind == kind, case
    assert reason in exc.value.reason, case
    assert inst == before


def test_timer_action_refused_to_staff() -> None:
    posted = _act(_open(), OFFICER_A, "approve", opinion="同意")
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, posted, _cmd("posting_ended"), OFFICER_A, 3, T0)
    assert (exc.value.kind, exc.value.reason) == ("access", "此步骤由系统按时限自动办理")


def test_self_approval_refused_for_staff_applicant() -> None:
    inst = _open(user=OFFICER_A)
    assert _actions(inst, OFFICER_A) == ["withdraw"]
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, inst, _cmd("approve", opinion="同意"), OFFICER_A, 2, T0)
    assert (exc.value.kind, exc.value.reason) == ("access", "不能审批本人提交的申请")
    other = User(username="officer_a2", name="另一村干部", level="village", duties=["officer"], township="大川镇",
                 village="狼岔坝村")  # fmt: skip
    assert _act(inst, other, "approve", opinion="同意").state == "posting"


def test_when_condition_false_refused() -> None:
    inst = _open(acres=None)
    assert inst.amount is None
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, inst, _cmd("approve", opinion="同意"), OFFICER_A, 2, T0)
    assert exc.value.kind == "invalid"
    assert exc.value.reason.startswith("不满足办理条件")


def test_ended_application_refused() -> None:
    done = _act(_open(), OFFICER_A, "reject", opinion="不符合")
    assert (done.state, done.outcome, done.sla_due) == ("rejected", "rejected", None)
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, done, _cmd("approve", opinion="同意"), OFFICER_A, 3, T0)
    assert (exc.value.kind, exc.value.reason) == ("ended", "该申请已办结,不能再办理")
    assert engine.due(ITEM, done, T0 + 1000 * HOUR) is None


@pytest.mark.parametrize(
    ("kw", "missing", "reason"),
    [
        ({"signature": "王五", "amount": Decimal("250")}, "opinion", "请填写意见"),
        ({"opinion": "   ", "signature": "王五", "amount": Decimal("250")}, "opinion", "请填写意见"),
        ({"opinion": "同意", "amount": Decimal("250")}, "signature", "请签名"),
        ({"opinion": "同意", "signature": "王五"}, "amount", "请填写核定金额"),
        ({"opinion": "同意", "signature": "王五", "amount": Decimal("-1")}, "amount", "请填写核定金额"),
        ({"opinion": "长" * 501, "signature": "王五", "amount": Decimal("1")}, "opinion", "意见不超过500字"),
    ],
)
def test_missing_additions_refused_and_nothing_changed(kw: dict[str, object], missing: str, reason: str) -> None:
    up = _at_township()
    before = copy.deepcopy(up)
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, up, _cmd("approve", **kw), TOWNSHIP_OP_A, 4, up.entered_at)
    assert exc.value.kind == "invalid"
    assert exc.value.errors == {missing: reason}
    assert up == before


def test_township_approval_records_amount_and_signature() -> None:
    up = _at_township()
    cmd = _cmd("approve", opinion=" 同意 ", signature="王五", amount=Decimal("200"), ip="10.0.0.1")
    result = engine.apply(ITEM, up, cmd, TOWNSHIP_OP_A, 4, up.entered_at)
    assert (result.instance.state, result.instance.outcome, result.instance.amount) == (
        "approved",
        "approved",
        Decimal("200"),
    )
    assert (result.step.opinion, result.step.signature, result.step.duty, result.step.ip) == (
        "同意",
        "王五",
        "operator",
        "10.0.0.1",
    )
    assert [n.to for n in result.notices] == [CITIZEN.username]


def test_stale_version_refused() -> None:
    moved = _act(_open(), OFFICER_A, "approve", opinion="同意")
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, moved, _cmd("posting_ended", version=1), OFFICER_A, 3, T0)
    assert exc.value.kind == "stale"
    assert "刷新" in exc.value.reason


def test_working_days_on_the_chinese_calendar() -> None:
    assert is_working_day(dt.date(2026, 10, 10))  # an adjusted Saturday workday after 国庆
    assert is_working_day(dt.date(2026, 9, 20))  # an adjusted Sunday workday
    assert not is_working_day(dt.date(2026, 10, 6)) and not is_working_day(dt.date(2026, 9, 26))
    # 09-30 + 5 working days: 10-01..07 off, then 10-08, 10-09, 10-10 (Sat, worked), 10-12, 10-13
    assert working_days_due(T0, 5) == _ms(2026, 10, 14)
    assert working_days_due(_ms(2026, 10, 9) + 10 * HOUR, 1) == _ms(2026, 10, 11)  # Saturday 10-10 counts
    assert working_days_due(_ms(2026, 9, 18) + 10 * HOUR, 1) == _ms(2026, 9, 21)  # Sunday 09-20 counts
    assert working_days_due(_ms(2026, 9, 11) + 10 * HOUR, 1) == _ms(2026, 9, 15)  # a plain weekend is skipped
    assert posting_ends(T0, 5) == _ms(2026, 10, 5)  # calendar days, holidays included


def test_sla_breach_marks_overdue_once_and_escalates() -> None:
    inst = _open()
    assert inst.sla_due == _ms(2026, 10, 14)
    assert engine.due(ITEM, inst, _ms(2026, 10, 14) - 1) is None
    assert engine.due(ITEM, inst, _ms(2026, 10, 14)) == "sla_breached"
    result = engine.run_timer(ITEM, inst, "sla_breached", 2, _ms(2026, 10, 14))
    late = result.instance
    assert (late.state, late.overdue, late.version) == ("village_review", True, 2)
    assert [n.to for n in result.notices] == ["level:township"]
    assert "超过5个工作日未办理" in result.notices[0].text
    assert (result.step.action, result.step.actor) == ("sla_breached", "system")
    assert engine.due(ITEM, late, _ms(2026, 12, 1)) is None
    assert engine.next_due(late) is None
    again = _act(late, OFFICER_A, "approve", opinion="同意", now=_ms(2026, 10, 15))
    assert again.overdue is False  # a new state starts its own clock


def test_posting_ends_only_after_posting_until() -> None:
    posted = _act(_open(), OFFICER_A, "approve", opinion="同意")
    assert (posted.state, posted.posting_until, posted.sla_due) == ("posting", _ms(2026, 10, 5), None)
    assert engine.due(ITEM, posted, _ms(2026, 10, 5) - 1) is None
    assert engine.next_due(posted) == _ms(2026, 10, 5)
    assert engine.due(ITEM, posted, _ms(2026, 10, 5)) == "posting_ended"
    result = engine.run_timer(ITEM, posted, "posting_ended", 3, _ms(2026, 10, 5))
    assert (result.instance.state, result.instance.posting_until) == ("township_review", None)
    assert result.instance.sla_due == working_days_due(_ms(2026, 10, 5), 10)
    assert result.step.trace == ["公示5天期满,无异议"]


def test_objection_during_posting_returns_with_the_objection() -> None:
    posted = _act(_open(), OFFICER_A, "approve", opinion="同意")
    assert _actions(posted, NEIGHBOUR, T0 + HOUR) == ["object"]
    assert _actions(posted, OFFICER_B, T0 + HOUR) == []
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, posted, _cmd("object", opinion=" "), NEIGHBOUR, 3, T0 + HOUR)
    assert exc.value.errors == {"opinion": "请写明异议内容"}
    result = engine.apply(ITEM, posted, _cmd("object", opinion="其未外出务工"), NEIGHBOUR, 3, T0 + HOUR)
    back = result.instance
    assert (back.state, back.objections, back.posting_until) == ("village_review", 1, None)
    assert back.sla_due == working_days_due(T0 + HOUR, 5)
    assert (result.step.action, result.step.opinion, result.step.duty) == ("object", "其未外出务工", "citizen")
    assert result.notices[0].to == CITIZEN.username


def test_objection_refused_after_the_end_or_from_another_village() -> None:
    posted = _act(_open(), OFFICER_A, "approve", opinion="同意")
    end = posted.posting_until or 0
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, posted, _cmd("object", opinion="有异议"), NEIGHBOUR, 3, end)
    assert exc.value.kind == "invalid" and "公示期已结束" in exc.value.reason
    assert _actions(posted, NEIGHBOUR, end) == []
    stranger = User(username="c:13909419999", name="外村人", level="village", duties=[], township="立节镇",
                    village="杰迪村")  # fmt: skip
    for user in (stranger, OFFICER_B, TOWNSHIP_OP_A):
        with pytest.raises(Refused) as exc:
            engine.apply(ITEM, posted, _cmd("object", opinion="有异议"), user, 3, T0 + HOUR)
        assert exc.value.kind == "access"
        assert exc.value.reason == "只有本村村民和村干部可以对本村公示提出异议"
    with pytest.raises(Refused) as exc:
        engine.apply(ITEM, _open(), _cmd("object", opinion="有异议"), NEIGHBOUR, 2, T0)
    assert exc.value.reason == "该申请不在公示期,不能提出异议"


def test_applicant_view_hides_internal_opinions() -> None:
    up = _at_township()
    step = engine.apply(ITEM, up, _cmd("return", opinion="内部:材料存疑"), TOWNSHIP_OP_A, 4, up.entered_at).step
    public = Step(seq=2, action="approve", label="通过", from_state="a", to_state="b", actor="officer_a",
                  actor_name="村干部", duty="officer", level="village", ts=0, opinion="同意", ip="1.2.3.4",
                  trace=["x"])  # fmt: skip
    assert step.internal
    seen = engine.applicant_view([public, step])
    assert [s.opinion for s in seen] == ["同意", ""]
    assert all(s.actor == "" and s.ip == "" and s.trace == [] for s in seen)
    assert [s.actor_name for s in seen] == ["村干部", TOWNSHIP_OP_A.name]

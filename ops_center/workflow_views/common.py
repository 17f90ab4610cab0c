"""What the workflow pages share (no UI toolkit here): the store of a session, personal values masked as the user may
see them, state labels, the rows of an inbox or a task's progress."""

from __future__ import annotations

from typing import Any

from core.access import User, sees_personal
from core.personal import mask
from ledgers.codec import to_text
from ops_center.context import OpsContext
from ops_center.ledger_views.common import display, when
from workflows.engine import Instance
from workflows.schema import Item
from workflows.store import WorkflowStore

TASK = "任务"  # the category of tasks a township or the county sends to villages
INBOX_COLUMNS = ["编号", "事项", "申请人", "所在村", "当前环节", "超时", "提交时间"]


def store_of(ctx: OpsContext) -> WorkflowStore | None:
    """The process's workflow store (None where the platform runs without it)."""
    return ctx.workflows


def sees_whole(user: User, inst: Instance) -> bool:
    """Whether the user sees the application's personal values whole (the officer of its village)."""
    return sees_personal(user, inst.township, inst.village)


def applicant_text(user: User, inst: Instance) -> str:
    """The applicant's name, masked (张*) unless the user may see it whole."""
    return inst.applicant_name if sees_whole(user, inst) else mask("name", inst.applicant_name)


def form_rows(user: User, item: Item, inst: Instance) -> list[tuple[str, str, bool]]:
    """The application's form as (label, value text, masked) in declared order; personal fields masked as due."""
    whole = sees_whole(user, inst)
    out = []
    for spec in item.form:
        value = inst.form.get(spec.key)
        if spec.personal and value is not None and not whole:
            out.append((spec.label, mask(spec.personal, to_text(spec, value)), True))
        elif spec.type == "attachment":
            out.append((spec.label, "已上传" if value else "", False))
        else:
            out.append((spec.label, display(spec, value), False))
    return out


def state_label(item: Item, key: str) -> str:
    """A state's Chinese label (the key itself for a state the definition no longer has)."""
    try:
        return item.state(key).label
    except KeyError:
        return key


def overdue_text(inst: Instance) -> str:
    """超时 when the application has passed its time limit in the current state."""
    return "超时" if inst.overdue else ""


def inbox_row(user: User, item: Item, inst: Instance) -> list[Any]:
    """One inbox row: number, item, applicant (masked as due), village, state, overdue flag, submitted."""
    return [inst.id, item.title, applicant_text(user, inst), f"{inst.township} {inst.village}",
            state_label(item, inst.state), overdue_text(inst), when(inst.created_at)]  # fmt: skip


def is_task(item: Item) -> bool:
    """Whether an item is a task sent to villages (乡村大脑任务), not an application."""
    return item.category == TASK

"""The workflow loader: the default items load, and each kind of broken file names its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflows.loader import WorkflowError, load_items

BASE = """\
item: {key}
title: 测试事项
category: 小微权力
prefix: {prefix}
summary: 测试用事项。
applicants: [citizen]
form:
  - key: product
    label: 品种
    type: enum
    options: [羊肚菌, 花椒新植]
  - key: quantity
    label: 数量
    type: decimal
states:
  - key: review
    label: 审核
  - key: posting
    label: 公示
    posting_days: 5
    objection_to: review
  - key: approved
    label: 已通过
    end: approved
transitions:
  - action: approve
    label: 通过
    from: [review]
    to: posting
    when: quantity > 0
  - action: posting_ended
    label: 公示期满
    from: [posting]
    to: approved
    by: timer
"""


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(directory: Path) -> str:
    with pytest.raises(WorkflowError) as info:
        load_items(directory)
    return str(info.value)


def _base(key: str = "sample", prefix: str = "TS") -> str:
    return BASE.format(key=key, prefix=prefix)


def _line(text: str, needle: str) -> int:
    """The 1-based line of the first line of text that is exactly `needle`."""
    return text.splitlines().index(needle) + 1


def test_default_items_load() -> None:
    """Every declared item loads, with its guide text and Chinese labels."""
    items = load_items()
    expected = {
        "labour_subsidy",
        "industry_reward",
        "homestead_application",
        "temporary_relief",
        "residence_certificate",
        "family_relation_certificate",
        "household_situation_certificate",
        "village_errand",
        "homestay_booking",
        "village_task",
    }
    assert expected <= set(items.items)
    for item in items.items.values():
        assert item.summary and item.basis and item.handler and item.materials, item.item
        assert all(not s.posting_days or "posting_ended" in {t.action for t in item.actions_from(s.key)}
                   for s in item.states)  # fmt: skip
    assert {i.item for i in items.by_category("证明开具")} == {
        "residence_certificate",
        "family_relation_certificate",
        "household_situation_certificate",
    }
    assert all(i.document is not None and i.document.kind == "certificate" for i in items.by_category("证明开具"))
    assert items["industry_reward"].rules.year == 2025


def test_base_sample_loads(tmp_path: Path) -> None:
    """The sample the broken files are made from is itself valid (so each failure below is the one change)."""
    _write(tmp_path, "sample.yaml", _base())
    assert list(load_items(tmp_path).items) == ["sample"]


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    """A syntax error is reported at its own line."""
    text = _base().replace("summary: 测试用事项。", "summary: 测试: 用事项")
    path = _write(tmp_path, "bad.yaml", text)
    msg = _error(tmp_path)
    assert msg.startswith(f"{path}:{_line(text, 'summary: 测试: 用事项')}: malformed YAML")


def test_unknown_state_in_transition(tmp_path: Path) -> None:
    """A transition to an undeclared state names the transition's line and the state."""
    text = _base().replace("    to: posting\n", "    to: nowhere\n")
    path = _write(tmp_path, "bad.yaml", text)
    msg = _error(tmp_path)
    assert f"{path}:{_line(text, '  - action: approve')}:" in msg  # where the transition starts
    assert "unknown state 'nowhere'" in msg


def test_unknown_symbol_in_expression(tmp_path: Path) -> None:
    """A guard naming a symbol that is neither a form field nor a fact is refused at the guard's line."""
    text = _base().replace("when: quantity > 0", "when: acreage > 0")
    path = _write(tmp_path, "bad.yaml", text)
    msg = _error(tmp_path)
    assert f"{path}:{_line(text, '    when: acreage > 0')}:" in msg
    assert "unknown symbol 'acreage'" in msg


def test_expression_syntax_error(tmp_path: Path) -> None:
    """A guard that does not parse is refused at the guard's line."""
    text = _base().replace("when: quantity > 0", "when: quantity >> > 0")
    path = _write(tmp_path, "bad.yaml", text)
    msg = _error(tmp_path)
    assert f"{path}:{_line(text, '    when: quantity >> > 0')}:" in msg
    assert "does not parse" in msg


def test_posting_without_posting_ended(tmp_path: Path) -> None:
    """A 公示 that no `posting_ended` timer leaves is refused at the state's line."""
    text = (
        _base()
        .replace("    label: 公示期满\n", "    label: 直接通过\n")
        .replace("  - action: posting_ended\n", "  - action: pass_on\n")
    )
    path = _write(tmp_path, "bad.yaml", text.replace("    by: timer\n", ""))
    msg = _error(tmp_path)
    assert f"{path}:{_line(text, '  - key: posting')}:" in msg  # where the 公示 state starts
    assert "posting_ended" in msg


def test_duplicate_item_key(tmp_path: Path) -> None:
    """Two files declaring the same item: the second file's `item:` line, naming where the first was."""
    first = _write(tmp_path, "a.yaml", _base())
    second = _write(tmp_path, "b.yaml", "# 重复\n" + _base(prefix="TT"))
    msg = _error(tmp_path)
    assert msg.startswith(f"{second}:2:")
    assert "duplicate item 'sample'" in msg
    assert f"{first}:1" in msg

"""Loader: validation errors name file and line; duplicate ids name both files; reload keeps the old set."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rules_testkit import write_rules

from rules.loader import RulesError, load_rules

GOOD = """\
rules:
  - id: sos
    title: 老人紧急呼救
    when: {event: sos}
    severity: 1
    category: 养老服务
"""


def _error(directory: Path) -> str:
    with pytest.raises(RulesError) as info:
        load_rules(directory)
    return str(info.value)


def test_good_file_loads_with_source_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD)
    rs = load_rules(tmp_path)
    assert [r.id for r in rs.rules] == ["sos"] and str(rs.sources["sos"]) == f"{path}:2"


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD + "  - id: [unclosed\n    title: x\n")
    msg = _error(tmp_path)
    assert msg.startswith(f"{path}:") and "malformed YAML" in msg
    assert int(re.match(rf"{re.escape(str(path))}:(\d+):", msg).group(1)) in (7, 8)  # type: ignore[union-attr]


def test_unknown_field_names_file_and_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD.replace("    severity: 1\n", "    severity: 1\n    sevrity: 2\n"))
    msg = _error(tmp_path)
    assert f"{path}:6:" in msg and "sevrity" in msg


def test_wrong_type_names_file_and_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD.replace("severity: 1", "severity: high"))
    msg = _error(tmp_path)
    assert f"{path}:5:" in msg and "severity" in msg


def test_bad_condition_names_line_of_condition(tmp_path: Path) -> None:
    text = GOOD.replace(
        "when: {event: sos}", "when:\n      event: sos\n      where:\n        - {field: detail.hr, op: '~', value: 1}"
    )
    path = write_rules(tmp_path, text)
    assert f"{path}:7:" in _error(tmp_path)


def test_bad_duration_names_line(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD + "    for: two minutes\n")
    msg = _error(tmp_path)
    assert f"{path}:7:" in msg and "duration" in msg


def test_duplicate_id_names_both_files(tmp_path: Path) -> None:
    first = write_rules(tmp_path, GOOD, "a.yaml")
    second = tmp_path / "b.yaml"
    second.write_text("# copy\n" + GOOD, encoding="utf-8")
    msg = _error(tmp_path)
    assert f"{second}:3:" in msg and f"{first}:2" in msg and "duplicate rule id 'sos'" in msg


def test_unknown_policy_and_category_are_errors(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD.replace("养老服务", "未知类别") + "    escalation: nope\n")
    msg = _error(tmp_path)
    assert f"{path}:2:" in msg and "'nope'" in msg and "未知类别" in msg


def test_reload_keeps_old_set_on_error(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD)
    active = load_rules(tmp_path)
    path.write_text(GOOD + "    oops: true\n", encoding="utf-8")
    with pytest.raises(RulesError):
        active = active.reload()
    assert [r.id for r in active.rules] == ["sos"]


def test_reload_picks_up_a_good_edit(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD)
    active = load_rules(tmp_path)
    path.write_text(GOOD.replace("severity: 1", "severity: 2"), encoding="utf-8")
    assert active.reload().rule("sos").severity == 2 and active.rule("sos").severity == 1

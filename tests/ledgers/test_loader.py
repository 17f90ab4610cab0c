"""Ledger loader: every malformed declaration is a LedgerError that names the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgers.loader import LedgerError, load_ledgers

# line 1 is a comment, so every line number below is counted, not defaulted
GOOD = """\
# 演示台账
ledger: demo
title: 演示
prefix: DM
fields:
  - key: name
    label: 名称
    type: text
  - key: count
    label: 数量
    type: integer
"""
CHILD = """\
# 子台账
ledger: demo_item
title: 演示明细
prefix: DI
parent: demo
fields:
  - key: note
    label: 说明
    type: text
"""


def _write(directory: Path, text: str, name: str = "demo.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def _error(directory: Path) -> str:
    with pytest.raises(LedgerError) as info:
        load_ledgers(directory)
    return str(info.value)


def test_good_declarations_load_with_their_source_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    _write(tmp_path, CHILD, "demo_item.yaml")
    found = load_ledgers(tmp_path)
    assert found.sources["demo"] == f"{path}:2"
    assert [lg.ledger for lg in found.children("demo")] == ["demo_item"]


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD + "  - key: [unclosed\n    label: x\n")
    msg = _error(tmp_path)
    assert msg.startswith(f"{path}:13:")  # the unclosed flow list opened on line 12 fails on the next line
    assert "malformed YAML" in msg


def test_unknown_top_level_key_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("prefix: DM\n", "prefix: DM\ncolour: red\n"))
    msg = _error(tmp_path)
    assert f"{path}:5:" in msg
    assert "colour" in msg


def test_unknown_field_key_names_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    type: integer\n", "    type: integer\n    colour: red\n"))
    msg = _error(tmp_path)
    assert f"{path}:12:" in msg
    assert "colour" in msg


def test_enum_without_options_names_the_field_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    type: integer\n", "    type: enum\n"))
    msg = _error(tmp_path)
    assert f"{path}:9:" in msg
    assert "options" in msg


def test_sorting_a_personal_field_names_the_field_line(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("    type: text\n", "    type: text\n    personal: name\n    sort: true\n"))
    msg = _error(tmp_path)
    assert f"{path}:6:" in msg
    assert "sealed" in msg


def test_a_check_naming_an_unknown_field_names_the_check_line(tmp_path: Path) -> None:
    checks = "checks:\n  - {field: count, op: '<', other: total, message: 数量不对}\n"
    path = _write(tmp_path, GOOD + checks)
    msg = _error(tmp_path)
    assert f"{path}:13: checks.0: check names unknown field 'total'" in msg


def test_duplicate_ledger_names_both_files(tmp_path: Path) -> None:
    first = _write(tmp_path, GOOD, "a.yaml")
    second = _write(tmp_path, "# copy\n" + GOOD.replace("prefix: DM", "prefix: DX"), "b.yaml")
    msg = _error(tmp_path)
    assert f"{second}:3:" in msg
    assert f"{first}:2" in msg
    assert "duplicate ledger 'demo'" in msg


def test_unknown_parent_names_the_parent_line(tmp_path: Path) -> None:
    path = _write(tmp_path, CHILD, "demo_item.yaml")
    msg = _error(tmp_path)
    assert f"{path}:5:" in msg
    assert "unknown parent ledger 'demo'" in msg


def test_unknown_ref_ledger_names_the_field_line(tmp_path: Path) -> None:
    ref = "  - key: owner\n    label: 所属\n    type: ref\n    ledger: nowhere\n"
    path = _write(tmp_path, GOOD + ref)
    msg = _error(tmp_path)
    assert f"{path}:15:" in msg
    assert "unknown ledger 'nowhere'" in msg


def test_duplicate_prefix_names_the_second_ledger(tmp_path: Path) -> None:
    _write(tmp_path, GOOD, "a.yaml")
    other = _write(tmp_path, "\n\n" + GOOD.replace("ledger: demo", "ledger: other"), "b.yaml")
    msg = _error(tmp_path)
    assert f"{other}:6:" in msg  # the prefix line
    assert "id prefix DM already used by demo" in msg

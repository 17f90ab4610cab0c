"""Text in the code: log messages are English (user-facing text stays Chinese), and no comment points to
something the repository does not define."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("core", "adapters", "rules", "actors", "serve", "ops_center", "sim", "runtime")
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}
# names of outside documents a reader of the repository cannot open
NOWHERE = re.compile(r"\bcontract [A-Z]\b|\bissue #?\d+\b|\bsee ticket\b|\bper (the )?spec\b", re.IGNORECASE)


def _files(folders: tuple[str, ...]) -> list[Path]:
    return sorted(p for folder in folders for p in (ROOT / folder).rglob("*.py"))


def test_log_messages_are_english() -> None:
    chinese = []
    for path in _files(CODE):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("log", "logger", "logging")
                and node.args
                and any(isinstance(c, ast.Constant) and CJK.search(str(c.value)) for c in ast.walk(node.args[0]))
            ):
                chinese.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert chinese == []


def test_no_comment_points_to_an_undefined_document() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in _files((*CODE, "tests"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if NOWHERE.search(line)
    ]
    assert found == []

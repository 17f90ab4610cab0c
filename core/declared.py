"""Declaration files (rules, ledgers): YAML read with positions, so every error names the file and the line."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError


class DeclarationError(ValueError):
    """A declaration file that cannot be read or does not validate; the message is `file:line: problem`."""


def node_at(root: yaml.Node | None, loc: Iterable[Any]) -> yaml.Node | None:
    """The deepest composed node along a pydantic error location."""
    node = root
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if k.value == key), None)
            if nxt is None:  # an unknown / extra key: point at the key itself
                nxt = next((k for k, _ in node.value if k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            nxt = node.value[key]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return node


def line_of(root: yaml.Node | None, loc: Iterable[Any]) -> int:
    """The 1-based line of the node at a location (1 when there is none)."""
    node = node_at(root, loc)
    return node.start_mark.line + 1 if node is not None else 1


def read_yaml(path: Path, error: type[ValueError] = DeclarationError) -> tuple[Any, yaml.Node | None]:
    """A file's parsed YAML and its composed node tree; `error` names the file and line of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{path}:1: cannot read: {exc}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise error(f"{path}:{line}: malformed YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{path}:1: malformed YAML: {exc}") from exc
    return raw, root


_AT = "\x00at "  # marks a problem a whole-model check locates itself: "\x00at checks.0\x00message"


def located(found: list[tuple[str, str]]) -> str:
    """Problems of a whole-model check, each at its own dotted location, as one error message for `problems`."""
    return "\n".join(f"{_AT}{where}\x00{msg}" for where, msg in found)


def _loc(dotted: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in dotted.split("."))


def problems(path: Path, root: yaml.Node | None, exc: ValidationError, name: Any = None) -> list[str]:
    """Each pydantic error as `file:line: where: message`; `name(loc)` may prefix what the location belongs to.
    A whole-model error made by `located` is split into its problems, each at its own line."""
    out = []
    for err in exc.errors():
        msg = err["msg"].removeprefix("Value error, ")
        parts = [(err["loc"], msg)]
        if _AT in msg:
            parts = [(tuple(err["loc"]) + _loc(where), text) for where, _, text in
                     (line.removeprefix(_AT).partition("\x00") for line in msg.split("\n"))]  # fmt: skip
        for loc, text in parts:
            where = ".".join(str(p) for p in loc) or "(top level)"
            prefix = name(loc) if name is not None else ""
            out.append(f"{path}:{line_of(root, loc)}: {prefix}{where}: {text}")
    return out

"""Loads workflow YAML files into an ItemSet; every error names the file and the line."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from core.declared import DeclarationError, line_of, problems, read_yaml
from workflows.schema import Item

DEFAULT_DIR = Path(__file__).resolve().parent / "default"


class WorkflowError(DeclarationError):
    """A workflow file that cannot be read or does not validate; the message is `file:line: problem`."""


@dataclass(frozen=True)
class ItemSet:
    """The validated items of one directory, by key, in file order; with where each was declared."""

    directory: Path
    items: dict[str, Item]
    sources: dict[str, str] = field(default_factory=dict)  # key -> "file:line"

    def __getitem__(self, key: str) -> Item:
        return self.items[key]

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def module(self, key: str) -> ModuleType | None:
        """The item's own module (workflows.extra.<name>), if it declares one."""
        name = self.items[key].module
        return importlib.import_module(f"workflows.extra.{name}") if name else None

    def by_category(self, category: str) -> list[Item]:
        """The items of one category (小微权力, 证明开具 …), in file order."""
        return [i for i in self.items.values() if i.category == category]


def _read(path: Path) -> tuple[Item, Any]:
    raw, root = read_yaml(path, WorkflowError)
    if not isinstance(raw, dict):
        raise WorkflowError(f"{path}:1: a workflow file must be a mapping with item, title, form, states, transitions")
    try:
        return Item.model_validate(raw), root
    except ValidationError as exc:
        raise WorkflowError("\n".join(problems(path, root, exc))) from exc


def load_items(directory: Path | str | None = None) -> ItemSet:
    """Load and validate every *.yaml in directory (default workflows/default/); WorkflowError on any problem."""
    base = Path(directory) if directory is not None else DEFAULT_DIR
    if not base.is_dir():
        raise WorkflowError(f"{base}:1: not a directory")
    items: dict[str, Item] = {}
    sources: dict[str, str] = {}
    prefixes: dict[str, str] = {}
    for path in sorted(base.glob("*.yaml")):
        item, root = _read(path)
        at = f"{path}:{line_of(root, ('item',))}"
        if item.item in items:
            raise WorkflowError(f"{at}: duplicate item {item.item!r}, first declared at {sources[item.item]}")
        if item.prefix in prefixes:
            raise WorkflowError(
                f"{path}:{line_of(root, ('prefix',))}: prefix {item.prefix} already used by {prefixes[item.prefix]}"
            )
        if item.module:
            try:
                importlib.import_module(f"workflows.extra.{item.module}")
            except ImportError as exc:
                raise WorkflowError(f"{path}:{line_of(root, ('module',))}: module workflows.extra.{item.module} "
                                    f"cannot be imported: {exc}") from exc  # fmt: skip
        items[item.item], sources[item.item], prefixes[item.prefix] = item, at, item.item
    return ItemSet(base, items, sources)

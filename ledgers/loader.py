"""Loads ledger YAML files into a LedgerSet; every error names the file and the line."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import ValidationError

from core.declared import DeclarationError, line_of, problems, read_yaml
from ledgers.schema import Ledger

DEFAULT_DIR = Path(__file__).resolve().parent / "default"


class LedgerError(DeclarationError):
    """A ledger file that cannot be read or does not validate; the message is `file:line: problem`."""


@dataclass(frozen=True)
class LedgerSet:
    """The validated ledgers of one directory, by key, in file order; with where each was declared."""

    directory: Path
    ledgers: dict[str, Ledger]
    sources: dict[str, str] = field(default_factory=dict)  # key -> "file:line"

    def __getitem__(self, key: str) -> Ledger:
        return self.ledgers[key]

    def __contains__(self, key: object) -> bool:
        return key in self.ledgers

    def children(self, key: str) -> list[Ledger]:
        """The ledgers whose records are child rows of this ledger's records."""
        return [lg for lg in self.ledgers.values() if lg.parent == key]

    def top(self) -> list[Ledger]:
        """The ledgers whose records belong to villages directly (not child ledgers)."""
        return [lg for lg in self.ledgers.values() if lg.parent is None]

    def module(self, key: str) -> ModuleType | None:
        """The ledger's own module (ledgers.extra.<name>), if it declares one."""
        name = self.ledgers[key].module
        return importlib.import_module(f"ledgers.extra.{name}") if name else None


@dataclass(frozen=True)
class _Found:
    """A validated ledger, its file and its composed YAML (for the lines of cross-ledger problems)."""

    ledger: Ledger
    path: Path
    root: Any

    def at(self, *loc: Any) -> str:
        """`file:line` of a location in the file."""
        return f"{self.path}:{line_of(self.root, loc)}"


def _read(path: Path) -> _Found:
    """One validated ledger and where it is declared."""
    raw, root = read_yaml(path, LedgerError)
    if not isinstance(raw, dict):
        raise LedgerError(f"{path}:1: a ledger file must be a mapping with ledger, title, prefix and fields")
    try:
        return _Found(Ledger.model_validate(raw), path, root)
    except ValidationError as exc:
        raise LedgerError("\n".join(problems(path, root, exc))) from exc


def _check_refs(found: dict[str, _Found]) -> None:
    """References between ledgers: parents, ref fields and extra modules must exist; prefixes are unique."""
    out = []
    prefixes: dict[str, str] = {}
    for key, f in found.items():
        lg = f.ledger
        if lg.parent and lg.parent not in found:
            out.append(f"{f.at('parent')}: ledger {key}: unknown parent ledger {lg.parent!r}")
        elif lg.parent and found[lg.parent].ledger.parent:
            out.append(f"{f.at('parent')}: ledger {key}: a child ledger's parent must itself be a top ledger")
        for i, spec in enumerate(lg.fields):
            if spec.type == "ref" and spec.ledger not in found:
                out.append(f"{f.at('fields', i, 'ledger')}: ledger {key}: field {spec.key} refers to unknown ledger "
                           f"{spec.ledger!r}")  # fmt: skip
        if lg.prefix in prefixes:
            out.append(f"{f.at('prefix')}: ledger {key}: id prefix {lg.prefix} already used by {prefixes[lg.prefix]}")
        prefixes[lg.prefix] = key
        if lg.module:
            try:
                importlib.import_module(f"ledgers.extra.{lg.module}")
            except ImportError as exc:
                out.append(f"{f.at('module')}: ledger {key}: module ledgers.extra.{lg.module} cannot be imported: "
                           f"{exc}")  # fmt: skip
    if out:
        raise LedgerError("\n".join(out))


def load_ledgers(directory: Path | str | None = None) -> LedgerSet:
    """Load and validate every *.yaml in directory (default ledgers/default/); LedgerError on any problem."""
    base = Path(directory) if directory is not None else DEFAULT_DIR
    if not base.is_dir():
        raise LedgerError(f"{base}:1: not a directory")
    found: dict[str, _Found] = {}
    for path in sorted(base.glob("*.yaml")):
        f = _read(path)
        key = f.ledger.ledger
        if key in found:
            first = found[key].at("ledger")
            raise LedgerError(f"{f.at('ledger')}: duplicate ledger {key!r}, first declared at {first}")
        found[key] = f
    _check_refs(found)
    return LedgerSet(base, {k: f.ledger for k, f in found.items()}, {k: f.at("ledger") for k, f in found.items()})

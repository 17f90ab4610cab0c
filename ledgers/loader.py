"""Loads ledger YAML files into a LedgerSet; every error names the file and the line."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

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


def _read(path: Path) -> tuple[Ledger, str]:
    """One validated ledger and where it is declared (`file:line`)."""
    raw, root = read_yaml(path, LedgerError)
    if not isinstance(raw, dict):
        raise LedgerError(f"{path}:1: a ledger file must be a mapping with ledger, title, prefix and fields")
    try:
        return Ledger.model_validate(raw), f"{path}:{line_of(root, ('ledger',))}"
    except ValidationError as exc:
        raise LedgerError("\n".join(problems(path, root, exc))) from exc


def _check_refs(found: dict[str, tuple[Ledger, str]]) -> None:
    """References between ledgers: parents, ref fields and extra modules must exist; prefixes are unique."""
    out = []
    prefixes: dict[str, str] = {}
    for key, (lg, src) in found.items():
        if lg.parent and lg.parent not in found:
            out.append(f"{src}: ledger {key}: unknown parent ledger {lg.parent!r}")
        if lg.parent and found.get(lg.parent, (None,))[0] and found[lg.parent][0].parent:
            out.append(f"{src}: ledger {key}: a child ledger's parent must itself be a top ledger")
        for f in lg.fields:
            if f.type == "ref" and f.ledger not in found:
                out.append(f"{src}: ledger {key}: field {f.key} refers to unknown ledger {f.ledger!r}")
        if lg.prefix in prefixes:
            out.append(f"{src}: ledger {key}: id prefix {lg.prefix} already used by {prefixes[lg.prefix]}")
        prefixes[lg.prefix] = key
        if lg.module:
            try:
                importlib.import_module(f"ledgers.extra.{lg.module}")
            except ImportError as exc:
                out.append(f"{src}: ledger {key}: module ledgers.extra.{lg.module} cannot be imported: {exc}")
    if out:
        raise LedgerError("\n".join(out))


def load_ledgers(directory: Path | str | None = None) -> LedgerSet:
    """Load and validate every *.yaml in directory (default ledgers/default/); LedgerError on any problem."""
    base = Path(directory) if directory is not None else DEFAULT_DIR
    if not base.is_dir():
        raise LedgerError(f"{base}:1: not a directory")
    found: dict[str, tuple[Ledger, str]] = {}
    for path in sorted(base.glob("*.yaml")):
        lg, src = _read(path)
        if lg.ledger in found:
            raise LedgerError(f"{src}: duplicate ledger {lg.ledger!r}, first declared at {found[lg.ledger][1]}")
        found[lg.ledger] = (lg, src)
    _check_refs(found)
    return LedgerSet(base, {k: lg for k, (lg, _) in found.items()}, {k: s for k, (_, s) in found.items()})

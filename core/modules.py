"""Modules found by name (a device kind's page, a ledger's own module): the one way a plug-in is looked up."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def submodule(package: str, name: str) -> ModuleType | None:
    """`package.name` imported, or None when the name is not a plain identifier or there is no such module."""
    if not name.isidentifier() or name.startswith("_"):
        return None
    full = f"{package}.{name}"
    if importlib.util.find_spec(full) is None:
        return None
    return importlib.import_module(full)

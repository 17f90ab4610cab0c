"""Per-ledger views beside the generic record page: one module per ledger key (household.py, ...), found by name.

A module offers `build(session, store, ledger, record)` returning a viewable, or a coroutine that returns one (it
may read more records through the store in a thread). A ledger without a module gets none.
"""

from __future__ import annotations

from types import ModuleType

from core.modules import submodule


def extra_module(key: str) -> ModuleType | None:
    """The extra view module of a ledger, or None when it has none."""
    mod = submodule(__name__, key)
    return mod if callable(getattr(mod, "build", None)) else None

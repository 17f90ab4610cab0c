"""Per-ledger views beside the generic record page: one module per ledger key (household.py, ...), found by name.

A module offers `build(session, store, ledger, record)` returning a viewable, or a coroutine that returns one (it
may read more records through the store in a thread). A ledger without a module gets none.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType


def extra_module(key: str) -> ModuleType | None:
    """The extra view module of a ledger, or None when it has none."""
    if not key.isidentifier() or key.startswith("_"):
        return None
    name = f"{__name__}.{key}"
    if importlib.util.find_spec(name) is None:
        return None
    mod = importlib.import_module(name)
    return mod if callable(getattr(mod, "build", None)) else None

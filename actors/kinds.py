"""Discovers device kinds: every DeviceActor subclass with a `kind` in a module of this package."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

import actors
from actors.base import DeviceActor


@cache
def device_kinds() -> dict[str, type[DeviceActor]]:
    """Map kind name to actor class; adding a kind means adding a module, nothing central."""
    found: dict[str, type[DeviceActor]] = {}
    for info in pkgutil.iter_modules(actors.__path__):
        module = importlib.import_module(f"actors.{info.name}")
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, DeviceActor)
                and obj.__module__ == module.__name__
                and "kind" in vars(obj)
            ):
                found[obj.kind] = obj
    return found


def actor_class(kind: str) -> type[DeviceActor]:
    """The actor class of a kind; KeyError names the kind when unknown."""
    try:
        return device_kinds()[kind]
    except KeyError:
        raise KeyError(f"unknown device kind {kind!r}; known: {sorted(device_kinds())}") from None

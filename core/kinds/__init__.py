"""The device kinds' data model: DeviceProfile, and one module per kind (core/kinds/<kind>.py) with its reading.

A kind module defines READING, the struct of the values of one message of that kind; the module's name is the
kind's name. Adding a kind means adding a module, nothing central.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

import msgspec


class DeviceProfile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A registered device: identity, place and the per-device parameters its actor uses."""

    device_id: str
    kind: str
    village: str = ""
    township: str = ""
    lat: float = 0.0  # home / install position
    lon: float = 0.0
    key_version: int = 1
    params: dict[str, Any] = {}  # kind-specific, e.g. a person's heart-rate range or geofence policy


@cache
def readings() -> dict[str, type[msgspec.Struct]]:
    """Map kind name to its reading struct, from every module of this package."""
    found: dict[str, type[msgspec.Struct]] = {}
    for info in pkgutil.iter_modules(__path__):
        found[info.name] = importlib.import_module(f"{__name__}.{info.name}").READING
    return found


def reading_of(kind: str) -> type[msgspec.Struct]:
    """The reading struct of a kind; KeyError names the kind when unknown."""
    try:
        return readings()[kind]
    except KeyError:
        raise KeyError(f"unknown device kind {kind!r}; known: {sorted(readings())}") from None

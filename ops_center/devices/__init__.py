"""Device pages by kind: one module per kind named after it (wristband.py, ...), found by name, no central list.

A kind module sets `KIND` to its kind and offers `view(session, profile) -> widgets.DeviceView` (data loaded by
`await view.load()`, what tests call) and `build(session, profile) -> viewable` (the view for a browser session).
A kind without a module gets the generic view: twin summary and recent events.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from core.kinds import DeviceProfile
from core.modules import submodule
from ops_center.session import OpsSession


def kind_module(kind: str) -> ModuleType:
    """The page module of a kind, or the generic one when the kind has none."""
    from ops_center.devices import generic

    mod = submodule(__name__, kind)
    return mod if mod is not None and getattr(mod, "KIND", None) == kind else generic


def view(session: OpsSession, profile: DeviceProfile) -> Any:
    """The kind's view of a device (not yet loaded)."""
    return kind_module(profile.kind).view(session, profile)


def build(session: OpsSession, profile: DeviceProfile) -> Any:
    """The kind's page of a device for a browser session (loads once shown)."""
    return kind_module(profile.kind).build(session, profile)

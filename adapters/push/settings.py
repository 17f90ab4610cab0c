"""Settings of the push service: the `push` section of core.settings.Settings."""

from core.settings import PushSettings

__all__ = ["PushSettings"]

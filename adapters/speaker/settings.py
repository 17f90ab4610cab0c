"""Settings of the speaker service; they live in core.settings as `Settings.speaker`."""

from core.settings import SpeakerSettings

__all__ = ["SpeakerSettings"]

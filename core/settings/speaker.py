"""The `speaker` section: voice warnings to station loudspeakers."""

from __future__ import annotations

from pydantic import Field

from core.settings.section import Section


class SpeakerSettings(Section):
    """Synthesis, delivery and retry options of the speaker service."""

    voice: str = Field("cmn", min_length=1, description="espeak-ng voice (cmn: Mandarin Chinese).")
    words_per_min: int = Field(150, ge=80, le=400, description="Speaking rate passed to espeak-ng (-s).")
    synth_timeout_s: float = Field(20.0, gt=0, description="Longest espeak-ng run before it is killed.")
    post_timeout_s: float = Field(5.0, gt=0, description="Longest wait for one POST to a station's speaker.")
    attempts: int = Field(3, ge=1, le=10, description="POST attempts per warning before it is dead-lettered.")
    backoff_s: float = Field(0.5, ge=0, description="Wait before the second attempt; doubles for each later one.")
    consumer: str = Field("speaker-0", min_length=1, description="Consumer name in the `speaker` stream group.")
    stale_s: float = Field(
        120.0, gt=0, description="A warning about an event older than this is logged, not played (the vehicle is gone)."
    )
    done_ttl_s: int = Field(7 * 86400, ge=60, description="How long a delivered request key is remembered (dedup).")

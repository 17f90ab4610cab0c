"""The `sink` section: the ClickHouse telemetry sink."""

from __future__ import annotations

from pydantic import Field

from core.settings.section import Section


class SinkSettings(Section):
    """The ClickHouse telemetry sink."""

    flush_ms: int = Field(500, description="Longest wait before a partial batch is written.")
    max_entries: int = Field(2000, description="Most store-stream entries written in one insert round.")
    ttl_days: int = Field(730, ge=1, le=10 * 365, description="Rows older than this are dropped by ClickHouse TTL.")
    outage_backoff_max_s: float = Field(
        10.0, gt=0, description="Longest wait between tries while ClickHouse is down (doubling from flush_ms)."
    )

"""The `bus` section: Redis Streams behaviour and per-stream retention."""

from __future__ import annotations

from pydantic import Field

from core.settings.section import Section


class StreamRetention(Section):
    """How long one stream keeps entries; an entry a consumer group has not read or acknowledged always stays."""

    max_age_s: int = Field(
        ge=0, description="Entries older than this go (0: once every group acknowledged them; kept while no group)."
    )
    max_len: int | None = Field(
        None, ge=1, description="Also keep at most this many entries; only on streams no consumer group reads."
    )


def _default_retention() -> dict[str, StreamRetention]:
    day = 86_400
    return {
        "tele": StreamRetention(max_age_s=0),  # tele.<kind>.<shard>: ClickHouse holds the rows
        "store": StreamRetention(max_age_s=0),
        "events": StreamRetention(max_age_s=3_600),
        "commands": StreamRetention(max_age_s=day),  # each transition is in ticket_events
        "reports": StreamRetention(max_age_s=day),
        "dispatch": StreamRetention(max_age_s=0),
        "speaker": StreamRetention(max_age_s=0),
        "incidents": StreamRetention(max_age_s=7 * day, max_len=200_000),
        "command_results": StreamRetention(max_age_s=3_600, max_len=100_000),
        "audit": StreamRetention(max_age_s=30 * day, max_len=500_000),  # zq.audit_log keeps it for the TTL
        "dead": StreamRetention(max_age_s=30 * day, max_len=100_000),
    }


class BusSettings(Section):
    """Redis Streams behaviour shared by every consumer."""

    max_deliveries: int = Field(5, description="Deliveries after which an entry goes to the dead-letter stream.")
    claim_idle_ms: int = Field(
        30_000, description="Pending entries idle this long are reclaimed from dead consumers (XAUTOCLAIM)."
    )
    block_ms: int = Field(200, description="How long a consumer blocks waiting for new entries.")
    read_count: int = Field(200, description="Most stream entries read in one call.")
    retention: dict[str, StreamRetention] = Field(
        default_factory=_default_retention,
        description="Retention per stream (a name, or its part before the first dot: `tele`); every stream has one.",
    )
    closed_ticket_keep_s: int = Field(
        86_400, ge=0, description="Closed or merged tickets stay in the desk, `tickets` hash and live state this long."
    )

"""The `ingest` section: the device-facing HTTP/websocket gateway."""

from __future__ import annotations

from pydantic import Field, model_validator

from core.settings.section import Section


class IngestSettings(Section):
    """The device-facing HTTP/websocket gateway."""

    host: str = Field("127.0.0.1", description="Address the ingest gateway binds to.")
    port: int = Field(8710, description="TCP port of the HTTP and websocket ingest gateway.")
    max_body_bytes: int = Field(256 * 1024, description="Largest accepted request or websocket frame (else 413).")
    max_messages: int = Field(500, description="Most messages in one upload; more gets 413.")
    clock_skew_s: int = Field(300, description="Largest accepted gap between a request's signed timestamp and now.")
    rate_msgs_per_s: float = Field(50.0, description="Sustained messages/s allowed per device (token bucket).")
    rate_burst: float = Field(500.0, description="Token bucket size per device, in messages.")
    flush_ms: float = Field(5.0, description="Group-commit window: messages within it share one XADD per shard.")
    auth_failures_per_s: float = Field(
        0.2, gt=0, description="Failed authentications (401) forgiven per second per client address (token bucket)."
    )
    auth_failures_burst: float = Field(
        20.0, ge=1, description="Failed authentications an address may have at once before its requests get 429."
    )

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> IngestSettings:
        if self.rate_burst < self.max_messages:
            raise ValueError(f"ingest.rate_burst ({self.rate_burst:g}) must be at least ingest.max_messages")
        return self

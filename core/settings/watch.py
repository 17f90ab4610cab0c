"""The `watch` section: the TCP server of the elderly watch text protocol."""

from __future__ import annotations

from pydantic import Field
from pydantic.networks import IPvAnyNetwork

from core.settings.section import Section


class WatchSettings(Section):
    """TCP server for the 3G/4G elderly watch text protocol."""

    host: str = Field("127.0.0.1", description="Address the watch protocol server binds to.")
    port: int = Field(8711, description="TCP port of the watch protocol server.")
    idle_timeout_s: int = Field(900, description="Close a watch connection silent for this long.")
    max_frame_bytes: int = Field(8192, description="Largest watch frame; a longer one closes the connection.")
    allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="CIDR blocks watches may connect from (e.g. the carrier's APN range); empty allows any address.",
    )
    max_connections: int = Field(10_000, ge=1, description="Most open watch connections; more are closed at once.")

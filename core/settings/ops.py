"""The `ops` section: the operations center."""

from __future__ import annotations

from pydantic import Field

from core.settings.section import Section


class OpsSettings(Section):
    """The operations center (Panel app): where it listens, sessions, lockout and the optional basemap."""

    host: str = Field("127.0.0.1", description="Address the operations center binds to.")
    port: int = Field(8730, ge=0, description="TCP port of the operations center; 0 picks a free one.")
    enabled: bool = Field(True, description="Start the operations center with the platform.")
    public_origins: list[str] = Field(
        default_factory=list,
        description="Extra host:port values browsers use to reach the app behind a proxy (websocket origin check).",
    )
    idle_timeout_s: int = Field(900, ge=60, description="A login session with no activity for this long ends.")
    max_failed_logins: int = Field(5, ge=1, description="Failed logins in a row after which an account locks.")
    lockout_s: int = Field(900, ge=60, description="How long a locked account stays locked.")
    min_password_length: int = Field(10, ge=8, description="Shortest password accepted (等保 level 2 asks for 8+).")
    tile_url: str = Field(
        "",
        description="Basemap tile URL template ({X}/{Y}/{Z} or WMTS KVP); empty draws the map offline without tiles.",
    )
    live_interval_ms: int = Field(1000, ge=200, description="How often live state is read and pushed to browsers.")
    session_check_s: float = Field(5.0, gt=0, description="How often a browser session checks its login is alive.")
    max_session_s: int = Field(
        8 * 3600, ge=300, description="A login session ends this long after sign-in whatever its activity (kiosks too)."
    )
    login_threads: int = Field(
        2, ge=1, description="Threads that verify passwords (argon2) off the event loop; further logins wait a turn."
    )
    login_per_address_per_min: int = Field(
        30, ge=1, description="Login attempts one client address may make per minute (any accounts); more get 429."
    )

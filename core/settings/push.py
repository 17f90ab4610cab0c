"""The `push` section: the responder push service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from core.settings.section import Section


class PushSettings(Section):
    """The responder push websocket, its responder page, photo uploads and the SMS fallback."""

    host: str = Field("127.0.0.1", description="Address the push websocket server and the responder page bind to.")
    port: int = Field(8720, description="TCP port of the push websocket server (path /push); 0 picks a free one.")
    page_port: int = Field(8721, description="TCP port of the responder page app (/responder); 0 picks a free one.")
    public_push_url: str = Field(
        "", description="Websocket URL the responder page connects to (behind a proxy); empty means same host, `port`."
    )
    allowed_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8721", "http://localhost:8721"],
        description="Origin header values allowed to open the push websocket (the responder page's own origin).",
    )
    allow_missing_origin: bool = Field(
        False, description="Accept websocket handshakes without an Origin header (native apps); off by default."
    )
    sms_after_s: float = Field(
        60.0, gt=0, description="An unacknowledged dispatch of a user with no live connection goes to SMS after this."
    )
    sms_check_s: float = Field(1.0, gt=0, description="How often offline dispatches and presence are checked.")
    consumer: str = Field("push-0", description="Consumer name of this push service in the `dispatch` stream group.")
    var_dir: Path = Field(Path("var"), description="Directory for the SMS outbox file and uploaded photos.")
    max_message_bytes: int = Field(64 * 1024, description="Largest websocket message accepted from a phone.")
    max_photo_bytes: int = Field(5 * 1024 * 1024, description="Largest photo upload; a larger one gets 413.")
    photo_retention_days: float = Field(90, gt=0, description="Uploaded photos older than this are deleted.")
    sms_retention_days: float = Field(
        30, gt=0, description="SMS outbox lines older than this are dropped from the outbox file."
    )
    record_ttl_s: int = Field(
        30 * 86400,
        description="How long ack and SMS records of a dispatch, who holds a ticket, and an unacknowledged dispatch "
        "are kept.",
    )
    token_ttl_s: int = Field(
        30 * 86400, gt=0, description="A phone token expires this long after it was issued (re-issue on /admin)."
    )

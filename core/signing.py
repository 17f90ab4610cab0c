"""Per-device keys and HMAC request signatures shared by devices, simulators and the ingest gateway."""

from __future__ import annotations

import hashlib
import hmac


def device_key(master: bytes, device_id: str, version: int = 1) -> bytes:
    """A device's own key, derived from the master secret; bumping `version` rotates it."""
    return hmac.new(master, f"{device_id}:{version}".encode(), hashlib.sha256).digest()


def sign(key: bytes, timestamp_ms: int, body: bytes) -> str:
    """Hex HMAC-SHA256 over the timestamp, a newline and the body."""
    return hmac.new(key, b"%d\n" % timestamp_ms + body, hashlib.sha256).hexdigest()


def verify(key: bytes, timestamp_ms: int, body: bytes, signature: str) -> bool:
    """Constant-time check of a request signature."""
    return hmac.compare_digest(sign(key, timestamp_ms, body), signature)

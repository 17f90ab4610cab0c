"""Request checks for the ingest gateway: device lookup, timestamp window, replay, signature, rate."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from actors.base import DeviceProfile
from core.settings import IngestSettings
from core.signing import device_key, verify


class Refused(Exception):
    """A request refused with an HTTP status and a reason for the device."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class DeviceGate:
    """Per-device authentication, replay defence and token-bucket rate limit (in memory, one gateway)."""

    settings: IngestSettings
    master: bytes
    devices: dict[str, DeviceProfile] = field(default_factory=dict)
    last_ts: dict[str, int] = field(default_factory=dict)
    _keys: dict[tuple[str, int], bytes] = field(default_factory=dict)
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def profile(self, device_id: str | None) -> DeviceProfile:
        """The registered device, or 400/404."""
        if not device_id:
            raise Refused(400, "missing X-Device-Id")
        profile = self.devices.get(device_id)
        if profile is None:
            raise Refused(404, f"unknown device {device_id[:64]!r}")
        return profile

    def authenticate(self, profile: DeviceProfile, ts_header: str | None, sig: str | None, body: bytes) -> int:
        """Check timestamp window, replay and signature; returns the signed timestamp."""
        if not ts_header or not sig:
            raise Refused(401, "missing X-Timestamp or X-Signature")
        try:
            ts = int(ts_header)
        except ValueError:
            raise Refused(400, "X-Timestamp must be integer milliseconds") from None
        now = int(time.time() * 1000)
        if abs(now - ts) > self.settings.clock_skew_s * 1000:
            raise Refused(401, "stale timestamp (outside the allowed clock skew)")
        if not sig.isascii() or not verify(self._key(profile), ts, body, sig):  # compare_digest raises on non-ASCII
            raise Refused(401, "bad signature")
        if ts <= self.last_ts.get(profile.device_id, 0):
            raise Refused(401, "replayed request (timestamp not newer than the last accepted)")
        return ts

    def accept(self, device_id: str, ts: int) -> None:
        """Remember the newest accepted timestamp of a device."""
        self.last_ts[device_id] = ts

    def take(self, device_id: str, n: int) -> None:
        """Spend n messages from the device's bucket, or raise 429."""
        rate, burst = self.settings.rate_msgs_per_s, self.settings.rate_burst
        now = time.monotonic()
        b = self._buckets.get(device_id)
        if b is None:
            b = self._buckets[device_id] = _Bucket(burst, now)
        b.tokens = min(burst, b.tokens + (now - b.at) * rate)
        b.at = now
        if b.tokens < n:
            raise Refused(429, f"over the device's rate of {rate:g} messages/s")
        b.tokens -= n

    def _key(self, profile: DeviceProfile) -> bytes:
        k = (profile.device_id, profile.key_version)
        key = self._keys.get(k)
        if key is None:
            key = self._keys[k] = device_key(self.master, profile.device_id, profile.key_version)
        return key

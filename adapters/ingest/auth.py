"""Request checks for the ingest gateway: device lookup, timestamp window, replay, signature, rate."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from core.kinds import DeviceProfile
from core.settings import IngestSettings
from core.signing import device_key, verify


class Refused(Exception):
    """A request refused with an HTTP status and a reason for the device."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


_PRUNE_AT = 10_000  # buckets kept before full (idle) ones are dropped


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class TokenBuckets:
    """Token buckets by key (a device, an address): `rate` tokens/s up to `burst`; idle full ones are dropped."""

    rate: float
    burst: float
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def take(self, key: str, n: float = 1.0) -> bool:
        """Spend n tokens of the key's bucket; False (nothing spent) when it holds fewer."""
        b = self._refill(key)
        if b.tokens < n:
            return False
        b.tokens -= n
        return True

    def holds(self, key: str, n: float = 1.0) -> bool:
        """Whether the key's bucket holds n tokens now (nothing spent)."""
        return self._refill(key).tokens >= n

    def _refill(self, key: str) -> _Bucket:
        now = time.monotonic()
        b = self._buckets.get(key)
        if b is None:
            if len(self._buckets) >= _PRUNE_AT:
                self._prune(now)
            b = self._buckets[key] = _Bucket(self.burst, now)
        b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
        b.at = now
        return b

    def _prune(self, now: float) -> None:
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.at) * self.rate >= self.burst]
        for k in full:
            del self._buckets[k]
        for k in list(self._buckets)[: max(0, len(self._buckets) - _PRUNE_AT // 2)]:  # still crowded: oldest go
            del self._buckets[k]


@dataclass
class DeviceGate:
    """Per-device authentication, replay defence and token-bucket rate limit (in memory, one gateway)."""

    settings: IngestSettings
    master: bytes
    devices: dict[str, DeviceProfile] = field(default_factory=dict)
    last_ts: dict[str, int] = field(default_factory=dict)
    _keys: dict[tuple[str, int], bytes] = field(default_factory=dict)
    _unknown_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))  # no device holds it
    _rates: TokenBuckets = field(init=False)
    _failures: TokenBuckets = field(init=False)

    def __post_init__(self) -> None:
        self._rates = TokenBuckets(self.settings.rate_msgs_per_s, self.settings.rate_burst)
        self._failures = TokenBuckets(self.settings.auth_failures_per_s, self.settings.auth_failures_burst)

    def profile(self, device_id: str | None) -> DeviceProfile:
        """The registered device, or 400; an unknown id gets a stand-in that fails authentication like a bad key."""
        if not device_id:
            raise Refused(400, "missing X-Device-Id")
        profile = self.devices.get(device_id)
        if profile is None:  # checked like a real one (same steps, same answer) so the fleet cannot be listed
            return DeviceProfile(device_id=device_id, kind="", key_version=-1)
        return profile

    def admit(self, address: str) -> None:
        """Refuse (429) an address that failed authentication too often lately, before any work for it."""
        if not self._failures.holds(address):
            raise Refused(429, "too many failed authentications from this address")

    def failed(self, address: str) -> None:
        """Count one failed authentication of an address."""
        self._failures.take(address)

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
        # one answer for an unknown device and a bad signature (verified first, the same work for both), so
        # refusals do not tell which device ids exist; compare_digest raises on non-ASCII
        if not sig.isascii() or not verify(self._key(profile), ts, body, sig) or profile.device_id not in self.devices:
            raise Refused(401, "bad signature")
        if ts <= self.last_ts.get(profile.device_id, 0):
            raise Refused(401, "replayed request (timestamp not newer than the last accepted)")
        return ts

    def accept(self, device_id: str, ts: int) -> None:
        """Remember the newest accepted timestamp of a device."""
        self.last_ts[device_id] = ts

    def take(self, device_id: str, n: int) -> None:
        """Spend n messages from the device's bucket, or raise 429."""
        if not self._rates.take(device_id, n):
            raise Refused(429, f"over the device's rate of {self._rates.rate:g} messages/s")

    def _key(self, profile: DeviceProfile) -> bytes:
        if profile.key_version < 0:
            return self._unknown_key
        k = (profile.device_id, profile.key_version)
        key = self._keys.get(k)
        if key is None:
            key = self._keys[k] = device_key(self.master, profile.device_id, profile.key_version)
        return key

"""Pure escalation tracking: each level of an incident's policy fires once, in order, until acknowledged."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from rules.schema import EscalationPolicy


class Due(NamedTuple):
    """One escalation step that has come due."""

    incident_id: str
    level: int  # index into the policy's levels
    notify: str  # village_officer, township_duty or county


class _Track(msgspec.Struct, kw_only=True):
    """One incident's escalation: start time, the ladder and how many levels have fired."""

    policy: str
    start: int  # ms
    levels: list[tuple[str, int]]  # (notify, after ms), in order
    fired: int = 0
    acked: bool = False


class _State(msgspec.Struct):
    tracks: dict[str, _Track] = {}


class EscalationTracker:
    """Tracks escalation ladders of open incidents; clock-injected, no I/O."""

    def __init__(self) -> None:
        self._tracks: dict[str, _Track] = {}

    def start(self, incident_id: str, policy: EscalationPolicy, now: int) -> None:
        """Begin escalating an incident at time now (ms); a second start for the same id is ignored."""
        if incident_id in self._tracks:
            return
        levels: list[tuple[str, int]] = [(lv.notify, lv.after) for lv in policy.levels]
        self._tracks[incident_id] = _Track(policy=policy.name, start=now, levels=levels)

    def due(self, now: int) -> list[Due]:
        """Levels whose timeout has passed by now and that have not fired yet; each is returned once, in order."""
        out: list[Due] = []
        for incident_id in sorted(self._tracks, key=lambda i: (self._tracks[i].start, i)):
            t = self._tracks[incident_id]
            while not t.acked and t.fired < len(t.levels) and now - t.start >= t.levels[t.fired][1]:
                out.append(Due(incident_id, t.fired, t.levels[t.fired][0]))
                t.fired += 1
        return out

    def ack(self, incident_id: str) -> bool:
        """Stop further levels of an incident; False when it is not tracked."""
        t = self._tracks.get(incident_id)
        if t is None:
            return False
        t.acked = True
        return True

    def stop(self, incident_id: str) -> None:
        """Forget an incident (resolved); nothing more fires for it."""
        self._tracks.pop(incident_id, None)

    def pending(self, incident_id: str) -> list[str]:
        """Who is still to be notified for an incident, in order (empty when acked or unknown)."""
        t = self._tracks.get(incident_id)
        if t is None or t.acked:
            return []
        return [notify for notify, _ in t.levels[t.fired :]]

    def next_due_at(self) -> int | None:
        """Earliest time (ms) at which another level comes due, for a scheduler; None when nothing is pending."""
        live = [t for t in self._tracks.values() if not t.acked and t.fired < len(t.levels)]
        times = [t.start + t.levels[t.fired][1] for t in live]
        return min(times) if times else None

    def snapshot(self) -> bytes:
        """Serialised tracker state (msgpack)."""
        return msgspec.msgpack.encode(_State(self._tracks))

    @classmethod
    def restore(cls, blob: bytes) -> EscalationTracker:
        """A tracker rebuilt from `snapshot` output."""
        tracker = cls()
        tracker._tracks = msgspec.msgpack.decode(blob, type=_State).tracks
        return tracker

"""Responders a ticket can go to: accounts with the responder duty in the ticket's area, nearest available first."""

from __future__ import annotations

from typing import Any, NamedTuple

from geographiclib.geodesic import Geodesic

from actors.ticket_routing import DISPATCHED, IN_PROGRESS
from core.access import User
from core.gazetteer import Gazetteer

BUSY_STATES = (DISPATCHED, IN_PROGRESS)


class Candidate(NamedTuple):
    """A responder and how far their base is from the ticket (metres on the WGS84 ellipsoid)."""

    username: str
    name: str
    village: str
    distance_m: float | None
    busy: int  # open tickets already on them

    @property
    def available(self) -> bool:
        """Free to take a ticket now."""
        return self.busy == 0


def base_of(user: User, gazetteer: Gazetteer) -> tuple[float, float] | None:
    """Where a responder is based: their village, else their township seat."""
    for v in gazetteer.villages:
        if v.name == user.village and v.township == user.township:
            return v.lat, v.lon
    for t in gazetteer.townships:
        if t.name == user.township:
            return t.lat, t.lon
    return None


def geodesic_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Geodesic distance between two (lat, lon) points, metres."""
    return float(Geodesic.WGS84.Inverse(a[0], a[1], b[0], b[1])["s12"])


def candidates(ticket: dict[str, Any], users: list[User], tickets: list[dict[str, Any]],
               gazetteer: Gazetteer) -> list[Candidate]:  # fmt: skip
    """Responders of the ticket's township (or the county): available ones first, each group nearest first."""
    busy: dict[str, int] = {}
    for t in tickets:
        if t.get("responder") and t.get("state") in BUSY_STATES:
            busy[t["responder"]] = busy.get(t["responder"], 0) + 1
    here = (ticket["lat"], ticket["lon"]) if ticket.get("lat") is not None and ticket.get("lon") is not None else None
    out = []
    for u in users:
        if "responder" not in u.duties or u.disabled or (u.level != "county" and u.township != ticket["township"]):
            continue  # responders serve their whole township (village ones too: neighbours help out)
        base = base_of(u, gazetteer)
        dist = geodesic_m(here, base) if here and base else None
        out.append(Candidate(u.username, u.name, u.village or u.township, dist, busy.get(u.username, 0)))
    return sorted(out, key=lambda c: (not c.available, c.distance_m is None, c.distance_m or 0.0, c.username))

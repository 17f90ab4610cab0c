"""Coordinates for the county: WGS84, CGCS2000 (EPSG:4490), Web Mercator, geodesic distance, geofences."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from pyproj import Geod, Transformer
from shapely import prepared
from shapely.geometry import Point, Polygon, shape

WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"
WEB_MERCATOR = "EPSG:3857"

_GEOD = Geod(ellps="WGS84")


@lru_cache(maxsize=16)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


def transform(lon: float, lat: float, src: str, dst: str) -> tuple[float, float]:
    """Transform one point (x=lon/easting, y=lat/northing) between CRSs."""
    x, y = _transformer(src, dst).transform(lon, lat)
    return float(x), float(y)


def wgs84_to_cgcs2000(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 to CGCS2000 geographic coordinates (they agree to centimetres at this scale)."""
    return transform(lon, lat, WGS84, CGCS2000)


def cgcs2000_to_wgs84(lon: float, lat: float) -> tuple[float, float]:
    """CGCS2000 to WGS84 geographic coordinates."""
    return transform(lon, lat, CGCS2000, WGS84)


def to_web_mercator(lon: float, lat: float) -> tuple[float, float]:
    """WGS84 lon/lat to Web Mercator metres, for map drawing."""
    return transform(lon, lat, WGS84, WEB_MERCATOR)


def from_web_mercator(x: float, y: float) -> tuple[float, float]:
    """Web Mercator metres to WGS84 lon/lat."""
    return transform(x, y, WEB_MERCATOR, WGS84)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Geodesic distance in metres on the WGS84 ellipsoid."""
    _, _, dist = _GEOD.inv(lon1, lat1, lon2, lat2)
    return float(dist)


def offset(lat: float, lon: float, bearing_deg: float, metres: float) -> tuple[float, float]:
    """The point `metres` away from (lat, lon) along a bearing; returns (lat, lon)."""
    lon2, lat2, _ = _GEOD.fwd(lon, lat, bearing_deg, metres)
    return float(lat2), float(lon2)


class Geofence:
    """A polygon (lon/lat ring) or circle (centre, radius) with a fast containment test."""

    def __init__(
        self,
        ring: Sequence[tuple[float, float]] | None = None,
        centre: tuple[float, float] | None = None,
        radius_m: float | None = None,
    ) -> None:
        if ring is None and (centre is None or radius_m is None):
            raise ValueError("a geofence needs a polygon ring or a centre (lat, lon) and radius_m")
        self.centre = centre
        self.radius_m = radius_m
        self._poly = prepared.prep(Polygon(ring)) if ring is not None else None

    @classmethod
    def from_geojson(cls, geometry: dict) -> Geofence:
        """Build from a GeoJSON Polygon or MultiPolygon geometry (lon/lat)."""
        fence = cls.__new__(cls)
        fence.centre, fence.radius_m = None, None
        fence._poly = prepared.prep(shape(geometry))
        return fence

    def contains(self, lat: float, lon: float) -> bool:
        """True when the point lies inside the fence (boundary counts as inside)."""
        if self._poly is not None:
            return bool(self._poly.covers(Point(lon, lat)))
        assert self.centre is not None and self.radius_m is not None
        return distance_m(self.centre[0], self.centre[1], lat, lon) <= self.radius_m

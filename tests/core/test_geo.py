"""Tests for core.geo: CRS transforms, geodesic distance and offsets, geofences."""

from __future__ import annotations

import math

import pytest

from core.geo import (
    CGCS2000,
    WGS84,
    Geofence,
    cgcs2000_to_wgs84,
    distance_m,
    from_web_mercator,
    offset,
    to_web_mercator,
    transform,
    wgs84_to_cgcs2000,
)

SEAT_LAT, SEAT_LON = 33.7936, 104.2513  # 城关镇, county seat
R_SPHERE = 6378137.0  # Web Mercator sphere radius = WGS84 semi-major axis


def spherical_mercator(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator by the textbook spherical formula, independent of pyproj."""
    return R_SPHERE * math.radians(lon), R_SPHERE * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))


def meridian_degree_m(lat: float) -> float:
    """Length of one degree of latitude at lat on the WGS84 ellipsoid (meridian radius of curvature)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    m = a * (1 - e2) / (1 - e2 * math.sin(math.radians(lat)) ** 2) ** 1.5
    return m * math.pi / 180


def test_wgs84_cgcs2000_round_trip() -> None:
    lon, lat = wgs84_to_cgcs2000(SEAT_LON, SEAT_LAT)
    assert lon == pytest.approx(SEAT_LON, abs=1e-6) and lat == pytest.approx(SEAT_LAT, abs=1e-6)
    back = cgcs2000_to_wgs84(lon, lat)
    assert back == pytest.approx((SEAT_LON, SEAT_LAT), abs=1e-9)
    there = transform(104.0, 33.5, WGS84, CGCS2000)
    assert transform(*there, CGCS2000, WGS84) == pytest.approx((104.0, 33.5), abs=1e-9)


def test_web_mercator_of_county_seat_matches_spherical_formula() -> None:
    x, y = to_web_mercator(SEAT_LON, SEAT_LAT)
    ex, ey = spherical_mercator(SEAT_LON, SEAT_LAT)
    assert (x, y) == pytest.approx((ex, ey), abs=0.01)
    assert (x, y) == pytest.approx((11_605_201.6, 4_001_121.1), abs=1.0)  # written-down values
    assert from_web_mercator(x, y) == pytest.approx((SEAT_LON, SEAT_LAT), abs=1e-9)


def test_one_degree_of_latitude_at_county() -> None:
    d = distance_m(SEAT_LAT - 0.5, SEAT_LON, SEAT_LAT + 0.5, SEAT_LON)
    assert d == pytest.approx(110_900, abs=100)
    assert d == pytest.approx(meridian_degree_m(SEAT_LAT), abs=5)
    assert distance_m(SEAT_LAT, SEAT_LON, SEAT_LAT, SEAT_LON) == 0.0


@pytest.mark.parametrize("bearing", [0.0, 45.0, 90.0, 180.0, 271.5])
@pytest.mark.parametrize("metres", [1.0, 350.0, 12_000.0])
def test_offset_then_distance_is_consistent(bearing: float, metres: float) -> None:
    lat, lon = offset(SEAT_LAT, SEAT_LON, bearing, metres)
    assert distance_m(SEAT_LAT, SEAT_LON, lat, lon) == pytest.approx(metres, rel=1e-9, abs=1e-6)
    mid = offset(SEAT_LAT, SEAT_LON, bearing, metres / 2)  # the midpoint lies halfway along the same geodesic
    assert distance_m(*mid, lat, lon) == pytest.approx(metres / 2, rel=1e-7, abs=1e-6)


def test_offset_north_raises_latitude_only() -> None:
    lat, lon = offset(SEAT_LAT, SEAT_LON, 0.0, 1000.0)
    assert lat > SEAT_LAT and lon == pytest.approx(SEAT_LON, abs=1e-12)
    assert lat - SEAT_LAT == pytest.approx(1000.0 / meridian_degree_m(SEAT_LAT), rel=1e-4)


def test_polygon_geofence_contains_including_boundary() -> None:
    ring = [(104.0, 33.0), (105.0, 33.0), (105.0, 34.0), (104.0, 34.0)]  # lon, lat
    fence = Geofence(ring=ring)
    assert fence.contains(33.5, 104.5)
    assert not fence.contains(34.5, 104.5) and not fence.contains(33.5, 103.9)
    assert fence.contains(33.0, 104.5)  # on an edge
    assert fence.contains(34.0, 105.0)  # on a corner


def test_geojson_geofence_multipolygon() -> None:
    square = [[[104.0, 33.0], [104.1, 33.0], [104.1, 33.1], [104.0, 33.1], [104.0, 33.0]]]
    far = [[[105.0, 34.0], [105.1, 34.0], [105.1, 34.1], [105.0, 34.1], [105.0, 34.0]]]
    fence = Geofence.from_geojson({"type": "MultiPolygon", "coordinates": [square, far]})
    assert fence.contains(33.05, 104.05) and fence.contains(34.05, 105.05)
    assert not fence.contains(33.5, 104.5)
    assert fence.contains(33.1, 104.05)  # boundary


def test_circle_geofence_contains_including_boundary() -> None:
    edge = offset(SEAT_LAT, SEAT_LON, 60.0, 500.0)
    radius = distance_m(SEAT_LAT, SEAT_LON, *edge)
    fence = Geofence(centre=(SEAT_LAT, SEAT_LON), radius_m=radius)
    assert fence.contains(SEAT_LAT, SEAT_LON)
    assert fence.contains(*edge)  # exactly on the circle
    assert fence.contains(*offset(SEAT_LAT, SEAT_LON, 200.0, 499.0))
    assert not fence.contains(*offset(SEAT_LAT, SEAT_LON, 200.0, 501.0))


def test_geofence_needs_a_shape() -> None:
    with pytest.raises(ValueError):
        Geofence()
    with pytest.raises(ValueError):
        Geofence(centre=(SEAT_LAT, SEAT_LON))

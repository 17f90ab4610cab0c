"""The county gazetteer: county, townships and villages with positions, loaded from YAML plus a GeoJSON boundary."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator
from shapely import prepared
from shapely.geometry import Point, shape
from shapely.ops import unary_union

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "gazetteer.yaml"


class GazetteerError(ValueError):
    """A gazetteer or boundary file that cannot be read or does not validate; the message names the file."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Seat(_Model):
    """The county seat: a named township and its position."""

    name: str = Field(description="Township that holds the county government.")
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 degrees.")
    generated: bool = Field(False, description="True when the position is a generated demo point, not surveyed.")


class County(_Model):
    """The county itself."""

    name: str = Field(description="County name, e.g. 舟曲县.")
    adcode: str = Field(description="Six-digit administrative division code.")
    boundary: str = Field(description="GeoJSON boundary file (WGS84), relative to the gazetteer file.")
    seat: Seat = Field(description="County seat township and position.")
    administrative_villages: int | None = Field(None, ge=0, description="Official count of administrative villages.")
    natural_villages: int | None = Field(None, ge=0, description="Official count of natural villages, if known.")


class Township(_Model):
    """A town (镇) or township (乡) with its seat position."""

    name: str = Field(description="Township name, e.g. 立节镇.")
    code: str | None = Field(None, description="Nine-digit division code; absent when unknown.")
    lat: float = Field(ge=-90, le=90, description="Latitude of the township seat, WGS84 degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude of the township seat, WGS84 degrees.")
    generated: bool = Field(description="True when the seat position is a generated demo point, not surveyed.")
    roles: list[Literal["pilot"]] = Field(default_factory=list, description="pilot: a pilot township of the plan.")


class Village(_Model):
    """A village with its position and the roles the county plan gives it."""

    name: str = Field(description="Village name, e.g. 杰迪村.")
    township: str = Field(description="Township the village belongs to.")
    lat: float = Field(ge=-90, le=90, description="Latitude, WGS84 degrees.")
    lon: float = Field(ge=-180, le=180, description="Longitude, WGS84 degrees.")
    generated: bool = Field(description="True when the position is a generated demo point, not surveyed.")
    township_generated: bool = Field(False, description="True when the township was assigned for the demo, not known.")
    roles: list[Literal["key", "pilot", "seat"]] = Field(
        default_factory=list, description="key: 重点村; pilot: 试点村; seat: the township seat village."
    )


class Gazetteer(_Model):
    """County, townships and villages; lookups, boundary containment and a simulator village list."""

    county: County = Field(description="The county and its seat.")
    featured_products: list[str] = Field(default_factory=list, description="Featured local products of the plan.")
    rollout_targets: dict[str, int] = Field(default_factory=dict, description="Rollout counts named by the plan.")
    townships: list[Township] = Field(description="Every town and township of the county.")
    villages: list[Village] = Field(description="Villages; key first, then pilot, then the rest (simulator order).")
    _source: Path | None = PrivateAttr(None)
    _boundary: Any = PrivateAttr(None)
    _prepared: Any = PrivateAttr(None)

    @model_validator(mode="after")
    def _consistent(self) -> Gazetteer:
        names = [t.name for t in self.townships]
        if len(set(names)) != len(names):
            raise ValueError("duplicate township names")
        if self.county.seat.name not in names:
            raise ValueError(f"county seat {self.county.seat.name} is not a listed township")
        seen: set[tuple[str, str]] = set()
        for v in self.villages:
            if v.township not in names:
                raise ValueError(f"village {v.name} names unknown township {v.township}")
            if (v.township, v.name) in seen:
                raise ValueError(f"duplicate village {v.name} in {v.township}")
            seen.add((v.township, v.name))
        return self

    @property
    def source(self) -> Path | None:
        """The file this gazetteer was loaded from, if any."""
        return self._source

    @property
    def boundary(self) -> Any:
        """The county boundary as a shapely geometry (lon/lat, WGS84)."""
        if self._boundary is None:
            raise GazetteerError("gazetteer has no boundary loaded; use load_gazetteer()")
        return self._boundary

    def contains(self, lat: float, lon: float) -> bool:
        """True when (lat, lon) lies inside the county boundary (the boundary line counts as inside)."""
        if self._prepared is None:
            self._prepared = prepared.prep(self.boundary)
        return bool(self._prepared.covers(Point(lon, lat)))

    def township(self, name: str) -> Township:
        """The township of that name; KeyError when there is none."""
        for t in self.townships:
            if t.name == name:
                return t
        raise KeyError(f"no township {name!r} in {self.county.name}")

    def villages_in(self, township: str) -> list[Village]:
        """Villages of one township, in file order; KeyError for an unknown township."""
        self.township(township)
        return [v for v in self.villages if v.township == township]

    def village(self, name: str, township: str | None = None) -> Village:
        """The village of that name (optionally within a township); KeyError when missing or ambiguous."""
        found = [v for v in self.villages if v.name == name and township in (None, v.township)]
        if len(found) != 1:
            where = f" in {township}" if township else ""
            raise KeyError(f"{'no' if not found else 'ambiguous'} village {name!r}{where} in {self.county.name}")
        return found[0]

    def demo_villages(self, n: int) -> list[tuple[str, str, float, float]]:
        """The first n (village, township, lat, lon): key villages first, then pilot, then the rest, in file order."""
        rank = {"key": 0, "pilot": 1}
        order = sorted(self.villages, key=lambda v: min([rank.get(r, 2) for r in v.roles] + [2]))
        if not 0 <= n <= len(order):
            raise ValueError(f"asked for {n} demo villages; the gazetteer has {len(order)}")
        return [(v.name, v.township, v.lat, v.lon) for v in order[:n]]


def _load_boundary(path: Path, owner: Path) -> Any:
    where = f"{path} (boundary named by {owner})"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        feats = doc.get("features") if doc.get("type") == "FeatureCollection" else [doc]
        geom = unary_union([shape(f["geometry"] if f.get("type") == "Feature" else f) for f in feats])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GazetteerError(f"{where}: cannot read boundary: {exc}") from exc
    if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        raise GazetteerError(f"{where}: boundary is not a polygon")
    return geom


@lru_cache(maxsize=8)
def _load(path: Path) -> Gazetteer:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GazetteerError(f"{path}: cannot read gazetteer: {exc}") from exc
    try:
        gaz = Gazetteer.model_validate(raw)
    except ValidationError as exc:
        raise GazetteerError(f"{path}: invalid gazetteer: {exc}") from exc
    gaz._source = path
    gaz._boundary = _load_boundary(path.parent / gaz.county.boundary, path)
    seat = gaz.county.seat
    points = [("county seat", seat.lat, seat.lon)] + [(f"township {t.name}", t.lat, t.lon) for t in gaz.townships]
    points += [(f"village {v.name} ({v.township})", v.lat, v.lon) for v in gaz.villages]
    outside = [label for label, lat, lon in points if not gaz.contains(lat, lon)]
    if outside:
        raise GazetteerError(f"{path}: outside the county boundary: {', '.join(outside[:5])}")
    return gaz


def load_gazetteer(path: Path | None = None) -> Gazetteer:
    """Load (once per file) the gazetteer at path, by default the demo one packaged with core."""
    return _load(Path(path or DEFAULT_PATH).resolve())

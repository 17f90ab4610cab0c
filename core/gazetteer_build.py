"""Build core/data/gazetteer.yaml from the reference gazetteer plus generated demo positions (deterministic)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import shapely
import yaml
from shapely.geometry import shape

from core.geo import offset

DATA_DIR = Path(__file__).resolve().parent / "data"
SHARED_DIR = Path("/work/shared/data")
REFERENCE_NAME = "gazetteer_reference.yaml"  # verbatim copy of the shared gazetteer.yaml
BOUNDARY_NAME = "zhouqu_county.geojson"
OUTPUT_NAME = "gazetteer.yaml"

TOTAL_VILLAGES = 197  # administrative villages (reference header); also the plan's camera/wristband village target
# From the reference comment: 大峪镇's seven administrative villages (2020), seat 老地村. Complete, so no demo fill.
DAYU = ("大峪镇", ["老地村", "大崖村", "香杭村", "大坪村", "多拉村", "阿布村", "得力村"], "老地村")
LEAD_VILLAGE = "狼岔坝村"  # 智慧蜂箱 + 云上认养 + 数字大屏: the showcase, first for simulators
GRID_DEG = 0.01  # candidate grid for township seats
SEAT_MARGIN_DEG = 0.03  # generated seats stay ~3 km inside the boundary
POINT_MARGIN_DEG = 0.003  # every generated point stays ~300 m inside the boundary
VILLAGE_RADIUS_M = 4500.0  # villages cluster within this distance of their township seat
GOLDEN_DEG = 137.50776405


def _boundary(path: Path) -> Any:
    """The county polygon from a GeoJSON FeatureCollection, Feature or geometry."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    feats = doc.get("features") or [doc]
    return shapely.union_all([shape(f.get("geometry", f)) for f in feats])


def _local_km(lon: np.ndarray, lat: np.ndarray, lat0: float) -> np.ndarray:
    """Equirectangular km around lat0: good enough to space points over a county."""
    return np.column_stack([lon * 111.32 * math.cos(math.radians(lat0)), lat * 110.95])


def _grid(poly: Any, step: float) -> np.ndarray:
    """Grid points (lon, lat) of the given step that fall inside poly, in a fixed order."""
    x0, y0, x1, y1 = poly.bounds
    xs = np.round(np.arange(math.floor(x0 / step) * step, x1 + step, step), 6)
    ys = np.round(np.arange(math.floor(y0 / step) * step, y1 + step, step), 6)
    mx, my = np.meshgrid(xs, ys)
    gx, gy = mx.ravel(), my.ravel()
    inside = shapely.contains_xy(poly, gx, gy)
    return np.column_stack([gx[inside], gy[inside]])


def seat_points(poly: Any, fixed: tuple[float, float], count: int, iterations: int = 40) -> list[tuple[float, float]]:
    """`count` well-spread (lat, lon) seats inside poly: the fixed one first, then farthest-point + Lloyd relaxation."""
    lat0 = fixed[0]
    cand = _grid(poly.buffer(-SEAT_MARGIN_DEG), GRID_DEG)
    cells = _grid(poly, GRID_DEG / 2)
    cand_km, cells_km = _local_km(cand[:, 0], cand[:, 1], lat0), _local_km(cells[:, 0], cells[:, 1], lat0)
    seats_km = [_local_km(np.array([fixed[1]]), np.array([fixed[0]]), lat0)[0]]
    chosen: list[int] = []
    mind = np.linalg.norm(cand_km - seats_km[0], axis=1)
    for _ in range(count - 1):
        i = int(np.argmax(mind))
        chosen.append(i)
        mind = np.minimum(mind, np.linalg.norm(cand_km - cand_km[i], axis=1))
    for _ in range(iterations):
        pts = np.vstack([seats_km[0], cand_km[chosen]])
        labels = np.argmin(np.linalg.norm(cells_km[:, None, :] - pts[None, :, :], axis=2), axis=1)
        moved = []
        for k, i in enumerate(chosen, start=1):
            member = cells_km[labels == k]
            target = member.mean(axis=0) if len(member) else cand_km[i]
            moved.append(int(np.argmin(np.linalg.norm(cand_km - target, axis=1))))
        if moved == chosen:
            break
        chosen = moved
    return [fixed] + [(float(cand[i, 1]), float(cand[i, 0])) for i in chosen]


def village_points(poly: Any, seat: tuple[float, float], n: int, turn_deg: float) -> list[tuple[float, float]]:
    """`n` (lat, lon) points on a sunflower spiral around seat, pulled in until ~300 m inside poly."""
    inner = poly.buffer(-POINT_MARGIN_DEG)
    out: list[tuple[float, float]] = []
    for k in range(n):
        radius = VILLAGE_RADIUS_M * math.sqrt((k + 0.5) / n)
        bearing = (turn_deg + k * GOLDEN_DEG) % 360.0
        for _ in range(12):
            lat, lon = offset(seat[0], seat[1], bearing, radius)
            lat, lon = round(lat, 5), round(lon, 5)
            if inner.covers(shapely.Point(lon, lat)) and (lat, lon) not in out:
                break
            radius *= 0.75
        else:
            raise ValueError(f"no room for village {k} around seat {seat}")
        out.append((lat, lon))
    return out


def build(reference: dict[str, Any], poly: Any) -> dict[str, Any]:
    """The extended gazetteer document: townships with seats, 197 villages, every generated point flagged."""
    names = [t["name"] for t in reference["townships"]]
    seat = reference["county"]["seat"]
    if not poly.covers(shapely.Point(seat["lon"], seat["lat"])):
        raise ValueError("county seat lies outside the boundary")
    order = [seat["name"]] + [n for n in names if n != seat["name"]]
    points = dict(zip(order, seat_points(poly, (seat["lat"], seat["lon"]), len(names)), strict=True))
    pilots = set(reference.get("pilot_townships", []))
    townships = []
    for t in reference["townships"]:
        lat, lon = points[t["name"]]
        entry = {"name": t["name"], "code": t.get("code"), "lat": lat, "lon": lon}
        entry["generated"] = t["name"] != seat["name"]
        entry["roles"] = ["pilot"] if t["name"] in pilots else []
        townships.append(entry)

    # Named villages: key + pilot from the reference, then 大峪镇's known list.
    named: dict[str, dict[str, Any]] = {}
    spare = [n for n in names if n != DAYU[0]]  # round-robin for villages whose township is unknown
    for role, key in (("key", "key_villages"), ("pilot", "pilot_villages")):
        for v in reference.get(key, []):
            entry = named.setdefault(v["name"], {"name": v["name"], "roles": []})
            entry["roles"].append(role)
            if "township" not in entry:
                if v.get("township"):
                    entry["township"], entry["township_generated"] = v["township"], False
                else:
                    entry["township"], entry["township_generated"] = spare.pop(0), True
    for name in DAYU[1]:
        entry = named.setdefault(name, {"name": name, "roles": [], "township": DAYU[0], "township_generated": False})
        if name == DAYU[2]:
            entry["roles"].append("seat")

    # Per-township totals: 大峪镇 is complete at 7; the rest share what is left, earlier townships get the remainder.
    others = [n for n in names if n != DAYU[0]]
    share, extra = divmod(TOTAL_VILLAGES - len(DAYU[1]), len(others))
    target = {n: share + (1 if i < extra else 0) for i, n in enumerate(others)} | {DAYU[0]: len(DAYU[1])}

    by_township: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
    for entry in named.values():
        by_township[entry["township"]].append(entry)
    for ti, tname in enumerate(names):
        members = sorted(by_township[tname], key=lambda e: "seat" not in e["roles"])
        demo = target[tname] - len(members)
        if demo < 0:
            raise ValueError(f"{tname} has more named villages than its share")
        members += [
            {"name": f"{tname}演示村{k:02d}", "roles": [], "township": tname, "township_generated": False}
            for k in range(1, demo + 1)
        ]
        spots = village_points(poly, points[tname], len(members), turn_deg=ti * 47.0)
        for entry, (lat, lon) in zip(members, spots, strict=True):
            entry.update(lat=lat, lon=lon, generated=True)
        if members and "seat" in members[0]["roles"]:  # the seat village sits at the township seat
            members[0].update(lat=points[tname][0], lon=points[tname][1])
        by_township[tname] = members

    rank, seq = {"key": 0, "pilot": 1}, {name: i for i, name in enumerate(named)}

    def demo_order(e: dict[str, Any]) -> tuple[bool, int, int]:
        r = min([rank.get(role, 2) for role in e["roles"]] + [2])
        return e["name"] != LEAD_VILLAGE, r, seq[e["name"]] if r < 2 else 0

    every = sorted((e for n in names for e in by_township[n]), key=demo_order)
    field_order = ("name", "township", "lat", "lon", "generated", "township_generated", "roles")
    villages = [{f: e[f] for f in field_order} for e in every]
    county = {k: reference["county"][k] for k in ("name", "adcode")} | {"boundary": BOUNDARY_NAME}
    county["seat"] = dict(seat) | {"generated": False}
    county |= {"administrative_villages": TOTAL_VILLAGES, "natural_villages": 373}
    return {
        "county": county,
        "featured_products": reference.get("featured_products", []),
        "rollout_targets": reference.get("rollout_targets", {}),
        "townships": townships,
        "villages": villages,
    }


HEADER = """\
# GENERATED by `python -m core.gazetteer_build` from gazetteer_reference.yaml and zhouqu_county.geojson. Do not edit.
# Demo gazetteer for 舟曲县. Every point with `generated: true` is a DEMO position sampled inside the county
# boundary, NOT a surveyed location; `township_generated: true` means the plan names the village but not its
# township, so one was assigned for the demo. Only the county seat (城关镇, from the reference) is not generated.
# Unknown facts stay absent (division codes beyond the first three townships, village codes). A county loads its
# own surveyed gazetteer in this format. Villages named NN演示村MM are synthetic fillers up to the 197 villages.
"""


def _flow(obj: Any) -> str:
    text = yaml.safe_dump(obj, default_flow_style=True, allow_unicode=True, width=10_000, sort_keys=False).strip()
    return text.removesuffix("\n...")


def render(doc: dict[str, Any]) -> str:
    """YAML text: one flow mapping per township and village, with comments."""
    county = doc["county"]
    lines = [HEADER.rstrip("\n"), "", "county:"]
    for key, value in county.items():
        note = "  # surveyed (reference), not generated" if key == "seat" else ""
        lines.append(f"  {key}: {_flow(value)}{note}")
    lines += ["", f"featured_products: {_flow(doc['featured_products'])}", "", "rollout_targets:"]
    lines += [f"  {k}: {_flow(v)}" for k, v in doc["rollout_targets"].items()]
    lines += ["", "townships:  # seat position in lat/lon; roles: pilot = pilot township named by the plan"]
    lines += [f"  - {_flow({k: v for k, v in t.items() if v is not None})}" for t in doc["townships"]]
    lines += ["", "villages:  # key villages first (狼岔坝村 leads), then pilot villages, then by township"]
    lines += [f"  - {_flow(v)}" for v in doc["villages"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Regenerate core/data/gazetteer.yaml (refreshing the reference copies when reading the shared ones)."""
    parser = argparse.ArgumentParser(description=__doc__)
    default = SHARED_DIR if (SHARED_DIR / "gazetteer.yaml").exists() else DATA_DIR
    parser.add_argument("--reference-dir", type=Path, default=default, help="folder with the reference files")
    parser.add_argument("--out", type=Path, default=DATA_DIR / OUTPUT_NAME, help="output YAML path")
    args = parser.parse_args(argv)
    ref_dir: Path = args.reference_dir
    ref_yaml = ref_dir / ("gazetteer.yaml" if ref_dir.resolve() != DATA_DIR else REFERENCE_NAME)
    if ref_dir.resolve() != DATA_DIR:
        DATA_DIR.mkdir(exist_ok=True)
        shutil.copyfile(ref_yaml, DATA_DIR / REFERENCE_NAME)
        shutil.copyfile(ref_dir / BOUNDARY_NAME, DATA_DIR / BOUNDARY_NAME)
    reference = yaml.safe_load(ref_yaml.read_text(encoding="utf-8"))
    doc = build(reference, _boundary(ref_dir / BOUNDARY_NAME))
    args.out.write_text(render(doc), encoding="utf-8")
    print(f"wrote {args.out}: {len(doc['townships'])} townships, {len(doc['villages'])} villages")


if __name__ == "__main__":
    main()

"""Deterministic procedural village scenes for camera simulation and detector training, with ground-truth boxes."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from core.vision import CAR, FALLEN, FIRE, GARBAGE, MOTORCYCLE, PERSON, SCENE_CLASSES, SMOKE
from sim import scene_sprites as sprites

W, H = 640, 360
VIEWS = ("village", "road")
# Scale of a standing adult whose feet are on the bottom frame row, per view (for a 360-row frame).
BOTTOM_SCALE = {"village": 1.45, "road": 3.6}
Box = tuple[str, float, float, float, float]  # (label, x1, y1, x2, y2) in frame pixels
Point = tuple[float, float]


@dataclass(frozen=True)
class Thing:
    """One object in a scene, anchored at its bottom-centre ground point."""

    label: str  # one of core.vision.SCENE_CLASSES
    x: float  # bottom-centre (ground contact point), frame pixels
    y: float
    scale: float = 1.0  # 1.0 = a standing adult about 80 px tall; everything else is sized relative to it
    passengers: int = 0  # motorcycle/tricycle riders beyond the driver (drawn on it; each rider is also a person box)
    plate: str | None = None  # car/motorcycle: plate text drawn on the vehicle's front
    variant: int = 0  # deterministic colour/shape variation


@dataclass(frozen=True)
class Layout:
    """The static village background of one camera."""

    seed: int
    view: str  # "village" (general camera) or "road" (close-range advisory-station camera)
    width: int
    height: int
    horizon_y: float
    road: list[Point]  # polygon, frame px
    water: list[Point] | None  # river/pond polygon (village view), None if absent
    square: list[Point]  # open ground (square / activity area) polygon


def scale_at(layout: Layout, y: float) -> float:
    """Perspective: the scale of a standing adult whose feet are at row y (0 at and above the horizon)."""
    bottom = BOTTOM_SCALE[layout.view] * layout.height / H
    return max(0.0, bottom * (y - layout.horizon_y) / (layout.height - layout.horizon_y))


def _road_edges(layout_h: float, height: int, far_x: float, near_x: float, half_near: float) -> list[Point]:
    ys = np.linspace(layout_h + 2, height + 40, 8)
    frac = (ys - layout_h) / (height - layout_h)
    centre = far_x + (near_x - far_x) * frac
    half = 4 + half_near * frac
    left = [(float(c - w), float(y)) for c, w, y in zip(centre, half, ys, strict=True)]
    right = [(float(c + w), float(y)) for c, w, y in zip(centre, half, ys, strict=True)]
    return left + right[::-1]


def _edge_x(poly: list[Point], y: float, side: int) -> float:
    """x of the polygon's left (side=-1) or right (side=1) boundary at row y (the road is convex-ish)."""
    xs = []
    for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
        if min(y1, y2) <= y <= max(y1, y2) and y1 != y2:
            xs.append(x1 + (x2 - x1) * (y - y1) / (y2 - y1))
    if not xs:
        return 0.0
    return max(xs) if side > 0 else min(xs)


def layout(seed: int, view: str = "village", width: int = W, height: int = H) -> Layout:
    """The background layout of camera `seed`: horizon, road, water and square, deterministic in its arguments."""
    if view not in VIEWS:
        raise ValueError(f"unknown scene view {view!r}; expected one of {VIEWS}")
    if width < 64 or height < 64:
        raise ValueError(f"scene frame {width}x{height} is too small (at least 64x64)")
    rng = random.Random(seed * 1_000_003 + (1 if view == "road" else 0))
    if view == "road":
        hy = height * rng.uniform(0.17, 0.27)
        far_x = width * rng.uniform(0.4, 0.6)
        near_x = width * rng.uniform(0.42, 0.58)
        road = _road_edges(hy, height, far_x, near_x, width * rng.uniform(0.75, 0.95))
        side = rng.choice((-1, 1))
        y1, y2 = hy + 0.05 * (height - hy), hy + 0.25 * (height - hy)
        e1, e2 = _edge_x(road, y1, side), _edge_x(road, y2, side)
        square = [(e1 + side * 4, y1), (e1 + side * 60, y1), (e2 + side * 130, y2), (e2 + side * 6, y2)]
        return Layout(seed, view, width, height, hy, road, None, _clip_poly(square, width, height))
    hy = height * rng.uniform(0.28, 0.4)
    side = rng.choice((-1, 1))  # which side of the frame the road runs down
    near_x = width * (0.5 + side * rng.uniform(0.15, 0.3))
    far_x = width * rng.uniform(0.35, 0.65)
    road = _road_edges(hy, height, far_x, near_x, 235 * BOTTOM_SCALE["village"] * height / H / 2)
    free = -side  # square and water lie on the other side of the road

    def band(f1: float, f2: float, depth: float) -> list[Point]:
        ya, yb = hy + f1 * (height - hy), hy + f2 * (height - hy)
        ea, eb = _edge_x(road, ya, free) + free * 12, _edge_x(road, yb, free) + free * 12
        far = width - 6 if free > 0 else 6.0
        oa = ea + (far - ea) * depth
        ob = eb + (far - eb) * depth
        return [(ea, ya), (oa, ya), (ob, yb), (eb, yb)]

    square = band(rng.uniform(0.12, 0.2), rng.uniform(0.45, 0.55), rng.uniform(0.75, 0.95))
    water = None
    if rng.random() < 0.8:
        ya, yb = hy + rng.uniform(0.6, 0.66) * (height - hy), height - rng.uniform(2, 20)
        ea, eb = _edge_x(road, ya, free) + free * 30, _edge_x(road, yb, free) + free * 30
        far = width + 40.0 if free > 0 else -40.0
        pts: list[Point] = []
        for i in range(10):
            u = i / 9
            pts.append((ea + (eb - ea) * u + free * 6 * math.sin(5 * u + seed), ya + (yb - ya) * u))
        water = [*pts, (far, yb), (far, ya)]
    return Layout(seed, view, width, height, hy, road, _clip_poly(water, width, height) if water else None,
                  _clip_poly(square, width, height))  # fmt: skip


def _clip_poly(poly: list[Point], width: int, height: int) -> list[Point]:
    return [(float(min(max(x, 0.0), width - 1.0)), float(min(max(y, 0.0), height - 1.0))) for x, y in poly]


def _fill(img: np.ndarray, poly: Sequence[Point], colour: tuple[int, int, int]) -> None:
    pts = np.round(np.asarray(poly, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(img, [pts], colour, lineType=cv2.LINE_AA, shift=4)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    small = rng.random((max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _house(img: np.ndarray, rng: random.Random, x: float, base: float, s: float, windows: list[Point]) -> None:
    w, h = 230 * s * rng.uniform(0.8, 1.3), 140 * s * rng.uniform(0.8, 1.2)
    wall = rng.choice(((230, 225, 210), (200, 170, 130), (215, 205, 185), (170, 150, 130), (240, 240, 235)))
    _fill(img, [(x - w / 2, base), (x + w / 2, base), (x + w / 2, base - h), (x - w / 2, base - h)], wall)
    if rng.random() < 0.5:  # Tibetan-style flat roof with a coloured eave band
        band = rng.choice(((140, 40, 30), (60, 40, 30), (30, 60, 130)))
        left, right, top = x - w / 2 - 3 * s, x + w / 2 + 3 * s, base - h
        _fill(img, [(left, top), (right, top), (right, top - 16 * s), (left, top - 16 * s)], band)
    else:
        roof = rng.choice(((90, 95, 105), (60, 70, 110), (150, 60, 50), (120, 120, 120)))
        _fill(img, [(x - w / 2 - 10 * s, base - h), (x + w / 2 + 10 * s, base - h), (x, base - h - 0.45 * w)], roof)
    door = rng.uniform(-0.3, 0.3) * w
    _fill(img, [(x + door - 18 * s, base), (x + door + 18 * s, base), (x + door + 18 * s, base - 70 * s),
                (x + door - 18 * s, base - 70 * s)], (110, 60, 40))  # fmt: skip
    for u in (-0.35, 0.35):
        wx, wy = x + u * w, base - 0.62 * h
        if abs(wx - x - door) > 40 * s:
            _fill(img, [(wx - 16 * s, wy - 14 * s), (wx + 16 * s, wy - 14 * s), (wx + 16 * s, wy + 14 * s),
                        (wx - 16 * s, wy + 14 * s)], (60, 55, 60))  # fmt: skip
            windows.append((wx, wy))


def _tree(img: np.ndarray, rng: random.Random, x: float, base: float, s: float) -> None:
    h = 170 * s * rng.uniform(0.7, 1.3)
    cv2.line(img, (round(x), round(base)), (round(x), round(base - h * 0.5)), (70, 50, 35), max(1, round(8 * s)))
    green = (rng.randint(30, 70), rng.randint(90, 140), rng.randint(30, 60))
    for _ in range(4):
        cx, cy = x + rng.uniform(-25, 25) * s, base - h * rng.uniform(0.6, 0.85)
        cv2.circle(img, (round(cx), round(cy)), max(2, round(h * rng.uniform(0.18, 0.28))), green, -1, cv2.LINE_AA)


@lru_cache(maxsize=128)
def _background(key: tuple[object, ...], night: bool) -> tuple[np.ndarray, tuple[Point, ...]]:
    """Sky, mountains, ground, houses, trees, square, water and road for a layout; and the house window centres."""
    frozen = key[0]
    assert isinstance(frozen, _Frozen)
    lay = frozen.lay
    w, h, hy = lay.width, lay.height, lay.horizon_y
    rng = random.Random(lay.seed * 7 + 101)
    nrng = np.random.default_rng(lay.seed + 5)
    img = np.empty((h, w, 3), np.uint8)
    rows = np.linspace(0.0, 1.0, h)[:, None]
    sky = np.array([95, 150, 215]) * (1 - rows) + np.array([200, 220, 235]) * rows
    img[:] = sky[:, None, :].astype(np.uint8)
    xs = np.arange(w + 1, dtype=np.float64)
    for layer in range(3):  # far to near ridges, lighter and bluer with distance
        base = hy - (0.55 - 0.17 * layer) * hy
        ridge = np.full_like(xs, base)
        for _ in range(3):
            ridge += rng.uniform(6, 22) * np.sin(xs * rng.uniform(0.004, 0.03) + rng.uniform(0, 6))
        colour = [(150, 170, 185), (95, 125, 110), (60, 95, 60)][layer]
        _fill(img, [(0.0, hy + 1), *zip(xs.tolist(), ridge.tolist(), strict=True), (float(w), hy + 1)], colour)
    ground = (np.array([85, 135, 60]) * (0.85 + 0.3 * _smooth_noise(nrng, h, w, 24))[..., None]).astype(np.uint8)
    gy = round(hy)
    img[gy:] = ground[gy:]
    _fill(img, lay.square, (175, 168, 150))
    if lay.water:
        _fill(img, lay.water, (70, 110, 140))
    _fill(img, lay.road, (105, 105, 108))
    road_mid = [((lay.road[i][0] + lay.road[-1 - i][0]) / 2, lay.road[i][1]) for i in range(len(lay.road) // 2)]
    for (x1, y1), (x2, y2) in itertools.pairwise(road_mid):
        for k in range(0, 4, 2):
            a, b = k / 4, (k + 1) / 4
            thick = max(1, round(2 * scale_at(lay, (y1 + y2) / 2)))
            p1 = (round(x1 + (x2 - x1) * a), round(y1 + (y2 - y1) * a))
            p2 = (round(x1 + (x2 - x1) * b), round(y1 + (y2 - y1) * b))
            cv2.line(img, p1, p2, (225, 225, 215), thick, cv2.LINE_AA)
    texture = (nrng.normal(0, 5, (h, w, 1))).astype(np.float32)
    img = np.clip(img.astype(np.float32) + texture, 0, 255).astype(np.uint8)
    windows: list[Point] = []
    for _ in range(rng.randint(3, 7)):  # houses and trees along the far edge of the ground
        base_y = hy + rng.uniform(0.02, 0.14) * (h - hy)
        x = rng.uniform(0, w)
        s = scale_at(lay, base_y)
        if abs(x - _edge_x(lay.road, base_y, -1) / 2 - _edge_x(lay.road, base_y, 1) / 2) < 150 * s:
            continue
        if rng.random() < 0.7:
            _house(img, rng, x, base_y, s, windows)
        else:
            _tree(img, rng, x, base_y, s)
    if night:
        img = _darken(img)
    return img, tuple(windows)


def _darken(img: np.ndarray) -> np.ndarray:
    return np.clip(img.astype(np.float32) * np.array([0.3, 0.33, 0.46], np.float32) + 4, 0, 255).astype(np.uint8)


def _layout_key(lay: Layout) -> tuple[object, ...]:
    return (_Frozen(lay),)


class _Frozen:
    """Hashable wrapper of a layout for the background cache (layouts hold lists)."""

    def __init__(self, lay: Layout) -> None:
        self.lay = lay
        self.key = (lay.seed, lay.view, lay.width, lay.height, lay.horizon_y, tuple(lay.road),
                    tuple(lay.water) if lay.water else None, tuple(lay.square))  # fmt: skip

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frozen) and other.key == self.key


def _sprite(thing: Thing, t: float) -> sprites.Sprite:
    s = max(0.05, thing.scale)
    if thing.label == PERSON:
        return sprites.person(s, thing.variant, t)
    if thing.label == FALLEN:
        return sprites.fallen(s, thing.variant)
    if thing.label == CAR:
        return sprites.car(s, thing.variant, thing.plate)
    if thing.label == MOTORCYCLE:
        return sprites.motorcycle(s, thing.variant, thing.passengers, thing.plate)
    if thing.label == FIRE:
        return sprites.fire(s, thing.variant, t)
    if thing.label == SMOKE:
        return sprites.smoke(s, thing.variant, t)
    if thing.label == GARBAGE:
        return sprites.garbage(s, thing.variant)
    raise ValueError(f"unknown scene thing label {thing.label!r}; expected one of {SCENE_CLASSES}")


def _composite(frame: np.ndarray, sp: sprites.Sprite, x: float, y: float, night: bool) -> tuple[float, ...] | None:
    """Alpha-blend the sprite with its anchor on (x, y); return its visible (x1, y1, x2, y2, full_area) or None."""
    ox, oy = round(x - sp.ax), round(y - sp.ay)
    sh, sw = sp.rgba.shape[:2]
    fh, fw = frame.shape[:2]
    x1, y1, x2, y2 = max(0, ox), max(0, oy), min(fw, ox + sw), min(fh, oy + sh)
    alpha_all = sp.rgba[..., 3]
    ys, xs = np.nonzero(alpha_all >= sp.alpha_min)
    if len(xs) == 0:
        return None
    full = (xs.min() + ox, ys.min() + oy, xs.max() + 1 + ox, ys.max() + 1 + oy)
    if x1 >= x2 or y1 >= y2:
        return None
    part = sp.rgba[y1 - oy : y2 - oy, x1 - ox : x2 - ox]
    rgb = part[..., :3].astype(np.float32)
    if night and not sp.emissive:
        rgb = rgb * np.array([0.3, 0.33, 0.46], np.float32) + 4
    a = part[..., 3:4].astype(np.float32) / 255.0
    region = frame[y1:y2, x1:x2].astype(np.float32)
    frame[y1:y2, x1:x2] = np.clip(region * (1 - a) + rgb * a, 0, 255).astype(np.uint8)
    vis = part[..., 3] >= sp.alpha_min
    vy, vx = np.nonzero(vis)
    if len(vx) == 0:
        return None
    area = float((full[2] - full[0]) * (full[3] - full[1]))
    return (float(vx.min() + x1), float(vy.min() + y1), float(vx.max() + 1 + x1), float(vy.max() + 1 + y1), area)


def _parts(sp: sprites.Sprite, x: float, y: float, width: int, height: int) -> list[Box]:
    """Ground-truth boxes of a sprite's labelled parts (a motorcycle's riders) placed on (x, y), clipped to the
    frame; a part less than 40 % inside it is left out, as whole things are."""
    ox, oy = round(x - sp.ax), round(y - sp.ay)
    out: list[Box] = []
    for label, a1, b1, a2, b2 in sp.parts:
        x1, y1, x2, y2 = max(0.0, a1 + ox), max(0.0, b1 + oy), min(float(width), a2 + ox), min(float(height), b2 + oy)
        if x2 - x1 >= 3 and y2 - y1 >= 3 and (x2 - x1) * (y2 - y1) >= 0.4 * (a2 - a1) * (b2 - b1):
            out.append((label, round(x1, 1), round(y1, 1), round(x2, 1), round(y2, 1)))
    return out


def _glow(frame: np.ndarray, box: tuple[float, ...], t: float, night: bool) -> None:
    """Additive orange glow around a fire, stronger at night and flickering with t."""
    x1, y1, x2, y2 = box[:4]
    cx, cy = (x1 + x2) / 2, y1 + 0.6 * (y2 - y1)
    r = 1.2 * max(x2 - x1, y2 - y1)
    fh, fw = frame.shape[:2]
    a1, b1 = max(0, int(cx - 2 * r)), max(0, int(cy - 2 * r))
    a2, b2 = min(fw, int(cx + 2 * r) + 1), min(fh, int(cy + 2 * r) + 1)
    if a1 >= a2 or b1 >= b2:
        return
    yy, xx = np.mgrid[b1:b2, a1:a2].astype(np.float32)
    amp = (110 if night else 45) * (0.85 + 0.15 * math.sin(9.0 * t))
    g = amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    region = frame[b1:b2, a1:a2].astype(np.float32)
    region += g[..., None] * np.array([1.0, 0.55, 0.15], np.float32)
    frame[b1:b2, a1:a2] = np.clip(region, 0, 255).astype(np.uint8)


def render(
    layout: Layout, things: Sequence[Thing], t: float, night: bool = False, noise_seed: int | None = None
) -> tuple[np.ndarray, list[Box]]:
    """Draw the layout with its things (far to near) at time t; return the RGB frame and ground-truth boxes.

    Fire and smoke move with t; night darkens everything but flames and lit windows. Sensor noise is seeded
    by noise_seed, or by (layout seed, t) when None, so consecutive frames of a static scene still differ.
    """
    bg, windows = _background(_layout_key(layout), night)
    frame = bg.copy()
    if night:
        wrng = random.Random(layout.seed)
        for wx, wy in windows:
            if wrng.random() < 0.6:
                s = scale_at(layout, wy)
                cv2.rectangle(frame, (round(wx - 14 * s), round(wy - 12 * s)), (round(wx + 14 * s), round(wy + 12 * s)),
                              (230, 190, 110), -1)  # fmt: skip
    boxes: list[Box] = []
    glows: list[tuple[float, ...]] = []
    ordered = sorted(things, key=lambda th: (th.label == SMOKE, th.y))  # smoke floats above what stands near it
    for thing in ordered:
        sp = _sprite(thing, t)
        vis = _composite(frame, sp, thing.x, thing.y, night)
        if vis is None:
            continue
        x1, y1, x2, y2, full = vis
        if (x2 - x1) >= 3 and (y2 - y1) >= 3 and (x2 - x1) * (y2 - y1) >= 0.4 * full:
            boxes.append((thing.label, x1, y1, x2, y2))
            boxes += _parts(sp, thing.x, thing.y, frame.shape[1], frame.shape[0])
        if thing.label == FIRE:
            glows.append(vis)
    for g in glows:
        _glow(frame, g, t, night)
    seed = noise_seed if noise_seed is not None else (layout.seed * 1_000_003 + round(t * 1000)) & 0xFFFFFFFF
    noisy = np.random.default_rng(seed).standard_normal(frame.shape, dtype=np.float32)
    noisy *= 4.0 if night else 2.5
    noisy += frame
    np.clip(noisy, 0, 255, out=noisy)
    return noisy.astype(np.uint8), boxes


def jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
    """The frame after JPEG compression at `quality` (1-100), as a camera's encoder would leave it."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR) if ok else None
    if decoded is None:
        raise ValueError("JPEG round trip of the scene frame failed")
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)

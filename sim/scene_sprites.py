"""Procedural sprites for the scene renderer: people, vehicles, fire, smoke and garbage as RGBA images."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from sim.plate import BLUE, YELLOW, render_plate

PERSON_PX = 80.0  # height of a standing adult at scale 1.0
Colour = tuple[int, int, int]
Point = tuple[float, float]
SHIRTS: tuple[Colour, ...] = (
    (200, 40, 40), (40, 70, 160), (30, 120, 60), (220, 180, 40), (90, 90, 95), (235, 235, 230),
    (120, 60, 130), (200, 110, 40), (40, 40, 45), (150, 30, 60), (70, 140, 180), (160, 130, 90),
)  # fmt: skip
TROUSERS: tuple[Colour, ...] = ((35, 40, 60), (50, 50, 55), (90, 80, 70), (20, 20, 25), (70, 90, 120), (110, 100, 80))
SKINS: tuple[Colour, ...] = ((225, 185, 150), (200, 150, 110), (170, 120, 85), (235, 200, 170))
CAR_BODIES: tuple[Colour, ...] = (
    (235, 235, 235), (180, 182, 188), (190, 30, 30), (30, 60, 150), (25, 25, 28), (110, 112, 118),
    (230, 200, 60), (60, 110, 70),
)  # fmt: skip
BIKE_BODIES: tuple[Colour, ...] = ((180, 20, 20), (20, 20, 22), (30, 60, 160), (200, 200, 205), (200, 120, 20))
BAGS: tuple[Colour, ...] = ((25, 25, 25), (40, 80, 40), (40, 70, 170), (225, 225, 220), (190, 40, 40), (200, 170, 50))


@dataclass
class Sprite:
    """An RGBA image with the pixel that lands on the thing's ground point, and whether it glows."""

    rgba: np.ndarray
    ax: float
    ay: float
    emissive: bool = False
    alpha_min: int = 24  # alpha at or above which a pixel counts for the ground-truth box
    parts: tuple[tuple[str, float, float, float, float], ...] = ()  # labelled parts (riders), sprite pixels


def _canvas(w: float, h: float) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGBA", (max(2, math.ceil(w)), max(2, math.ceil(h))), (0, 0, 0, 0))
    return img, ImageDraw.Draw(img)


def _w(v: float) -> int:
    return max(1, round(v))


def _shade(c: Colour, f: float) -> Colour:
    return (min(255, int(c[0] * f)), min(255, int(c[1] * f)), min(255, int(c[2] * f)))


def _draw_person(d: ImageDraw.ImageDraw, cx: float, foot: float, h: float, rng: random.Random, phase: float) -> None:
    """A standing or walking person whose feet are at (cx, foot), h pixels tall."""
    shirt, trousers, skin = rng.choice(SHIRTS), rng.choice(TROUSERS), rng.choice(SKINS)
    hair = rng.choice(((20, 18, 18), (40, 30, 25), (150, 150, 150)))
    robe = rng.random() < 0.25
    raised = rng.random() < 0.15
    top = foot - h
    hip = top + 0.52 * h
    for side in (-1, 1):
        fx = cx + side * 0.06 * h + side * phase * 0.11 * h
        d.line([(cx + side * 0.06 * h, hip), (fx, foot - 0.03 * h)], fill=trousers, width=_w(0.1 * h))
        d.ellipse([fx - 0.06 * h, foot - 0.05 * h, fx + 0.06 * h, foot], fill=(30, 25, 20))
    body_bottom = top + (0.78 if robe else 0.54) * h
    half_b = (0.17 if robe else 0.12) * h
    d.polygon(
        [(cx - 0.15 * h, top + 0.17 * h), (cx + 0.15 * h, top + 0.17 * h), (cx + half_b, body_bottom),
         (cx - half_b, body_bottom)], fill=shirt,
    )  # fmt: skip
    if robe:
        d.line([(cx - half_b, body_bottom), (cx + half_b, body_bottom)], fill=_shade(shirt, 0.6), width=_w(0.03 * h))
    for side in (-1, 1):
        sx, sy = cx + side * 0.14 * h, top + 0.19 * h
        if raised and side == 1:
            hx, hy = cx + 0.26 * h, top + 0.02 * h
        else:
            hx, hy = cx + side * 0.18 * h - side * phase * 0.06 * h, top + 0.5 * h
        d.line([(sx, sy), (hx, hy)], fill=_shade(shirt, 0.85), width=_w(0.075 * h))
        d.ellipse([hx - 0.035 * h, hy - 0.035 * h, hx + 0.035 * h, hy + 0.035 * h], fill=skin)
    d.rectangle([cx - 0.03 * h, top + 0.13 * h, cx + 0.03 * h, top + 0.18 * h], fill=skin)
    d.ellipse([cx - 0.065 * h, top + 0.005 * h, cx + 0.065 * h, top + 0.15 * h], fill=skin)
    d.chord([cx - 0.068 * h, top, cx + 0.068 * h, top + 0.12 * h], 180, 360, fill=hair)
    if rng.random() < 0.3:
        hat = rng.choice(((150, 30, 30), (40, 40, 40), (200, 170, 90), (230, 230, 230)))
        d.rectangle([cx - 0.09 * h, top + 0.03 * h, cx + 0.09 * h, top + 0.05 * h], fill=hat)
        d.chord([cx - 0.06 * h, top - 0.03 * h, cx + 0.06 * h, top + 0.08 * h], 180, 360, fill=hat)


def person(scale: float, variant: int, t: float, walking: bool = True) -> Sprite:
    """A standing (or walking, swinging legs with t) adult, PERSON_PX * scale tall."""
    h = PERSON_PX * scale
    img, d = _canvas(0.7 * h + 4, h + 6)
    rng = random.Random(variant * 7919 + 1)
    phase = math.sin(2 * math.pi * 0.9 * t + variant) if walking and variant % 3 else 0.0
    _draw_person(d, img.width / 2, h + 4, h, rng, phase)
    return Sprite(np.asarray(img), img.width / 2, h + 4)


def fallen(scale: float, variant: int) -> Sprite:
    """The same person lying on the ground: rotated to horizontal and foreshortened."""
    up = person(scale, variant, 0.0, walking=False)
    rng = random.Random(variant * 31 + 5)
    angle = (90 if variant % 2 else -90) + rng.uniform(-12, 12)
    img = Image.fromarray(up.rgba).rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    img = img.resize((img.width, max(2, round(img.height * 0.75))), Image.Resampling.BILINEAR)
    bbox = img.getchannel("A").point(lambda a: 255 if a >= 24 else 0).getbbox()
    if bbox:
        img = img.crop(bbox)
    return Sprite(np.asarray(img), img.width / 2, img.height)


@lru_cache(maxsize=512)
def _plate_tile(text: str, pw: int, ph: int, colours: tuple[Colour, ...]) -> Image.Image:
    """The plate rendered at pw x ph (cached: the same vehicle shows the same plate frame after frame)."""
    plate = render_plate(text, height=max(12, ph), colours=(colours[0], colours[1]))
    return Image.fromarray(plate).convert("RGBA").resize((pw, ph), Image.Resampling.LANCZOS)


def _paste_plate(img: Image.Image, text: str, cx: float, cy: float, width: float, colours: tuple[Colour, ...]) -> None:
    pw = max(8, round(width))
    ph = max(3, round(pw * 140 / 440))
    img.alpha_composite(_plate_tile(text, pw, ph, colours), (round(cx - pw / 2), round(cy - ph / 2)))


def car(scale: float, variant: int, plate: str | None) -> Sprite:
    """A car, van or light truck seen from the front or three-quarter front, with its plate on the bumper."""
    rng = random.Random(variant * 104729 + 3)
    kind = variant % 3  # 0, 1: car / SUV; 2: van or truck
    body = CAR_BODIES[(variant // 3) % len(CAR_BODIES)]
    w = (96.0 if kind == 2 else 88.0) * scale
    h = w * (0.95 if kind == 2 else 0.68 + 0.08 * kind)
    side = w * 0.22 if (variant // 24) % 2 == 0 else 0.0
    sgn = 1 if (variant // 48) % 2 else -1
    img, d = _canvas(w + side + 4, h + 4)
    x0 = 2 + (side if sgn < 0 else 0.0)
    y0 = 2.0

    def px(u: float) -> float:
        return x0 + u * w

    def py(v: float) -> float:
        return y0 + v * h

    truck = kind == 2 and rng.random() < 0.5
    if truck:  # cargo box behind the cab, wider and taller
        cargo = rng.choice(((40, 90, 160), (60, 120, 60), (150, 150, 150)))
        d.rectangle([px(-0.04), py(0.0), px(1.04), py(0.5)], fill=cargo, outline=_shade(cargo, 0.6))
    if side:
        ex = px(1.0) if sgn > 0 else px(0.0)
        top = py(0.5 if kind != 2 else 0.45)
        d.polygon([(ex, top), (ex + sgn * side, top - 0.05 * h), (ex + sgn * side, py(0.86)), (ex, py(0.92))],
                  fill=_shade(body, 0.7))  # fmt: skip
        cab_top = py(0.12 if kind == 2 else 0.1)
        d.polygon([(ex - sgn * 0.06 * w, cab_top), (ex + sgn * side * 0.8, cab_top - 0.02 * h),
                   (ex + sgn * side, top - 0.05 * h), (ex, top)], fill=_shade(body, 0.8))  # fmt: skip
        d.polygon([(ex, cab_top + 0.06 * h), (ex + sgn * side * 0.75, cab_top + 0.05 * h),
                   (ex + sgn * side * 0.9, top - 0.08 * h), (ex, top - 0.03 * h)], fill=(55, 65, 80))  # fmt: skip
        d.ellipse([ex + sgn * side * 0.35 - 0.09 * w, py(0.72), ex + sgn * side * 0.35 + 0.09 * w, py(1.0)],
                  fill=(25, 25, 25))  # fmt: skip
    for u in (0.05, 0.8):
        d.rectangle([px(u), py(0.84), px(u + 0.15), py(1.0) - 0.5], fill=(25, 25, 25))
    if kind == 2:
        d.rounded_rectangle([px(0.02), py(0.08), px(0.98), py(0.9)], radius=0.05 * w, fill=body)
        d.polygon([(px(0.08), py(0.13)), (px(0.92), py(0.13)), (px(0.95), py(0.46)), (px(0.05), py(0.46))],
                  fill=(55, 68, 82))  # fmt: skip
    else:
        d.polygon([(px(0.18), py(0.06)), (px(0.82), py(0.06)), (px(0.95), py(0.48)), (px(0.05), py(0.48))], fill=body)
        d.polygon([(px(0.22), py(0.11)), (px(0.78), py(0.11)), (px(0.89), py(0.45)), (px(0.11), py(0.45))],
                  fill=(55, 68, 82))  # fmt: skip
        d.rounded_rectangle([px(0.0), py(0.44), px(1.0), py(0.9)], radius=0.06 * w, fill=body)
    d.line([(px(0.3), py(0.16)), (px(0.2), py(0.4))], fill=(120, 135, 150), width=_w(0.02 * w))
    for u in (0.04, 0.74):
        d.ellipse([px(u), py(0.52), px(u + 0.22), py(0.63)], fill=(235, 235, 215), outline=(90, 90, 90))
    d.rectangle([px(0.3), py(0.54), px(0.7), py(0.67)], fill=(45, 45, 48))
    for v in (0.57, 0.61, 0.65):
        d.line([(px(0.32), py(v)), (px(0.68), py(v))], fill=(80, 80, 85), width=_w(0.008 * w))
    d.rectangle([px(0.02), py(0.72), px(0.98), py(0.89)], fill=_shade(body, 0.82))
    if plate:
        _paste_plate(img, plate, px(0.5), py(0.805), 0.32 * w, YELLOW if kind == 2 else BLUE)
    return Sprite(np.asarray(img), px(0.5), py(1.0))


def _rider_box(cx: float, seat: float, m: float) -> tuple[str, float, float, float, float]:
    """The person box of a rider _rider draws at (cx, seat): helmet top to feet, knee to knee."""
    return ("person", cx - 0.15 * m, seat - 0.52 * m, cx + 0.15 * m, seat + 0.24 * m)


def _rider(d: ImageDraw.ImageDraw, cx: float, seat: float, m: float, rng: random.Random, bar: Point) -> None:
    """A seated rider: shins, torso, arms to the handlebar (bar = (x, y)), head; m = standing-adult height."""
    shirt, trousers, skin = rng.choice(SHIRTS), rng.choice(TROUSERS), rng.choice(SKINS)
    for side in (-1, 1):
        kx = cx + side * 0.11 * m
        d.line([(cx + side * 0.05 * m, seat), (kx, seat - 0.02 * m)], fill=trousers, width=_w(0.09 * m))
        d.line([(kx, seat - 0.02 * m), (kx + side * 0.01 * m, seat + 0.22 * m)], fill=trousers, width=_w(0.08 * m))
    d.polygon([(cx - 0.13 * m, seat - 0.34 * m), (cx + 0.13 * m, seat - 0.34 * m), (cx + 0.11 * m, seat + 0.02 * m),
               (cx - 0.11 * m, seat + 0.02 * m)], fill=shirt)  # fmt: skip
    for side in (-1, 1):
        d.line([(cx + side * 0.12 * m, seat - 0.31 * m), (bar[0] + side * 0.16 * m, bar[1])],
               fill=_shade(shirt, 0.85), width=_w(0.07 * m))  # fmt: skip
    hy = seat - 0.42 * m
    if rng.random() < 0.5:  # helmet
        helmet = rng.choice(((200, 30, 30), (240, 240, 240), (30, 30, 30), (230, 190, 30)))
        d.ellipse([cx - 0.08 * m, hy - 0.09 * m, cx + 0.08 * m, hy + 0.08 * m], fill=helmet)
        d.rectangle([cx - 0.055 * m, hy - 0.01 * m, cx + 0.055 * m, hy + 0.04 * m], fill=(40, 45, 55))
    else:
        d.ellipse([cx - 0.065 * m, hy - 0.07 * m, cx + 0.065 * m, hy + 0.07 * m], fill=skin)
        d.chord([cx - 0.068 * m, hy - 0.075 * m, cx + 0.068 * m, hy + 0.04 * m], 180, 360, fill=(25, 20, 20))


def motorcycle(scale: float, variant: int, passengers: int, plate: str | None) -> Sprite:
    """A motorcycle or farm tricycle seen three-quarter front, with its driver and `passengers` riders behind."""
    m = PERSON_PX * scale
    rng = random.Random(variant * 7717 + 11)
    tricycle = variant % 3 == 2
    colour = BIKE_BODIES[(variant // 3) % len(BIKE_BODIES)]
    sgn = 1 if (variant // 15) % 2 else -1
    back = 0.13 * m  # sideways offset of each seat further back
    n = max(0, passengers)
    extra = (0.8 * m if tricycle else back * (n + 1)) + 0.1 * m
    img, d = _canvas(0.9 * m + extra * 2, 1.25 * m + 0.06 * m * n + 4)
    cx, ground = img.width / 2, img.height - 2.0
    if tricycle:
        bed = rng.choice(((40, 80, 160), (40, 110, 60), (150, 40, 40)))
        bx = cx + sgn * 0.42 * m
        for wx in (bx - 0.3 * m, bx + 0.3 * m):
            d.ellipse([wx - 0.06 * m, ground - 0.24 * m, wx + 0.06 * m, ground - 0.02 * m], fill=(25, 25, 25))
        g = ground
        d.polygon([(bx - 0.4 * m, g - 0.5 * m), (bx + 0.4 * m, g - 0.55 * m), (bx + 0.38 * m, g - 0.2 * m),
                   (bx - 0.38 * m, g - 0.16 * m)], fill=bed, outline=_shade(bed, 0.6))  # fmt: skip
    else:
        rx = cx + sgn * 0.2 * m
        d.ellipse([rx - 0.05 * m, ground - 0.38 * m, rx + 0.05 * m, ground - 0.08 * m], fill=(25, 25, 25))
    seat = ground - 0.42 * m
    bar = (cx, ground - 0.62 * m)
    if tricycle:  # passengers sit in the cargo bed
        seats = [(bx + sgn * (0.2 * m - 0.25 * m * k), ground - 0.5 * m - 0.03 * m * k) for k in range(n)]
    else:
        seats = [(cx + sgn * back * (k + 1), seat - 0.05 * m * (k + 1)) for k in range(n)]
    for k in reversed(range(n)):  # passengers behind the driver, farthest first
        _rider(d, seats[k][0], seats[k][1], m, random.Random(variant * 13 + k + 100), (seats[k][0] - sgn * 0.1 * m,
               seats[k][1] - 0.12 * m))  # fmt: skip
    d.polygon([(cx - 0.07 * m, ground - 0.55 * m), (cx + 0.07 * m, ground - 0.55 * m),
               (cx + sgn * 0.26 * m + 0.06 * m, seat + 0.02 * m), (cx + sgn * 0.26 * m - 0.06 * m, seat + 0.06 * m)],
              fill=colour)  # fmt: skip
    d.ellipse([cx - 0.05 * m, ground - 0.34 * m, cx + 0.05 * m, ground], fill=(20, 20, 20))
    d.ellipse([cx - 0.025 * m, ground - 0.25 * m, cx + 0.025 * m, ground - 0.09 * m], fill=(120, 120, 120))
    d.chord([cx - 0.07 * m, ground - 0.4 * m, cx + 0.07 * m, ground - 0.22 * m], 180, 360, fill=colour)
    _rider(d, cx + sgn * 0.06 * m, seat, m, rng, bar)
    riders = (_rider_box(cx + sgn * 0.06 * m, seat, m), *(_rider_box(x, y, m) for x, y in seats))
    d.line([(cx - 0.2 * m, bar[1]), (cx + 0.2 * m, bar[1] - 0.01 * m)], fill=(40, 40, 40), width=_w(0.025 * m))
    fork = ground - 0.4 * m
    d.polygon([(cx - 0.08 * m, bar[1] + 0.02 * m), (cx + 0.08 * m, bar[1] + 0.02 * m), (cx + 0.06 * m, fork),
               (cx - 0.06 * m, fork)], fill=colour)  # fmt: skip
    d.ellipse([cx - 0.05 * m, bar[1] + 0.03 * m, cx + 0.05 * m, bar[1] + 0.12 * m], fill=(240, 240, 215),
              outline=(70, 70, 70))  # fmt: skip
    if plate:
        _paste_plate(img, plate, cx, ground - 0.3 * m, 0.26 * m, YELLOW)
    return Sprite(np.asarray(img), cx, ground, parts=riders)


def fire(scale: float, variant: int, t: float) -> Sprite:
    """Flames (red, orange, yellow tongues) over a few burning sticks; tongue heights and sway flicker with t."""
    s = PERSON_PX * scale / 80.0
    rng = random.Random(variant * 3571 + 17)
    width = (40 + 30 * rng.random()) * s
    tall = (45 + 35 * rng.random()) * s
    img, d = _canvas(width * 1.6 + 4, tall * 1.5 + 4)
    cx, base = img.width / 2, img.height - 2.0
    for _ in range(4):
        x = cx + rng.uniform(-0.45, 0.45) * width
        d.line([(x - 0.2 * width, base - rng.uniform(0, 0.08) * tall), (x + 0.2 * width, base - 0.02 * tall)],
               fill=(50, 30, 20), width=_w(0.06 * width))  # fmt: skip
    tongues = 4 + variant % 4
    specs = [(rng.uniform(-0.4, 0.4), rng.uniform(0.45, 1.0), rng.uniform(1.5, 4.0), rng.uniform(0, 6.3))
             for _ in range(tongues)]  # fmt: skip
    for layer, (colour, shrink) in enumerate((((200, 30, 10), 1.0), ((250, 120, 20), 0.72), ((255, 220, 90), 0.42))):
        for off, hgt, freq, ph in specs:
            flick = 0.78 + 0.22 * math.sin(2 * math.pi * freq * t + ph) + 0.08 * math.sin(7.3 * t + 2 * ph)
            th = tall * hgt * flick * shrink * (1.0 - 0.15 * layer)
            tw = width * (0.32 + 0.1 * hgt) * shrink
            sway = 0.12 * width * math.sin(2 * math.pi * freq * 0.6 * t + ph)
            x0 = cx + off * width
            pts = []
            for i in range(13):
                u = i / 12
                half = tw / 2 * (1 - u) ** 0.7 * (0.55 + 0.45 * math.sin(math.pi * min(1.0, u * 2.5)))
                pts.append((x0 + sway * u * u + half, base - 0.04 * tall - u * th))
            for i in range(12, -1, -1):
                u = i / 12
                half = tw / 2 * (1 - u) ** 0.7 * (0.55 + 0.45 * math.sin(math.pi * min(1.0, u * 2.5)))
                pts.append((x0 + sway * u * u - half, base - 0.04 * tall - u * th))
            d.polygon(pts, fill=colour)
    return Sprite(np.asarray(img), cx, base, emissive=True)


def smoke(scale: float, variant: int, t: float) -> Sprite:
    """A translucent grey plume rising from its base and drifting sideways with t."""
    s = PERSON_PX * scale / 80.0
    rng = np.random.default_rng(variant * 131 + 7)
    wind = (1 if variant % 2 else -1) * (0.2 + 0.3 * float(rng.random()))
    height = (90 + 50 * float(rng.random())) * s
    pad = 34 * s
    w = int(height * 0.9 + 2 * pad)
    hgt = int(height + 2 * pad)
    cx, base = w / 2 - wind * height * 0.25, hgt - pad
    yy, xx = np.mgrid[0:hgt, 0:w].astype(np.float32)
    keep = np.ones((hgt, w), np.float32)
    blobs = 16
    for k in range(blobs):
        u = (k + (t * 0.35) % 1.0) / blobs  # blobs rise continuously with t
        bx = cx + wind * u**1.4 * height * 0.5 + 5 * s * math.sin(2.1 * t + 5 * u + variant)
        by = base - 0.06 * height - u * height * 0.8
        r = (4 + 13 * u) * s
        a = 0.55 * (1 - 0.45 * u) * min(1.0, (k + 1) / 2)
        keep *= 1 - a * np.exp(-((xx - bx) ** 2 + (yy - by) ** 2) / (2 * r * r))
    alpha = 1 - keep
    grain = rng.random((max(2, hgt // 6), max(2, w // 6))).astype(np.float32)
    import cv2

    alpha *= 0.75 + 0.25 * cv2.resize(grain, (w, hgt), interpolation=cv2.INTER_CUBIC)
    grey = 70 if variant % 3 == 0 else 205 + 6 * (variant % 4)  # dark (burning rubbish) or white (straw) smoke
    rgba = np.empty((hgt, w, 4), np.uint8)
    shade = np.clip(grey + 20 * (1 - yy / hgt) - 10, 0, 255)
    rgba[..., 0] = shade
    rgba[..., 1] = shade
    rgba[..., 2] = np.clip(shade + 6, 0, 255)
    rgba[..., 3] = np.clip(alpha * 255, 0, 255)
    return Sprite(rgba, cx, base, alpha_min=70)


def garbage(scale: float, variant: int) -> Sprite:
    """A heap of mixed bags, boxes, bottles and scraps on a dark mound."""
    s = PERSON_PX * scale / 80.0
    rng = random.Random(variant * 6007 + 23)
    w = (50 + 25 * rng.random()) * s
    h = (22 + 12 * rng.random()) * s
    img, d = _canvas(w + 6, h + 6)
    cx, base = img.width / 2, img.height - 2.0
    d.chord([cx - w / 2, base - h * 0.9, cx + w / 2, base + h * 0.5], 180, 360, fill=(70, 60, 50))
    for _ in range(10 + variant % 8):
        u = rng.uniform(-0.42, 0.42)
        top = base - h * 0.75 * (1 - (2 * u) ** 2) - rng.uniform(0.0, 0.15) * h
        y = rng.uniform(top, base - 0.1 * h)
        kind = rng.random()
        x = cx + u * w
        size = rng.uniform(0.12, 0.25) * w
        if kind < 0.55:
            c = rng.choice(BAGS)
            d.ellipse([x - size / 2, y - size * 0.45, x + size / 2, y + size * 0.35], fill=c, outline=_shade(c, 0.6))
            d.line([(x, y - size * 0.45), (x + 0.1 * size, y - 0.6 * size)], fill=c, width=_w(0.08 * size))
        elif kind < 0.8:
            c = rng.choice(((160, 120, 70), (190, 160, 110), (230, 230, 220)))
            d.rectangle([x - size / 2, y - size * 0.4, x + size / 2, y + size * 0.2], fill=c, outline=_shade(c, 0.6))
        else:
            c = rng.choice(((120, 190, 210), (70, 150, 80), (230, 230, 230), (200, 60, 40)))
            d.rectangle([x - size * 0.35, y - size * 0.12, x + size * 0.35, y + size * 0.12], fill=c)
    return Sprite(np.asarray(img), cx, base)

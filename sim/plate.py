"""Renders Chinese licence plates (甘P·A1234 style) for the station simulator, scene renders and PlateReader tests."""

from __future__ import annotations

import random
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
)
# Letters used on plates: no I or O (they read as 1 and 0).
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
BLUE = ((0, 60, 170), (255, 255, 255))  # small cars: blue plate, white characters
YELLOW = ((250, 200, 0), (0, 0, 0))  # large vehicles, farm vehicles, motorcycles: yellow plate, black characters


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    for path in FONT_PATHS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    looked = [str(p) for p in FONT_PATHS]
    raise FileNotFoundError(f"no CJK font found; install fonts-wqy-microhei (looked for {looked})")


def random_plate(rng: random.Random, region: str = "甘P") -> str:
    """A plausible plate of the region (甘P is 甘南藏族自治州), e.g. 甘P·A1234 or 甘P·5B672."""
    tail = [rng.choice(DIGITS) for _ in range(5)]
    tail[0] = rng.choice(LETTERS)
    if rng.random() < 0.3:
        tail[rng.randrange(1, 5)] = rng.choice(LETTERS)
    return f"{region}·{''.join(tail)}"


Colours = tuple[tuple[int, int, int], tuple[int, int, int]]


def render_plate(text: str, height: int = 48, colours: Colours = BLUE) -> np.ndarray:
    """RGB image of a plate (aspect 440:140 like the real 440 x 140 mm plate) with a border and the text."""
    width = round(height * 440 / 140)
    bg, fg = colours
    img = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(img)
    border = max(1, height // 24)
    draw.rectangle([border, border, width - 1 - border, height - 1 - border], outline=fg, width=border)
    font = _font(max(8, int(height * 0.72)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    scale = min(1.0, (width - 6 * border) / max(1, right - left))
    if scale < 1.0:
        font = _font(max(8, int(height * 0.72 * scale)))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (width - (right - left)) / 2 - left
    y = (height - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=font, fill=fg)
    return np.asarray(img)

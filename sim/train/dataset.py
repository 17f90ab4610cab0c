"""Random rendered scenes for the scene detector, written as a YOLO-format dataset (images + label files)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.vision import CAR, FALLEN, FIRE, GARBAGE, MOTORCYCLE, PERSON, SCENE_CLASSES, SMOKE
from sim.plate import random_plate
from sim.scene import Box, Layout, Thing, layout, render, scale_at

TRAIN_SEEDS = range(0, 100_000)  # training scenes; layouts drawn from the same range
HELD_OUT_SEED = 1_000_000  # held-out scenes and layouts start here (scenario scripts use 2_000_000+)
MIN_SCALE = 0.5  # nothing smaller than a 40 px standing adult is placed
# Rough box size of each class per unit scale, (width, height) in person heights, to keep objects from hiding
# each other completely (labels of hidden objects would be noise).
EXTENT = {
    PERSON: (0.4, 1.0), FALLEN: (1.0, 0.35), CAR: (1.3, 0.85), MOTORCYCLE: (0.8, 1.1), FIRE: (0.9, 0.9),
    SMOKE: (1.1, 1.5), GARBAGE: (0.8, 0.4),
}  # fmt: skip
VEHICLES = (CAR, MOTORCYCLE)


@dataclass(frozen=True)
class Scene:
    """One sampled training scene: its layout, things, time, lighting and JPEG quality."""

    layout: Layout
    things: tuple[Thing, ...]
    t: float
    night: bool
    jpeg_quality: int
    noise_seed: int


def _extent(thing: Thing) -> tuple[float, float, float, float]:
    w, h = EXTENT[thing.label]
    px = 80 * thing.scale
    return (thing.x - w * px / 2, thing.y - h * px, thing.x + w * px / 2, thing.y)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / max(smaller, 1e-6)


def _road_x(lay: Layout, y: float, rng: random.Random) -> float:
    """An x on the road at row y (between its edges)."""
    xs = []
    for (x1, y1), (x2, y2) in zip(lay.road, lay.road[1:] + lay.road[:1], strict=True):
        if min(y1, y2) <= y <= max(y1, y2) and y1 != y2:
            xs.append(x1 + (x2 - x1) * (y - y1) / (y2 - y1))
    if len(xs) < 2:
        return rng.uniform(0, lay.width)
    lo, hi = max(min(xs), 0.0), min(max(xs), float(lay.width))
    return rng.uniform(lo, hi) if hi > lo else rng.uniform(0, lay.width)


def _place(lay: Layout, label: str, rng: random.Random) -> Thing | None:
    lowest = lay.horizon_y + (MIN_SCALE / scale_at(lay, lay.height)) * (lay.height - lay.horizon_y)
    if label in VEHICLES and lay.view == "road":
        y = rng.uniform(lowest, lay.height + 30)
    else:
        y = rng.uniform(lowest, lay.height + 15)
    scale = scale_at(lay, y) * rng.uniform(0.85, 1.15)
    if scale < MIN_SCALE:
        return None
    x = _road_x(lay, y, rng) if label in VEHICLES and rng.random() < 0.8 else rng.uniform(-20, lay.width + 20)
    passengers = rng.choice((0, 0, 1, 2, 3)) if label == MOTORCYCLE else 0
    plate = random_plate(rng) if label in VEHICLES and rng.random() < 0.9 else None
    return Thing(label, x, y, scale, passengers=passengers, plate=plate, variant=rng.randrange(1_000_000))


SCRIPT_FRAMES = 200  # frames drawn from one scenario script before the next script seed
TRAIN_SCRIPT_SEEDS = 1  # training scripts use script seeds 1, 2, ...; held-out ones 1000+ (the video bench uses 0)
HELD_OUT_SCRIPT_SEEDS = 1000


@cache
def _script(seed: int, index: int) -> Any:
    from sim.scenario import script  # the scenario scripts (crowds, parked cars, people at water ...)

    return script(index, 600.0, seed=seed, cameras=8)


def scenario_scene(seed: int) -> Scene:
    """A frame of a scenario script (episodes as the cameras see them: crowds, parking, water, falls)."""
    held_out = seed >= HELD_OUT_SEED
    rng = random.Random(seed * 104_729 + 7)
    n = seed - (HELD_OUT_SEED if held_out else 0)
    base = HELD_OUT_SCRIPT_SEEDS if held_out else TRAIN_SCRIPT_SEEDS
    scr = _script(base + n // SCRIPT_FRAMES, rng.randrange(8))
    episode = rng.choice(scr.episodes) if scr.episodes and rng.random() < 0.85 else None
    t = rng.uniform(episode.start_s, episode.end_s) if episode else rng.uniform(0, scr.duration_s)
    from sim.scenario import things_at

    return Scene(scr.layout, tuple(things_at(scr, t)), t, scr.night, rng.randint(35, 95), rng.randrange(2**31))


def sample_scene(seed: int) -> Scene:
    """The scene of `seed`: deterministic; layouts of training seeds never coincide with held-out ones.

    Every other seed is a frame of a scenario script (disjoint script seeds for training and held out), so the
    detector sees groups of people, parked vehicles and people at the water as the cameras will."""
    if seed % 2:
        return scenario_scene(seed)
    rng = random.Random(seed * 7_919 + 13)
    base = HELD_OUT_SEED if seed >= HELD_OUT_SEED else 0
    view = "road" if rng.random() < 0.3 else "village"
    lay = layout(base + rng.randrange(100_000 if base else len(TRAIN_SEEDS)), view)
    things: list[Thing] = []
    boxes: list[tuple[float, float, float, float]] = []
    wanted = 0 if rng.random() < 0.04 else rng.randint(1, 8)
    weights = [1.0, 1.0, 1.3 if view == "road" else 1.0, 1.3 if view == "road" else 1.0, 1.0, 1.0, 1.0]
    for _ in range(wanted * 4):
        if len(things) >= wanted:
            break
        label = rng.choices(SCENE_CLASSES, weights)[0]
        thing = _place(lay, label, rng)
        if thing is None:
            continue
        ext = _extent(thing)
        if any(_overlap(ext, other) > 0.15 for other in boxes):
            continue
        things.append(thing)
        boxes.append(ext)
        if label == FIRE and rng.random() < 0.35:  # burning rubbish: smoke rising from the flames
            above = thing.y - 0.3 * 80 * thing.scale
            things.append(Thing(SMOKE, thing.x, above, thing.scale, variant=rng.randrange(99)))
    return Scene(
        lay, tuple(things), rng.uniform(0, 600), rng.random() < 0.25, rng.randint(35, 95), rng.randrange(2**31)
    )


def render_scene(scene: Scene) -> tuple[np.ndarray, list[Box]]:
    """The scene's frame (before the camera's JPEG compression) and its ground-truth boxes."""
    return render(scene.layout, scene.things, scene.t, scene.night, scene.noise_seed)


def yolo_lines(boxes: list[Box], width: int, height: int) -> list[str]:
    """YOLO label lines: class index, then centre x, centre y, width, height normalised to the frame."""
    lines = []
    for label, x1, y1, x2, y2 in boxes:
        cls = SCENE_CLASSES.index(label)
        cx, cy, w, h = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height
        lines.append(f"{cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def write_split(root: Path, split: str, seeds: range) -> int:
    """Render the scenes of `seeds` into root/images/<split> and root/labels/<split>; returns the box count.

    Scenes already on disk are kept (the generation is deterministic), so an interrupted run resumes."""
    images, labels = root / "images" / split, root / "labels" / split
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    count = 0
    for seed in seeds:
        image_path, label_path = images / f"{seed:07d}.jpg", labels / f"{seed:07d}.txt"
        if image_path.exists() and label_path.exists():
            count += len(label_path.read_text().splitlines())
            continue
        scene = sample_scene(seed)
        frame, boxes = render_scene(scene)
        lines = yolo_lines(boxes, frame.shape[1], frame.shape[0])
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(image_path), bgr, [cv2.IMWRITE_JPEG_QUALITY, scene.jpeg_quality]):
            raise OSError(f"could not write training image {image_path}")
        label_path.write_text("\n".join(lines) + ("\n" if lines else ""))
        count += len(lines)
    return count


def write_dataset(root: Path, images: int, held_out: int) -> Path:
    """A full YOLO dataset (train + held-out val) under root; returns the data.yaml path ultralytics reads."""
    write_split(root, "train", range(TRAIN_SEEDS.start, TRAIN_SEEDS.start + images))
    write_split(root, "val", range(HELD_OUT_SEED, HELD_OUT_SEED + held_out))
    names = "\n".join(f"  {i}: {name}" for i, name in enumerate(SCENE_CLASSES))
    data = root / "data.yaml"
    data.write_text(f"path: {root.resolve()}\ntrain: images/train\nval: images/val\nnames:\n{names}\n")
    return data

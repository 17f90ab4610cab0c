"""Held-out camera scenario scripts: per-camera timelines of background activity and scorable incident episodes.

A script is one camera's village layout (held-out seeds >= 2_000_000, disjoint from the detector's training and
evaluation seeds), its VideoConfig params (zones and the direction line placed on that layout), background movers
that must raise nothing, and a sequence of episodes, each of which must raise its event. Episodes run one after
another with short gaps; every episode's condition holds for its threshold plus at least MARGIN_S. Scripts set
`cooldown_s` to 60 s (THRESHOLDS) instead of the 300 s default so a short benchmark can play many episodes: two
episodes of the same scenario on one camera are always further apart than that, so no episode is suppressed by an
earlier one. Zone `hours` are wall-clock hours; the restricted zone defaults to (0, 24) so a run at any time of day
scores the same.
"""

from __future__ import annotations

import random

from sim.scenarios.background import background
from sim.scenarios.episodes import BUILDERS, MARGIN_S, THRESHOLDS
from sim.scenarios.geometry import Stage, stage
from sim.scenarios.timeline import BACKGROUND, SCENARIO_EVENTS, SCENARIOS, Episode, Key, Mover, Script, things_at
from sim.scene import Layout, layout
from sim.video_score import GRACE_S

__all__ = [
    "BACKGROUND", "MARGIN_S", "SCENARIOS", "SCENARIO_EVENTS", "SEED_BASE", "THRESHOLDS", "Episode", "Key", "Mover",
    "Script", "Stage", "camera_id", "episode_order", "episodes_of", "script", "scripts", "stage_of", "things_at",
]  # fmt: skip

SEED_BASE = 2_000_000  # scenario layouts; the detector trains on seeds < 1_000_000 and is evaluated on 1_000_000+
LEAD_IN_S = 20.0  # quiet background before the first episode (trackers and model warm-up)
GAP_S = (8.0, 20.0)  # pause between one episode's last mover leaving and the next episode starting


def camera_id(index: int) -> str:
    """Device id of the scenario camera with this index (0-based): cam-0001, cam-0002 ..."""
    return f"cam-{index + 1:04d}"


def episode_order(index: int, cameras: int = 1) -> list[str]:
    """Scenario order for camera `index` of `cameras`: the k-th episodes of all cameras cover scenarios round-robin."""
    n = len(SCENARIOS)
    order: list[str] = []
    for stride in (max(1, cameras), 1):
        for k in range(n):
            name = SCENARIOS[(index + k * stride) % n]
            if name not in order:
                order.append(name)
    return order


def _layout(seed: int, index: int) -> Layout:
    base = SEED_BASE + seed * 100_000 + index * 10
    for s in range(base, base + 10):
        lay = layout(s)
        if lay.water:
            return lay
    raise ValueError(f"no layout with water among seeds {base}..{base + 9}")


def stage_of(scr: Script) -> Stage:
    """The stage (zones as shapes, line, driving sense) a script was built on."""
    return stage(scr.layout, random.Random(f"stage:{scr.seed}:{scr.index}"))


def script(
    camera_index: int,
    duration_s: float,
    seed: int = 0,
    cameras: int = 1,
    fps: float = 2.0,
    night: bool | None = None,
    restricted_hours: tuple[int, int] | None = (0, 24),
) -> Script:
    """The held-out script of one camera: deterministic in its arguments.

    `cameras` (the fleet size) staggers the scenario order so that a short run still covers every scenario;
    `night` defaults to every fourth camera; `fps` is the sampling rate written into the camera's params.
    """
    if duration_s <= LEAD_IN_S or camera_index < 0:
        raise ValueError(f"script needs duration_s > {LEAD_IN_S} and camera_index >= 0")
    lay = _layout(seed, camera_index)
    rng = random.Random(f"scenario:{seed}:{camera_index}")
    st = stage(lay, random.Random(f"stage:{seed}:{camera_index}"))
    cam = camera_id(camera_index)
    order = episode_order(camera_index, cameras)
    episodes: list[Episode] = []
    acting: list[Mover] = []
    t = LEAD_IN_S
    while True:
        n = len(episodes)
        movers, ep = BUILDERS[order[n % len(order)]](st, rng, t, cam, n)
        last = max(m.end for m in movers)
        if max(last, ep.end_s + GRACE_S) > duration_s:
            break
        episodes.append(ep)
        acting.extend(movers)
        t = last + rng.uniform(*GAP_S)
    extras = background(st, rng, duration_s, episodes, acting)
    return Script(
        camera_id=cam,
        index=camera_index,
        seed=seed,
        duration_s=duration_s,
        layout=lay,
        night=camera_index % 4 == 3 if night is None else night,
        config=st.config(fps, THRESHOLDS, restricted_hours),
        movers=tuple(acting + extras),
        episodes=tuple(episodes),
    )


def scripts(n_cameras: int, duration_s: float, seed: int = 0, fps: float = 2.0) -> list[Script]:
    """Scripts for a fleet of n cameras (cam-0001 ...), staggered so that together they cover every scenario."""
    return [script(i, duration_s, seed=seed, cameras=n_cameras, fps=fps) for i in range(n_cameras)]


def episodes_of(camera_scripts: list[Script]) -> list[Episode]:
    """Every episode of the scripts (what video_score.score takes)."""
    return [ep for s in camera_scripts for ep in s.episodes]

"""Scenario scripts: deterministic, held out, valid params, episodes that hold their conditions, a quiet background."""

from __future__ import annotations

import itertools
import math

import pytest

from actors.video_config import VideoConfig
from core.vision import CAR, FALLEN, FIRE, GARBAGE, MOTORCYCLE, PEOPLE, PERSON, SMOKE, VEHICLES
from sim.scenario import (
    BACKGROUND,
    MARGIN_S,
    SCENARIOS,
    SEED_BASE,
    THRESHOLDS,
    Script,
    episode_order,
    episodes_of,
    script,
    scripts,
    things_at,
)  # fmt: skip
from sim.scenarios.oracle import perfect_events
from sim.scene import Thing
from sim.video_score import ALL, score

DURATION = 600.0
STEP = 0.5  # the scripts' sampling interval (fps 2)
NEED = {  # how long each scenario's condition must hold to raise its event
    "garbage": THRESHOLDS["garbage_s"], "crowd": THRESHOLDS["crowd_s"], "restricted_zone": THRESHOLDS["restricted_s"],
    "parking": THRESHOLDS["parking_s"], "drowning_risk": THRESHOLDS["drowning_s"], "person_fall": THRESHOLDS["fall_s"],
    "fire": 5.0, "smoke": 5.0,
}  # fmt: skip


@pytest.fixture(scope="module")
def fleet() -> list[Script]:
    """Four cameras for ten minutes, the shape of a short benchmark."""
    return scripts(4, DURATION)


def config(s: Script) -> VideoConfig:
    """The script's params as the camera actor validates them."""
    return VideoConfig.model_validate({**s.config, "source": "http://127.0.0.1:1/cameras/x/mjpeg"})


def times(a: float, b: float) -> list[float]:
    """Sample times from a to b at the scripts' rate."""
    return [a + i * STEP for i in range(int((b - a) / STEP) + 1)]


def tagged(s: Script, t: float) -> list[tuple[str, Thing]]:
    """(role, thing) of every mover in the scene at t."""
    return [(m.role, th) for m in s.movers if (th := m.at(s.layout, t)) is not None]


def in_zone(cfg: VideoConfig, purpose: str, th: Thing) -> bool:
    """Whether a thing's ground point is in the zone of that purpose."""
    return any(z.contains((th.x, th.y)) for z in cfg.zones if z.purpose == purpose)


def test_scripts_are_deterministic_and_vary_with_seed() -> None:
    a, b = script(2, 300, seed=5), script(2, 300, seed=5)
    assert a == b
    assert things_at(a, 123.5) == things_at(b, 123.5)
    other = script(2, 300, seed=6)
    assert other.layout.seed != a.layout.seed and other.movers != a.movers


def test_layouts_are_held_out_and_cameras_distinct(fleet: list[Script]) -> None:
    assert [s.camera_id for s in fleet] == ["cam-0001", "cam-0002", "cam-0003", "cam-0004"]
    assert all(s.layout.seed >= SEED_BASE and s.layout.water for s in fleet)
    assert len({s.layout.seed for s in fleet}) == 4
    assert [s.night for s in fleet] == [False, False, False, True]


def test_params_validate_with_every_zone_and_a_directed_line(fleet: list[Script]) -> None:
    for s in fleet:
        cfg = config(s)
        assert {z.purpose for z in cfg.zones} == {"crowd", "elderly_area", "restricted", "no_parking", "water"}
        assert all(z.active(0) and z.active(12 * 3_600_000) for z in cfg.zones)  # restricted hours (0, 24)
        (line,) = cfg.lines
        assert line.forbidden in ("left_to_right", "right_to_left")
        assert cfg.cooldown_s == THRESHOLDS["cooldown_s"] and cfg.fps == 2.0
        assert not any(k in s.config for k in ("source",))


def test_a_short_fleet_covers_every_scenario(fleet: list[Script]) -> None:
    assert {e.scenario for e in episodes_of(fleet)} == set(SCENARIOS)
    assert sorted(episode_order(0, 3)) == sorted(SCENARIOS)
    assert [episode_order(i, 4)[0] for i in range(4)] == list(SCENARIOS[:4])


def test_episodes_fit_the_run_and_repeat_only_after_the_cooldown(fleet: list[Script]) -> None:
    for s in fleet:
        eps = sorted(s.episodes, key=lambda e: e.start_s)
        assert eps[0].start_s >= 15 and eps[-1].end_s <= DURATION
        for e in eps:
            assert e.camera_id == s.camera_id and e.end_s > e.start_s
            if e.scenario in NEED:
                assert e.end_s - e.start_s >= NEED[e.scenario] + MARGIN_S - 1, e.id
        for a, b in itertools.pairwise(eps):
            assert b.start_s > a.end_s  # one after another
        for name in SCENARIOS:
            same = [e for e in eps if e.scenario == name]
            assert all(b.start_s - a.end_s > THRESHOLDS["cooldown_s"] for a, b in itertools.pairwise(same))


def _holds(s: Script, cfg: VideoConfig, scenario: str, things: list[Thing]) -> bool:
    """Whether the scenario's condition holds for these things (ground truth, zone tests of the camera actor)."""
    if scenario == "garbage":
        return any(th.label == GARBAGE for th in things)
    if scenario in ("fire", "smoke"):
        return any(th.label == (FIRE if scenario == "fire" else SMOKE) for th in things)
    if scenario == "crowd":
        return sum(th.label in PEOPLE and in_zone(cfg, "crowd", th) for th in things) >= THRESHOLDS["crowd_min"]
    if scenario == "restricted_zone":
        return any(th.label in PEOPLE and in_zone(cfg, "restricted", th) for th in things)
    if scenario == "drowning_risk":
        return any(th.label in PEOPLE and in_zone(cfg, "water", th) for th in things)
    if scenario == "person_fall":
        return any(th.label == FALLEN and in_zone(cfg, "elderly_area", th) for th in things)
    if scenario == "parking":
        return any(th.label in VEHICLES and in_zone(cfg, "no_parking", th) for th in things)
    raise AssertionError(scenario)


def test_each_episode_holds_its_condition_inside_the_frame(fleet: list[Script]) -> None:
    for s in fleet:
        cfg, lay = config(s), s.layout
        for e in s.episodes:
            if e.scenario == "wrong_way":
                continue
            for t in times(e.start_s, e.end_s):
                things = [th for role, th in tagged(s, t) if role == e.id]
                assert _holds(s, cfg, e.scenario, things), (e.id, t)
                assert all(0 <= th.x <= lay.width and lay.horizon_y < th.y <= lay.height for th in things), (e.id, t)
            if e.scenario == "parking":
                spots = {(th.x, th.y) for t in times(e.start_s, e.end_s) for r, th in tagged(s, t) if r == e.id}
                assert len(spots) == 1  # it stands still


def test_wrong_way_episodes_cross_the_line_against_its_direction(fleet: list[Script]) -> None:
    found = 0
    for s in fleet:
        (line,) = config(s).lines
        for e in (e for e in s.episodes if e.scenario == "wrong_way"):
            (mover,) = [m for m in s.movers if m.role == e.id]
            pts = [(p.x, p.y) for t in times(e.start_s, e.end_s) if (p := mover.pose(t)) is not None]
            ways = [line.crossing(a, b) for a, b in itertools.pairwise(pts)]
            assert [w for w in ways if w] == [line.forbidden], e.id
            assert mover.keys[0].label in (CAR, MOTORCYCLE)
            found += 1
    assert found


def test_background_never_meets_a_scenario_condition(fleet: list[Script]) -> None:
    for s in fleet:
        cfg = config(s)
        (line,) = cfg.lines
        crowd = [(e.start_s - 15, e.end_s + 15) for e in s.episodes if e.scenario == "crowd"]
        bg = [m for m in s.movers if m.role == BACKGROUND]
        assert len(bg) > 20  # something is always going on
        assert {m.keys[0].label for m in bg} <= {PERSON, CAR, MOTORCYCLE}
        for m in bg:
            pts = [(t, p) for t in times(math.ceil(m.start / STEP) * STEP, m.end) if (p := m.at(s.layout, t))]
            assert all(p.label in (PERSON, CAR, MOTORCYCLE) for _, p in pts)
            people = [p for _, p in pts if p.label == PERSON]
            assert not any(in_zone(cfg, "restricted", p) or in_zone(cfg, "water", p) for p in people)
            ways = [line.crossing((a.x, a.y), (b.x, b.y)) for (_, a), (_, b) in itertools.pairwise(pts)]
            assert line.forbidden not in ways
            standing = [t for t, p in pts if p.label in VEHICLES and in_zone(cfg, "no_parking", p)]
            assert len(standing) * STEP < THRESHOLDS["parking_s"]
        for t in times(0, DURATION):
            if any(a <= t <= b for a, b in crowd):
                continue
            people = [th for _, th in tagged(s, t) if th.label in PEOPLE and in_zone(cfg, "crowd", th)]
            assert len(people) < THRESHOLDS["crowd_min"], (s.camera_id, t)


def test_a_perfect_detector_scores_full_recall_and_no_false_alarms(fleet: list[Script]) -> None:
    events = [e for s in fleet for e in perfect_events(s)]
    out = score(episodes_of(fleet), events, cameras=len(fleet), duration_s=DURATION)
    assert out[ALL]["recall"] == 1.0, out
    assert out[ALL]["false_alarms"] == 0, out
    assert set(out) == {*SCENARIOS, ALL}


def test_things_at_draws_far_things_first_and_nothing_outside_the_script(fleet: list[Script]) -> None:
    s = fleet[0]
    e = s.episodes[0]
    things = things_at(s, (e.start_s + e.end_s) / 2)
    assert things and [th.y for th in things] == sorted(th.y for th in things)
    assert things_at(s, -1.0) == []


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="duration_s"):
        script(0, 10)

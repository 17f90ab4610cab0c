"""Scores camera events against scripted episodes: recall, false alarms per camera-hour, median event latency."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sim.scenarios.timeline import SCENARIO_EVENTS, SCENARIOS, Episode

ALL = "all"  # the row that sums every scenario
GRACE_S = 15.0  # an event may come this long (scene s) after its episode ended (dwell timers, sampling, tracking)


class Observed(NamedTuple):
    """An event the platform raised, located in scene time: the frame that triggered it and its wall latency."""

    camera_id: str
    type: str
    detail: Mapping[str, Any]
    scene_t: float  # scene time (s) of the frame that triggered the event
    latency_ms: float  # wall time from that frame's capture to the event being published


def scenario_of(event_type: str, detail: Mapping[str, Any]) -> str | None:
    """The scenario an event reports, None for events no scenario scores (camera_online, vehicle_pass ...)."""
    for name, (etype, need) in SCENARIO_EVENTS.items():
        if etype == event_type and all(detail.get(k) == v for k, v in need.items()):
            return name
    return None


def _within(ep: Episode, ev: Observed, grace_s: float) -> bool:
    return ev.camera_id == ep.camera_id and ep.start_s <= ev.scene_t <= ep.end_s + grace_s


def _matches(ep: Episode, ev: Observed, grace_s: float) -> bool:
    detail_ok = all(ev.detail.get(k) == v for k, v in ep.expected_detail.items())
    return detail_ok and ev.type == ep.event_type and _within(ep, ev, grace_s)


def _sorted(events: Iterable[Observed | tuple[str, str, Mapping[str, Any], float, float]]) -> list[Observed]:
    return sorted((Observed(*ev) for ev in events), key=lambda e: (e.scene_t, e.camera_id, e.type))


def _assign(eps: list[Episode], obs: list[Observed], grace_s: float) -> dict[str, int]:
    """Episode id -> index of the event that detects it: the earliest unused matching one, episodes in time order."""
    hits: dict[str, int] = {}
    for ep in eps:
        hit = next((i for i, ev in enumerate(obs) if i not in hits.values() and _matches(ep, ev, grace_s)), None)
        if hit is not None:
            hits[ep.id] = hit
    return hits


def missed(
    episodes: Iterable[Episode],
    events: Iterable[Observed | tuple[str, str, Mapping[str, Any], float, float]],
    grace_s: float = GRACE_S,
) -> list[Episode]:
    """The episodes no event detects, matched exactly as score() matches them."""
    eps = sorted(episodes, key=lambda e: (e.start_s, e.id))
    hits = _assign(eps, _sorted(events), grace_s)
    return [ep for ep in eps if ep.id not in hits]


def missed_rows(
    episodes: Iterable[Episode], events: Iterable[Observed | tuple[str, str, Mapping[str, Any], float, float]]
) -> list[dict[str, Any]]:
    """The missed episodes as benchmark output rows: camera, scenario, id and scene-time window."""
    return [
        {"camera": ep.camera_id, "scenario": ep.scenario, "id": ep.id, "start_s": ep.start_s, "end_s": ep.end_s}
        for ep in missed(episodes, events)
    ]


def _unmatched(eps: list[Episode], obs: list[Observed], hits: dict[str, int], grace_s: float) -> dict[int, bool]:
    """Index of every scored event no episode claims -> True when it is a false alarm, False when a repeat.

    Later events of the same scenario inside an episode's window are repeats, and events of a scenario the episode
    tolerates (smoke from a fire) are expected side effects, left out. Every other scored event is a false alarm."""
    used = set(hits.values())
    out: dict[int, bool] = {}
    for i, ev in enumerate(obs):
        name = scenario_of(ev.type, ev.detail)
        if i in used or name is None:
            continue
        windows = [ep for ep in eps if _within(ep, ev, grace_s)]
        if any(ep.scenario == name for ep in windows):
            out[i] = False
        elif not any(name in ep.tolerated for ep in windows):
            out[i] = True
    return out


def false_alarm_rows(
    episodes: Iterable[Episode],
    events: Iterable[Observed | tuple[str, str, Mapping[str, Any], float, float]],
    grace_s: float = GRACE_S,
) -> list[dict[str, Any]]:
    """The false alarms as benchmark output rows: camera, scenario, scene time and the event's detail."""
    eps = sorted(episodes, key=lambda e: (e.start_s, e.id))
    obs = _sorted(events)
    flags = _unmatched(eps, obs, _assign(eps, obs, grace_s), grace_s)
    return [
        {"camera": ev.camera_id, "scenario": scenario_of(ev.type, ev.detail), "scene_t": ev.scene_t,
         "detail": dict(ev.detail)}
        for i, ev in enumerate(obs) if flags.get(i)
    ]  # fmt: skip


def score(
    episodes: Iterable[Episode],
    events: Iterable[Observed | tuple[str, str, Mapping[str, Any], float, float]],
    cameras: int,
    duration_s: float,
    grace_s: float = GRACE_S,
) -> dict[str, dict[str, Any]]:
    """Per scenario (and ALL): recall, false_alarms_per_hour (per camera-hour), p50_event_latency_ms, and counts.

    Each episode is detected by the earliest unused event of its type (and detail) on its camera whose scene time
    lies in [start_s, end_s + grace_s]; the other scored events are repeats or false alarms (see _unmatched).
    """
    if cameras <= 0 or duration_s <= 0:
        raise ValueError(f"score needs cameras > 0 and duration_s > 0, got cameras={cameras}, duration_s={duration_s}")
    eps = sorted(episodes, key=lambda e: (e.start_s, e.id))
    unknown = sorted({e.scenario for e in eps} - set(SCENARIOS))
    if unknown:
        raise ValueError(f"episodes name unknown scenarios {unknown}; known: {list(SCENARIOS)}")
    obs = _sorted(events)
    hits = _assign(eps, obs, grace_s)
    latency: dict[str, list[float]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    found: dict[str, int] = defaultdict(int)
    for ep in eps:
        total[ep.scenario] += 1
        if ep.id in hits:
            found[ep.scenario] += 1
            latency[ep.scenario].append(obs[hits[ep.id]].latency_ms)
    false: dict[str, int] = defaultdict(int)
    repeats: dict[str, int] = defaultdict(int)
    for i, is_false in _unmatched(eps, obs, hits, grace_s).items():
        name = scenario_of(obs[i].type, obs[i].detail) or ""
        (false if is_false else repeats)[name] += 1
    camera_hours = cameras * duration_s / 3600
    names = [s for s in SCENARIOS if total[s] or false[s] or repeats[s]]

    def row(ep_n: int, hit_n: int, fa_n: int, rep_n: int, lat: list[float]) -> dict[str, Any]:
        return {
            "recall": round(hit_n / ep_n, 4) if ep_n else None,
            "false_alarms_per_hour": round(fa_n / camera_hours, 4),
            "p50_event_latency_ms": round(statistics.median(lat), 1) if lat else None,
            "episodes": ep_n,
            "detected": hit_n,
            "false_alarms": fa_n,
            "repeats": rep_n,
        }

    out = {s: row(total[s], found[s], false[s], repeats[s], latency[s]) for s in names}
    every = [x for s in names for x in latency[s]]
    out[ALL] = row(sum(total.values()), sum(found.values()), sum(false.values()), sum(repeats.values()), every)
    return out

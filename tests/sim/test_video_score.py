"""video_score on hand-made episodes and events: matching windows, repeats, tolerated side effects, rates, medians."""

from __future__ import annotations

import pytest

from sim.scenario import Episode
from sim.video_score import ALL, GRACE_S, Observed, false_alarm_rows, missed, scenario_of, score

CAM, OTHER = "cam-0001", "cam-0002"


def ep(scenario: str, start: float, end: float, cam: str = CAM, n: int = 0, tolerated: tuple[str, ...] = ()) -> Episode:
    """An episode with an id unique per (camera, scenario, n)."""
    return Episode(f"{cam}/{n:02d}-{scenario}", scenario, cam, start, end, tolerated=tolerated)


def ev(type_: str, t: float, latency: float = 100.0, cam: str = CAM, **detail: object) -> Observed:
    """An observed event at scene time t."""
    return Observed(cam, type_, detail, t, latency)


def test_scenario_of_maps_event_types_and_vehicle_violations() -> None:
    assert scenario_of("crowd", {"zone": "广场"}) == "crowd"
    assert scenario_of("vehicle_violation", {"violation": "parking"}) == "parking"
    assert scenario_of("vehicle_violation", {"violation": "wrong_way"}) == "wrong_way"
    assert scenario_of("vehicle_violation", {}) is None
    assert scenario_of("camera_online", {}) is None
    assert scenario_of("vehicle_pass", {"plate": "甘P·A1234"}) is None


def test_every_episode_detected_once_gives_full_recall_and_no_false_alarms() -> None:
    episodes = [ep("garbage", 10, 100), ep("crowd", 120, 190), ep("fire", 5, 50, cam=OTHER)]
    events = [ev("garbage", 70, 300), ev("crowd", 150, 500), ev("fire", 7, 200, cam=OTHER)]
    out = score(episodes, events, cameras=2, duration_s=3600)
    for name in ("garbage", "crowd", "fire"):
        assert out[name]["recall"] == 1.0
        assert out[name]["false_alarms_per_hour"] == 0.0
    assert out["crowd"]["p50_event_latency_ms"] == 500.0
    assert out[ALL]["recall"] == 1.0 and out[ALL]["episodes"] == 3 and out[ALL]["detected"] == 3
    assert out[ALL]["p50_event_latency_ms"] == 300.0
    assert "smoke" not in out  # scenarios with neither episodes nor events are left out


def test_window_is_start_to_end_plus_grace_inclusive() -> None:
    episodes = [ep("smoke", 100, 150)]
    early = score(episodes, [ev("smoke", 99.9)], 1, 3600)
    assert early["smoke"]["recall"] == 0.0 and early["smoke"]["false_alarms"] == 1
    edge = score(episodes, [ev("smoke", 150 + GRACE_S)], 1, 3600)
    assert edge["smoke"]["recall"] == 1.0 and edge["smoke"]["false_alarms"] == 0
    late = score(episodes, [ev("smoke", 150 + GRACE_S + 0.1)], 1, 3600)
    assert late["smoke"]["recall"] == 0.0 and late["smoke"]["false_alarms"] == 1
    tight = score(episodes, [ev("smoke", 152)], 1, 3600, grace_s=0)
    assert tight["smoke"]["recall"] == 0.0


def test_an_event_on_another_camera_does_not_count() -> None:
    out = score([ep("drowning_risk", 10, 40)], [ev("drowning_risk", 20, cam=OTHER)], 2, 3600)
    assert out["drowning_risk"]["recall"] == 0.0
    assert out["drowning_risk"]["false_alarms"] == 1


def test_vehicle_violations_match_by_their_violation() -> None:
    episodes = [ep("wrong_way", 10, 30), ep("parking", 100, 200)]
    events = [ev("vehicle_violation", 20, violation="parking"), ev("vehicle_violation", 165, violation="parking")]
    out = score(episodes, events, 1, 3600)
    assert out["wrong_way"]["recall"] == 0.0
    assert out["parking"]["recall"] == 1.0
    assert out["parking"]["false_alarms"] == 1  # the parking event during the wrong-way episode


def test_repeats_inside_a_window_are_not_false_alarms() -> None:
    out = score([ep("restricted_zone", 10, 60)], [ev("restricted_zone", 14, 90), ev("restricted_zone", 40, 10)], 1, 600)
    row = out["restricted_zone"]
    assert row["recall"] == 1.0 and row["false_alarms"] == 0 and row["repeats"] == 1
    assert row["p50_event_latency_ms"] == 90.0  # the first event detects the episode


def test_tolerated_side_effects_only_inside_their_episode() -> None:
    fire = ep("fire", 100, 150, tolerated=("smoke",))
    inside = score([fire], [ev("fire", 102), ev("smoke", 108)], 1, 3600)
    assert inside["fire"]["recall"] == 1.0 and "smoke" not in inside
    outside = score([fire], [ev("fire", 102), ev("smoke", 400)], 1, 3600)
    assert outside["smoke"]["false_alarms"] == 1 and outside["smoke"]["recall"] is None


def test_overlapping_episodes_need_an_event_each() -> None:
    episodes = [ep("person_fall", 10, 40, n=0), ep("person_fall", 20, 50, n=1)]
    one = score(episodes, [ev("person_fall", 25)], 1, 3600)
    assert one["person_fall"]["recall"] == 0.5 and one["person_fall"]["false_alarms"] == 0
    two = score(episodes, [ev("person_fall", 25), ev("person_fall", 30)], 1, 3600)
    assert two["person_fall"]["recall"] == 1.0


def test_false_alarms_per_camera_hour_and_median_latency() -> None:
    episodes = [ep("garbage", 0, 100, n=i, cam=f"cam-{i}") for i in range(3)]
    events = [ev("garbage", 61, lat, cam=f"cam-{i}") for i, lat in enumerate((300.0, 100.0, 200.0))]
    events += [ev("garbage", 500, cam="cam-0"), ev("garbage", 900, cam="cam-1")]
    out = score(episodes, events, cameras=4, duration_s=1800)
    assert out["garbage"]["p50_event_latency_ms"] == 200.0
    assert out["garbage"]["false_alarms_per_hour"] == 1.0  # 2 false alarms over 4 cameras x 0.5 h
    assert out[ALL]["false_alarms_per_hour"] == 1.0


def test_unscored_events_are_ignored_and_plain_tuples_work() -> None:
    events = [("cam-0001", "camera_online", {}, 5.0, 1.0), ("cam-0001", "garbage", {"count": 1}, 70.0, 250.0)]
    out = score([ep("garbage", 10, 100)], events, 1, 3600)
    assert out["garbage"]["recall"] == 1.0 and out[ALL]["false_alarms"] == 0


def test_missed_episode_has_no_latency() -> None:
    out = score([ep("crowd", 10, 80)], [], 1, 3600)
    assert out["crowd"] == {
        "recall": 0.0, "false_alarms_per_hour": 0.0, "p50_event_latency_ms": None, "episodes": 1, "detected": 0,
        "false_alarms": 0, "repeats": 0,
    }  # fmt: skip


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="cameras > 0"):
        score([], [], 0, 3600)
    with pytest.raises(ValueError, match="unknown scenarios"):
        score([ep("landslide", 0, 10)], [], 1, 3600)


def test_missed_lists_the_episodes_score_counts_as_not_detected() -> None:
    episodes = [ep("garbage", 10, 100), ep("garbage", 200, 300, n=1), ep("fire", 5, 50, cam=OTHER)]
    events = [ev("garbage", 70), ev("garbage", 90), ev("fire", 7, cam=CAM)]  # a repeat, and fire on the wrong camera
    assert [e.id for e in missed(episodes, events)] == ["cam-0002/00-fire", "cam-0001/01-garbage"]
    assert score(episodes, events, cameras=2, duration_s=3600)[ALL]["detected"] == 1


def test_false_alarm_rows_list_exactly_the_events_score_counts_as_false_alarms() -> None:
    episodes = [ep("fire", 100, 150, tolerated=("smoke",)), ep("garbage", 10, 100)]
    events = [ev("garbage", 70), ev("garbage", 90), ev("fire", 102), ev("smoke", 108), ev("smoke", 400)]
    events += [ev("vehicle_violation", 500, violation="wrong_way", cam=OTHER)]
    rows = false_alarm_rows(episodes, events)
    assert rows == [
        {"camera": CAM, "scenario": "smoke", "scene_t": 400, "detail": {}},
        {"camera": OTHER, "scenario": "wrong_way", "scene_t": 500, "detail": {"violation": "wrong_way"}},
    ]
    assert score(episodes, events, cameras=2, duration_s=3600)[ALL]["false_alarms"] == len(rows)

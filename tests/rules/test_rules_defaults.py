"""The shipped rule files: they load, cover every device event type, and route as the county asked."""

from __future__ import annotations

import pytest
from rules_testkit import HOUR, MIN, SEC, T0, ev

from actors.base import DeviceActor
from actors.beehive import BeehiveActor
from actors.wristband import WristbandActor
from core.clock import LOCAL_OFFSET_MS
from core.events import DeviceEvent
from rules.engine import RulesEngine, township_lookup
from rules.loader import load_rules

CAMERA_TYPES = [
    "fire", "smoke", "crowd", "garbage", "drowning_risk", "restricted_zone", "vehicle_violation", "person_fall",
    "camera_offline", "camera_frozen",
]  # fmt: skip
NIGHT = T0 - (T0 + LOCAL_OFFSET_MS) % (24 * HOUR) + 22 * HOUR  # 22:00 local
DAY = NIGHT - 12 * HOUR  # 10:00 local


def test_default_rules_load_with_chinese_titles() -> None:
    rs = load_rules()
    assert rs.rules and {"elderly_emergency", "standard"} <= set(rs.policies)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in r.title) for r in rs.rules)
    assert rs.departments["养老服务"] == "县民政局/乡镇民政办"


@pytest.mark.parametrize("actor", [WristbandActor, BeehiveActor])
def test_every_actor_event_type_is_covered(actor: type[DeviceActor]) -> None:
    rs = load_rules()
    for event_type in [*actor.labels, *DeviceActor.labels]:
        assert rs.covers(event_type, actor.kind), f"no rule for {actor.kind}/{event_type}"


@pytest.mark.parametrize("event_type", CAMERA_TYPES)
def test_camera_event_types_are_covered(event_type: str) -> None:
    assert load_rules().covers(event_type, "camera")


@pytest.mark.parametrize(
    ("event_type", "kind", "severity", "ts"),
    [
        ("sos", "wristband", 1, T0), ("fall", "wristband", 1, T0), ("hr_out_of_range", "wristband", 2, T0),
        ("spo2_low", "wristband", 2, T0), ("fever", "wristband", 2, T0), ("geofence_exit", "wristband", 2, NIGHT),
        ("geofence_exit", "wristband", 3, DAY), ("band_removed", "wristband", 3, T0),
        ("low_battery", "wristband", 4, T0), ("no_data", "wristband", 3, T0), ("swarm", "beehive", 2, T0),
        ("theft", "beehive", 1, T0), ("brood_temp", "beehive", 3, T0), ("fire", "camera", 1, T0),
        ("person_fall", "camera", 1, T0), ("camera_offline", "camera", 3, T0),
    ],
)  # fmt: skip
def test_default_severity(event_type: str, kind: str, severity: int, ts: int) -> None:
    eng = RulesEngine(load_rules())
    [inc] = eng.process(ev(event_type, ts, kind=kind), ts)
    assert inc.severity == severity and inc.department


def test_sos_dedup_only_within_two_minutes() -> None:
    eng = RulesEngine(load_rules())
    [a] = eng.process(ev("sos", T0), T0)
    [b] = eng.process(ev("sos", T0 + 90 * SEC), T0 + 90 * SEC)
    [c] = eng.process(ev("sos", T0 + 5 * MIN), T0 + 5 * MIN)
    assert a.incident_id == b.incident_id != c.incident_id
    [d] = eng.process(ev("sos", T0 + 5 * MIN, device="wb-2"), T0 + 5 * MIN)
    assert d.incident_id != c.incident_id


def test_default_no_data_inhibited_by_power_cut() -> None:
    eng = RulesEngine(load_rules())
    eng.process(ev("power_cut", T0, "meter-1", kind="meter"), T0)
    assert eng.process(ev("no_data", T0 + MIN, "wb-1"), T0 + MIN) == []
    assert len(eng.process(ev("no_data", T0 + MIN, "wb-2", village="城关村"), T0 + MIN)) == 1


def test_default_elderly_escalation_ladder() -> None:
    eng = RulesEngine(load_rules())
    [inc] = eng.process(ev("fall", T0), T0)
    fired = [(t, d.notify) for t in range(T0, T0 + 11 * MIN, MIN) for d in eng.due(t)]
    assert fired == [(T0, "village_officer"), (T0 + 3 * MIN, "township_duty"), (T0 + 10 * MIN, "county")]
    assert inc.escalation == "elderly_emergency"


def test_gazetteer_township_lookup() -> None:
    from core.gazetteer import load_gazetteer

    gaz = load_gazetteer()
    village = gaz.villages[0]
    lookup = township_lookup(gaz)
    assert lookup(village.name) in (village.township, "") and lookup("不存在的村") == ""
    eng = RulesEngine(load_rules(), lookup)
    event = DeviceEvent(event_id="x", type="theft", kind="beehive", device_id="hive-1", ts=T0, village=village.name)
    [inc] = eng.process(event, T0)
    assert inc.township == lookup(village.name)

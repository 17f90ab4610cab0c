"""Rules engine behaviour: windows, `for`, dedup, grouping, inhibition, routing, snapshots; frozen clock."""

from __future__ import annotations

from pathlib import Path

from rules_testkit import HOUR, MIN, SEC, T0, engine, ev

from rules.engine import RulesEngine

WINDOW = """
rules:
  - id: garbage
    title: 垃圾乱堆乱放
    when: {event: garbage}
    window: {count: 3, within: 10m}
    group_by: village
    severity: 4
    category: 环境卫生
"""

FOR = """
rules:
  - id: hr_high
    title: 心率过高
    when:
      event: hr
      where:
        - {field: detail.hr, op: ">", value: 130}
    for: 2m
    severity: 2
    category: 养老服务
"""

SOS = """
rules:
  - id: sos
    title: 老人紧急呼救
    when: {event: sos, kind: wristband}
    group_by: device
    dedup_reset: 2m
    severity: 1
    category: 养老服务
    escalation: elderly_emergency
"""

POWER = """
rules:
  - id: power_cut
    title: 村庄停电
    when: {event: power_cut}
    group_by: village
    severity: 3
    category: 电力保障
  - id: no_data
    title: 设备离线
    when: {event: no_data}
    severity: 3
    category: 设备运维
    inhibit:
      - {event: power_cut, same: village, for: 2h}
  - id: no_data_by_rule
    title: 设备离线(按停电事件抑制)
    when: {event: no_data2}
    severity: 3
    category: 设备运维
    inhibit: {rule: power_cut, same: village}
"""


def test_window_opens_on_nth_event_within(tmp_path: Path) -> None:
    eng = engine(tmp_path, WINDOW)
    assert eng.process(ev("garbage", T0, "cam-1"), T0) == []
    assert eng.process(ev("garbage", T0 + 4 * MIN, "cam-2"), T0 + 4 * MIN) == []
    [inc] = eng.process(ev("garbage", T0 + 9 * MIN, "cam-1"), T0 + 9 * MIN)
    assert (inc.count, inc.first_ts, inc.last_ts, inc.group_key) == (3, T0, T0 + 9 * MIN, "杰迪村")
    assert inc.incident_id == f"garbage:杰迪村:{T0}"


def test_window_n_minus_one_does_not_open(tmp_path: Path) -> None:
    eng = engine(tmp_path, WINDOW)
    out = [eng.process(ev("garbage", T0 + i * MIN, "cam-1"), T0 + i * MIN) for i in range(2)]
    assert out == [[], []]
    assert eng.tick(T0 + 5 * MIN) == [] and eng.open_incidents() == []


def test_window_old_events_fall_out(tmp_path: Path) -> None:
    eng = engine(tmp_path, WINDOW)
    eng.process(ev("garbage", T0, "cam-1"), T0)
    eng.process(ev("garbage", T0 + 5 * MIN, "cam-1"), T0 + 5 * MIN)
    assert eng.process(ev("garbage", T0 + 11 * MIN, "cam-1"), T0 + 11 * MIN) == []  # the first fell out
    [inc] = eng.process(ev("garbage", T0 + 12 * MIN, "cam-1"), T0 + 12 * MIN)
    assert inc.first_ts == T0 + 5 * MIN and inc.count == 3


def test_window_expired_by_tick(tmp_path: Path) -> None:
    eng = engine(tmp_path, WINDOW)
    eng.process(ev("garbage", T0, "cam-1"), T0)
    eng.process(ev("garbage", T0 + MIN, "cam-1"), T0 + MIN)
    eng.tick(T0 + 30 * MIN)
    assert eng.process(ev("garbage", T0 + 31 * MIN, "cam-1"), T0 + 31 * MIN) == []


def test_for_opens_only_after_duration_by_event(tmp_path: Path) -> None:
    eng = engine(tmp_path, FOR)
    assert eng.process(ev("hr", T0, hr=140), T0) == []
    assert eng.process(ev("hr", T0 + MIN, hr=150), T0 + MIN) == []
    [inc] = eng.process(ev("hr", T0 + 2 * MIN, hr=145), T0 + 2 * MIN)
    assert (inc.first_ts, inc.last_ts, inc.count) == (T0, T0 + 2 * MIN, 3)
    assert inc.detail["event"] == {"hr": 145}


def test_for_opens_on_tick_without_new_events(tmp_path: Path) -> None:
    eng = engine(tmp_path, FOR)
    eng.process(ev("hr", T0, hr=140), T0)
    assert eng.tick(T0 + 2 * MIN - 1) == []
    [inc] = eng.tick(T0 + 2 * MIN)
    assert inc.first_ts == T0 and inc.rule == "hr_high"
    assert eng.tick(T0 + 3 * MIN) == []  # opens once


def test_for_cancelled_when_condition_stops_holding(tmp_path: Path) -> None:
    eng = engine(tmp_path, FOR)
    eng.process(ev("hr", T0, hr=140), T0)
    eng.process(ev("hr", T0 + MIN, hr=80), T0 + MIN)  # back in range
    assert eng.tick(T0 + 5 * MIN) == []
    assert eng.process(ev("hr", T0 + 6 * MIN, hr=140), T0 + 6 * MIN) == []  # starts a new 2 min


def test_dedup_repeat_updates_open_incident(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [first] = eng.process(ev("sos", T0), T0)
    [again] = eng.process(ev("sos", T0 + 30 * SEC), T0 + 30 * SEC)
    assert again.incident_id == first.incident_id
    assert (again.count, again.last_ts) == (2, T0 + 30 * SEC)
    assert again.event_ids == [f"wb-1:sos:{T0}", f"wb-1:sos:{T0 + 30 * SEC}"]
    assert len(eng.open_incidents()) == 1


def test_dedup_keeps_newest_ten_event_ids(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    out = [eng.process(ev("sos", T0 + i * SEC), T0 + i * SEC)[0] for i in range(12)]
    assert out[-1].count == 12 and len(out[-1].event_ids) == 10
    assert out[-1].event_ids[0] == f"wb-1:sos:{T0 + 2 * SEC}"


def test_repeat_after_resolve_opens_new_incident(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [first] = eng.process(ev("sos", T0), T0)
    resolved = eng.resolve(first.incident_id, T0 + 10 * SEC)
    assert resolved.detail["state"] == "resolved"
    [second] = eng.process(ev("sos", T0 + 20 * SEC), T0 + 20 * SEC)
    assert second.incident_id != first.incident_id and second.count == 1


def test_dedup_reset_after_quiet_opens_new_incident(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [first] = eng.process(ev("sos", T0), T0)
    [second] = eng.process(ev("sos", T0 + 2 * MIN), T0 + 2 * MIN)
    assert second.incident_id == f"sos:wb-1:{T0 + 2 * MIN}" != first.incident_id


def test_replayed_event_is_ignored(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    eng.process(ev("sos", T0), T0)
    assert eng.process(ev("sos", T0), T0 + SEC) == []


def test_group_by_device_separates_devices(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [a] = eng.process(ev("sos", T0, "wb-1"), T0)
    [b] = eng.process(ev("sos", T0, "wb-2"), T0)
    assert a.incident_id != b.incident_id and (a.group_key, b.group_key) == ("wb-1", "wb-2")


def test_group_by_village_folds_devices(tmp_path: Path) -> None:
    eng = engine(tmp_path, POWER)
    [a] = eng.process(ev("power_cut", T0, "meter-1", kind="meter"), T0)
    [b] = eng.process(ev("power_cut", T0 + SEC, "meter-2", kind="meter"), T0 + SEC)
    assert a.incident_id == b.incident_id and b.count == 2 and b.group_key == "杰迪村"
    [c] = eng.process(ev("power_cut", T0 + SEC, "meter-3", village="城关村", kind="meter"), T0 + SEC)
    assert c.incident_id != a.incident_id


def test_kind_filter(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    assert eng.process(ev("sos", T0, kind="beehive"), T0) == []


def test_no_data_inhibited_by_power_cut_in_same_village(tmp_path: Path) -> None:
    eng = engine(tmp_path, POWER)
    eng.process(ev("power_cut", T0, "meter-1", kind="meter"), T0)
    assert eng.process(ev("no_data", T0 + 10 * MIN, "wb-1"), T0 + 10 * MIN) == []


def test_no_data_not_inhibited_in_other_village(tmp_path: Path) -> None:
    eng = engine(tmp_path, POWER)
    eng.process(ev("power_cut", T0, "meter-1", kind="meter"), T0)
    [inc] = eng.process(ev("no_data", T0 + 10 * MIN, "wb-9", village="城关村"), T0 + 10 * MIN)
    assert inc.rule == "no_data" and inc.village == "城关村"


def test_inhibition_by_event_expires(tmp_path: Path) -> None:
    eng = engine(tmp_path, POWER)
    eng.process(ev("power_cut", T0, "meter-1", kind="meter"), T0)
    assert len(eng.process(ev("no_data", T0 + 121 * MIN, "wb-1"), T0 + 121 * MIN)) == 1


def test_inhibition_by_open_incident_of_other_rule(tmp_path: Path) -> None:
    eng = engine(tmp_path, POWER)
    [cut] = eng.process(ev("power_cut", T0, "meter-1", kind="meter"), T0)
    assert eng.process(ev("no_data2", T0 + 5 * HOUR, "wb-1"), T0 + 5 * HOUR) == []
    eng.resolve(cut.incident_id, T0 + 5 * HOUR)
    assert len(eng.process(ev("no_data2", T0 + 5 * HOUR + 1, "wb-1"), T0 + 5 * HOUR + 1)) == 1


def test_severity_category_department_township_routing(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [inc] = eng.process(ev("sos", T0), T0)
    assert (inc.severity, inc.category, inc.department) == (1, "养老服务", "县民政局/乡镇民政办")
    assert (inc.village, inc.township, inc.title, inc.escalation) == (
        "杰迪村",
        "立节镇",
        "老人紧急呼救",
        "elderly_emergency",
    )
    assert (inc.lat, inc.lon, inc.device_id) == (33.8, 104.3, "wb-1")


def test_unknown_village_has_empty_township(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [inc] = eng.process(ev("sos", T0, village="无名村"), T0)
    assert inc.township == ""


def test_ack_stops_escalation_and_marks_incident(tmp_path: Path) -> None:
    eng = engine(tmp_path, SOS)
    [inc] = eng.process(ev("sos", T0), T0)
    assert [d.notify for d in eng.due(T0)] == ["village_officer"]
    acked = eng.ack(inc.incident_id, T0 + MIN)
    assert acked.detail["state"] == "acked"
    assert eng.due(T0 + 60 * MIN) == []


def test_snapshot_restore_continues(tmp_path: Path) -> None:
    eng = engine(tmp_path, WINDOW + SOS.replace("rules:\n", ""))
    eng.process(ev("garbage", T0, "cam-1"), T0)
    eng.process(ev("garbage", T0 + MIN, "cam-1"), T0 + MIN)
    [sos] = eng.process(ev("sos", T0), T0)
    blob = eng.snapshot()
    again = RulesEngine(eng.ruleset, lambda v: "立节镇")
    again.restore(blob)
    [inc] = again.process(ev("garbage", T0 + 2 * MIN, "cam-1"), T0 + 2 * MIN)
    assert inc.count == 3
    [upd] = again.process(ev("sos", T0 + SEC), T0 + SEC)
    assert upd.incident_id == sos.incident_id and upd.count == 2
    assert again.process(ev("sos", T0), T0 + 2 * SEC) == []  # replay memory survives too


RECOVERY = """
rules:
  - id: hr_high
    title: 心率持续异常
    when: {event: hr_out_of_range}
    severity: 2
    category: 养老服务
    escalation: standard
  - id: hr_normal
    title: 心率恢复正常
    when: {event: hr_normal}
    resolves: [hr_high]
"""


def test_recovery_event_resolves_open_incident(tmp_path: Path) -> None:
    eng = engine(tmp_path, RECOVERY)
    [inc] = eng.process(ev("hr_out_of_range", T0), T0)
    [done] = eng.process(ev("hr_normal", T0 + MIN), T0 + MIN)
    assert done.incident_id == inc.incident_id and done.detail["state"] == "resolved"
    assert done.detail["resolved_by"] == f"wb-1:hr_normal:{T0 + MIN}"
    assert eng.open_incidents() == []
    assert eng.due(T0 + 3 * HOUR) == []  # resolved: escalation stopped


SCENARIO = """
rules:
  - id: fire
    title: 发现火情
    when: {event: [fire, smoke]}
    group_by: scenario
    severity: 1
    category: 环境卫生
"""


def test_group_by_scenario_uses_village_and_detail_scenario(tmp_path: Path) -> None:
    eng = engine(tmp_path, SCENARIO)
    [a] = eng.process(ev("smoke", T0, "cam-1", kind="camera", scenario="forest"), T0)
    [b] = eng.process(ev("fire", T0 + SEC, "cam-2", kind="camera", scenario="forest"), T0 + SEC)
    [c] = eng.process(ev("fire", T0 + SEC, "cam-3", kind="camera"), T0 + SEC)
    assert a.incident_id == b.incident_id and a.group_key == "杰迪村:forest"
    assert c.group_key == "杰迪村:fire"


def test_snapshot_restore_keeps_pending_for(tmp_path: Path) -> None:
    eng = engine(tmp_path, FOR)
    eng.process(ev("hr", T0, hr=140), T0)
    again = RulesEngine(eng.ruleset)
    again.restore(eng.snapshot())
    [inc] = again.tick(T0 + 2 * MIN)
    assert inc.first_ts == T0 and inc.detail["event"] == {"hr": 140}

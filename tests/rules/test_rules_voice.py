"""A rule's `voice` (warning played on a station loudspeaker): what the schema accepts and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest
from rules_testkit import write_rules

from rules.loader import RulesError, load_rules
from rules.schema import VOICE_MAX_CHARS

RULE = """\
rules:
  - id: station.speeding
    title: 劝导站发现车辆超速
    when: {{event: speeding, kind: {kind}}}
    severity: 3
    category: 设备运维
    voice: {voice}
"""


def test_a_station_rule_with_voice_loads(tmp_path: Path) -> None:
    write_rules(tmp_path, RULE.format(kind="station", voice="前方劝导站提示：您已超速，请减速慢行。"))
    assert load_rules(tmp_path).rule("station.speeding").voice == "前方劝导站提示：您已超速，请减速慢行。"


@pytest.mark.parametrize(
    ("kind", "voice", "problem"),
    [
        ("camera", "请减速慢行", "needs `when.kind: station`"),
        ("[station, camera]", "请减速慢行", "needs `when.kind: station`"),
        ("station", '""', "at least 1 character"),
        ("station", '"请减速\\u0007慢行"', "no control characters"),
        ("station", "慢" * (VOICE_MAX_CHARS + 1), f"at most {VOICE_MAX_CHARS} characters"),
    ],
)
def test_bad_voice_is_refused_naming_file_line_and_rule(tmp_path: Path, kind: str, voice: str, problem: str) -> None:
    path = write_rules(tmp_path, RULE.format(kind=kind, voice=voice))
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:") and "station.speeding" in msg and problem in msg


def test_the_shipped_station_rules_speak_and_cover_every_violation() -> None:
    rs = load_rules()
    for event_type in ("speeding", "wrong_way", "carrying_passengers"):
        [rule] = rs.covers(event_type, "station")
        assert rule.voice and "劝导站" in rule.voice and rule.category == "交通安全"
    assert rs.covers("vehicle_pass", "station") == []  # every pass is recorded, none opens an incident

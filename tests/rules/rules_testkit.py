"""Shared builders for the rules tests: events, a frozen clock and small rule sets written to a temp dir."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from core.events import DeviceEvent
from rules.engine import RulesEngine
from rules.loader import RuleSet, load_rules

T0 = 1_750_000_000_000  # a fixed epoch ms: the frozen clock every test starts from
SEC, MIN, HOUR = 1000, 60_000, 3_600_000

POLICIES = """
escalation_policies:
  - name: elderly_emergency
    levels:
      - {notify: village_officer, after: 0s}
      - {notify: township_duty, after: 3m}
      - {notify: county, after: 10m}
  - name: standard
    levels:
      - {notify: village_officer, after: 0s}
      - {notify: township_duty, after: 30m}
      - {notify: county, after: 2h}
departments:
  养老服务: 县民政局/乡镇民政办
  设备运维: 县数据管理局/乡镇便民服务中心
  电力保障: 国网舟曲县供电公司/乡镇供电所
  环境卫生: 县住房和城乡建设局/乡镇环卫站
"""

TOWNSHIPS = {"杰迪村": "立节镇", "北山村": "立节镇", "城关村": "城关镇"}


def ev(
    type_: str, ts: int, device: str = "wb-1", village: str = "杰迪村", kind: str = "wristband", **detail: Any
) -> DeviceEvent:
    """A device event with a deterministic id."""
    return DeviceEvent(
        event_id=f"{device}:{type_}:{ts}", type=type_, kind=kind, device_id=device, ts=ts, village=village,
        lat=33.8, lon=104.3, detail=detail,
    )  # fmt: skip


def write_rules(directory: Path, rules_yaml: str, name: str = "rules.yaml") -> Path:
    """Write policies.yaml plus one rule file into directory; returns the rule file."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "policies.yaml").write_text(POLICIES, encoding="utf-8")
    path = directory / name
    path.write_text(textwrap.dedent(rules_yaml), encoding="utf-8")
    return path


def ruleset(directory: Path, rules_yaml: str) -> RuleSet:
    """A RuleSet of the given rules plus the shared policies."""
    write_rules(directory, rules_yaml)
    return load_rules(directory)


def engine(directory: Path, rules_yaml: str) -> RulesEngine:
    """An engine over the given rules with a small village -> township table."""
    return RulesEngine(ruleset(directory, rules_yaml), lambda v: TOWNSHIPS.get(v, ""))

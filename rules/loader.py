"""Loads and validates rule YAML files into a RuleSet; every error names the file and the line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from core.declared import line_of, problems, read_yaml
from rules.schema import EscalationPolicy, Rule, RuleFile

DEFAULT_DIR = Path(__file__).resolve().parent / "default"


class RulesError(ValueError):
    """A rule file that cannot be read or does not validate; the message is `file:line: problem`."""


@dataclass(frozen=True)
class Source:
    """Where something was defined."""

    path: Path
    line: int  # 1-based

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


@dataclass(frozen=True)
class RuleSet:
    """A validated, immutable set of rules, escalation policies and departments loaded from one directory."""

    directory: Path
    rules: tuple[Rule, ...]
    policies: dict[str, EscalationPolicy]
    departments: dict[str, str]
    sources: dict[str, Source] = field(default_factory=dict)  # rule id / "policy:<name>" -> definition

    def rule(self, rule_id: str) -> Rule:
        """The rule with that id; KeyError when there is none."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(f"no rule {rule_id!r}")

    def active(self) -> tuple[Rule, ...]:
        """Enabled rules in file order."""
        return tuple(r for r in self.rules if r.enabled)

    def covers(self, event_type: str, kind: str) -> list[Rule]:
        """Enabled rules that look at this event type from this device kind."""
        return [r for r in self.active() if r.matches_type(event_type, kind)]

    def reload(self) -> RuleSet:
        """A fresh RuleSet from the same directory; raises RulesError (leaving this one untouched) on any error."""
        return load_rules(self.directory)


def _read(path: Path) -> tuple[RuleFile, yaml.Node | None]:
    """Parse and validate one file; RulesError names file and line."""
    raw, root = read_yaml(path, RulesError)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RulesError(f"{path}:1: a rule file must be a mapping with rules / escalation_policies / departments")
    try:
        return RuleFile.model_validate(raw), root
    except ValidationError as exc:

        def rule_name(loc: tuple[Any, ...]) -> str:
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                item = (raw.get("rules") or [None] * (loc[1] + 1))[loc[1]]
                if isinstance(item, dict) and "id" in item:
                    return f"rule {item['id']!r}: "
            return ""

        raise RulesError("\n".join(problems(path, root, exc, rule_name))) from exc


def _check_refs(
    rules: dict[str, tuple[Rule, Source]], policies: dict[str, EscalationPolicy], departments: dict[str, str]
) -> None:
    """Cross-file references: policies, departments, inhibiting and resolved rules must exist."""
    problems = []
    for rule, src in rules.values():
        if rule.escalation and rule.escalation not in policies:
            problems.append(f"{src}: rule {rule.id}: unknown escalation policy {rule.escalation!r}")
        if rule.category and rule.category not in departments:
            problems.append(f"{src}: rule {rule.id}: category {rule.category!r} has no department")
        for ref in [i.rule for i in rule.inhibit if i.rule] + rule.resolves:
            if ref not in rules:
                problems.append(f"{src}: rule {rule.id}: refers to unknown rule {ref!r}")
    if problems:
        raise RulesError("\n".join(problems))


def load_rules(directory: Path | str | None = None) -> RuleSet:
    """Load and validate every *.yaml in directory (default rules/default/); RulesError on any problem."""
    base = Path(directory) if directory is not None else DEFAULT_DIR
    if not base.is_dir():
        raise RulesError(f"{base}:1: not a directory")
    files = sorted(base.glob("*.yaml"))
    rules: dict[str, tuple[Rule, Source]] = {}
    policies: dict[str, tuple[EscalationPolicy, Source]] = {}
    departments: dict[str, tuple[str, Source]] = {}
    for path in files:
        parsed, root = _read(path)
        for i, rule in enumerate(parsed.rules):
            src = Source(path, line_of(root, ("rules", i)))
            if rule.id in rules:
                raise RulesError(f"{src}: duplicate rule id {rule.id!r}, first defined at {rules[rule.id][1]}")
            rules[rule.id] = (rule, src)
        for i, pol in enumerate(parsed.escalation_policies):
            src = Source(path, line_of(root, ("escalation_policies", i)))
            if pol.name in policies:
                first = policies[pol.name][1]
                raise RulesError(f"{src}: duplicate escalation policy {pol.name!r}, first defined at {first}")
            policies[pol.name] = (pol, src)
        for cat, dept in parsed.departments.items():
            src = Source(path, line_of(root, ("departments", cat)))
            if cat in departments and departments[cat][0] != dept:
                dept0, first = departments[cat]
                raise RulesError(f"{src}: category {cat!r} already routed to {dept0} at {first}")
            departments[cat] = (dept, src)
    pols = {name: p for name, (p, _) in policies.items()}
    depts = {cat: d for cat, (d, _) in departments.items()}
    _check_refs(rules, pols, depts)
    sources = {rid: src for rid, (_, src) in rules.items()}
    sources.update({f"policy:{name}": src for name, (_, src) in policies.items()})
    return RuleSet(base, tuple(r for r, _ in rules.values()), pols, depts, sources)

"""Declarative, pure, clock-injected rules engine: YAML rules -> incidents, with escalation tracking."""

from rules.engine import RulesEngine, township_lookup
from rules.escalation import Due, EscalationTracker
from rules.loader import DEFAULT_DIR, RulesError, RuleSet, load_rules
from rules.schema import EscalationPolicy, Rule

__all__ = [
    "DEFAULT_DIR", "Due", "EscalationPolicy", "EscalationTracker", "Rule", "RuleSet", "RulesEngine", "RulesError",
    "load_rules", "township_lookup",
]  # fmt: skip

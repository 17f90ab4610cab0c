"""Rule file schema: rules, conditions, windows, inhibitions, escalation policies and department routing."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

VOICE_MAX_CHARS = 200  # the longest warning a station plays (adapters.speaker.requests.MAX_CHARS)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d)")


def parse_duration(text: Any) -> int:
    """Milliseconds of a duration string such as "90s", "2m", "1h30m" or "0s"; ValueError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"duration must be a string like '2m' or '1h30m', got {text!r}")
    s = text.strip()
    parts = _PART.findall(s)
    if "".join(n + u for n, u in parts) != s:
        raise ValueError(f"bad duration {text!r}: use digits with ms/s/m/h/d, e.g. '90s', '2m', '1h30m'")
    return sum(int(n) * _UNIT_MS[u] for n, u in parts)


Duration = Annotated[int, BeforeValidator(parse_duration)]
"""A duration written as a string ("2m") and held as milliseconds."""

Op = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not_in", "exists"]
Notify = Literal["village_officer", "township_duty", "county"]
GroupBy = Literal["device", "village", "scenario"]
Scope = Literal["device", "village", "township"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: Any) -> Any:
    """Accept a single item where a list is expected."""
    return [value] if isinstance(value, (str, dict)) else value


class Condition(_Model):
    """One test on an event field; every condition of a rule must hold."""

    field: str = Field(
        description="Event field: a top-level field (type, kind, device_id, village, lat, lon, ts, seq), "
        "'detail.<key>' (dots reach nested keys) or 'local_hour' (hour of the event in UTC+8)."
    )
    op: Op = Field(description="Comparison; 'in'/'not_in' take a list, 'exists' takes true or false.")
    value: Any = Field(None, description="Right-hand side of the comparison.")

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"op {self.op!r} needs a list value")
        if self.op == "exists" and not isinstance(self.value, bool):
            raise ValueError("op 'exists' needs value true or false")
        return self


class When(_Model):
    """Which events a rule looks at."""

    event: Annotated[list[str], BeforeValidator(_as_list)] = Field(
        min_length=1, description="Event type, or a list of types, that the rule matches."
    )
    kind: Annotated[list[str] | None, BeforeValidator(_as_list)] = Field(
        None, description="Device kind or kinds (wristband, beehive, camera ...); any kind when absent."
    )
    where: list[Condition] = Field(default_factory=list, description="Conditions on event fields; all must hold.")


class Window(_Model):
    """N matching events of one group within a sliding time window open the incident."""

    count: int = Field(ge=1, description="How many matching events are needed.")
    within: Duration = Field(gt=0, description="Sliding window length, e.g. '10m'.")


class Inhibit(_Model):
    """Suppresses the rule while another event or another rule's open incident covers the same place or device."""

    event: str | None = Field(None, description="Event type that inhibits, e.g. power_cut, for `for` after it.")
    rule: str | None = Field(None, description="Rule id whose open (unresolved) incident inhibits.")
    same: Scope = Field("village", description="What must be shared: device, village or township.")
    for_: Duration | None = Field(
        None, alias="for", description="How long an inhibiting event stays in force; required with `event`."
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_source(self) -> Inhibit:
        if (self.event is None) == (self.rule is None):
            raise ValueError("inhibit needs exactly one of `event` or `rule`")
        if self.event is not None and self.for_ is None:
            raise ValueError("an inhibit by `event` needs `for` (how long it stays in force)")
        return self


class Rule(_Model):
    """One declarative rule: which events, how long or how often, grouping, dedup, inhibition and routing."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9_.-]+$", description="Unique rule id (lower case, digits, _ . -).")
    title: str = Field(min_length=1, description="Chinese title shown to people, e.g. 老人紧急呼救.")
    enabled: bool = Field(True, description="False keeps the rule in the file but does not evaluate it.")
    when: When = Field(description="Event types, kinds and conditions the rule matches.")
    for_: Duration | None = Field(
        None, alias="for", description="The condition must keep matching this long before the incident opens."
    )
    window: Window | None = Field(None, description="N matching events within a time window open the incident.")
    group_by: GroupBy = Field(
        "device",
        description="One incident per device, per village, or per scenario (village + detail.scenario, "
        "else the event type).",
    )
    dedup: bool = Field(True, description="A repeat while the incident is open updates it instead of opening another.")
    dedup_reset: Duration | None = Field(
        None, description="Quiet time after which a repeat opens a new incident even if the old one is still open."
    )
    inhibit: Annotated[list[Inhibit], BeforeValidator(_as_list)] = Field(
        default_factory=list, description="Conditions under which the rule raises nothing."
    )
    resolves: list[str] = Field(
        default_factory=list,
        description="Rule ids whose open incident of the same group this event resolves (a recovery rule); "
        "such a rule opens no incident of its own.",
    )
    severity: int | None = Field(None, ge=1, le=4, description="1 critical, 2 high, 3 medium, 4 info.")
    category: str | None = Field(None, description="Category; routes to a department via `departments`.")
    escalation: str | None = Field(None, description="Escalation policy name; none when absent.")
    voice: str | None = Field(
        None,
        min_length=1,
        max_length=VOICE_MAX_CHARS,
        description="Voice warning (Chinese) played on the station's loudspeaker whenever a station event opens or "
        "updates this rule's incident, e.g. 前方劝导站提示：您已超速，请减速慢行; only for rules on kind station.",
    )

    @model_validator(mode="after")
    def _complete(self) -> Rule:
        if not self.resolves and (self.severity is None or self.category is None):
            raise ValueError("a rule that opens incidents needs `severity` and `category`")
        if self.for_ is not None and self.window is not None:
            raise ValueError("use either `for` or `window`, not both")
        if self.voice is not None:
            if any(unicodedata.category(ch)[0] == "C" for ch in self.voice) or not self.voice.strip():
                raise ValueError("`voice` must be plain text: no control characters, not only spaces")
            if self.resolves:
                raise ValueError("a recovery rule (`resolves`) plays no `voice`")
            if self.when.kind != ["station"]:
                raise ValueError("`voice` plays on station loudspeakers: the rule needs `when.kind: station`")
        return self

    def matches_type(self, event_type: str, kind: str) -> bool:
        """True when the rule looks at events of this type from this device kind."""
        return event_type in self.when.event and (self.when.kind is None or kind in self.when.kind)


class Level(_Model):
    """One escalation step: who is notified and how long after the incident opened."""

    notify: Notify = Field(description="Who is notified: village_officer, township_duty or county.")
    after: Duration = Field(ge=0, description="Time after the incident opened, e.g. '0s', '3m', '2h'.")


class EscalationPolicy(_Model):
    """Named escalation ladder; levels fire in order until the incident is acknowledged."""

    name: str = Field(min_length=1, description="Policy name that rules refer to.")
    levels: list[Level] = Field(min_length=1, description="Levels in order; their `after` must not decrease.")

    @model_validator(mode="after")
    def _ordered(self) -> EscalationPolicy:
        afters = [lv.after for lv in self.levels]
        if afters != sorted(afters):
            raise ValueError("escalation levels must be in order of `after`")
        return self


class RuleFile(_Model):
    """One YAML rule file; any section may be absent."""

    rules: list[Rule] = Field(default_factory=list, description="Rules defined in this file.")
    escalation_policies: list[EscalationPolicy] = Field(
        default_factory=list, description="Escalation policies defined in this file."
    )
    departments: dict[str, str] = Field(
        default_factory=dict, description="Category -> responsible department (Chinese, county/township)."
    )

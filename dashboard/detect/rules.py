"""The rules file: loading, validation, and the typed model the engine runs.

The file is YAML in the style of Sigma's correlation rules (`event_count`, `value_count`,
`temporal_ordered`, each with `group-by`, `timespan` and a `condition`), plus the types Sigma
has no words for (`each`, `impossible_travel`, `new_value`, `zscore`, `outside_hours`,
`silence`). `docs/detections.md` describes every key. A file that does not validate is refused
as a whole, with a message that names the rule and the field, for example
`rules.yaml: rule R1: correlation.timespan: '10x' is not a duration (use 30s, 10m, 3h or 14d)`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dashboard.config import ConfigError

#: severities from the least to the most urgent.
SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")

#: notification channels a rule may set a threshold for.
CHANNELS: tuple[str, ...] = ("webhook", "email")

#: the rules shipped with auditdash.
DEFAULT_RULES_PATH = Path(__file__).resolve().parent / "rules.yaml"

#: fields a rule may test or group by (the engine maps each to a column or expression).
FIELDS: tuple[str, ...] = (
    "account_id",
    "action",
    "category",
    "outcome",
    "reason",
    "user",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_role",
    "actor_type",
    "target_type",
    "target_id",
    "target_name",
    "subject",
    "ip",
    "ip_scope",
    "country",
    "city",
    "user_agent",
    "session_id",
    "source",
    "new_role",
    "old_role",
    "changed_fields",
)

MODIFIERS: tuple[str, ...] = ("startswith", "endswith", "contains")
OPERATORS: tuple[str, ...] = ("gte", "gt", "lte", "lt", "eq")

TYPES: tuple[str, ...] = (
    "event_count",
    "value_count",
    "temporal_ordered",
    "each",
    "impossible_travel",
    "new_value",
    "zscore",
    "outside_hours",
    "silence",
)

ESCALATIONS: tuple[str, ...] = ("other_user", "self", "same_ip", "not_followed_by", "after_alert")

_DURATION = re.compile(r"^(\d+)\s*(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


class RulesError(ConfigError):
    """The rules file cannot be used; the message names the file, the rule and the field."""


def severity_rank(severity: str) -> int:
    """Position of a severity in `SEVERITIES` (info 0 ... critical 4)."""
    return SEVERITIES.index(severity)


def max_severity(*severities: str) -> str:
    """The most urgent of the given severities."""
    return max(severities, key=severity_rank)


# --------------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Criterion:
    """One field test: the field equals (or starts with, ...) one of the values."""

    field: str
    modifier: str | None
    values: tuple[Any, ...]


Selection = tuple[Criterion, ...]
"""Criteria that must all hold."""


@dataclass(frozen=True)
class Match:
    """Which events a detector reads: any of the selections, and none of the exclusions."""

    any_of: tuple[Selection, ...] = ()
    exclude: tuple[Selection, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether this matches every event."""
        return not self.any_of and not self.exclude


@dataclass(frozen=True)
class Condition:
    """A comparison on a measure: `count`, `distinct` (of the correlation's field),
    `distinct FIELD`, or `per_value` (events per distinct value)."""

    measure: str
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        """Whether the measured value satisfies the comparison."""
        v = self.value
        return {
            "gte": measured >= v,
            "gt": measured > v,
            "lte": measured <= v,
            "lt": measured < v,
            "eq": measured == v,
        }[self.op]

    def text(self) -> str:
        """Human form, for explanations: `count >= 10`."""
        sym = {"gte": ">=", "gt": ">", "lte": "<=", "lt": "<", "eq": "="}[self.op]
        value = int(self.value) if float(self.value).is_integer() else self.value
        return f"{self.measure} {sym} {value}"


@dataclass(frozen=True)
class Escalation:
    """Raise a finding's severity when a circumstance holds."""

    when: str
    severity: str
    actions: tuple[str, ...] = ()
    match: Match | None = None
    within_s: int = 0
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Step:
    """One step of a `temporal_ordered` correlation."""

    match: Match
    condition: Condition | None


@dataclass(frozen=True)
class Detector:
    """One correlation of a rule (a rule may have alternatives, any of which fires it)."""

    type: str
    match: Match
    group_by: tuple[str, ...]
    timespan_s: int
    dedup_s: int
    conditions: tuple[Condition, ...] = ()
    any_conditions: tuple[Condition, ...] = ()
    field: str | None = None
    steps: tuple[Step, ...] = ()
    escalate: tuple[Escalation, ...] = ()
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def measures(self) -> tuple[Condition, ...]:
        """Every condition of this detector."""
        return (*self.conditions, *self.any_conditions)

    def lookback_s(self) -> int:
        """How far before the first new event this detector must read."""
        p = self.params
        extra = max(
            [int(p.get(k, 0)) for k in ("history_s", "baseline_s", "bucket_s")]
            + [e.within_s for e in self.escalate]
            + [0]
        )
        return self.timespan_s + extra


@dataclass(frozen=True)
class Rule:
    """One detection rule of the rules file."""

    id: str
    title: str
    severity: str
    description: str
    check: str
    detectors: tuple[Detector, ...]
    enabled: bool = True
    tags: tuple[str, ...] = ()
    notify: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def depends_on_alerts(self) -> bool:
        """Whether this rule reads other rules' alerts (it then runs after them)."""
        return any(e.when == "after_alert" for d in self.detectors for e in d.escalate)

    def lookback_s(self) -> int:
        """How far before the first new event this rule must read."""
        return max(d.lookback_s() for d in self.detectors)


@dataclass(frozen=True)
class RuleSet:
    """The validated rules file."""

    rules: tuple[Rule, ...]
    path: Path

    @property
    def enabled(self) -> tuple[Rule, ...]:
        """The rules that run, those that read other alerts last."""
        on = [r for r in self.rules if r.enabled]
        return tuple(sorted(on, key=lambda r: r.depends_on_alerts))

    def get(self, rule_id: str) -> Rule | None:
        """The rule with this id."""
        return next((r for r in self.rules if r.id == rule_id), None)


# --------------------------------------------------------------------------------- validation


class _Ctx:
    """Where in the file we are, for messages."""

    def __init__(self, path: Path, rule: str | None = None) -> None:
        self.path = path
        self.rule = rule

    def fail(self, where: str, problem: str) -> RulesError:
        who = f"rule {self.rule}: " if self.rule else ""
        at = f"{where}: " if where else ""
        return RulesError(f"{self.path.name}: {who}{at}{problem}")


def parse_duration(value: Any, ctx: _Ctx, where: str) -> int:
    """`30s`, `10m`, `3h`, `14d` (or a whole number of seconds) -> seconds."""
    if isinstance(value, bool):
        raise ctx.fail(where, f"{value!r} is not a duration (use 30s, 10m, 3h or 14d)")
    if isinstance(value, int) and value > 0:
        return value
    m = _DURATION.match(str(value).strip())
    if not m or int(m.group(1)) <= 0:
        raise ctx.fail(where, f"{value!r} is not a duration (use 30s, 10m, 3h or 14d)")
    return int(m.group(1)) * _UNIT_S[m.group(2)]


def _mapping(value: Any, ctx: _Ctx, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.fail(where, f"must be a mapping of keys to values, not {type(value).__name__}")
    return value


def _known_keys(value: Mapping[str, Any], allowed: Sequence[str], ctx: _Ctx, where: str) -> None:
    for key in value:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise ctx.fail(f"{prefix}{key}", f"unknown key (allowed here: {', '.join(allowed)})")


def _number(value: Any, ctx: _Ctx, where: str, minimum: float | None = 0, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ctx.fail(where, f"{value!r} is not a number")
    if integer and not float(value).is_integer():
        raise ctx.fail(where, f"{value!r} is not a whole number")
    if minimum is not None and value < minimum:
        raise ctx.fail(where, f"{value!r} is below the minimum {minimum}")
    return float(value)


def _severity(value: Any, ctx: _Ctx, where: str) -> str:
    if value not in SEVERITIES:
        raise ctx.fail(where, f"{value!r} is not a severity (one of {', '.join(SEVERITIES)})")
    return str(value)


def _field_name(value: Any, ctx: _Ctx, where: str) -> str:
    if value not in FIELDS:
        raise ctx.fail(where, f"{value!r} is not a known field (one of {', '.join(FIELDS)})")
    return str(value)


def _selection(value: Any, ctx: _Ctx, where: str) -> Selection:
    mapping = _mapping(value, ctx, where)
    if not mapping:
        raise ctx.fail(where, "an empty selection matches everything; leave it out instead")
    out: list[Criterion] = []
    for raw_key, raw_values in mapping.items():
        name, _, modifier = str(raw_key).partition("|")
        _field_name(name, ctx, f"{where}.{raw_key}")
        if modifier and modifier not in MODIFIERS:
            raise ctx.fail(f"{where}.{raw_key}", f"unknown modifier {modifier!r} (one of {', '.join(MODIFIERS)})")
        values = tuple(raw_values) if isinstance(raw_values, list) else (raw_values,)
        if not values:
            raise ctx.fail(f"{where}.{raw_key}", "an empty list matches nothing")
        for v in values:
            if isinstance(v, Mapping | list):
                raise ctx.fail(f"{where}.{raw_key}", f"{v!r} is not a plain value")
            if modifier and not isinstance(v, str):
                raise ctx.fail(f"{where}.{raw_key}", f"|{modifier} needs text values, not {v!r}")
        out.append(Criterion(name, modifier or None, values))
    return tuple(out)


def _selections(value: Any, ctx: _Ctx, where: str) -> tuple[Selection, ...]:
    if isinstance(value, list):
        if not value:
            raise ctx.fail(where, "an empty list matches nothing")
        return tuple(_selection(v, ctx, f"{where}[{i}]") for i, v in enumerate(value))
    return (_selection(value, ctx, where),)


def _match(raw: Mapping[str, Any], ctx: _Ctx, where: str, default: Match | None = None) -> Match:
    any_of = _selections(raw["match"], ctx, f"{where}match") if "match" in raw else None
    exclude = _selections(raw["exclude"], ctx, f"{where}exclude") if "exclude" in raw else None
    base = default or Match()
    return Match(
        any_of=any_of if any_of is not None else base.any_of,
        exclude=exclude if exclude is not None else base.exclude,
    )


def _comparison(value: Any, ctx: _Ctx, where: str, measure: str) -> Condition:
    mapping = _mapping(value, ctx, where)
    if len(mapping) != 1:
        raise ctx.fail(where, f"needs exactly one comparison ({', '.join(OPERATORS)}), e.g. {{gte: 10}}")
    op, number = next(iter(mapping.items()))
    if op not in OPERATORS:
        raise ctx.fail(f"{where}.{op}", f"unknown comparison (one of {', '.join(OPERATORS)})")
    return Condition(measure, str(op), _number(number, ctx, f"{where}.{op}"))


def _measure(name: Any, ctx: _Ctx, where: str, kind: str) -> str:
    text = str(name).strip()
    if text in ("count",):
        return text
    if kind == "value_count" and text in ("distinct", "per_value"):
        return text
    if text.startswith("distinct ") and kind == "value_count":
        _field_name(text.split(" ", 1)[1].strip(), ctx, where)
        return "distinct " + text.split(" ", 1)[1].strip()
    raise ctx.fail(where, f"{name!r} is not a measure here (count, distinct, distinct FIELD, per_value)")


def _also(value: Any, ctx: _Ctx, where: str, kind: str) -> tuple[list[Condition], list[Condition]]:
    if not isinstance(value, list):
        raise ctx.fail(where, "must be a list of {measure: {op: value}} or {any: [...]}")
    every: list[Condition] = []
    anyone: list[Condition] = []
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        mapping = _mapping(item, ctx, here)
        if len(mapping) != 1:
            raise ctx.fail(here, "one measure per list item")
        name, cmp = next(iter(mapping.items()))
        if name == "any":
            if anyone:
                raise ctx.fail(here, "only one `any` group is supported")
            if not isinstance(cmp, list) or not cmp:
                raise ctx.fail(f"{here}.any", "must be a non-empty list")
            for j, alt in enumerate(cmp):
                alt_map = _mapping(alt, ctx, f"{here}.any[{j}]")
                if len(alt_map) != 1:
                    raise ctx.fail(f"{here}.any[{j}]", "one measure per list item")
                alt_name, alt_cmp = next(iter(alt_map.items()))
                measure = _measure(alt_name, ctx, f"{here}.any[{j}]", kind)
                anyone.append(_comparison(alt_cmp, ctx, f"{here}.any[{j}].{alt_name}", measure))
            continue
        measure = _measure(name, ctx, here, kind)
        every.append(_comparison(cmp, ctx, f"{here}.{name}", measure))
    return every, anyone


_COMMON = ("type", "match", "exclude", "group-by", "timespan", "dedup", "escalate")
_TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "event_count": ("condition",),
    "value_count": ("field", "condition", "also"),
    "temporal_ordered": ("steps",),
    "each": (),
    "impossible_travel": ("min_distance_km", "min_speed_kmh"),
    "new_value": ("field", "history", "learning_days", "learning_events"),
    "zscore": ("bucket", "baseline", "min_count", "z", "min_baseline_buckets"),
    "outside_hours": ("history", "min_active_days", "min_share", "margin_hours"),
    "silence": ("history", "factor", "min_silence", "learning"),
}
#: parameters with defaults (durations in seconds); detections.md gives the numbers.
_PARAM_DEFAULTS: dict[str, dict[str, Any]] = {
    "impossible_travel": {"min_distance_km": 500.0, "min_speed_kmh": 800.0},
    "new_value": {"history": 14 * 86400, "learning_days": 14, "learning_events": 10},
    "zscore": {"bucket": 3600, "baseline": 14 * 86400, "min_count": 30, "z": 3.0, "min_baseline_buckets": 8},
    "outside_hours": {"history": 28 * 86400, "min_active_days": 5, "min_share": 0.2, "margin_hours": 1},
    "silence": {"history": 14 * 86400, "factor": 3.0, "min_silence": 3600, "learning": 7 * 86400},
}
#: smallest sensible values (a factor below 1 would call every usual gap a silence).
_PARAM_MINIMUM: dict[str, float] = {
    "factor": 1,
    "z": 0.5,
    "min_count": 1,
    "learning_events": 1,
    "learning_days": 1,
    "min_active_days": 1,
    "min_baseline_buckets": 1,
}
_DURATION_PARAMS = ("history", "bucket", "baseline", "min_silence", "learning")
_DEFAULT_GROUP_BY: dict[str, tuple[str, ...]] = {
    "each": ("account_id", "user"),
    "impossible_travel": ("account_id", "user"),
    "new_value": ("account_id", "user"),
    "zscore": ("account_id", "user"),
    "outside_hours": ("account_id", "user"),
    "silence": ("account_id",),
}
_DEFAULT_TIMESPAN: dict[str, int] = {
    "each": 3600,
    "impossible_travel": 90 * 60,
    "new_value": 86400,
    "zscore": 3600,
    "outside_hours": 2 * 3600,
    "silence": 3600,
}


def _escalations(value: Any, ctx: _Ctx, where: str, kind: str) -> tuple[Escalation, ...]:
    if not isinstance(value, list):
        raise ctx.fail(where, "must be a list of {when: ..., severity: ...}")
    out = []
    allowed = {
        "each": ("other_user", "self", "not_followed_by", "after_alert"),
        "temporal_ordered": ("same_ip",),
    }.get(kind, ())
    for i, item in enumerate(value):
        here = f"{where}[{i}]"
        mapping = _mapping(item, ctx, here)
        _known_keys(mapping, ("when", "severity", "actions", "match", "within", "rules"), ctx, here)
        when = mapping.get("when")
        if when not in ESCALATIONS:
            raise ctx.fail(f"{here}.when", f"{when!r} is not one of {', '.join(ESCALATIONS)}")
        if when not in allowed:
            raise ctx.fail(f"{here}.when", f"{when!r} does not apply to type {kind}")
        if "severity" not in mapping:
            raise ctx.fail(f"{here}.severity", "is required")
        actions = mapping.get("actions", [])
        if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
            raise ctx.fail(f"{here}.actions", "must be a list of action names")
        esc_match: Match | None = None
        within = 0
        rules: tuple[str, ...] = ()
        if when in ("not_followed_by", "after_alert"):
            if "within" not in mapping:
                raise ctx.fail(f"{here}.within", f"is required for {when}")
            within = parse_duration(mapping["within"], ctx, f"{here}.within")
        if when == "not_followed_by":
            if "match" not in mapping:
                raise ctx.fail(f"{here}.match", "is required for not_followed_by")
            esc_match = Match(any_of=_selections(mapping["match"], ctx, f"{here}.match"))
        if when == "after_alert":
            raw_rules = mapping.get("rules")
            if not isinstance(raw_rules, list) or not raw_rules:
                raise ctx.fail(f"{here}.rules", "must list the rule ids whose alerts count")
            rules = tuple(str(r) for r in raw_rules)
        out.append(
            Escalation(
                when=str(when),
                severity=_severity(mapping["severity"], ctx, f"{here}.severity"),
                actions=tuple(actions),
                match=esc_match,
                within_s=within,
                rules=rules,
            )
        )
    return tuple(out)


def _detector(raw: Any, ctx: _Ctx, where: str, rule_match: Match) -> Detector:
    mapping = _mapping(raw, ctx, where.rstrip("."))
    kind = mapping.get("type")
    if kind not in TYPES:
        raise ctx.fail(f"{where}type", f"{kind!r} is not a rule type (one of {', '.join(TYPES)})")
    _known_keys(mapping, (*_COMMON, *_TYPE_KEYS[kind]), ctx, where.rstrip("."))
    match = _match(mapping, ctx, where, rule_match)
    if "group-by" in mapping:
        raw_group = mapping["group-by"]
        if not isinstance(raw_group, list) or not raw_group:
            raise ctx.fail(f"{where}group-by", "must be a non-empty list of fields")
        group_by = tuple(_field_name(g, ctx, f"{where}group-by") for g in raw_group)
    elif kind in _DEFAULT_GROUP_BY:
        group_by = _DEFAULT_GROUP_BY[kind]
    else:
        raise ctx.fail(f"{where}group-by", "is required for " + str(kind))
    if "timespan" in mapping:
        timespan = parse_duration(mapping["timespan"], ctx, f"{where}timespan")
    elif kind in _DEFAULT_TIMESPAN:
        timespan = _DEFAULT_TIMESPAN[kind]
    else:
        raise ctx.fail(f"{where}timespan", "is required for " + str(kind))
    dedup = parse_duration(mapping["dedup"], ctx, f"{where}dedup") if "dedup" in mapping else timespan
    conditions: list[Condition] = []
    any_conditions: list[Condition] = []
    field_name: str | None = None
    steps: list[Step] = []
    params: dict[str, Any] = {}
    if kind in ("event_count", "value_count"):
        if "condition" not in mapping:
            raise ctx.fail(f"{where}condition", "is required, e.g. {gte: 10}")
        primary = "count" if kind == "event_count" else "distinct"
        conditions.append(_comparison(mapping["condition"], ctx, f"{where}condition", primary))
        if conditions[0].op not in ("gte", "gt"):
            raise ctx.fail(f"{where}condition", "must be a lower bound (gte or gt): a rule fires on many events")
    if kind in ("value_count", "new_value"):
        if "field" not in mapping:
            raise ctx.fail(f"{where}field", f"is required for {kind}")
        field_name = _field_name(mapping["field"], ctx, f"{where}field")
    if kind == "value_count" and "also" in mapping:
        every, anyone = _also(mapping["also"], ctx, f"{where}also", kind)
        conditions += every
        any_conditions += anyone
    if kind == "temporal_ordered":
        raw_steps = mapping.get("steps")
        if not isinstance(raw_steps, list) or len(raw_steps) != 2:
            raise ctx.fail(f"{where}steps", "needs exactly two steps: what comes first, then what follows")
        for i, raw_step in enumerate(raw_steps):
            here = f"{where}steps[{i}]"
            step_map = _mapping(raw_step, ctx, here)
            _known_keys(step_map, ("match", "exclude", "condition"), ctx, here)
            if "match" not in step_map:
                raise ctx.fail(f"{here}.match", "is required")
            cond = (
                _comparison(step_map["condition"], ctx, f"{here}.condition", "count")
                if "condition" in step_map
                else None
            )
            steps.append(Step(_match(step_map, ctx, f"{here}."), cond))
        if steps[0].condition is None:
            raise ctx.fail(f"{where}steps[0].condition", "is required, e.g. {gte: 10}")
        if steps[0].condition.op not in ("gte", "gt"):
            raise ctx.fail(f"{where}steps[0].condition", "must be a lower bound (gte or gt)")
    escalate = _escalations(mapping["escalate"], ctx, f"{where}escalate", str(kind)) if "escalate" in mapping else ()
    if kind in _PARAM_DEFAULTS:
        for name, default in _PARAM_DEFAULTS[kind].items():
            value = mapping.get(name, default)
            here = f"{where}{name}"
            if name in _DURATION_PARAMS:
                params[f"{name}_s"] = parse_duration(value, ctx, here)
            elif name in ("min_share",):
                share = _number(value, ctx, here)
                if not 0 < share <= 1:
                    raise ctx.fail(here, f"{value!r} must be above 0 and at most 1")
                params[name] = share
            elif isinstance(default, int):
                params[name] = int(_number(value, ctx, here, minimum=_PARAM_MINIMUM.get(name, 0), integer=True))
            else:
                params[name] = _number(value, ctx, here, minimum=_PARAM_MINIMUM.get(name, 0))
    if kind not in ("silence", "temporal_ordered") and match.empty:
        raise ctx.fail(f"{where}match", "is required: which events does this rule read?")
    return Detector(
        type=str(kind),
        match=match,
        group_by=group_by,
        timespan_s=timespan,
        dedup_s=dedup,
        conditions=tuple(conditions),
        any_conditions=tuple(any_conditions),
        field=field_name,
        steps=tuple(steps),
        escalate=escalate,
        params=params,
    )


_RULE_KEYS = (
    "id",
    "title",
    "severity",
    "enabled",
    "description",
    "check",
    "tags",
    "match",
    "exclude",
    "correlation",
    "notify",
)


def _rule(raw: Any, ctx: _Ctx) -> Rule:
    mapping = _mapping(raw, ctx, "")
    rule_id = mapping.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise ctx.fail("id", f"{rule_id!r} is not a rule id (letters, digits, _ . -; starting with a letter)")
    ctx.rule = rule_id
    _known_keys(mapping, _RULE_KEYS, ctx, "")
    for required in ("title", "severity", "description", "check", "correlation"):
        if required not in mapping or mapping[required] in (None, ""):
            raise ctx.fail(required, "is required")
    for text in ("title", "description", "check"):
        if not isinstance(mapping[text], str):
            raise ctx.fail(text, "must be text")
    enabled = mapping.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ctx.fail("enabled", f"{enabled!r} is not true or false")
    rule_match = _match(mapping, ctx, "")
    raw_corr = mapping["correlation"]
    if isinstance(raw_corr, list):
        if not raw_corr:
            raise ctx.fail("correlation", "an empty list never fires")
        detectors = tuple(_detector(c, ctx, f"correlation[{i}].", rule_match) for i, c in enumerate(raw_corr))
    else:
        detectors = (_detector(raw_corr, ctx, "correlation.", rule_match),)
    notify: dict[str, str] = {}
    if "notify" in mapping:
        raw_notify = _mapping(mapping["notify"], ctx, "notify")
        _known_keys(raw_notify, CHANNELS, ctx, "notify")
        for channel, threshold in raw_notify.items():
            if threshold in ("off", False):
                notify[channel] = "off"
            else:
                notify[channel] = _severity(threshold, ctx, f"notify.{channel}")
    tags = mapping.get("tags", [])
    if not isinstance(tags, list):
        raise ctx.fail("tags", "must be a list")
    return Rule(
        id=rule_id,
        title=mapping["title"].strip(),
        severity=_severity(mapping["severity"], ctx, "severity"),
        description=" ".join(mapping["description"].split()),
        check=" ".join(mapping["check"].split()),
        detectors=detectors,
        enabled=enabled,
        tags=tuple(str(t) for t in tags),
        notify=notify,
    )


def parse_rules(text: str, path: Path = DEFAULT_RULES_PATH) -> RuleSet:
    """Validate the text of a rules file; raise `RulesError` naming the rule and field."""
    ctx = _Ctx(path)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise ctx.fail(where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(doc, Mapping):
        raise ctx.fail("", "must be a mapping with `version: 1` and `rules: [...]`")
    _known_keys(doc, ("version", "rules"), ctx, "")
    if doc.get("version") != 1:
        raise ctx.fail("version", f"{doc.get('version')!r} is not a supported version (1)")
    raw_rules = doc.get("rules")
    if not isinstance(raw_rules, list):
        raise ctx.fail("rules", "must be a list of rules")
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        rule_ctx = _Ctx(path, rule=f"#{i + 1}")
        rule = _rule(raw, rule_ctx)
        if rule.id in seen:
            raise rule_ctx.fail("id", "is used by an earlier rule too")
        seen.add(rule.id)
        rules.append(rule)
    known = {r.id for r in rules}
    for rule in rules:
        for i, det in enumerate(rule.detectors):
            for j, esc in enumerate(det.escalate):
                for other in esc.rules:
                    if other not in known:
                        raise _Ctx(path, rule.id).fail(
                            f"correlation[{i}].escalate[{j}].rules", f"{other!r} is not a rule of this file"
                        )
    return RuleSet(rules=tuple(rules), path=path)


def load_rules(path: Path | None = None) -> RuleSet:
    """Read and validate a rules file (the shipped one when `path` is None)."""
    target = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        text = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # not UTF-8: said as a bad file, not a traceback
        raise RulesError(f"cannot read the rules file {target}: {getattr(exc, 'strerror', None) or exc}") from exc
    return parse_rules(text, target)

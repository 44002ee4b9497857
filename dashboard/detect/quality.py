"""Detection quality against a ground truth (the demo generator's planted incidents).

An alert matches an incident when the incident lists the alert's rule and the alert's evidence
shares an event with the incident (for a silent source: the same account and overlapping
time). Precision of a rule: its alerts that match an incident, over all its alerts. Recall: the
incidents listing the rule that got a matching alert, over all incidents listing it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass
class RuleQuality:
    """Precision and recall of one rule."""

    rule_id: str
    alerts: int = 0
    matched_alerts: int = 0
    high_alerts: int = 0
    matched_high_alerts: int = 0
    incidents: int = 0
    found_incidents: int = 0

    @property
    def precision(self) -> float | None:
        """Matched alerts over all alerts (None without alerts)."""
        return self.matched_alerts / self.alerts if self.alerts else None

    @property
    def high_precision(self) -> float | None:
        """The same over alerts of severity high or critical."""
        return self.matched_high_alerts / self.high_alerts if self.high_alerts else None

    @property
    def recall(self) -> float | None:
        """Found incidents over incidents that list this rule (None without such incidents)."""
        return self.found_incidents / self.incidents if self.incidents else None


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def matches(alert: Mapping[str, Any], incident: Mapping[str, Any]) -> bool:
    """Whether an alert (with `evidence_event_ids`) is about a planted incident."""
    if alert["rule_id"] not in incident["rules"]:
        return False
    if set(alert.get("evidence_event_ids") or ()) & set(incident.get("event_ids") or ()):
        return True
    if incident["kind"] == "silent_source":
        key = alert.get("key") or {}
        return bool(
            key.get("account_id") == incident["account_id"]
            and alert["first_seen"] <= _ts(incident["end"])
            and alert["last_seen"] >= _ts(incident["start"])
        )
    return False


def evaluate(
    alerts: Sequence[Mapping[str, Any]], truth: Mapping[str, Any], rule_ids: Iterable[str]
) -> dict[str, RuleQuality]:
    """Precision and recall per rule of the given alerts against the truth's incidents."""
    incidents = list(truth.get("incidents", []))
    out = {r: RuleQuality(r) for r in rule_ids}
    for alert in alerts:
        q = out.setdefault(alert["rule_id"], RuleQuality(alert["rule_id"]))
        hit = any(matches(alert, inc) for inc in incidents)
        high = alert["severity"] in ("high", "critical")
        q.alerts += 1
        q.matched_alerts += hit
        q.high_alerts += high
        q.matched_high_alerts += hit and high
    for inc in incidents:
        for rule_id in inc["rules"]:
            q = out.setdefault(rule_id, RuleQuality(rule_id))
            q.incidents += 1
            q.found_incidents += any(a["rule_id"] == rule_id and matches(a, inc) for a in alerts)
    return out


def missed(alerts: Sequence[Mapping[str, Any]], truth: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(incident kind, rule id) pairs that no alert matches."""
    out = []
    for inc in truth.get("incidents", []):
        for rule_id in inc["rules"]:
            if not any(a["rule_id"] == rule_id and matches(a, inc) for a in alerts):
                out.append((inc["kind"], rule_id))
    return out

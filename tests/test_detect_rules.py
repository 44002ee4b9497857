"""The rules file: the shipped rules, their defaults, and refusals that name the rule and field."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dashboard.detect.rules import DEFAULT_RULES_PATH, RulesError, load_rules, parse_rules
from tests.conftest import GEO_DIR, ROOT, cli

SHIPPED_IDS = {
    *(f"R{i}" for i in range(1, 14)),
    "bulk_access",
    "sensitive_config",
    "admin_off_hours",
    "log_silence",
    "integrity_break",
}


def test_the_shipped_rules_cover_the_reference_pack() -> None:
    rules = load_rules()
    assert {r.id for r in rules.rules} == SHIPPED_IDS
    for rule in rules.rules:
        assert rule.title and rule.description and rule.check, rule.id
        assert rule.severity in ("low", "medium", "high", "critical"), rule.id
        assert rule.enabled


@pytest.mark.parametrize(
    "rule_id,expected",
    [
        ("R1", {"type": "event_count", "timespan_s": 600, "count": 10}),
        ("R2", {"type": "event_count", "timespan_s": 160, "count": 12}),
        ("R3", {"type": "value_count", "timespan_s": 300, "distinct": 10}),
        ("R4", {"type": "value_count", "timespan_s": 900, "distinct": 15, "count": 25, "per_value": 2}),
        ("R5", {"type": "value_count", "timespan_s": 1800, "distinct": 5, "count": 10}),
        ("R7", {"type": "event_count", "timespan_s": 3 * 3600, "count": 3}),
        ("R13", {"type": "event_count", "timespan_s": 3600, "count": 5}),
    ],
)
def test_defaults_are_those_of_the_reference(rule_id: str, expected: dict[str, object]) -> None:
    det = load_rules().get(rule_id).detectors[0]  # type: ignore[union-attr]
    assert det.type == expected["type"]
    assert det.timespan_s == expected["timespan_s"]
    found = {c.measure: c.value for c in det.conditions}
    for measure in ("count", "distinct", "per_value"):
        if measure in expected:
            assert found[measure] == expected[measure]


def test_custom_rule_defaults() -> None:
    rules = load_rules()
    travel = rules.get("R11").detectors[0]  # type: ignore[union-attr]
    assert (travel.timespan_s, travel.params["min_distance_km"], travel.params["min_speed_kmh"]) == (5400, 500, 800)
    new = rules.get("R12").detectors[0]  # type: ignore[union-attr]
    assert (new.params["history_s"], new.params["learning_days"], new.params["learning_events"]) == (14 * 86400, 14, 10)
    bulk = rules.get("bulk_access").detectors[0]  # type: ignore[union-attr]
    assert (bulk.params["min_count"], bulk.params["z"]) == (30, 3.0)
    r6 = rules.get("R6").detectors[0]  # type: ignore[union-attr]
    assert r6.steps[0].condition is not None and r6.steps[0].condition.value == 10
    assert [e.severity for e in r6.escalate] == ["critical"]


def _with_change(rule_id: str, path: list[str | int], value: object) -> str:
    doc = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    rule = next(r for r in doc["rules"] if r["id"] == rule_id)
    target = rule
    for part in path[:-1]:
        target = target[part]  # type: ignore[index]
    if value is _DELETE:
        del target[path[-1]]  # type: ignore[arg-type]
    else:
        target[path[-1]] = value  # type: ignore[index]
    return yaml.safe_dump(doc)


_DELETE = object()


@pytest.mark.parametrize(
    "rule_id,path,value,message",
    [
        ("R1", ["correlation", "timespan"], "10x", r"rule R1: correlation\.timespan: '10x' is not a duration"),
        ("R2", ["severity"], "urgent", r"rule R2: severity: 'urgent' is not a severity"),
        (
            "R3",
            ["correlation", "group-by"],
            ["ipaddress"],
            r"rule R3: correlation\.group-by: 'ipaddress' is not a known field",
        ),
        (
            "R1",
            ["correlation", "condition"],
            {"gte": -1},
            r"rule R1: correlation\.condition\.gte: -1 is below the minimum",
        ),
        ("R1", ["correlation", "condition"], {"lte": 10}, r"rule R1: correlation\.condition: must be a lower bound"),
        (
            "R4",
            ["correlation", "also", 0],
            {"median": {"gte": 1}},
            r"rule R4: correlation\.also\[0\]: 'median' is not a measure",
        ),
        ("R7", ["correlation", "type"], "event_sum", r"rule R7: correlation\.type: 'event_sum' is not a rule type"),
        ("R7", ["correlation", "treshold"], 3, r"rule R7: correlation\.treshold: unknown key"),
        ("R9", ["match", "action|regex"], "auth", r"rule R9: match\.action\|regex: unknown modifier 'regex'"),
        (
            "R10",
            ["correlation", "escalate", 1, "rules"],
            ["R99"],
            r"rule R10: correlation\[0\]\.escalate\[1\]\.rules: 'R99'",
        ),
        (
            "R11",
            ["correlation", "min_speed_kmh"],
            "fast",
            r"rule R11: correlation\.min_speed_kmh: 'fast' is not a number",
        ),
        ("R12", ["title"], _DELETE, r"rule R12: title: is required"),
        ("R13", ["enabled"], "yes", r"rule R13: enabled: 'yes' is not true or false"),
        (
            "log_silence",
            ["correlation", "factor"],
            0.5,
            r"rule log_silence: correlation\.factor: 0\.5 is below the minimum 1",
        ),
        (
            "R6",
            ["correlation", "steps"],
            [{"match": {"action": "auth.login"}}],
            r"rule R6: correlation\.steps: needs exactly two",
        ),
        ("R1", ["notify"], {"pager": "high"}, r"rule R1: notify\.pager: unknown key"),
    ],
)
def test_a_bad_rules_file_is_refused_naming_the_rule_and_field(
    rule_id: str, path: list[str | int], value: object, message: str
) -> None:
    text = _with_change(rule_id, path, value)
    with pytest.raises(RulesError, match=message):
        parse_rules(text)


def test_syntax_errors_and_duplicates() -> None:
    with pytest.raises(RulesError, match=r"rules\.yaml: line \d+: not valid YAML"):
        parse_rules("version: 1\nrules: [\n  - id: R1\n")
    doc = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    doc["rules"].append(dict(doc["rules"][0]))
    with pytest.raises(RulesError, match=r"rule R1: id: is used by an earlier rule too"):
        parse_rules(yaml.safe_dump(doc))
    with pytest.raises(RulesError, match=r"version: 2 is not a supported version"):
        parse_rules("version: 2\nrules: []\n")


def test_a_rule_can_be_switched_off_and_tuned(tmp_path: Path) -> None:
    doc = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    for rule in doc["rules"]:
        if rule["id"] == "R1":
            rule["enabled"] = False
        if rule["id"] == "R2":
            rule["correlation"]["condition"] = {"gte": 8}
            rule["correlation"]["timespan"] = "2m"
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(doc))
    rules = load_rules(path)
    assert "R1" not in {r.id for r in rules.enabled}
    r2 = rules.get("R2").detectors[0]  # type: ignore[union-attr]
    assert (r2.timespan_s, r2.conditions[0].value) == (120, 8)


def test_the_server_refuses_to_start_with_a_bad_rules_file(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text(_with_change("R1", ["correlation", "timespan"], "ten minutes"))
    env = {"AUDITDASH_GEO_DIR": str(GEO_DIR), "AUDITDASH_RULES": str(bad), "PATH": "/usr/bin:/bin"}
    started = time.monotonic()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "serve",
            "--no-demo",
            "--db",
            str(tmp_path / "x.duckdb"),
            "--port",
            "1",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "rule R1: correlation.timespan: 'ten minutes' is not a duration" in proc.stderr
    assert time.monotonic() - started < 120


def test_detect_refuses_a_missing_rules_file(tmp_path: Path) -> None:
    from dashboard.store.db import Database

    Database(tmp_path / "x.duckdb").close()  # detect reads an existing store: a missing one is refused first
    proc = cli(
        "detect",
        "--db",
        str(tmp_path / "x.duckdb"),
        env={"AUDITDASH_RULES": str(tmp_path / "nope.yaml")},
        check=False,
    )
    assert proc.returncode == 1
    assert "cannot read the rules file" in proc.stderr

"""The event contract: each validation rule, and agreement with the JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pytest
import yaml

from dashboard.events import contract
from dashboard.events.taxonomy import ACTIVITIES, KNOWN_ACTIONS, category_of
from dashboard.events.validate import validate_batch, validate_records
from tests.conftest import ROOT, event

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def con() -> duckdb.DuckDBPyConnection:
    return duckdb.connect()


def check(con: duckdb.DuckDBPyConnection, doc: Any) -> tuple[list[dict[str, Any]], list[str]]:
    result = validate_records(con, [doc], now=NOW)
    return result.accepted.to_pylist(), [r.reason for r in result.rejected]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-05-01T09:30:00Z", datetime(2026, 5, 1, 9, 30)),
        ("2026-05-01T11:30:00+02:00", datetime(2026, 5, 1, 9, 30)),
        ("2026-05-01T04:30:00-05:00", datetime(2026, 5, 1, 9, 30)),
        ("2026-05-01T09:30:00.123456Z", datetime(2026, 5, 1, 9, 30, 0, 123000)),
        ("2026-05-01 09:30:00z", datetime(2026, 5, 1, 9, 30)),
        (1777627800, datetime(2026, 5, 1, 9, 30)),  # epoch seconds, as Chatwoot sends
        (1777627800123, datetime(2026, 5, 1, 9, 30, 0, 123000)),  # epoch milliseconds
        (1777627800.5, datetime(2026, 5, 1, 9, 30, 0, 500000)),
    ],
)
def test_timestamps_are_stored_in_utc_with_milliseconds(con, value, expected) -> None:
    accepted, reasons = check(con, event(occurred_at=value))
    assert reasons == []
    assert accepted[0]["occurred_at"] == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"occurred_at": "2026-05-01T09:30:00"}, "occurred_at '2026-05-01T09:30:00' has no UTC offset"),
        ({"occurred_at": "2026-05-01 09:30"}, "has no UTC offset"),
        ({"occurred_at": "yesterday"}, "is not an RFC 3339 timestamp"),
        ({"occurred_at": "2026-02-30T09:30:00Z"}, "occurred_at is not a real calendar time"),
        ({"occurred_at": "1999-12-31T23:59:59Z"}, "is before 2000-01-01"),
        ({"occurred_at": "2026-06-03T00:00:00Z"}, "more than 24 hours in the future"),
        ({"occurred_at": True}, "occurred_at must be a string or a number, got boolean"),
        ({"occurred_at": 10**16}, "occurred_at 10000000000000000 is not a usable epoch time"),
        ({"occurred_at": 1e300}, "is not a usable epoch time"),
        ({"occurred_at": None}, "occurred_at is missing"),
        ({"action": None}, "action is missing"),
        ({"action": "Auth.Login"}, "action 'Auth.Login' is not dotted lower case"),
        ({"action": "login"}, "is not dotted lower case"),
        ({"action": 5}, "action must be a string, got number"),
        ({"outcome": "maybe"}, "outcome 'maybe' is not one of success, failure, unknown"),
        ({"actor": None}, "actor is missing"),
        ({"actor": {"name": "x"}}, 'actor.id is missing (send actor.type "system"'),
        ({"actor": {"id": 42}}, "actor.id must be a string, got number"),
        (
            {"actor": {"id": "u", "type": "robot"}},
            "actor.type 'robot' is not one of user, api_key, bot, system",
        ),
        ({"actor": {"id": "u", "nickname": "x"}}, "unknown field 'actor.nickname'"),
        ({"ip": "999.1.1.1"}, "ip '999.1.1.1' is not an IPv4 or IPv6 address"),
        ({"ip": "not-an-ip"}, "ip 'not-an-ip' is not an IPv4 or IPv6 address"),
        ({"ip": 17}, "ip must be a string, got number"),
        ({"id": ""}, "id must not be empty"),
        ({"id": "x" * 129}, "id is 129 characters, over the limit of 128"),
        ({"user_agent": "u" * 1025}, "user_agent is 1025 characters, over the limit of 1024"),
        ({"changes": {"role": "admin"}}, "changes must map each field to [old, new]"),
        ({"changes": [1, 2]}, "changes must be an object, got array"),
        ({"metadata": "text"}, "metadata must be an object, got string"),
        ({"changes": {"a": [1, 2]}, "before": {"a": 1}}, "send either changes or before/after, not both"),
        ({"severity": "high"}, "unknown field 'severity' (put extra data under metadata)"),
    ],
)
def test_each_rule_rejects_with_a_reason_that_names_the_field(con, overrides, reason) -> None:
    accepted, reasons = check(con, event(**overrides))
    assert accepted == []
    assert len(reasons) == 1
    assert reason in reasons[0], reasons[0]


def test_oversize_event_is_rejected_not_cut(con) -> None:
    doc = event(metadata={"blob": "x" * (contract.MAX_EVENT_BYTES)})
    accepted, reasons = check(con, doc)
    assert accepted == []
    assert "over the limit of 65536" in reasons[0]


def test_several_problems_are_all_reported(con) -> None:
    _, reasons = check(con, event(outcome="nope", action="BAD", ip="1.2.3"))
    assert "outcome 'nope'" in reasons[0]
    assert "action 'BAD'" in reasons[0]
    assert "ip '1.2.3'" in reasons[0]


def test_unknown_but_well_formed_action_is_accepted_as_other(con) -> None:
    accepted, reasons = check(con, event(action="billing.invoice_export"))
    assert reasons == []
    assert accepted[0]["category"] == "other"


def test_derived_fields_are_never_taken_from_the_sender(con) -> None:
    _, reasons = check(con, event(category="audit"))
    assert "unknown field 'category'" in reasons[0]


def test_defaults_and_system_actor(con) -> None:
    doc = {
        "occurred_at": "2026-05-01T09:30:00Z",
        "action": "automation_rule.update",
        "actor": {"type": "system"},
    }
    accepted, reasons = check(con, doc)
    assert reasons == []
    row = accepted[0]
    assert row["outcome"] == "success"
    assert row["account_id"] == "default"
    assert row["actor_type"] == "system"
    assert row["category"] == "automation"
    assert row["event_id"].startswith("srv-")
    assert row["ip_scope"] == "none"


def test_before_after_become_changes(con) -> None:
    accepted, _ = check(con, event(before={"role": "agent"}, after={"role": "administrator", "team": "VIP"}))
    assert json.loads(accepted[0]["changes"]) == {"role": ["agent", "administrator"], "team": [None, "VIP"]}


def test_masked_and_internal_addresses_are_labelled_not_located(con) -> None:
    result = validate_records(con, [event(ip="203.0.113.x"), event(ip="10.1.2.3"), event(ip="::1")], now=NOW)
    rows = result.accepted.to_pylist()
    assert [r["ip_scope"] for r in rows] == ["masked", "internal", "internal"]
    assert all(r["geo_country"] is None for r in rows)
    assert rows[0]["ip"] == "203.0.113.x"


def test_malformed_json_says_where(con) -> None:
    result = validate_batch(con, [(7, '{"action": "auth.login",, }')], now=NOW)
    assert result.accepted.num_rows == 0
    assert result.rejected[0].pos == 7
    assert result.rejected[0].reason.startswith("not valid JSON")
    assert "column 25" in result.rejected[0].reason


def test_non_object_is_rejected(con) -> None:
    _, reasons = check(con, [1, 2])
    assert reasons == ["an event must be a JSON object, got array"]


# -- the schema --------------------------------------------------------------------------------
def test_schema_file_is_the_generated_schema() -> None:
    on_disk = (ROOT / "docs" / "event.schema.json").read_text()
    assert on_disk == contract.schema_text(), "regenerate: python -m dashboard.events.contract"


CORPUS: list[Any] = [
    event(),
    event(occurred_at=1777627800),
    event(occurred_at="2026-05-01T09:30:00+02:00", changes={"role": ["agent", "administrator"]}),
    event(ip="203.0.113.x"),
    event(ip="2001:db8::1"),
    event(target={"type": "label", "id": "l1", "name": "VIP"}, metadata={"k": [1, 2]}),
    {"occurred_at": "2026-05-01T09:30:00Z", "action": "bot.update", "actor": {"type": "system"}},
    event(outcome="failure", reason="bad_password"),
    event(before={"a": 1}, after={"a": 2}),
    # invalid ones
    event(occurred_at="2026-05-01T09:30:00"),
    event(occurred_at="soon"),
    event(occurred_at=False),
    event(action="Bad"),
    event(action="auth"),
    event(outcome="meh"),
    event(actor={"name": "no id"}),
    event(actor={"id": 3}),
    event(actor={"id": "u", "extra": 1}),
    event(ip="300.1.1.1"),
    event(ip="hello"),
    event(id=""),
    event(id="i" * 200),
    event(changes={"x": 1}),
    event(changes={"x": [1, 2, 3]}),
    event(metadata=[1]),
    event(surprise=1),
    event(target="conversation"),
    event(user_agent="a" * 2000),
    {"action": "auth.login", "actor": {"id": "u"}},
    {"occurred_at": "2026-05-01T09:30:00Z", "actor": {"id": "u"}},
    {"occurred_at": "2026-05-01T09:30:00Z", "action": "auth.login"},
    [event()],
    "just a string",
]


@pytest.mark.parametrize("doc", CORPUS, ids=[f"doc{i}" for i in range(len(CORPUS))])
def test_validator_and_schema_agree(con, doc) -> None:
    validator = jsonschema.Draft202012Validator(
        contract.json_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    schema_ok = validator.is_valid(doc)
    result = validate_records(con, [doc], now=NOW)
    assert (result.accepted.num_rows == 1) == schema_ok, (doc, [r.reason for r in result.rejected])


#: The tracked activities of the support platform's audit-log help page, with their actions.
TRACKED = yaml.safe_load((ROOT / "tests" / "data" / "tracked_activities.yaml").read_text(encoding="utf-8"))


def test_every_seed_activity_maps_to_known_actions() -> None:
    tracked = {
        title: (category, actions)
        for category, group in TRACKED.items()
        for title, actions in group["activities"].items()
    }
    for activity in ACTIVITIES:
        if activity.category != "audit":
            assert activity.title in tracked, activity.title
            assert tracked[activity.title] == (activity.category, list(activity.actions)), activity.title
        for action in activity.actions:
            assert category_of(action) == activity.category or action == "auth.login"
    covered = {activity.title for activity in ACTIVITIES}
    assert set(tracked) <= covered, set(tracked) - covered
    assert len(set(KNOWN_ACTIONS)) == len(KNOWN_ACTIONS)


def test_events_doc_lists_every_action_and_field() -> None:
    doc = (ROOT / "docs" / "events.md").read_text()
    for action in KNOWN_ACTIONS:
        assert f"`{action}`" in doc, action
    for field in contract.FIELDS:
        assert f"`{field.path}`" in doc, field.path


def test_schema_description_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(contract.json_schema())
    assert Path(ROOT / "docs" / "event.schema.json").exists()


@pytest.mark.parametrize("parent", ["actor", "target"])
def test_nested_objects_must_be_objects(con, parent) -> None:
    _, reasons = check(con, event(**{parent: "conversation"}))
    assert f"{parent} must be an object, got string" in reasons[0]

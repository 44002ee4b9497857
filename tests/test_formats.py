"""Importers of outside formats: each record becomes a valid event of our contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from dashboard.events.validate import validate_batch
from dashboard.ingest.formats import convert_batch, from_chatwoot, from_ecs, from_ocsf, from_okta
from tests.conftest import cli

NOW = datetime(2026, 6, 1, tzinfo=UTC)

CHATWOOT_PAGE = {
    "per_page": 25,
    "total_entries": 4,
    "current_page": 1,
    "audit_logs": [
        {
            "id": 901,
            "auditable_type": "AccountUser",
            "auditable_id": 44,
            "associated_type": "Account",
            "associated_id": 1,
            "user_id": 3,
            "user_type": "User",
            "username": "admin@acme.test",
            "action": "update",
            "audited_changes": {"role": [0, 1]},
            "version": 2,
            "comment": None,
            "request_uuid": "6f1c5d3e-1",
            "remote_address": "203.0.113.x",
            "location": "Lisbon, Portugal",
            "created_at": 1777627800,
        },
        {
            "id": 902,
            "auditable_type": "User",
            "auditable_id": 3,
            "user_id": 3,
            "username": "admin@acme.test",
            "action": "sign_in",
            "audited_changes": {},
            "remote_address": "81.2.69.142",
            "created_at": 1777627700,
        },
        {
            "id": 903,
            "auditable_type": "AutomationRule",
            "auditable_id": 7,
            "user_id": 3,
            "username": "admin@acme.test",
            "action": "create",
            "audited_changes": {"name": "Escalate VIP", "active": True},
            "created_at": 1777627900,
        },
        {
            "id": 904,
            "auditable_type": "Webhook",
            "auditable_id": 2,
            "user_id": None,
            "action": "destroy",
            "audited_changes": {"url": "https://hooks.example/x"},
            "created_at": 1777628000,
        },
    ],
}


def validate(docs: list[dict]) -> tuple[list[dict], list[str]]:
    con = duckdb.connect()
    result = validate_batch(con, [(i, json.dumps(d)) for i, d in enumerate(docs)], now=NOW)
    return result.accepted.to_pylist(), [r.reason for r in result.rejected]


def test_chatwoot_entries_map_to_the_taxonomy() -> None:
    docs = [from_chatwoot(e, account_id="acme") for e in CHATWOOT_PAGE["audit_logs"]]
    rows, reasons = validate(docs)
    assert reasons == []
    by_id = {r["event_id"]: r for r in rows}
    role = by_id["chatwoot-acme-901"]
    assert role["action"] == "agent.role_change"
    assert json.loads(role["changes"]) == {"role": ["agent", "administrator"]}  # enum codes decoded
    assert role["ip_scope"] == "masked"
    assert role["actor_email"] == "admin@acme.test"
    assert role["occurred_at"] == datetime(2026, 5, 1, 9, 30)
    assert by_id["chatwoot-acme-902"]["action"] == "auth.login"
    created = by_id["chatwoot-acme-903"]
    assert created["action"] == "automation_rule.create"
    assert json.loads(created["changes"]) == {"name": [None, "Escalate VIP"], "active": [None, True]}
    deleted = by_id["chatwoot-acme-904"]
    assert (deleted["action"], deleted["actor_type"]) == ("integration.delete", "system")
    assert json.loads(deleted["changes"]) == {"url": ["https://hooks.example/x", None]}


def test_okta_failed_login() -> None:
    rec = {
        "uuid": "a1b2",
        "published": "2026-05-01T09:30:00.000Z",
        "eventType": "user.session.start",
        "actor": {"id": "00u1", "type": "User", "alternateId": "ana@acme.test", "displayName": "Ana Souza"},
        "client": {
            "ipAddress": "81.2.69.142",
            "userAgent": {"rawUserAgent": "Mozilla/5.0"},
            "geographicalContext": {"city": "London", "country": "United Kingdom"},
        },
        "outcome": {"result": "FAILURE", "reason": "INVALID_CREDENTIALS"},
        "target": [{"id": "0oa1", "type": "AppInstance", "displayName": "Helpdesk"}],
        "authenticationContext": {"externalSessionId": "trs-1"},
        "debugContext": {"debugData": {"requestId": "req-9"}},
    }
    rows, reasons = validate([from_okta(rec)])
    assert reasons == []
    row = rows[0]
    assert (row["action"], row["outcome"], row["reason"]) == ("auth.login", "failure", "invalid_credentials")
    assert (row["actor_email"], row["session_id"], row["request_id"]) == ("ana@acme.test", "trs-1", "req-9")


def test_okta_unknown_event_type_is_kept_as_other() -> None:
    rows, reasons = validate(
        [
            from_okta(
                {
                    "uuid": "z",
                    "published": "2026-05-01T09:30:00Z",
                    "eventType": "system.api_token.create",
                    "actor": {"id": "00u1"},
                    "outcome": {"result": "SUCCESS"},
                }
            )
        ]
    )
    assert reasons == []
    assert (rows[0]["action"], rows[0]["category"]) == ("okta.system.api_token.create", "other")


def test_ocsf_authentication_and_account_change() -> None:
    logon = {
        "class_uid": 3002,
        "activity_id": 1,
        "type_uid": 300201,
        "time": 1777627800123,
        "status_id": 2,
        "status_detail": "Bad password",
        "actor": {"user": {"uid": "u7", "name": "Ben"}},
        "src_endpoint": {"ip": "2001:db8::1"},
        "metadata": {"uid": "m-1"},
    }
    mfa = {
        "class_uid": 3001,
        "activity_id": 11,
        "time": 1777627900000,
        "status_id": 1,
        "actor": {"user": {"uid": "admin1"}},
        "user": {"uid": "u7", "name": "Ben"},
        "metadata": {"uid": "m-2"},
    }
    rows, reasons = validate([from_ocsf(logon), from_ocsf(mfa)])
    assert reasons == []
    assert (rows[0]["action"], rows[0]["outcome"], rows[0]["reason"]) == ("auth.login", "failure", "bad_password")
    assert (rows[1]["action"], rows[1]["target_id"]) == ("auth.mfa_disable", "u7")


def test_ecs_nested_and_dotted_fields() -> None:
    nested = {
        "@timestamp": "2026-05-01T09:30:00Z",
        "event": {"category": ["authentication"], "type": ["start"], "outcome": "failure", "id": "e1"},
        "user": {"name": "root"},
        "source": {"ip": "198.51.100.7"},
    }
    dotted = {
        "@timestamp": "2026-05-01T09:31:00Z",
        "event.category": "iam",
        "event.type": "admin",
        "event.outcome": "success",
        "user.name": "ops",
        "user.target.name": "ana",
    }
    rows, reasons = validate([from_ecs(nested), from_ecs(dotted)])
    assert reasons == []
    assert (rows[0]["action"], rows[0]["outcome"], rows[0]["ip_scope"]) == ("auth.login", "failure", "internal")
    assert (rows[1]["action"], rows[1]["target_name"]) == ("agent.role_change", "ana")


def test_unreadable_records_reach_the_quarantine_with_a_reason() -> None:
    out = list(convert_batch([(1, "{broken"), (2, "[1, 2]"), (3, json.dumps(CHATWOOT_PAGE))], "chatwoot"))
    assert len(out) == 2 + 4  # the page expands into its four entries
    con = duckdb.connect()
    result = validate_batch(con, out, now=NOW)
    reasons = {r.pos: r.reason for r in result.rejected}
    assert reasons[1].startswith("not valid JSON")
    assert reasons[2] == "a chatwoot record must be a JSON object"
    assert result.accepted.num_rows == 4


@pytest.mark.parametrize("fmt", ["chatwoot"])
def test_cli_imports_a_chatwoot_export(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "chatwoot-pages.ndjson"
    path.write_text(json.dumps(CHATWOOT_PAGE) + "\n")
    out = cli("ingest", str(path), "--format", fmt, "--db", str(tmp_path / "c.duckdb"), "--json")
    assert json.loads(out.stdout)["accepted"] == 4

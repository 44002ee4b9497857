"""Events as OCSF 1.1: the class and activity of each kind of action, and nothing lost."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.events.ocsf import classify, to_ocsf
from dashboard.events.taxonomy import ACTION_CATEGORY


def _event(action: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": "e-1",
        "occurred_at": "2026-05-01T09:30:00.250Z",
        "account_id": "acme",
        "action": action,
        "outcome": "success",
        "actor": {"id": "u1", "name": "Ana Souza", "email": "ana@example.com", "role": "administrator"},
        "ip": "81.2.69.142",
        "user_agent": "Mozilla/5.0",
        "session_id": "s-9",
        "request_id": "r-7",
        "stored": {
            "seq": 42,
            "received_at": "2026-05-01T09:30:01.000Z",
            "category": "authentication",
            "ip_scope": "public",
            "geo_country": "GB",
            "geo_city": "London",
            "geo_lat": 51.5,
            "geo_lon": -0.1,
            "source": "api:sender",
            "batch_id": 3,
            "hash": "ab" * 32,
        },
        **extra,
    }


@pytest.mark.parametrize(
    ("action", "class_uid", "activity_id"),
    [
        ("auth.login", 3002, 1),
        ("auth.logout", 3002, 2),
        ("audit.login", 3002, 1),
        ("auth.password_reset", 3001, 4),
        ("auth.mfa_disable", 3001, 11),
        ("auth.account_locked", 3001, 9),
        ("agent.create", 3001, 1),
        ("agent.role_change", 3005, 1),
        ("team.member_remove", 3006, 4),
        ("conversation.view", 6003, 2),
        ("label.create", 6003, 1),
        ("automation_rule.delete", 6003, 4),
        ("settings.update", 6003, 3),
        ("macro.execute", 6003, 1),
        ("custom.frobnicate", 6003, 99),
    ],
)
def test_each_action_gets_its_class_and_activity(action: str, class_uid: int, activity_id: int) -> None:
    doc = to_ocsf(_event(action))
    assert (doc["class_uid"], doc["activity_id"]) == (class_uid, activity_id)
    assert doc["type_uid"] == class_uid * 100 + activity_id
    assert doc["category_uid"] == class_uid // 1000


def test_every_action_of_the_taxonomy_has_a_class_and_a_named_activity() -> None:
    other = [a for a in ACTION_CATEGORY if classify(a)[1] == 99]
    # only what OCSF has no activity for: a second-factor prompt, an agent's profile edit
    assert other == ["auth.mfa_challenge", "agent.update"]


def test_a_failed_login_in_full() -> None:
    doc = to_ocsf(_event("auth.login", outcome="failure", reason="bad_password"))
    assert doc["time"] == 1777627800250  # 2026-05-01T09:30:00.250Z in epoch milliseconds
    assert (doc["status_id"], doc["status"], doc["status_detail"]) == (2, "Failure", "bad_password")
    assert doc["severity_id"] == 3
    assert doc["user"] == {"uid": "u1", "name": "Ana Souza", "email_addr": "ana@example.com", "type": "administrator"}
    assert doc["src_endpoint"] == {
        "ip": "81.2.69.142",
        "location": {"country": "GB", "city": "London", "lat": 51.5, "long": -0.1},
    }
    assert doc["metadata"]["uid"] == "e-1" and doc["metadata"]["sequence"] == 42
    assert doc["metadata"]["logged_time"] == 1777627801000
    assert doc["metadata"]["product"]["name"] == "auditdash" and doc["metadata"]["version"] == "1.1.0"
    assert doc["message"] == "auth.login by Ana Souza failed: bad_password"


def test_a_role_change_keeps_its_before_and_after() -> None:
    target = {"type": "agent", "id": "u5", "name": "Bo Chen"}
    doc = to_ocsf(_event("agent.role_change", target=target, changes={"role": ["agent", "administrator"]}))
    assert doc["class_name"] == "User Access Management"
    assert doc["user"] == {"uid": "u5", "name": "Bo Chen", "type": "agent"}  # the account acted on
    assert doc["actor"]["user"]["uid"] == "u1"
    assert doc["unmapped"]["changes"] == {"role": ["agent", "administrator"]}
    assert doc["unmapped"]["hash"] == "ab" * 32


def test_api_activity_names_the_resource() -> None:
    doc = to_ocsf(_event("label.delete", target={"type": "label", "id": "l1", "name": "vip"}))
    assert doc["api"]["operation"] == "label.delete"
    assert doc["resources"] == [{"type": "label", "uid": "l1", "name": "vip"}]
    assert "user" not in doc

"""Stored events in the Open Cybersecurity Schema Framework (OCSF 1.1), for SIEMs.

`to_ocsf(event)` takes an event as the read API gives it (the contract's shape plus `stored`)
and returns one OCSF event of the class that fits its action:

| actions | OCSF class (class_uid) | activity |
|---|---|---|
| `auth.login`, `audit.login` | Authentication (3002) | 1 Logon |
| `auth.logout`, `audit.logout` | Authentication (3002) | 2 Logoff |
| `auth.mfa_challenge` | Authentication (3002) | 99 Other |
| `auth.password_change` / `_reset` | Account Change (3001) | 3 Password Change / 4 Password Reset |
| `auth.mfa_enable` / `_disable` / `_reset` | Account Change (3001) | 10 MFA Factor Enable / 11 Disable |
| `auth.account_locked`, `audit.lockout` | Account Change (3001) | 9 Lock |
| `agent.create` / `agent.delete` / `agent.update` | Account Change (3001) | 1 Create / 6 Delete / 99 Other |
| `agent.role_change`, `agent.permission_change` | User Access Management (3005) | 1 Assign Privileges |
| `team.member_add` / `team.member_remove` | Group Management (3006) | 3 Add User / 4 Remove User |
| anything else | API Activity (6003) | 1 Create, 2 Read, 3 Update, 4 Delete by the verb, else 99 |

`type_uid` is `class_uid * 100 + activity_id`; `status_id` 1 Success, 2 Failure, 0 Unknown;
`time` in epoch milliseconds. What OCSF has no place for (before/after values, the category,
the hash) goes under `unmapped`, so nothing is lost. Stored `changes` / `metadata` that cannot
be read (dashboard.events.jsontext) stay there as their `_unreadable` placeholder; `to_ocsf`
never raises on what a store holds (a missing or unreadable time is left out).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from dashboard import __version__

OCSF_VERSION = "1.1.0"

_CLASSES: dict[int, tuple[str, int, str]] = {
    3001: ("Account Change", 3, "Identity & Access Management"),
    3002: ("Authentication", 3, "Identity & Access Management"),
    3005: ("User Access Management", 3, "Identity & Access Management"),
    3006: ("Group Management", 3, "Identity & Access Management"),
    6003: ("API Activity", 6, "Application Activity"),
}

#: action -> (class_uid, activity_id, activity_name)
_ACTIONS: dict[str, tuple[int, int, str]] = {
    "auth.login": (3002, 1, "Logon"),
    "audit.login": (3002, 1, "Logon"),
    "auth.logout": (3002, 2, "Logoff"),
    "audit.logout": (3002, 2, "Logoff"),
    "auth.mfa_challenge": (3002, 99, "Other"),
    "auth.password_change": (3001, 3, "Password Change"),
    "auth.password_reset": (3001, 4, "Password Reset"),
    "auth.mfa_enable": (3001, 10, "MFA Factor Enable"),
    "auth.mfa_disable": (3001, 11, "MFA Factor Disable"),
    "auth.mfa_reset": (3001, 11, "MFA Factor Disable"),
    "auth.account_locked": (3001, 9, "Lock"),
    "audit.lockout": (3001, 9, "Lock"),
    "agent.create": (3001, 1, "Create"),
    "agent.delete": (3001, 6, "Delete"),
    "agent.update": (3001, 99, "Other"),
    "agent.role_change": (3005, 1, "Assign Privileges"),
    "agent.permission_change": (3005, 1, "Assign Privileges"),
    "team.member_add": (3006, 3, "Add User"),
    "team.member_remove": (3006, 4, "Remove User"),
}

#: verbs of other actions -> API Activity's activity
_VERBS: dict[str, tuple[int, str]] = {
    "create": (1, "Create"),
    "add": (1, "Create"),
    "execute": (1, "Create"),
    "view": (2, "Read"),
    "export": (2, "Read"),
    "report": (2, "Read"),
    "verify": (2, "Read"),
    "update": (3, "Update"),
    "edit": (3, "Update"),
    "change": (3, "Update"),
    "assign": (3, "Update"),
    "unassign": (3, "Update"),
    "resolve": (3, "Update"),
    "reopen": (3, "Update"),
    "enable": (3, "Update"),
    "disable": (3, "Update"),
    "delete": (4, "Delete"),
    "purge": (4, "Delete"),
    "remove": (4, "Delete"),
    "restore": (1, "Create"),
    "hold": (3, "Update"),
    "erase": (3, "Update"),  # audit.erase: values replaced by a pseudonym, the records stay
    "acknowledge": (3, "Update"),
    "comment": (1, "Create"),
    "off": (3, "Update"),  # review.sign_off
}

_STATUS = {"success": (1, "Success"), "failure": (2, "Failure")}


def _epoch_ms(text: Any) -> int | None:
    """Epoch milliseconds of an ISO 8601 text with offset (naive: UTC); None when it is not one."""
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return int(when.timestamp() * 1000)
    except (ValueError, OverflowError):
        return None


def _mapping(value: Any) -> dict[str, Any]:
    """`value` when it is an object, else an empty one (a stored record is read, never trusted)."""
    return value if isinstance(value, dict) else {}


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        cleaned = {k: _drop_empty(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v not in (None, {}, [])}
    return value


def classify(action: str) -> tuple[int, int, str]:
    """(class_uid, activity_id, activity_name) of an action."""
    found = _ACTIONS.get(action)
    if found is not None:
        return found
    verb = action.rsplit(".", 1)[-1]
    activity = _VERBS.get(verb) or _VERBS.get(verb.split("_")[-1]) or (99, "Other")
    return (6003, *activity)


def to_ocsf(event: dict[str, Any]) -> dict[str, Any]:
    """One event (contract shape with `stored`) as an OCSF 1.1 event."""
    stored = _mapping(event.get("stored"))
    action = str(event.get("action") or "")
    class_uid, activity_id, activity_name = classify(action)
    class_name, category_uid, category_name = _CLASSES[class_uid]
    status_id, status = _STATUS.get(str(event.get("outcome")), (0, "Unknown"))
    actor = _mapping(event.get("actor"))
    target = _mapping(event.get("target"))
    failed = status_id == 2
    doc: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{class_name}: {activity_name}",
        "time": _epoch_ms(event.get("occurred_at")),
        "severity_id": 3 if failed else 1,
        "severity": "Medium" if failed else "Informational",
        "status_id": status_id,
        "status": status,
        "status_detail": event.get("reason"),
        "message": f"{action} by {actor.get('name') or actor.get('id') or 'system'}"
        + (f" on {target.get('type')} {target.get('name') or target.get('id')}" if target else "")
        + (f" failed: {event['reason']}" if failed and event.get("reason") else ""),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": "auditdash", "vendor_name": "auditdash", "version": __version__},
            "uid": event.get("id"),
            "tenant_uid": event.get("account_id"),
            "correlation_uid": event.get("request_id"),
            "logged_time": _epoch_ms(stored.get("received_at")),
            "sequence": stored.get("seq"),
            "log_name": stored.get("source"),
            "original_time": event.get("occurred_at"),
        },
        "actor": {
            "user": {
                "uid": actor.get("id"),
                "name": actor.get("name"),
                "email_addr": actor.get("email"),
                "type": actor.get("role"),
            },
            "session": {"uid": event.get("session_id")},
        },
        "src_endpoint": {
            "ip": event.get("ip"),
            "location": {
                "country": stored.get("geo_country"),
                "city": stored.get("geo_city"),
                "lat": stored.get("geo_lat"),
                "long": stored.get("geo_lon"),
            },
        },
        "http_request": {"user_agent": event.get("user_agent")},
        "unmapped": {
            "action": action,
            "category": stored.get("category"),
            "ip_scope": stored.get("ip_scope"),
            "changes": event.get("changes"),
            "metadata": event.get("metadata"),
            "hash": stored.get("hash"),
            "batch_id": stored.get("batch_id"),
        },
    }
    if class_uid == 6003:
        doc["api"] = {"operation": action, "request": {"uid": event.get("request_id")}}
        if target:
            doc["resources"] = [{"type": target.get("type"), "uid": target.get("id"), "name": target.get("name")}]
    elif target:
        # IAM classes: the account acted on (a role change, a locked account, a team member)
        doc["user"] = {"uid": target.get("id"), "name": target.get("name"), "type": target.get("type")}
    if class_uid == 3002:
        doc["user"] = doc.get("user") or doc["actor"]["user"]
        doc["is_mfa"] = action == "auth.mfa_challenge" or None
    return _drop_empty(doc)

"""Importers of outside formats: Chatwoot, Okta System Log, OCSF and Elastic Common Schema.

Each converter turns one record of its format into an event of our contract (a dict); the
result then goes through the same validation, enrichment and chaining as any event, so a
converter never needs to be trusted. A record a converter cannot understand is passed on
with a `_format_error` so it lands in the quarantine with the reason, never dropped.

Mappings follow ../docs/events.md ("Formats seen in the field"). Where the source has no
notion (Chatwoot records no failures and no success field) the converter says what it
assumed in `metadata`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

Converter = Callable[[dict[str, Any]], dict[str, Any]]

FORMATS: tuple[str, ...] = ("contract", "chatwoot", "okta", "ocsf", "ecs")


def _snake(name: str) -> str:
    name = name.split("::")[-1]
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _clean_action(text: str) -> str:
    """Make a dotted lower-case action from any source's event name."""
    parts = [re.sub(r"[^a-z0-9_]+", "_", p.lower()).strip("_") for p in text.split(".")]
    parts = [p for p in parts if p]
    if not parts:
        return "unknown.event"
    if not parts[0][0].isalpha():
        parts[0] = "x" + parts[0]
    return ".".join(parts) if len(parts) > 1 else parts[0] + ".event"


def _drop_none(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            value = _drop_none(value)
            if not value:
                continue
        if value is not None and value != "":
            out[key] = value
    return out


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


# -- Chatwoot ----------------------------------------------------------------------------
CHATWOOT_ROLES = {0: "agent", 1: "administrator", "0": "agent", "1": "administrator"}
CHATWOOT_AVAILABILITY = {0: "online", 1: "offline", 2: "busy"}
_CHATWOOT_VERB = {"create": "create", "update": "update", "destroy": "delete"}
_CHATWOOT_TYPES = {
    "AutomationRule": "automation_rule",
    "Webhook": "integration",
    "Integrations::Hook": "integration",
    "Label": "label",
    "Team": "team",
    "Inbox": "inbox",
    "Macro": "macro",
    "Account": "account",
    "AccountUser": "agent",
    "User": "agent",
}


def _chatwoot_action(kind: str, verb: str, changes: dict[str, Any]) -> str:
    if kind == "User" and verb in ("sign_in", "sign_out"):
        return "auth.login" if verb == "sign_in" else "auth.logout"
    if kind == "AccountUser":
        if verb == "update" and "role" in changes:
            return "agent.role_change"
        return f"agent.{_CHATWOOT_VERB.get(verb, verb)}"
    if kind == "TeamMember":
        return "team.member_add" if verb == "create" else "team.member_remove"
    if kind == "Account" and verb == "update":
        return "settings.update"
    if kind in ("Inbox", "Channel::WebWidget", "Channel::Email", "Channel::Api") and verb == "update":
        return "settings.update"
    if kind in ("Webhook", "Integrations::Hook"):
        return f"integration.{_CHATWOOT_VERB.get(verb, verb)}"
    if kind == "AutomationRule":
        return f"automation_rule.{_CHATWOOT_VERB.get(verb, verb)}"
    if kind == "Label":
        return f"label.{_CHATWOOT_VERB.get(verb, verb)}"
    return _clean_action(f"{_snake(kind)}.{_CHATWOOT_VERB.get(verb, verb)}")


def _chatwoot_changes(verb: str, audited: Any) -> dict[str, list[Any]] | None:
    if not isinstance(audited, dict) or not audited:
        return None
    changes: dict[str, list[Any]] = {}
    for field, value in audited.items():
        if verb == "update" and isinstance(value, list) and len(value) == 2:
            old, new = value
        elif verb == "destroy":
            old, new = value, None
        else:
            old, new = None, value
        if field == "role":
            old, new = CHATWOOT_ROLES.get(old, old), CHATWOOT_ROLES.get(new, new)
        if field == "availability":
            old, new = CHATWOOT_AVAILABILITY.get(old, old), CHATWOOT_AVAILABILITY.get(new, new)
        changes[field] = [old, new]
    return changes


def from_chatwoot(rec: dict[str, Any], account_id: str | None = None) -> dict[str, Any]:
    """One entry of Chatwoot's `GET /api/v1/accounts/{id}/audit_logs` (`audit_logs[]`)."""
    kind = str(rec.get("auditable_type") or "Unknown")
    verb = str(rec.get("action") or "unknown")
    changes = _chatwoot_changes(verb, rec.get("audited_changes"))
    account = account_id or _str(rec.get("account_id")) or "default"
    user_id = rec.get("user_id")
    return _drop_none(
        {
            "id": f"chatwoot-{account}-{rec.get('id')}",
            "occurred_at": rec.get("created_at"),
            "account_id": account,
            "action": _chatwoot_action(kind, verb, changes or {}),
            "outcome": "success",
            "actor": {
                "id": _str(user_id),
                "email": rec.get("username"),
                "type": "user" if user_id is not None else "system",
                "name": None if user_id is not None else "Chatwoot",
            },
            "target": {
                "type": _CHATWOOT_TYPES.get(kind, _snake(kind)),
                "id": _str(rec.get("auditable_id")),
            },
            "ip": rec.get("remote_address"),
            "request_id": rec.get("request_uuid"),
            "changes": changes,
            "metadata": {
                "source_format": "chatwoot",
                "auditable_type": kind,
                "chatwoot_action": verb,
                "associated_type": rec.get("associated_type"),
                "associated_id": rec.get("associated_id"),
                "location": rec.get("location"),
                "comment": rec.get("comment"),
                "version": rec.get("version"),
                "outcome_assumed": True,
            },
        }
    )


# -- Okta --------------------------------------------------------------------------------
_OKTA_ACTIONS = {
    "user.session.start": "auth.login",
    "user.session.end": "auth.logout",
    "user.authentication.auth_via_mfa": "auth.mfa_challenge",
    "user.authentication.sso": "auth.login",
    "user.account.lock": "auth.account_locked",
    "user.account.update_password": "auth.password_change",
    "user.account.reset_password": "auth.password_reset",
    "user.mfa.factor.activate": "auth.mfa_enable",
    "user.mfa.factor.deactivate": "auth.mfa_disable",
    "user.mfa.factor.reset_all": "auth.mfa_reset",
    "user.lifecycle.create": "agent.create",
    "user.lifecycle.delete.initiated": "agent.delete",
    "user.account.update_profile": "agent.update",
    "user.account.privilege.grant": "agent.role_change",
    "group.user_membership.add": "team.member_add",
    "group.user_membership.remove": "team.member_remove",
    "policy.lifecycle.update": "settings.update",
    "application.lifecycle.create": "integration.create",
    "application.lifecycle.update": "integration.update",
    "application.lifecycle.delete": "integration.delete",
}
_OKTA_OUTCOME = {"SUCCESS": "success", "ALLOW": "success", "FAILURE": "failure", "DENY": "failure"}
_OKTA_ACTOR_TYPE = {"User": "user", "SystemPrincipal": "system", "PublicClientApp": "api_key"}


def from_okta(rec: dict[str, Any]) -> dict[str, Any]:
    """One Okta System Log event (`/api/v1/logs`)."""
    actor = rec.get("actor") or {}
    client = rec.get("client") or {}
    outcome = rec.get("outcome") or {}
    targets = rec.get("target") or []
    target = targets[0] if targets and isinstance(targets[0], dict) else {}
    event_type = str(rec.get("eventType") or "unknown")
    auth_ctx = rec.get("authenticationContext") or {}
    debug = ((rec.get("debugContext") or {}).get("debugData")) or {}
    geo = client.get("geographicalContext") or {}
    result = str(outcome.get("result") or "").upper()
    reason = outcome.get("reason")
    return _drop_none(
        {
            "id": f"okta-{rec.get('uuid')}",
            "occurred_at": rec.get("published"),
            "action": _OKTA_ACTIONS.get(event_type, _clean_action("okta." + event_type)),
            "outcome": _OKTA_OUTCOME.get(result, "unknown"),
            "reason": _clean_action(str(reason)).split(".")[0] if reason and result != "SUCCESS" else None,
            "actor": {
                "id": actor.get("id"),
                "email": actor.get("alternateId") if "@" in str(actor.get("alternateId", "")) else None,
                "name": actor.get("displayName"),
                "type": _OKTA_ACTOR_TYPE.get(str(actor.get("type")), "user"),
            },
            "target": {
                "type": _snake(str(target.get("type") or "")) or None,
                "id": target.get("id"),
                "name": target.get("displayName"),
            },
            "ip": client.get("ipAddress"),
            "user_agent": (client.get("userAgent") or {}).get("rawUserAgent"),
            "session_id": auth_ctx.get("externalSessionId"),
            "request_id": debug.get("requestId"),
            "metadata": {
                "source_format": "okta",
                "event_type": event_type,
                "okta_reason": reason,
                "okta_city": geo.get("city"),
                "okta_country": geo.get("country"),
            },
        }
    )


# -- OCSF --------------------------------------------------------------------------------
_OCSF_ACTIONS: dict[tuple[int, int], str] = {
    (3002, 1): "auth.login",
    (3002, 2): "auth.logout",
    (3001, 1): "agent.create",
    (3001, 3): "auth.password_change",
    (3001, 4): "auth.password_reset",
    (3001, 6): "agent.delete",
    (3001, 10): "auth.mfa_enable",
    (3001, 11): "auth.mfa_disable",
    (3005, 1): "agent.permission_change",
    (3005, 2): "agent.permission_change",
    (3006, 3): "team.member_add",
    (3006, 4): "team.member_remove",
}


def from_ocsf(rec: dict[str, Any]) -> dict[str, Any]:
    """One OCSF 1.x event of the identity classes (3001-3006) or API Activity (6003)."""
    class_uid = int(rec.get("class_uid") or 0)
    activity = int(rec.get("activity_id") or 0)
    user = ((rec.get("actor") or {}).get("user")) or {}
    src = rec.get("src_endpoint") or {}
    status = int(rec.get("status_id") or 0)
    target_user = rec.get("user") or {}
    meta = rec.get("metadata") or {}
    action = _OCSF_ACTIONS.get(
        (class_uid, activity), _clean_action(f"ocsf.{rec.get('class_name') or class_uid}.{activity}")
    )
    return _drop_none(
        {
            "id": f"ocsf-{meta.get('uid')}" if meta.get("uid") else None,
            "occurred_at": rec.get("time"),
            "action": action,
            "outcome": {1: "success", 2: "failure"}.get(status, "unknown"),
            "reason": _clean_action(str(rec.get("status_detail"))).split(".")[0]
            if status == 2 and rec.get("status_detail")
            else None,
            "actor": {"id": _str(user.get("uid")), "name": user.get("name"), "email": user.get("email_addr")},
            "target": {"type": "agent", "id": _str(target_user.get("uid")), "name": target_user.get("name")}
            if target_user
            else None,
            "ip": src.get("ip"),
            "user_agent": (rec.get("http_request") or {}).get("user_agent"),
            "session_id": _str((rec.get("session") or {}).get("uid")),
            "metadata": {"source_format": "ocsf", "class_uid": class_uid, "type_uid": rec.get("type_uid")},
        }
    )


# -- Elastic Common Schema ---------------------------------------------------------------
_ECS_ACTIONS = {
    ("authentication", "start"): "auth.login",
    ("authentication", "end"): "auth.logout",
    ("iam", "creation"): "agent.create",
    ("iam", "deletion"): "agent.delete",
    ("iam", "change"): "agent.update",
    ("iam", "admin"): "agent.role_change",
    ("iam", "group"): "team.member_add",
    ("configuration", "change"): "settings.update",
}


def _dig(rec: dict[str, Any], path: str) -> Any:
    """ECS fields come nested or dotted (`source.ip` as a key)."""
    if path in rec:
        return rec[path]
    node: Any = rec
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def from_ecs(rec: dict[str, Any]) -> dict[str, Any]:
    """One Elastic Common Schema document (authentication, iam, configuration events)."""
    category = _first(_dig(rec, "event.category"))
    etype = _first(_dig(rec, "event.type"))
    ecs_action = _dig(rec, "event.action")
    action = _ECS_ACTIONS.get((str(category), str(etype)))
    if action is None:
        action = _clean_action(f"ecs.{category or 'event'}.{ecs_action or etype or 'unknown'}")
    return _drop_none(
        {
            "id": f"ecs-{_dig(rec, 'event.id')}" if _dig(rec, "event.id") else None,
            "occurred_at": _dig(rec, "@timestamp"),
            "action": action,
            "outcome": {"success": "success", "failure": "failure"}.get(str(_dig(rec, "event.outcome")), "unknown"),
            "reason": _dig(rec, "event.reason"),
            "actor": {
                "id": _str(_dig(rec, "user.id") or _dig(rec, "user.name")),
                "name": _dig(rec, "user.full_name") or _dig(rec, "user.name"),
                "email": _dig(rec, "user.email"),
            },
            "target": {
                "type": "agent" if _dig(rec, "user.target.name") or _dig(rec, "user.target.id") else None,
                "id": _str(_dig(rec, "user.target.id")),
                "name": _dig(rec, "user.target.name"),
            },
            "ip": _dig(rec, "source.ip"),
            "user_agent": _dig(rec, "user_agent.original"),
            "metadata": {"source_format": "ecs", "event_action": ecs_action},
        }
    )


CONVERTERS: dict[str, Converter] = {
    "chatwoot": from_chatwoot,
    "okta": from_okta,
    "ocsf": from_ocsf,
    "ecs": from_ecs,
}


def convert_batch(batch: list[tuple[int, str]], fmt: str) -> Iterator[tuple[int, str]]:
    """Convert raw records of `fmt` into contract events, keeping positions.

    A Chatwoot API page (`{"audit_logs": [...]}`) expands into its entries. A record that is not
    JSON, or that the converter cannot read, is passed on unchanged with a marker so that the
    validator quarantines it with the reason.
    """
    if fmt == "contract":
        yield from batch
        return
    convert = CONVERTERS[fmt]
    from dashboard.events import contract
    from dashboard.events.validate import Unreadable, json_depth
    from dashboard.ingest.readers import unreadable

    for pos, raw in batch:
        if isinstance(raw, Unreadable):
            yield pos, raw  # the validator refuses it with its reason
            continue
        if raw.count("[") + raw.count("{") > contract.MAX_NESTING + 1:
            depth = json_depth(raw)
            if depth - 1 > contract.MAX_NESTING:  # never handed to Python's parser, which recurses
                yield pos, unreadable(contract.too_deep_reason(f"a value of this {fmt} record", depth - 1), raw)
                continue
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            yield pos, raw  # the validator says where the JSON is broken
            continue
        entries = doc.get("audit_logs") if fmt == "chatwoot" and isinstance(doc, dict) else None
        for entry in entries if isinstance(entries, list) else [doc]:
            if not isinstance(entry, dict):
                yield pos, unreadable(f"a {fmt} record must be a JSON object", raw)
                continue
            try:
                yield pos, json.dumps(convert(entry), ensure_ascii=False, default=str)
            except (TypeError, ValueError, AttributeError, ArithmeticError, LookupError, RecursionError) as exc:
                # a converter never needs to be trusted: whatever it cannot read is quarantined
                yield pos, unreadable(f"cannot read this {fmt} record: {exc}", json.dumps(entry, default=str))

"""The audit of the audit log: auditdash records what happens to it as `audit` events.

Logins, views of the explorer with their filters, exports and packs, changes to users, tokens,
rules, retention and settings all go through `record`, which uses the normal validated and
chained ingest path (source `auditdash`), so these events are as tamper-evident as any other.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from dashboard.events.validate import validate_batch
from dashboard.store.db import Database, utcnow
from dashboard.store.writer import SKIP_LISTENERS, Skipped, WriteResult, store_batch

SOURCE = "auditdash"


def record(
    db: Database,
    action: str,
    actor: str,
    *,
    role: str | None = None,
    outcome: str = "success",
    reason: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    target_name: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    session_id: str | None = None,
    changes: Mapping[str, list[Any]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> WriteResult:
    """Write one `audit` event about auditdash itself.

    Args:
        db: the store.
        action: an action of the `audit` category (`audit.view`, `audit.login`, ...).
        actor: the dashboard user name (`system` for scheduled jobs).
        role: the actor's dashboard role.
        outcome: success or failure.
        reason: why it failed.
        target_type/target_id/target_name: what was acted on (a user, a token, a pack).
        ip: the client address of the request.
        user_agent: the client's user agent.
        session_id: the dashboard session.
        changes: before/after values of a change.
        metadata: anything else (filters used, row counts, file names).
    """
    doc: dict[str, Any] = {
        "id": f"ad-{secrets.token_hex(12)}",
        "occurred_at": utcnow().isoformat(timespec="milliseconds") + "Z",
        "account_id": "auditdash",
        "action": action,
        "outcome": outcome,
        "actor": {"id": actor, "name": actor, "type": "system" if actor == "system" else "user"},
    }
    if role:
        doc["actor"]["role"] = role
    optional = {
        "reason": reason,
        "ip": ip,
        "user_agent": user_agent,
        "session_id": session_id,
        "changes": dict(changes) if changes else None,
        "metadata": dict(metadata) if metadata else None,
    }
    doc.update({k: v for k, v in optional.items() if v is not None})
    target = {"type": target_type, "id": target_id, "name": target_name}
    if any(target.values()):
        doc["target"] = {k: v for k, v in target.items() if v is not None}
    with db.raw() as con:
        checked = validate_batch(con, [(0, json.dumps(doc, default=str))])
    if checked.rejected:
        raise ValueError(f"self-log event refused: {checked.rejected[0].reason}")
    return store_batch(db, checked.accepted, [], SOURCE)


def _record_skip(db: Database, skipped: Skipped) -> None:
    """A batch went past rows stored outside the chain: a failed `audit.verify` (scope `write`),
    which the `integrity_break` rule alerts on (docs/integrity.md, "Rows past the end")."""
    record(
        db,
        "audit.verify",
        "system",
        outcome="failure",
        reason=skipped.describe()[:256],
        metadata={
            "scope": "write",
            "skipped_first": skipped.first,
            "skipped_last": skipped.last,
            "foreign_rows": skipped.rows,
            "batch_id": skipped.batch_id,
        },
    )


SKIP_LISTENERS.append(_record_skip)

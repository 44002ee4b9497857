"""The outcome of verifications: kept in `meta` (the status every page shows, the last full
verification for the Retention page and packs), recorded in the audit log as `audit.verify`, and
the scheduled verification that alerts on a break.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import duckdb
import sqlalchemy as sa

from dashboard.evidence.locations import Locations
from dashboard.evidence.verify import Verification, verify
from dashboard.store import schema, selflog
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run
from dashboard.store.errors import StoreError

if TYPE_CHECKING:
    from dashboard.access.users import Actor

log = logging.getLogger(__name__)


#: `meta` key of the latest verification's outcome, read by the status shown on every page
#: (`read_integrity_status`)
INTEGRITY_STATUS_META = "integrity_status"


#: `meta` key holding the JSON of the last verification of the whole log (for the Retention
#: page and compliance packs)
LAST_VERIFY_META = "integrity.last_verify"


def record_verification(db: Database, result: Verification, actor: Actor, audit_ok: bool = True) -> str | None:
    """Record a verification: its status in `meta` (`INTEGRITY_STATUS_META`; a verification of
    the whole log also as LAST_VERIFY_META), then `audit.verify` in the audit log (failure when
    broken; with `audit_ok` False, only then: the check at every server start).

    Returns None, or what could not be recorded, in words (also logged as an error): on a store
    whose chain was tampered with the audit log may refuse the event, and that must neither raise
    past the verification's result nor hide it.
    """
    from dashboard.store.writer import ChainTampered

    problems: list[str] = []
    try:
        if result.scope == "all":
            kept = result.to_json()
            kept["breaks"] = kept["breaks"][:20]  # the first ones; the count is in `summary`
            db.set_meta(LAST_VERIFY_META, json.dumps(kept, default=str))
        write_integrity_status(db, result)
    except (StoreError, sa.exc.SQLAlchemyError, duckdb.Error) as exc:
        problems.append(f"the verification's status was not stored in {db.path}: {exc}")
    first = result.first
    try:
        if not result.ok or audit_ok:
            selflog.record(
                db,
                "audit.verify",
                actor.name,
                **actor.audit(),
                outcome="success" if result.ok else "failure",
                reason=first.describe()[:256] if first else None,
                metadata={
                    "scope": result.scope,
                    "start": result.start.isoformat() if result.start else None,
                    "end": result.end.isoformat() if result.end else None,
                    "head_hash": result.head_hash,
                    "head_batch_id": result.head_batch_id,
                    "events": result.checked_events,
                    "breaks": len(result.breaks),
                    "first_break": asdict(first) if first else None,
                },
            )
    except ChainTampered as exc:
        problems.append(f"the verification was not recorded in the audit log: {exc}")
    except (StoreError, ValueError, sa.exc.SQLAlchemyError, duckdb.Error) as exc:
        problems.append(f"the verification was not recorded in the audit log ({type(exc).__name__}: {exc})")
    for problem in problems:
        log.error("%s (verification: %s)", problem, result.summary())
    return "; ".join(problems) or None


_STATUS_SCOPES = {"all": "full", "tail": "tail"}


def write_integrity_status(db: Database, result: Verification) -> dict[str, Any] | None:
    """Keep the outcome of a verification of the whole log (`full`) or of its tail (`tail`) in
    `meta` under INTEGRITY_STATUS_META; other scopes leave it as it is.

    A break stays until a full verification finds the chain intact again: a tail verification
    that finds nothing does not replace a recorded break (it did not look where the break was).
    Returns what was written, or None.
    """
    scope = _STATUS_SCOPES.get(result.scope)
    if scope is None:
        return None
    if result.ok and scope == "tail":
        previous = read_integrity_status(db)
        if previous is not None and previous.get("ok") is False:
            return None
    first = result.first
    status = {
        "checked_at": utcnow().isoformat(timespec="milliseconds") + "Z",
        "ok": bool(result.ok),
        "scope": scope,
        "events": int(result.checked_events),
        "problem": " ".join(first.describe().split()) if first else None,
    }
    db.set_meta(INTEGRITY_STATUS_META, json.dumps(status))
    return status


def read_integrity_status(con_or_db: Database | sa.Connection | duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
    """The outcome of the latest verification, as `write_integrity_status` kept it:
    {"checked_at": ISO-8601 UTC, "ok": bool, "scope": "tail" | "full", "events": int,
    "problem": the first break in one line, or None}; None when nothing was verified yet.

    A value that cannot be read (someone changed `meta`) is reported as not ok, with the reason.
    Accepts the Database, a SQLAlchemy connection or a DuckDB connection.
    """
    text: Any
    if isinstance(con_or_db, Database):
        text = con_or_db.get_meta(INTEGRITY_STATUS_META)
    elif isinstance(con_or_db, duckdb.DuckDBPyConnection):
        rows = run(con_or_db, "SELECT value FROM meta WHERE key = $k", {"k": INTEGRITY_STATUS_META})
        text = rows[0][0] if rows else None
    else:
        text = con_or_db.execute(
            sa.select(schema.meta.c.value).where(schema.meta.c.key == INTEGRITY_STATUS_META)
        ).scalar()
    if text is None:
        return None
    try:
        data = json.loads(str(text))
        if not isinstance(data, dict) or not isinstance(data.get("ok"), bool):
            raise ValueError("not an object with a boolean `ok`")
    except ValueError as exc:
        return {
            "checked_at": None,
            "ok": False,
            "scope": None,
            "events": 0,
            "problem": f"the recorded integrity status (meta {INTEGRITY_STATUS_META}) cannot be read: {exc}",
        }
    return {k: data.get(k) for k in ("checked_at", "ok", "scope", "events", "problem")}


def scheduled_verify(db: Database, where: Locations, tail: bool = False) -> bool:
    """The scheduled verification (or, with `tail`, the one at server start): alert when broken,
    then record it (`integrity_status` and, for the whole log, `integrity.last_verify` in `meta`;
    `audit.verify`). A break is logged before anything is written, so a store that refuses the
    audit event cannot hide it."""
    from dashboard.access.users import Actor

    result = verify(db, where, tail=tail)
    if not result.ok:
        # PCI DSS 10.3.4: a change to the logs raises an alert. The failed `audit.verify` event
        # is what detection rules and notifications act on; the log line is for operators.
        log.error("INTEGRITY BREAK: %s", result.summary())
    record_verification(db, result, Actor("system"), audit_ok=not tail)
    return result.ok

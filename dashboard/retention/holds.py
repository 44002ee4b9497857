"""Legal holds: periods or people whose events no purge may remove until the hold is released."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dashboard.retention.policy import RetentionError
from dashboard.store import schema, selflog
from dashboard.store.db import Database, utcnow

if TYPE_CHECKING:
    from dashboard.access.users import Actor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """A legal hold: events of a period, or of a user, that no purge may remove."""

    id: int
    kind: str
    starts_at: datetime | None
    ends_at: datetime | None
    user_id: str | None
    reason: str
    created_by: str
    created_at: datetime
    released_by: str | None
    released_at: datetime | None

    @property
    def active(self) -> bool:
        """Whether the hold is in force."""
        return self.released_at is None

    def describe(self) -> str:
        """What the hold covers, in words."""
        if self.kind == "user":
            return f"events of user {self.user_id}"
        return f"events from {self.starts_at:%Y-%m-%d %H:%M} to {self.ends_at:%Y-%m-%d %H:%M} UTC"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat(timespec="seconds") + "Z"
        out["active"] = self.active
        out["covers"] = self.describe()
        return out


#: true when the event of the row alias `r` is under an active legal hold
def held_sql(alias: str) -> str:
    # Built from fixed text and the caller's alias only (S608 cannot tell).
    return (
        "EXISTS (SELECT 1 FROM legal_holds h WHERE h.released_at IS NULL AND ("  # noqa: S608
        f"(h.kind = 'period' AND {alias}.occurred_at >= h.starts_at AND {alias}.occurred_at < h.ends_at) OR "
        f"(h.kind = 'user' AND ({alias}.actor_id = h.user_id OR {alias}.target_id = h.user_id))))"
    )


def add_hold(
    db: Database,
    actor: Actor,
    reason: str,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    user_id: str | None = None,
) -> Hold:
    """Place a legal hold on a period [start, end) or on a user (recorded as `audit.hold`)."""
    reason = reason.strip()
    if not reason:
        raise RetentionError("a legal hold needs a reason (the matter or ticket it is for)")
    if user_id and (start or end):
        raise RetentionError("hold either a period (--from/--to) or a user (--user), not both")
    if user_id:
        values: dict[str, Any] = {"kind": "user", "user_id": user_id.strip()}
    elif start and end:
        if end <= start:
            raise RetentionError(f"the hold's end {end:%Y-%m-%d %H:%M} is not after its start")
        values = {"kind": "period", "starts_at": start, "ends_at": end}
    else:
        raise RetentionError("a hold needs a period (--from and --to) or a user (--user)")
    now = utcnow()
    with db.write_lock, db.engine.begin() as conn:
        new_id = conn.execute(
            schema.legal_holds.insert()
            .values(reason=reason, created_by=actor.name, created_at=now, **values)
            .returning(schema.legal_holds.c.id)
        ).scalar_one()
    hold = get_hold(db, int(new_id))
    selflog.record(
        db,
        "audit.hold",
        actor.name,
        **actor.audit(),
        target_type="legal_hold",
        target_id=str(hold.id),
        target_name=hold.describe(),
        metadata={"operation": "add", "reason": reason, **hold.to_json()},
    )
    return hold


def get_hold(db: Database, hold_id: int) -> Hold:
    """One hold by id."""
    with db.connect() as conn:
        row = conn.execute(sa.select(schema.legal_holds).where(schema.legal_holds.c.id == hold_id)).mappings().first()
    if row is None:
        raise RetentionError(f"there is no legal hold {hold_id} (see: auditdash hold list)")
    return Hold(**dict(row))


def list_holds(db: Database, include_released: bool = False) -> list[Hold]:
    """Legal holds, newest first (active ones only unless `include_released`)."""
    query = sa.select(schema.legal_holds).order_by(schema.legal_holds.c.id.desc())
    if not include_released:
        query = query.where(schema.legal_holds.c.released_at.is_(None))
    with db.connect() as conn:
        return [Hold(**dict(r)) for r in conn.execute(query).mappings()]


def release_hold(db: Database, hold_id: int, actor: Actor, reason: str | None = None) -> Hold:
    """Release a hold (kept in the table, recorded as `audit.hold`); the next purge may move its events."""
    hold = get_hold(db, hold_id)
    if not hold.active:
        raise RetentionError(f"legal hold {hold_id} was already released by {hold.released_by}")
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(
            schema.legal_holds.update()
            .where(schema.legal_holds.c.id == hold_id)
            .values(released_by=actor.name, released_at=utcnow())
        )
    released = get_hold(db, hold_id)
    selflog.record(
        db,
        "audit.hold",
        actor.name,
        **actor.audit(),
        target_type="legal_hold",
        target_id=str(hold_id),
        target_name=hold.describe(),
        changes={"active": [True, False]},
        metadata={"operation": "release", "reason": reason, **released.to_json()},
    )
    return released

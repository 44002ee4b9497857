"""Read queries shared by the CLI and the web app (SQLAlchemy Core, no SQL strings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dashboard.store.db import Database
from dashboard.store.schema import chain_batches, events, quarantine


@dataclass(frozen=True)
class Stats:
    """What the store holds."""

    events: int
    first_event: datetime | None
    last_event: datetime | None
    actors: int
    accounts: int
    by_category: dict[str, int]
    failures: int
    quarantined: int
    batches: int
    chain_head: str | None
    demo: bool
    schema_version: int
    db_path: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (timestamps as ISO 8601 UTC)."""
        out = asdict(self)
        for key in ("first_event", "last_event"):
            value = out[key]
            out[key] = value.isoformat(timespec="milliseconds") + "Z" if value else None
        return out


def stats(db: Database) -> Stats:
    """Counts and ranges of the stored events, the quarantine and the chain."""
    with db.connect() as conn:
        row = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.min(events.c.occurred_at),
                sa.func.max(events.c.occurred_at),
                sa.func.count(sa.distinct(events.c.actor_id)),
                sa.func.count(sa.distinct(events.c.account_id)),
                sa.func.count().filter(events.c.outcome == "failure"),
            )
        ).one()
        by_cat = conn.execute(
            sa.select(events.c.category, sa.func.count()).group_by(events.c.category).order_by(sa.func.count().desc())
        ).fetchall()
        quarantined = conn.execute(sa.select(sa.func.count()).select_from(quarantine)).scalar() or 0
        head = conn.execute(
            sa.select(chain_batches.c.batch_id, chain_batches.c.hash).order_by(chain_batches.c.batch_id.desc()).limit(1)
        ).first()
    return Stats(
        events=int(row[0]),
        first_event=row[1],
        last_event=row[2],
        actors=int(row[3]),
        accounts=int(row[4]),
        by_category={str(c): int(n) for c, n in by_cat},
        failures=int(row[5]),
        quarantined=int(quarantined),
        batches=int(head[0]) if head else 0,
        chain_head=head[1] if head else None,
        demo=db.get_meta("demo") == "true",
        schema_version=db.version(),
        db_path=db.shown,
    )


def quarantine_list(db: Database, limit: int = 50, source: str | None = None) -> list[dict[str, Any]]:
    """The newest quarantined records with their reasons."""
    query = sa.select(quarantine).order_by(quarantine.c.id.desc()).limit(limit)
    if source:
        query = query.where(quarantine.c.source == source)
    with db.connect() as conn:
        rows = conn.execute(query).mappings().fetchall()
    return [{**dict(r), "received_at": r["received_at"].isoformat(timespec="milliseconds") + "Z"} for r in rows]

"""What the archive holds and what the Retention page shows: archived months, the hot store, the
next purge's plan, the holds and the last runs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dashboard.evidence.locations import Locations
from dashboard.retention.archive_write import recorded_months
from dashboard.retention.holds import Hold, list_holds
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import PurgePlan, plan_purge
from dashboard.store import schema
from dashboard.store.archive import Manifest, maintenance_lock, read_manifests
from dashboard.store.db import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArchivedMonth:
    """One archived month as the archive list shows it."""

    month: str
    manifest: Manifest
    recorded: bool  # whether archive_months agrees with the manifest
    present: bool  # whether the file is there

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {**self.manifest.to_json(), "recorded": self.recorded, "present": self.present}


def list_archive(db: Database, where: Locations) -> list[ArchivedMonth]:
    """The archived months, oldest first."""
    manifests, problems = read_manifests(where.archive_dir)
    if problems:
        log.warning("archive manifests: %s", "; ".join(problems))
    recorded = recorded_months(db)
    return [
        ArchivedMonth(
            month,
            m,
            recorded.get(month) == (m.revision, m.sha256),
            (where.archive_dir / m.file).is_file(),
        )
        for month, m in sorted(manifests.items())
    ]


@dataclass
class RetentionStatus:
    """What the Retention page shows."""

    policy: RetentionPolicy
    hot_events: int
    oldest_hot: datetime | None
    archived_events: int
    expired_events: int
    oldest_archived: str | None
    db_bytes: int
    archive_bytes: int
    archive_months: list[ArchivedMonth]
    plan: PurgePlan | None  # None while a purge, restore or verification holds the archive
    holds: list[Hold]
    last_runs: list[dict[str, Any]]
    archive_dir: Path


def status(db: Database, where: Locations, policy: RetentionPolicy, now: datetime | None = None) -> RetentionStatus:
    """Counts, sizes, the next purge's plan, the holds and the last runs."""
    with db.connect() as conn:
        hot, oldest = conn.execute(sa.select(sa.func.count(), sa.func.min(schema.events.c.occurred_at))).one()
        runs = [
            dict(r)
            for r in conn.execute(
                sa.select(schema.purge_runs).order_by(schema.purge_runs.c.started_at.desc()).limit(5)
            ).mappings()
        ]
    months = list_archive(db, where)
    lock = maintenance_lock(db)
    plan: PurgePlan | None = None
    if lock.acquire(blocking=False):  # a running purge may be replacing the files the plan reads
        try:
            plan = plan_purge(db, where, policy, now)
        finally:
            lock.release()
    db_bytes = _database_bytes(db)
    return RetentionStatus(
        policy=policy,
        hot_events=int(hot),
        oldest_hot=oldest,
        archived_events=sum(m.manifest.rows - m.manifest.expired_rows for m in months),
        expired_events=sum(m.manifest.expired_rows for m in months),
        oldest_archived=months[0].month if months else None,
        db_bytes=db_bytes,
        archive_bytes=sum(m.manifest.bytes for m in months),
        archive_months=months,
        plan=plan,
        holds=list_holds(db),
        last_runs=runs,
        archive_dir=where.archive_dir,
    )


def _database_bytes(db: Database) -> int:
    """The store's size: the DuckDB file and its write-ahead log, or on PostgreSQL the database's
    size on the server (`db.path` there only names the files kept beside it)."""
    if db.url is not None:
        with db.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar() or 0)
    return sum(p.stat().st_size for p in (db.path, db.path.with_name(db.path.name + ".wal")) if p.exists())

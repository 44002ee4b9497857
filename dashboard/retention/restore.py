"""Restore: bring archived events of a period back into the hot store (under a legal hold, so the
next purge keeps them) or into a separate database file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard.evidence.canonical import text_rows_sql
from dashboard.evidence.hashing import check_rows
from dashboard.evidence.locations import IntegrityError, Locations
from dashboard.retention.archive_write import adjust_postgres
from dashboard.retention.holds import add_hold
from dashboard.retention.policy import RetentionError
from dashboard.store import rollups, selflog
from dashboard.store.archive import (
    ARCHIVE_COLUMNS_SQL,
    file_sha256,
    maintenance_lock,
    manifest_files,
    months_between,
    parquet_sql,
    read_manifests,
)
from dashboard.store.backend import postgres
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run, transaction
from dashboard.store.errors import StoreError

if TYPE_CHECKING:
    from dashboard.access.users import Actor

log = logging.getLogger(__name__)


@dataclass
class RestoreResult:
    """What a restore brought back."""

    start: datetime
    end: datetime
    months: list[str]
    restored: int
    skipped: int  # already in the target
    into: str  # `store` or the file
    hold_id: int | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        out = asdict(self)
        out["start"], out["end"] = self.start.isoformat() + "Z", self.end.isoformat() + "Z"
        return out


def restore(
    db: Database,
    where: Locations,
    actor: Actor,
    start: datetime,
    end: datetime,
    into: Path | None = None,
) -> RestoreResult:
    """Bring archived events of [start, end) back, with their original seq and hash.

    Into the store (default): the events are inserted beside the hot ones and a legal hold on
    the period keeps the next purge from moving them out again; release it when the
    investigation ends. Into a file: a separate DuckDB database with the same tables.
    Each archive file is checked against its manifest and every restored event's hash is
    recomputed first. Recorded as `audit.restore`.
    """
    if end <= start:
        raise RetentionError("the restore period is empty: --to must be after --from")
    with maintenance_lock(db):
        manifests, _ = read_manifests(where.archive_dir)
        months = months_between(manifests, start, end)
        if not months:
            raise RetentionError(f"the archive holds no month between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
        files = manifest_files(where, manifests, months)
        for month in months:
            manifest = manifests[month]
            path = where.archive_dir / manifest.file
            if not path.is_file() or file_sha256(path) != manifest.sha256:
                raise IntegrityError(
                    f"archive {month}: {manifest.file} is missing or altered; run auditdash archive verify"
                )
        select = (
            f"SELECT {ARCHIVE_COLUMNS_SQL} FROM {parquet_sql('$files')} a WHERE a.event_id IS NOT NULL "  # noqa: S608
            "AND a.occurred_at >= $start AND a.occurred_at < $end"
        )
        params = {"files": files, "start": start, "end": end}
        with db.reading(("chain_batches",)) as con:  # on PostgreSQL: a copy of the chain's batches
            _, bad = check_rows(con.sql(text_rows_sql(select), params=params))
            total = int(run(con, f"SELECT count(*) FROM ({select})", params)[0][0])  # noqa: S608
        if bad:
            raise IntegrityError(f"archived events do not match their hashes (first at seq {bad[0]}); nothing restored")
        hold_id: int | None = None
        if into is None and db.url is not None:
            restored = _insert_missing_postgres(db, select, params)
        if into is None:
            if db.url is None:
                with db.write_lock, db.raw() as con, transaction(con):
                    restored = _insert_missing(con, select, params)
            hold_id = add_hold(
                db, actor, f"restored from the archive for investigation ({len(months)} months)", start=start, end=end
            ).id
            target = "store"
        else:
            restored = _restore_into_file(db, into, select, params)
            target = str(into)
        result = RestoreResult(start, end, months, restored, total - restored, target, hold_id)
        selflog.record(
            db,
            "audit.restore",
            actor.name,
            **actor.audit(),
            target_type="archive",
            target_name=", ".join(months),
            metadata=result.to_json(),
        )
        return result


def _insert_missing(con: Any, select: str, params: dict[str, Any]) -> int:
    """Insert the archived events of `select` that the store lacks (by seq); return how many."""
    missing = f"SELECT * FROM ({select}) s WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = s.seq)"  # noqa: S608
    rollups.add_rows(con, missing, params)  # before the insert, which `missing` then no longer selects
    inserted = run(con, f"INSERT INTO events {missing}", params)
    return int(inserted[0][0]) if inserted else 0


def _insert_missing_postgres(db: Database, select: str, params: dict[str, Any]) -> int:
    """`_insert_missing` on PostgreSQL, in one transaction under the chain's lock: the archived rows
    read by DuckDB in batches and copied in, those the store lacks (by seq) inserted with their ids
    (a month's partition created when it was dropped) and counted into the rollups and text values."""
    with db.write_lock, db.raw() as scratch, postgres.chain_transaction(db.engine) as cur:
        cur.execute("CREATE TEMPORARY TABLE _restore (LIKE events) ON COMMIT DROP")
        reader = scratch.sql(f"SELECT * FROM ({select}) ORDER BY seq", params=params).to_arrow_reader(  # noqa: S608
            postgres.BATCH_ROWS
        )
        postgres.copy_batches(cur, "_restore", reader)
        try:
            restored = postgres.insert_events(cur, "_restore", "_added")
        except StoreError as exc:
            raise RetentionError(str(exc)) from exc
        adjust_postgres(cur, "_added", 1)  # in step, same transaction
    return restored


def _restore_into_file(db: Database, into: Path, select: str, params: dict[str, Any]) -> int:
    if into.resolve() == db.path.resolve():
        raise RetentionError("to restore into the store, leave out --into")
    # the file holds no chain: each event's canonical form comes from the store's batches
    with db.reading(("chain_batches",)) as source:
        versions = source.sql("SELECT batch_id, version FROM chain_batches").to_arrow_table()
    with Database(into) as target, target.write_lock, target.raw() as con:
        with transaction(con):
            restored = _insert_missing(con, select, params)
        con.register("_source_versions", versions)
        try:
            _, bad = check_rows(con.sql(text_rows_sql("SELECT * FROM events", "_source_versions")))
        finally:
            con.unregister("_source_versions")
        if bad:
            raise IntegrityError(f"{into}: restored events do not match their hashes (first at seq {bad[0]})")
        origin = db.shown
        target.set_meta("restored_from", json.dumps({"db": origin, "at": utcnow().isoformat()}))
    return restored

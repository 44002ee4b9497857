"""The purge: plan which months leave the hot store, archive them (dashboard.retention.archive_write),
delete them from the hot store and expire what is past the archive's retention; resumable after an
interruption (a journal in `meta`).
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb
import sqlalchemy as sa

from dashboard.evidence.checkpoints import write_checkpoint
from dashboard.evidence.locations import Locations
from dashboard.retention.archive_write import (
    MonthPlan,
    adjust_postgres,
    pause_at,
    reconcile,
    tidy,
    write_month,
)
from dashboard.retention.holds import held_sql
from dashboard.retention.policy import RetentionError, RetentionPolicy
from dashboard.store import rollups, schema, selflog
from dashboard.store.archive import Manifest, maintenance_lock, manifest_files, month_range, read_manifests
from dashboard.store.backend import postgres
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run, transaction
from dashboard.store.writer import ChainTampered, refuse_foreign_tail, refuse_tail

if TYPE_CHECKING:
    from dashboard.access.users import Actor

log = logging.getLogger(__name__)


@dataclass
class PurgePlan:
    """What the next purge will do."""

    now: datetime
    hot_cutoff: datetime
    archive_cutoff: datetime
    months: list[MonthPlan]

    @property
    def moves(self) -> int:
        """Events leaving the hot store."""
        return sum(m.delete for m in self.months)

    @property
    def held(self) -> int:
        """Events kept hot by legal holds although they are old enough to move."""
        return sum(m.held for m in self.months)

    @property
    def expires(self) -> int:
        """Archived events whose contents expire."""
        return sum(m.expire for m in self.months)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {
            "now": self.now.isoformat(timespec="seconds") + "Z",
            "hot_cutoff": self.hot_cutoff.isoformat() + "Z",
            "archive_cutoff": self.archive_cutoff.isoformat() + "Z",
            "moves": self.moves,
            "held": self.held,
            "expires": self.expires,
            "months": [{**asdict(m), "delete": m.delete} for m in self.months],
        }


def _arch_view(con: duckdb.DuckDBPyConnection, name: str, files: list[str]) -> None:
    """A temp view over archive files (empty, with the events' columns, when there are none)."""
    if files:
        con.read_parquet(files).create_view(name, replace=True)
    else:
        run(con, f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM events WHERE false")  # noqa: S608


def _archived_keys(cur: Any, files: list[str], name: str = "_arch") -> None:
    """On PostgreSQL: a temporary table `name` (seq, hash) of the rows of the archive `files`,
    copied in batches."""
    cur.execute(f"CREATE TEMPORARY TABLE {name} (seq BIGINT, hash VARCHAR) ON COMMIT DROP")
    with duckdb.connect() as con:
        reader = con.sql("SELECT seq, hash FROM read_parquet($f)", params={"f": files}).to_arrow_reader(
            postgres.BATCH_ROWS
        )
        postgres.copy_batches(cur, name, reader)
    cur.execute(f"CREATE INDEX ON {name} (seq)")
    cur.execute(f"ANALYZE {name}")


def _plan_postgres(
    db: Database, where: Locations, manifests: dict[str, Manifest], cutoff: datetime
) -> dict[str, MonthPlan]:
    """`plan_purge`'s hot months on PostgreSQL: per month, the events to move, those the archive
    holds already (an interrupted run; looked up in that month's file only) and those held."""
    months: dict[str, MonthPlan] = {}
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT to_char(e.occurred_at, 'YYYY-MM') AS month, count(*) FILTER (WHERE NOT e._held), "  # noqa: S608
                f"count(*) FILTER (WHERE e._held) FROM (SELECT e.occurred_at, {held_sql('e')} AS _held "
                "FROM events e WHERE e.occurred_at < :cutoff) e GROUP BY 1 ORDER BY 1"
            ),
            {"cutoff": cutoff},
        ).all()
    for month, free, held in rows:
        done = 0
        if free and month in manifests:
            start, end = month_range(month)
            with db.connect() as conn, postgres.driver_cursor(conn) as cur:
                try:
                    _archived_keys(cur, manifest_files(where, manifests, [month]))
                    cur.execute(
                        "SELECT count(*) FROM events e JOIN _arch a ON a.seq = e.seq AND a.hash = e.hash "  # noqa: S608
                        "WHERE e.occurred_at >= %s AND e.occurred_at < %s AND e.occurred_at < %s "
                        f"AND NOT {held_sql('e')}",
                        (start, end, cutoff),
                    )
                    done = int(cur.fetchone()[0])  # type: ignore[index]
                finally:
                    cur.connection.rollback()  # the temporary table goes
        months[str(month)] = MonthPlan(str(month), int(free) - done, done, int(held))
    return months


def plan_purge(db: Database, where: Locations, policy: RetentionPolicy, now: datetime | None = None) -> PurgePlan:
    """What a purge run now would move, keep (held) and expire."""
    now = now or utcnow()
    hot_cutoff, archive_cutoff = policy.hot_cutoff(now), policy.archive_cutoff(now)
    manifests, _ = read_manifests(where.archive_dir)
    months = _plan_duckdb(db, where, manifests, hot_cutoff) if db.url is None else {}
    if db.url is not None:
        months = _plan_postgres(db, where, manifests, hot_cutoff)
    expiring = [m for m in manifests if month_range(m)[1] <= archive_cutoff]
    if expiring:
        with db.reading(("legal_holds",)) as con:  # on PostgreSQL: a copy of the holds
            for month in expiring:
                plan = months.setdefault(month, MonthPlan(month))
                count = run(
                    con,
                    f"SELECT count(*) FILTER (WHERE r.event_id IS NOT NULL AND NOT {held_sql('r')} "  # noqa: S608
                    "AND r.action <> 'audit.erase') "  # erasure records never expire (archive_write)
                    "FROM read_parquet($f) r",
                    {"f": str(where.archive_dir / manifests[month].file)},
                )[0][0]
                plan.expire = int(count)
    # Months that would be rewritten for nothing are left out.
    kept = [m for m in sorted(months.values(), key=lambda m: m.month) if m.delete or m.expire or m.held]
    return PurgePlan(now, hot_cutoff, archive_cutoff, kept)


def _plan_duckdb(
    db: Database, where: Locations, manifests: dict[str, Manifest], cutoff: datetime
) -> dict[str, MonthPlan]:
    """`plan_purge`'s hot months on DuckDB: per month, the events to move, those the archive holds
    already (an interrupted run) and those held."""
    months: dict[str, MonthPlan] = {}
    with db.raw() as con:
        _arch_view(con, "_plan_arch", manifest_files(where, manifests))
        try:
            for month, move, done, held in run(
                con,
                f"""SELECT strftime(e.occurred_at, '%Y-%m') AS month,
                           count(*) FILTER (WHERE NOT e._held AND NOT e._in_archive),
                           count(*) FILTER (WHERE NOT e._held AND e._in_archive),
                           count(*) FILTER (WHERE e._held)
                    FROM (SELECT e.occurred_at, {held_sql("e")} AS _held,
                                 EXISTS (SELECT 1 FROM _plan_arch a WHERE a.seq = e.seq AND a.hash = e.hash)
                                 AS _in_archive
                          FROM events e WHERE e.occurred_at < $cutoff) e
                    GROUP BY month ORDER BY month""",  # noqa: S608 - fixed SQL
                {"cutoff": cutoff},
            ):
                months[month] = MonthPlan(month, int(move), int(done), int(held))
        finally:
            run(con, "DROP VIEW IF EXISTS _plan_arch")
    return months


@dataclass
class PurgeResult:
    """What a purge run did."""

    run_id: str
    plan: PurgePlan
    dry_run: bool
    written: list[str] = field(default_factory=list)  # manifests committed
    archived: int = 0
    deleted: int = 0
    expired: int = 0
    resumed: list[str] = field(default_factory=list)  # runs found interrupted and completed
    removed_files: list[str] = field(default_factory=list)  # leftovers of interrupted runs
    checkpoint: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        out = asdict(self)
        out["plan"] = self.plan.to_json()
        return out

    def summary(self) -> str:
        """One line."""
        if self.dry_run:
            p = self.plan
            return (
                f"dry run: would move {p.moves:,} events ({len([m for m in p.months if m.delete])} months) "
                f"older than {p.hot_cutoff:%Y-%m-%d} to the archive, keep {p.held:,} held, expire {p.expires:,}"
            )
        return (
            f"purge {self.run_id}: archived {self.archived:,} events in {len(self.written)} months, "
            f"deleted {self.deleted:,} from the hot store, expired {self.expired:,} ({self.seconds:.1f} s)"
        )


def _journal(db: Database, run_id: str, **values: Any) -> None:
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(schema.purge_runs.update().where(schema.purge_runs.c.run_id == run_id).values(**values))


def _interrupted(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(schema.purge_runs).where(schema.purge_runs.c.state.not_in(("done", "failed", "interrupted")))
        ).mappings()
        return [dict(r) for r in rows]


def run_purge(
    db: Database,
    where: Locations,
    policy: RetentionPolicy,
    actor: Actor,
    now: datetime | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Archive the months that left the hot period, then delete them from the hot store.

    Args:
        db: the store.
        where: the archive folder, the checkpoint file and key.
        policy: the retention policy.
        actor: who runs it (`system` for the scheduled job); recorded in `audit.purge`.
        now: the reference time (default now).
        dry_run: only plan; nothing is written, deleted or recorded.

    Returns:
        What was done (or would be, for a dry run).
    """
    clock = time.monotonic()
    run_id = f"{utcnow():%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    with maintenance_lock(db):
        if dry_run:
            return PurgeResult(run_id, plan_purge(db, where, policy, now), True, seconds=time.monotonic() - clock)
        # Events past the chain's end (inserted outside auditdash) would make this run's audit
        # events impossible to store: refuse before anything is moved, in words.
        _refuse_tampering(db)
        where.archive_dir.mkdir(parents=True, exist_ok=True)
        manifests, problems = read_manifests(where.archive_dir)
        if problems:
            raise RetentionError(f"the archive has unreadable manifests, fix them first: {'; '.join(problems)}")
        removed = tidy(where, manifests)
        reconcile(db, manifests)
        resumed: list[str] = []
        for stale in _interrupted(db):
            _journal(
                db,
                stale["run_id"],
                state="interrupted",
                finished_at=utcnow(),
                error=f"interrupted; resumed by {run_id}",
            )
            resumed.append(stale["run_id"])
            selflog.record(
                db,
                "audit.purge",
                stale["actor"],
                outcome="failure",
                reason=f"purge {stale['run_id']} was interrupted in state {stale['state']}; {run_id} completes it",
                metadata={"run_id": stale["run_id"], "resumed_by": run_id, "state": stale["state"]},
            )
        plan = plan_purge(db, where, policy, now)
        result = PurgeResult(run_id, plan, False, resumed=resumed, removed_files=removed)
        with db.write_lock, db.engine.begin() as conn:
            conn.execute(
                schema.purge_runs.insert().values(
                    run_id=run_id,
                    started_at=utcnow(),
                    state="planned",
                    actor=actor.name,
                    hot_cutoff=plan.hot_cutoff,
                    archive_cutoff=plan.archive_cutoff,
                    plan=json.dumps(plan.to_json()),
                    archived=0,
                    deleted=0,
                    held=plan.held,
                    expired=0,
                )
            )
        pause_at("planned")
        try:
            for month in plan.months:
                expire = month_range(month.month)[1] <= plan.archive_cutoff
                written = write_month(db, where, month, manifests.get(month.month), plan.hot_cutoff, expire, run_id)
                if written:
                    old = manifests.get(month.month)
                    result.written.append(month.month)
                    result.archived += (
                        written.rows - written.expired_rows - ((old.rows - old.expired_rows) if old else 0)
                    )
                    result.expired += written.expired_rows - (old.expired_rows if old else 0)
                    manifests[month.month] = written
            _journal(db, run_id, state="archived", archived=result.archived, expired=result.expired)
            pause_at("archived")
            result.deleted = _delete_archived(
                db, where, manifests, [m.month for m in plan.months if m.delete], plan.hot_cutoff
            )
            pause_at("deleted")
        except BaseException as exc:
            _journal(db, run_id, state="failed", finished_at=utcnow(), error=f"{type(exc).__name__}: {exc}"[:1000])
            selflog.record(
                db,
                "audit.purge",
                actor.name,
                **actor.audit(),
                outcome="failure",
                reason=f"{type(exc).__name__}: {exc}"[:256],
                metadata={"run_id": run_id},
            )
            raise
        if result.deleted or result.written:
            cp = write_checkpoint(db, where, "purge")
            result.checkpoint = cp.head_hash if cp else None
        result.seconds = round(time.monotonic() - clock, 3)
        _journal(db, run_id, state="done", finished_at=utcnow(), deleted=result.deleted)
        selflog.record(
            db,
            "audit.purge",
            actor.name,
            **actor.audit(),
            metadata={
                "run_id": run_id,
                "hot_cutoff": plan.hot_cutoff.isoformat(),
                "archive_cutoff": plan.archive_cutoff.isoformat(),
                "months": result.written,
                "archived": result.archived,
                "deleted": result.deleted,
                "expired": result.expired,
                "held": plan.held,
                "resumed": result.resumed,
                "checkpoint": result.checkpoint,
            },
        )
        return result


def _refuse_tampering(db: Database) -> None:
    """`refuse_foreign_tail` and `refuse_skipped_rows` on the store (on PostgreSQL their counts
    taken on the server)."""
    if db.url is None:
        with db.raw() as con:
            refuse_foreign_tail(con, db.shown)
            refuse_skipped_rows(con, db.shown)
        return
    # on PostgreSQL the same counts in SQL on the server: such rows may be millions (a copy of them
    # in memory, as a staging would make, is what tampering must not be able to cause)
    where = postgres.redacted(db.url)
    with db.connect() as conn:
        first, count, last = conn.execute(sa.text(_TAIL_SQL)).one()
        refuse_tail((int(first), int(count), int(last)) if count else None, where)
        _refuse_skipped(conn.execute(sa.text(_SKIPPED_SQL)).one(), where)


#: (first seq, count, chain's last seq) of the events past the chain's end (`writer.foreign_tail`)
_TAIL_SQL = (
    "WITH c AS (SELECT coalesce(max(last_seq), 0) AS last FROM chain_batches) "
    "SELECT min(e.seq), count(e.seq), max(c.last) FROM c LEFT JOIN events e ON e.seq > c.last"
)
#: (count, first, last) of the events at sequence numbers a chain batch skipped over
_SKIPPED_SQL = (
    "SELECT count(*), min(e.seq), max(e.seq) FROM events e JOIN chain_batches b "
    "ON e.seq BETWEEN b.skipped_first AND b.skipped_last WHERE b.skipped_first IS NOT NULL"
)


def refuse_skipped_rows(con: duckdb.DuckDBPyConnection, db_path: object) -> None:
    """Raise `ChainTampered` while rows stored outside the chain lie in the hot store at sequence
    numbers a chain batch skipped over (`chain_batches.skipped_first..skipped_last`): archiving
    would carry them into the archive's files as if auditdash had stored them, and deleting them
    would destroy the evidence of the tampering."""
    _refuse_skipped(run(con, _SKIPPED_SQL)[0], db_path)


def _refuse_skipped(counted: Any, db_path: object) -> None:
    count, first, last = counted
    if count:
        raise ChainTampered(
            f"{db_path}: {int(count):,} stored events (seq {int(first):,} to {int(last):,}) hold sequence "
            "numbers the integrity chain skipped over: they were inserted outside auditdash. Nothing was "
            "purged. Run `auditdash verify`, keep a copy of the store (the file, or a dump of the database) as "
            "evidence, and remove those rows (or restore a backup) before purging."
        )


def _delete_archived(
    db: Database, where: Locations, manifests: dict[str, Manifest], months: list[str], cutoff: datetime
) -> int:
    """Delete, in one transaction, the hot events whose archived copy carries the same hash."""
    files = manifest_files(where, manifests, months)
    if not files:
        return 0
    if db.url is not None:
        return _delete_archived_postgres(db, files, min(months), cutoff)
    with db.write_lock, db.raw() as con, transaction(con):
        gone = f"""occurred_at < $cutoff AND NOT {held_sql("events")}
                AND seq IN (SELECT a.seq FROM read_parquet($files) a JOIN events e USING (seq)
                            WHERE a.hash = e.hash)"""  # noqa: S608
        rollups.remove_rows(con, gone, {"cutoff": cutoff, "files": files})  # in step, same transaction
        deleted = run(con, f"DELETE FROM events WHERE {gone}", {"cutoff": cutoff, "files": files})  # noqa: S608
        pause_at("deleting")
    return int(deleted[0][0]) if deleted else 0


def _delete_archived_postgres(db: Database, files: list[str], first_month: str, cutoff: datetime) -> int:
    """`_delete_archived` on PostgreSQL, in one transaction under the chain's lock: the archived
    (seq, hash) pairs copied in, the hot events with the same seq and hash (not held) counted out
    of the rollups and text values, then removed with their ids: a month's partition detached and
    dropped when the purge empties it, the rows deleted otherwise."""
    with db.write_lock, postgres.chain_transaction(db.engine) as cur:
        _archived_keys(cur, files)
        cur.execute(
            "CREATE TEMPORARY TABLE _gone ON COMMIT DROP AS SELECT e.* FROM events e "  # noqa: S608
            "JOIN _arch a ON a.seq = e.seq AND a.hash = e.hash "
            f"WHERE e.occurred_at >= %s AND e.occurred_at < %s AND NOT {held_sql('e')}",
            (month_range(first_month)[0], cutoff),
        )
        adjust_postgres(cur, "_gone", -1)  # in step, same transaction
        deleted, _ = postgres.remove_events(cur, "_gone")
        pause_at("deleting")
    return deleted

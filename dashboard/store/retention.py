"""Retention: the policy, the archive-then-delete purge, legal holds, restore, hot + archive reads.

A purge moves the events of whole months that are older than the hot period into the archive:
one Parquet file (zstd) per month with a manifest beside it (docs/integrity.md). Each month is
written to a temporary name, flushed to disk, read back and checked (row count, every event's
hash recomputed from the file, the set of (seq, hash) equal to the source), renamed, and only
then committed by replacing its manifest. Only events whose archived copy carries the same
hash are deleted from the hot store, in one transaction. So a crash at any point loses
nothing: a rerun removes files no manifest names (rolling back) and deletes what a committed
manifest already holds (completing). Each run is journalled in `purge_runs`.

Months older than the archive period are expired: their events' contents are dropped from the
file but their sequence numbers and hashes stay, so the chain still verifies. Events under a
legal hold (a period or a user) are never moved out of the hot store and never expired.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import sqlalchemy as sa

from dashboard.store import integrity, schema, selflog
from dashboard.store.db import Database, StoreError, utcnow
from dashboard.store.duck import run, transaction
from dashboard.store.integrity import EVENT_TEXT_SQL as _TEXT
from dashboard.store.integrity import (
    IntegrityError,
    Locations,
    Manifest,
    check_rows,
    file_sha256,
    hash_workers,
    maintenance_lock,
    manifest_path,
    parse_when,
    read_manifests,
    write_checkpoint,
)

if TYPE_CHECKING:
    import dash

    from dashboard.config import Settings
    from dashboard.store.users import Actor
    from dashboard.web.state import AppState

log = logging.getLogger(__name__)

PROFILES: dict[str, tuple[int, int] | None] = {
    "standard": None,  # hot_days and archive_months as configured
    "pci": (92, 9),  # PCI DSS 10.5.1: 12 months, the last 3 immediately available
}
#: test hook: the purge stops after this step and waits (so a test can kill it there).
PAUSE_ENV = "AUDITDASH_PURGE_PAUSE_AFTER"
PAUSE_STEPS: tuple[str, ...] = ("planned", "written", "committed", "archived", "deleting", "deleted")

_COLUMNS: tuple[str, ...] = tuple(c.name for c in schema.events.columns)
_COLS_SQL = ", ".join(_COLUMNS)
_KEEP_ALWAYS = ("seq", "batch_id", "hash")


class RetentionError(StoreError):
    """A retention action cannot be done as asked."""


# ----------------------------------------------------------------------------- the policy
def month_start(when: datetime) -> datetime:
    """The first instant of the month of `when`."""
    return when.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(when: datetime, months: int) -> datetime:
    """`when` moved by whole months (`when` is a month start)."""
    index = when.year * 12 + (when.month - 1) + months
    return when.replace(year=index // 12, month=index % 12 + 1)


def month_range(month: str) -> tuple[datetime, datetime]:
    """[start, end) of a YYYY-MM month."""
    start = datetime.strptime(month, "%Y-%m")
    return start, add_months(start, 1)


@dataclass(frozen=True)
class RetentionPolicy:
    """How long events stay hot, and how long archived months are kept after that."""

    profile: str = "standard"
    hot_days: int = 90
    archive_months: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        """The policy of the configuration (a profile overrides the two periods)."""
        from dashboard.config import ConfigError

        if settings.retention_profile not in PROFILES:
            raise ConfigError(
                f"AUDITDASH_RETENTION_PROFILE={settings.retention_profile!r}: use one of {', '.join(PROFILES)}"
            )
        fixed = PROFILES[settings.retention_profile]
        hot, archive = fixed if fixed else (settings.hot_days, settings.archive_months)
        if hot < 1:
            raise ConfigError(f"AUDITDASH_HOT_DAYS={hot}: events must stay hot for at least one day")
        if archive < 0:
            raise ConfigError(f"AUDITDASH_ARCHIVE_MONTHS={archive} cannot be negative")
        return cls(settings.retention_profile, hot, archive)

    def hot_cutoff(self, now: datetime) -> datetime:
        """Events that occurred before this leave the hot store (whole months only)."""
        return month_start(now - timedelta(days=self.hot_days))

    def archive_cutoff(self, now: datetime) -> datetime:
        """Archived months before this are expired."""
        return add_months(self.hot_cutoff(now), -self.archive_months)

    def describe(self) -> str:
        """The policy in words."""
        return (
            f"{self.hot_days} days hot, then {self.archive_months} months in the archive "
            f"(profile {self.profile}); months move and expire whole"
        )

    def meets_pci(self) -> bool:
        """Whether at least 3 months stay hot and 12 months are kept in all (PCI DSS 10.5.1)."""
        return self.hot_days >= 92 and self.hot_days + self.archive_months * 31 >= 365


# ----------------------------------------------------------------------------- legal holds
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
def _held(alias: str) -> str:
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


# ----------------------------------------------------------------------------- the plan
@dataclass
class MonthPlan:
    """What a purge does to one month."""

    month: str
    move: int = 0  # hot events to write to the archive
    already_archived: int = 0  # hot events the archive holds already (an interrupted run): delete only
    held: int = 0  # events of the month kept hot by a legal hold
    expire: int = 0  # archived events whose contents expire

    @property
    def delete(self) -> int:
        """Hot events this purge deletes."""
        return self.move + self.already_archived


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


def _files(where: Locations, manifests: dict[str, Manifest], months: list[str] | None = None) -> list[str]:
    return [str(where.archive_dir / m.file) for k, m in sorted(manifests.items()) if months is None or k in months]


def plan_purge(db: Database, where: Locations, policy: RetentionPolicy, now: datetime | None = None) -> PurgePlan:
    """What a purge run now would move, keep (held) and expire."""
    now = now or utcnow()
    hot_cutoff, archive_cutoff = policy.hot_cutoff(now), policy.archive_cutoff(now)
    manifests, _ = read_manifests(where.archive_dir)
    months: dict[str, MonthPlan] = {}
    with db.raw() as con:
        _arch_view(con, "_plan_arch", _files(where, manifests))
        try:
            for month, move, done, held in run(
                con,
                f"""SELECT strftime(e.occurred_at, '%Y-%m') AS month,
                           count(*) FILTER (WHERE NOT e._held AND NOT e._in_archive),
                           count(*) FILTER (WHERE NOT e._held AND e._in_archive),
                           count(*) FILTER (WHERE e._held)
                    FROM (SELECT e.occurred_at, {_held("e")} AS _held,
                                 EXISTS (SELECT 1 FROM _plan_arch a WHERE a.seq = e.seq AND a.hash = e.hash)
                                 AS _in_archive
                          FROM events e WHERE e.occurred_at < $cutoff) e
                    GROUP BY month ORDER BY month""",  # noqa: S608 - fixed SQL
                {"cutoff": hot_cutoff},
            ):
                months[month] = MonthPlan(month, int(move), int(done), int(held))
            expiring = [m for m in manifests if month_range(m)[1] <= archive_cutoff]
            for month in expiring:
                plan = months.setdefault(month, MonthPlan(month))
                count = run(
                    con,
                    f"SELECT count(*) FILTER (WHERE r.event_id IS NOT NULL AND NOT {_held('r')}) "  # noqa: S608
                    "FROM read_parquet($f) r",
                    {"f": str(where.archive_dir / manifests[month].file)},
                )[0][0]
                plan.expire = int(count)
        finally:
            run(con, "DROP VIEW IF EXISTS _plan_arch")
    # Months that would be rewritten for nothing are left out.
    kept = [m for m in sorted(months.values(), key=lambda m: m.month) if m.delete or m.expire or m.held]
    return PurgePlan(now, hot_cutoff, archive_cutoff, kept)


# ----------------------------------------------------------------------------- the purge
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


def _pause(step: str) -> None:
    """Test hook: stop after `step` when AUDITDASH_PURGE_PAUSE_AFTER names it (so a test can kill us)."""
    if os.environ.get(PAUSE_ENV) == step:
        print(f"purge paused after {step}", file=sys.stderr, flush=True)
        time.sleep(600)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def _atomic_write(path: Path, text: str) -> None:
    """Write a small file so that readers see the old or the new content, never a part."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _journal(db: Database, run_id: str, **values: Any) -> None:
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(schema.purge_runs.update().where(schema.purge_runs.c.run_id == run_id).values(**values))


_ARCHIVE_FILE = re.compile(r"^\d{4}-\d{2}\.r\d+\.parquet$")


def _tidy(where: Locations, manifests: dict[str, Manifest]) -> list[str]:
    """Roll back what interrupted runs left: temp files, and month files no manifest names."""
    removed: list[str] = []
    if not where.archive_dir.is_dir():
        return removed
    named = {m.file for m in manifests.values()}
    for path in where.archive_dir.iterdir():
        leftover = path.name.startswith(".") and path.name.endswith(".tmp")
        if leftover or (_ARCHIVE_FILE.match(path.name) and path.name not in named):
            path.unlink()
            removed.append(path.name)
    if removed:
        _fsync_dir(where.archive_dir)
    return removed


def _mirror(db: Database, manifest: Manifest) -> None:
    """Copy a committed manifest into `archive_months`."""
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(schema.archive_months.delete().where(schema.archive_months.c.month == manifest.month))
        conn.execute(
            schema.archive_months.insert().values(
                month=manifest.month,
                revision=manifest.revision,
                file=manifest.file,
                rows=manifest.rows,
                expired_rows=manifest.expired_rows,
                first_seq=manifest.first_seq,
                last_seq=manifest.last_seq,
                sha256=manifest.sha256,
                bytes=manifest.bytes,
                boundary_batch_id=manifest.boundary_batch_id,
                boundary_hash=manifest.boundary_hash,
                updated_at=utcnow(),
            )
        )


def _reconcile(db: Database, manifests: dict[str, Manifest]) -> None:
    """Bring `archive_months` up to the committed manifests (after a crash between the two)."""
    with db.connect() as conn:
        recorded = {
            r.month: (r.revision, r.sha256)
            for r in conn.execute(
                sa.select(
                    schema.archive_months.c.month, schema.archive_months.c.revision, schema.archive_months.c.sha256
                )
            )
        }
    for month, manifest in manifests.items():
        if recorded.get(month) != (manifest.revision, manifest.sha256):
            _mirror(db, manifest)


def _source_sql(old_file: str | None, expire: bool) -> str:
    """The rows of a month's next revision: its archived rows plus the hot rows that join them.

    Parameters: $month_start, $month_end, $cutoff, $old (the current file, when there is one).
    When `expire`, every event not under a legal hold keeps only seq, batch_id and hash.
    """
    old = "SELECT * FROM read_parquet($old)" if old_file else "SELECT * FROM events WHERE false"
    new = (
        f"SELECT {_COLS_SQL} FROM events e WHERE e.occurred_at >= $month_start AND e.occurred_at < $month_end "  # noqa: S608
        f"AND e.occurred_at < $cutoff AND NOT {_held('e')} "
        "AND NOT EXISTS (SELECT 1 FROM _old o WHERE o.seq = e.seq)"
    )
    rows = f"SELECT {_COLS_SQL} FROM _old UNION ALL {new}"  # noqa: S608
    if not expire:
        return f"WITH _old AS ({old}) SELECT * FROM ({rows})"  # noqa: S608
    cols = ", ".join(c if c in _KEEP_ALWAYS else f"CASE WHEN r._keep THEN r.{c} END AS {c}" for c in _COLUMNS)
    return f"WITH _old AS ({old}) SELECT {cols} FROM (SELECT x.*, {_held('x')} AS _keep FROM ({rows}) x) r"  # noqa: S608


def _write_month(
    db: Database,
    where: Locations,
    plan: MonthPlan,
    current: Manifest | None,
    cutoff: datetime,
    expire: bool,
    run_id: str,
) -> Manifest | None:
    """Write, check and commit the next revision of one month; None when nothing changes."""
    if not plan.move and not (expire and plan.expire):
        return None
    revision = current.revision + 1 if current else 1
    name = f"{plan.month}.r{revision}.parquet"
    final = where.archive_dir / name
    tmp = where.archive_dir / f".{name}.tmp"
    start, end = month_range(plan.month)
    params: dict[str, Any] = {"month_start": start, "month_end": end, "cutoff": cutoff}
    if current:
        params["old"] = str(where.archive_dir / current.file)
    source = _source_sql(current.file if current else None, expire)
    with db.raw() as con:
        # The hot rows come in insertion (sequence) order; merging with an older revision
        # needs a sort to keep the file in sequence order.
        order = " ORDER BY seq" if current else ""
        # zstd level 1: the same size as the default level here, for a quarter less CPU
        options = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
        copy = f"COPY (SELECT * FROM ({source}){order}) TO $tmp ({options})"  # noqa: S608
        run(con, copy, {**params, "tmp": str(tmp)})
        _fsync_file(tmp)
        # Read the file back: the same hashes in the same sequence order as the source, and
        # every event's hash recomputed from what the file holds (so each row's content, its
        # seq included, is what was hashed when it was stored).
        src = run(
            con,
            f"SELECT count(*), string_agg(hash, '' ORDER BY seq) FROM ({source})",  # noqa: S608
            params,
        )[0]
        with hash_workers(int(src[0])) as pool:
            _, bad = check_rows(
                con.sql(
                    f"SELECT seq, hash, {_TEXT} AS t FROM read_parquet($tmp) WHERE event_id IS NOT NULL",  # noqa: S608
                    params={"tmp": str(tmp)},
                ),
                pool,
            )
        got, first_seq, last_seq, first_at, last_at, expired, hashes = run(
            con,
            """SELECT count(*), min(seq), max(seq), min(occurred_at), max(occurred_at),
                      count(*) FILTER (WHERE event_id IS NULL), string_agg(hash, '' ORDER BY seq)
               FROM read_parquet($tmp)""",
            {"tmp": str(tmp)},
        )[0]
        if got != src[0] or hashes != src[1] or bad:
            tmp.unlink(missing_ok=True)
            raise IntegrityError(
                f"archive of {plan.month} failed its read-back check ({got:,} rows written, {src[0]:,} expected, "
                f"{len(bad):,} with a wrong hash{'' if hashes == src[1] else ', hashes differ'}); nothing was deleted"
            )
        boundary = run(
            con,
            "SELECT batch_id, hash FROM chain_batches WHERE $s BETWEEN first_seq AND last_seq",
            {"s": last_seq},
        )
    if not boundary:
        tmp.unlink(missing_ok=True)
        raise IntegrityError(f"no chain batch holds seq {last_seq}: run auditdash verify before purging")
    manifest = Manifest(
        month=plan.month,
        revision=revision,
        file=name,
        rows=int(got),
        expired_rows=int(expired),
        first_seq=int(first_seq),
        last_seq=int(last_seq),
        first_at=first_at.isoformat(timespec="milliseconds") + "Z" if first_at else None,
        last_at=last_at.isoformat(timespec="milliseconds") + "Z" if last_at else None,
        sha256=file_sha256(tmp),
        bytes=tmp.stat().st_size,
        hashes_digest=hashlib.sha256((hashes or "").encode()).hexdigest(),
        boundary_batch_id=int(boundary[0][0]),
        boundary_hash=str(boundary[0][1]),
        created_at=utcnow().isoformat(timespec="milliseconds") + "Z",
        run_id=run_id,
    )
    os.replace(tmp, final)
    _fsync_dir(where.archive_dir)
    _pause("written")
    _atomic_write(manifest_path(where.archive_dir, plan.month), json.dumps(manifest.to_json(), indent=2) + "\n")
    _pause("committed")
    _mirror(db, manifest)
    if current and current.file != name:
        (where.archive_dir / current.file).unlink(missing_ok=True)
    return manifest


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
        where.archive_dir.mkdir(parents=True, exist_ok=True)
        manifests, problems = read_manifests(where.archive_dir)
        if problems:
            raise RetentionError(f"the archive has unreadable manifests, fix them first: {'; '.join(problems)}")
        removed = _tidy(where, manifests)
        _reconcile(db, manifests)
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
        _pause("planned")
        try:
            for month in plan.months:
                expire = month_range(month.month)[1] <= plan.archive_cutoff
                written = _write_month(db, where, month, manifests.get(month.month), plan.hot_cutoff, expire, run_id)
                if written:
                    old = manifests.get(month.month)
                    result.written.append(month.month)
                    result.archived += (
                        written.rows - written.expired_rows - ((old.rows - old.expired_rows) if old else 0)
                    )
                    result.expired += written.expired_rows - (old.expired_rows if old else 0)
                    manifests[month.month] = written
            _journal(db, run_id, state="archived", archived=result.archived, expired=result.expired)
            _pause("archived")
            result.deleted = _delete_archived(
                db, where, manifests, [m.month for m in plan.months if m.delete], plan.hot_cutoff
            )
            _pause("deleted")
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


def _delete_archived(
    db: Database, where: Locations, manifests: dict[str, Manifest], months: list[str], cutoff: datetime
) -> int:
    """Delete, in one transaction, the hot events whose archived copy carries the same hash."""
    files = _files(where, manifests, months)
    if not files:
        return 0
    with db.write_lock, db.raw() as con, transaction(con):
        deleted = run(
            con,
            f"""DELETE FROM events WHERE occurred_at < $cutoff AND NOT {_held("events")}
                AND seq IN (SELECT a.seq FROM read_parquet($files) a JOIN events e USING (seq)
                            WHERE a.hash = e.hash)""",  # noqa: S608
            {"cutoff": cutoff, "files": files},
        )
        _pause("deleting")
    return int(deleted[0][0]) if deleted else 0


# ----------------------------------------------------------------------------- archive and restore
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
    with db.connect() as conn:
        recorded = {
            r.month: (r.revision, r.sha256)
            for r in conn.execute(
                sa.select(
                    schema.archive_months.c.month, schema.archive_months.c.revision, schema.archive_months.c.sha256
                )
            )
        }
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


def _months_between(manifests: dict[str, Manifest], start: datetime, end: datetime) -> list[str]:
    return [m for m in sorted(manifests) if month_range(m)[0] < end and month_range(m)[1] > start]


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
        months = _months_between(manifests, start, end)
        if not months:
            raise RetentionError(f"the archive holds no month between {start:%Y-%m-%d} and {end:%Y-%m-%d}")
        files = _files(where, manifests, months)
        for month in months:
            manifest = manifests[month]
            path = where.archive_dir / manifest.file
            if not path.is_file() or file_sha256(path) != manifest.sha256:
                raise IntegrityError(
                    f"archive {month}: {manifest.file} is missing or altered; run auditdash archive verify"
                )
        select = (
            f"SELECT {_COLS_SQL} FROM read_parquet($files) a WHERE a.event_id IS NOT NULL "  # noqa: S608
            "AND a.occurred_at >= $start AND a.occurred_at < $end"
        )
        params = {"files": files, "start": start, "end": end}
        with db.raw() as con:
            _, bad = check_rows(con.sql(f"SELECT seq, hash, {_TEXT} AS t FROM ({select})", params=params))  # noqa: S608
            total = int(run(con, f"SELECT count(*) FROM ({select})", params)[0][0])  # noqa: S608
        if bad:
            raise IntegrityError(f"archived events do not match their hashes (first at seq {bad[0]}); nothing restored")
        hold_id: int | None = None
        if into is None:
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
    inserted = run(
        con,
        f"INSERT INTO events SELECT * FROM ({select}) s "  # noqa: S608
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = s.seq)",
        params,
    )
    return int(inserted[0][0]) if inserted else 0


def _restore_into_file(db: Database, into: Path, select: str, params: dict[str, Any]) -> int:
    if into.resolve() == db.path.resolve():
        raise RetentionError("to restore into the store, leave out --into")
    with Database(into) as target, target.write_lock, target.raw() as con:
        with transaction(con):
            restored = _insert_missing(con, select, params)
        _, bad = check_rows(con.sql(f"SELECT seq, hash, {_TEXT} AS t FROM events"))  # noqa: S608
        if bad:
            raise IntegrityError(f"{into}: restored events do not match their hashes (first at seq {bad[0]})")
        target.set_meta("restored_from", json.dumps({"db": str(db.path), "at": utcnow().isoformat()}))
    return restored


def archived_months(where: Locations, start: datetime | None = None, end: datetime | None = None) -> list[Manifest]:
    """The committed archived months overlapping [start, end) that still hold readable events, oldest first.

    Months whose every event has expired (contents dropped) are left out: nothing there can be shown.
    """
    manifests, _ = read_manifests(where.archive_dir)
    lo, hi = start or datetime(1, 1, 1), end or datetime(9999, 12, 31)
    return [manifests[m] for m in _months_between(manifests, lo, hi) if manifests[m].rows > manifests[m].expired_rows]


def archive_files(where: Locations, start: datetime | None = None, end: datetime | None = None) -> list[str]:
    """The Parquet files of `archived_months(where, start, end)`."""
    return [str(where.archive_dir / m.file) for m in archived_months(where, start, end)]


def archive_table(files: Sequence[str]) -> sa.TableValuedAlias:
    """The archived rows of `files` as a table with the columns of `events` (read in place)."""
    return (
        sa.func.read_parquet(sa.bindparam("archive_files", list(files), type_=sa.ARRAY(sa.String)))
        .table_valued(*_COLUMNS)
        .alias("archived")
    )


def union_relation(
    files: Sequence[str], start: datetime | None = None, end: datetime | None = None, name: str = "events_all"
) -> sa.Subquery:
    """Hot events UNION ALL the archived events of `files`, within [start, end) when given.

    A subquery with the columns of `events`, in the same order and of the same types (the hot
    branch comes first). Events both hot and archived (a restore) appear once, from the hot
    store; expired archived events (contents dropped, no `event_id`) are left out. With no
    files it is the hot store alone.
    """
    ev = schema.events
    conds: list[sa.ColumnElement[bool]] = []
    if start is not None:
        conds.append(ev.c.occurred_at >= start)
    if end is not None:
        conds.append(ev.c.occurred_at < end)
    hot = sa.select(*ev.c).where(*conds)
    if not files:
        return hot.subquery(name)
    arch = archive_table(files)
    # A restored event keeps its time: the hot copy is looked for in the same range only.
    again = sa.select(ev.c.seq).where(ev.c.seq == arch.c.seq, *conds)
    arch_conds = [arch.c.event_id.is_not(None), ~again.exists()]
    if start is not None:
        arch_conds.append(arch.c.occurred_at >= start)
    if end is not None:
        arch_conds.append(arch.c.occurred_at < end)
    archived = sa.select(*(arch.c[col] for col in _COLUMNS)).where(*arch_conds)
    return sa.union_all(hot, archived).subquery(name)


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_time(value: datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S.%f}'"


def shadow_events_sql(database: str, files: Sequence[str], start: datetime, end: datetime) -> str:
    """`CREATE TEMP VIEW events`: the hot store UNION ALL the archived events of `files` in [start, end).

    Made on one connection, inside its transaction (a rollback drops it again), it stands in for
    the `events` table in every statement of that connection: the same statements then read the
    archived months of the period too, as `union_relation` does (restored events once, from the
    hot store; expired ones left out). The hot branch is whole, so statements about more than
    the period (a person's history) see every hot event as before. `database` is the name of the
    store in that connection (`current_database()`); the files are literals, since a view takes
    no parameters.
    """
    hot = '"' + database.replace('"', '""') + '".main.events'
    lo, hi = _sql_time(start), _sql_time(end)
    files_sql = "[" + ", ".join(_sql_text(f) for f in files) + "]"
    archived_cols = ", ".join(f"a.{c}" for c in _COLUMNS)
    return (
        f"CREATE TEMP VIEW events AS SELECT {_COLS_SQL} FROM {hot} "  # noqa: S608 - our own literals
        f"UNION ALL SELECT {archived_cols} FROM read_parquet({files_sql}) a "
        f"WHERE a.event_id IS NOT NULL AND a.occurred_at >= {lo} AND a.occurred_at < {hi} "
        f"AND NOT EXISTS (SELECT 1 FROM {hot} h WHERE h.seq = a.seq AND h.occurred_at >= {lo} AND h.occurred_at < {hi})"
    )


@dataclass(frozen=True)
class ArchivedInView:
    """Events of a view that only the archive holds (not in the hot store)."""

    events: int
    months: tuple[str, ...]  # YYYY-MM, oldest first

    def to_json(self) -> dict[str, Any]:
        """For pack headers and manifests."""
        return {"events": self.events, "months": list(self.months)}


def archived_in_view(
    conn: Any, where: Locations, filters: Any, now: datetime, files: Sequence[str] | None = None
) -> ArchivedInView:
    """How many events matching `filters` are in archived months and not (or no longer) hot.

    Read straight from the months' Parquet files (those overlapping the view's range, or `files`
    when given: the ones a pack reads), with the same conditions as the view. Packs and the report
    page say this number: how much of the view comes from the archive.
    """
    start, end = filters.resolve_range(now)
    if files is None:
        files = [str(where.archive_dir / m.file) for m in archived_months(where, start, end)]
    if not files:
        return ArchivedInView(0, ())
    arch = archive_table(files)
    ev = schema.events
    hot = sa.select(ev.c.seq).where(ev.c.seq == arch.c.seq, ev.c.occurred_at >= start, ev.c.occurred_at < end)
    stmt = (
        sa.select(sa.func.count(), sa.func.strftime(arch.c.occurred_at, "%Y-%m").label("month"))
        .where(arch.c.event_id.is_not(None), filters.where(arch, now), ~hot.exists())
        .group_by(sa.text("month"))
        .order_by(sa.text("month"))
    )
    rows = conn.execute(stmt).fetchall()
    return ArchivedInView(sum(int(n) for n, _ in rows), tuple(str(m) for n, m in rows if n))


def events_relation(
    db: Database,
    where: Locations,
    start: datetime | None = None,
    end: datetime | None = None,
    include_archive: bool = True,
) -> sa.Subquery:
    """Events of [start, end) from the hot store and, when asked, straight from the archive.

    A selectable with the columns of `events` (for the explorer): archived months overlapping
    the range are read from their Parquet files; events that are both hot and archived (a
    restore) appear once; expired events (contents dropped) are left out.
    """
    files = archive_files(where, start, end) if include_archive else []
    return union_relation(files, start, end)


# ----------------------------------------------------------------------------- overview and jobs
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
    db_bytes = sum(p.stat().st_size for p in (db.path, db.path.with_name(db.path.name + ".wal")) if p.exists())
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


LAST_VERIFY_META = integrity.LAST_VERIFY_META


def scheduled_verify(db: Database, where: Locations) -> bool:
    """The scheduled verification: record it (and keep it for the page and packs), alert when broken."""
    from dashboard.store.users import Actor

    result = integrity.verify(db, where)
    integrity.record_verification(db, result, Actor("system"))
    if not result.ok:
        # PCI DSS 10.3.4: a change to the logs raises an alert. The failed `audit.verify` event
        # is what detection rules and notifications act on; the log line is for operators.
        log.error("INTEGRITY BREAK: %s", result.summary())
    return result.ok


def install_retention(app: dash.Dash, state: AppState) -> None:
    """Register the scheduled purge, checkpoint and verification jobs of the server."""
    from dashboard.store.users import Actor

    settings, db = state.settings, state.db
    where = Locations.resolve(settings, db.path)
    policy = RetentionPolicy.from_settings(settings)
    system = Actor("system")
    if settings.purge_interval_s > 0:
        state.scheduler.add(
            "retention.purge",
            settings.purge_interval_s,
            lambda: run_purge(db, where, policy, system),
            first_delay_s=min(600.0, settings.purge_interval_s),
        )
    if settings.checkpoint_interval_s > 0:
        state.scheduler.add(
            "integrity.checkpoint",
            settings.checkpoint_interval_s,
            lambda: write_checkpoint(db, where, "scheduled", only_if_moved=True),
            first_delay_s=min(60.0, settings.checkpoint_interval_s),
        )
    if settings.verify_interval_s > 0:
        state.scheduler.add(
            "integrity.verify",
            settings.verify_interval_s,
            lambda: scheduled_verify(db, where),
            first_delay_s=min(900.0, settings.verify_interval_s),
        )


# ----------------------------------------------------------------------------- command line
def _settings(args: argparse.Namespace) -> Settings:
    from dashboard import config

    return config.load().with_overrides(db_path=Path(args.db) if getattr(args, "db", None) else None)


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Database, Locations, Settings]]:
    settings = _settings(args)
    db = Database(settings.db_path)
    try:
        yield db, Locations.resolve(settings, db.path), settings
    finally:
        db.close()


def _cli_actor() -> Actor:
    from dashboard.web.auth_cli import cli_actor

    return cli_actor()


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_purge(args: argparse.Namespace) -> int:
    """`auditdash purge [--dry-run]`."""
    with _opened(args) as (db, where, settings):
        result = run_purge(db, where, RetentionPolicy.from_settings(settings), _cli_actor(), dry_run=args.dry_run)
    if args.json:
        _print(result.to_json())
        return 0
    print(result.summary())
    for m in result.plan.months:
        print(
            f"  {m.month}: move {m.move:,}, already archived {m.already_archived:,}, "
            f"held {m.held:,}, expire {m.expire:,}"
        )
    for name in result.removed_files:
        print(f"  removed leftover {name}")
    for run_id in result.resumed:
        print(f"  completed interrupted run {run_id}")
    return 0


def cmd_archive(args: argparse.Namespace) -> int:
    """`auditdash archive list|verify|restore`."""
    from dashboard.store.integrity import print_verification, record_verification, verify

    with _opened(args) as (db, where, _):
        if args.archive_cmd == "list":
            months = list_archive(db, where)
            if args.json:
                _print([m.to_json() for m in months])
                return 0
            if not months:
                print(f"the archive ({where.archive_dir}) is empty")
            for m in months:
                man = m.manifest
                flags = ("" if m.present else " FILE MISSING") + ("" if m.recorded else " (not recorded)")
                print(
                    f"{man.month}  {man.rows:>10,} events ({man.expired_rows:,} expired)  "
                    f"seq {man.first_seq}..{man.last_seq}  "
                    f"{man.bytes / 1e6:9.3f} MB  {man.file}  sha256 {man.sha256[:16]}…{flags}"
                )
            return 0
        if args.archive_cmd == "verify":
            result = verify(db, where, archive_only=True)
            record_verification(db, result, _cli_actor())
            print_verification(result, args.json)
            return 0 if result.ok else 1
        outcome = restore(db, where, _cli_actor(), args.start, args.end, Path(args.into) if args.into else None)
    if args.json:
        _print(outcome.to_json())
    else:
        print(
            f"restored {outcome.restored:,} events of {', '.join(outcome.months)} into {outcome.into}"
            + (f" ({outcome.skipped:,} were there already)" if outcome.skipped else "")
        )
        if outcome.hold_id:
            print(
                f"legal hold {outcome.hold_id} keeps them from the next purge; "
                f"release it with: auditdash hold remove {outcome.hold_id}"
            )
    return 0


def cmd_hold(args: argparse.Namespace) -> int:
    """`auditdash hold add|list|remove`."""
    with _opened(args) as (db, _where, _):
        if args.hold_cmd in ("add", "remove"):
            if args.hold_cmd == "add":
                hold = add_hold(db, _cli_actor(), args.reason, start=args.start, end=args.end, user_id=args.user)
                text = f"legal hold {hold.id}: {hold.describe()} ({hold.reason})"
            else:
                hold = release_hold(db, args.id, _cli_actor(), args.reason)
                text = f"legal hold {hold.id} released: {hold.describe()}"
            print(json.dumps(hold.to_json(), indent=2) if args.json else text)
            return 0
        holds = list_holds(db, include_released=args.all)
        if args.json:
            _print([h.to_json() for h in holds])
            return 0
        if not holds:
            print("no legal holds")
        for h in holds:
            state = "active" if h.active else f"released {h.released_at:%Y-%m-%d} by {h.released_by}"
            print(f"#{h.id}  {h.describe()}  — {h.reason}  (by {h.created_by}, {h.created_at:%Y-%m-%d}; {state})")
    return 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
) -> None:
    """Add `purge`, `archive` and `hold` to the `auditdash` command."""

    def until(text: str) -> datetime:
        return parse_when(text, end=True)

    p = sub.add_parser(
        "purge", parents=[common, as_json], help="archive old months, then delete them from the hot store"
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would move")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("archive", parents=[common], help="archived months: list, verify, restore")
    asub = p.add_subparsers(dest="archive_cmd", required=True)
    asub.add_parser("list", parents=[common, as_json], help="list archived months")
    asub.add_parser("verify", parents=[common, as_json], help="verify the archive files and their chain")
    a = asub.add_parser("restore", parents=[common, as_json], help="bring archived events back")
    a.add_argument("--from", dest="start", type=parse_when, required=True, metavar="WHEN")
    a.add_argument("--to", dest="end", type=until, required=True, metavar="WHEN", help="a date is inclusive")
    a.add_argument("--into", metavar="FILE.duckdb", help="a separate database file instead of the store")
    p.set_defaults(func=cmd_archive)

    p = sub.add_parser("hold", parents=[common], help="legal holds: events no purge may remove")
    hsub = p.add_subparsers(dest="hold_cmd", required=True)
    h = hsub.add_parser("add", parents=[common, as_json], help="hold a period or a user")
    h.add_argument("--from", dest="start", type=parse_when, metavar="WHEN")
    h.add_argument("--to", dest="end", type=until, metavar="WHEN", help="a date is inclusive")
    h.add_argument("--user", help="hold every event by or about this user id")
    h.add_argument("--reason", required=True, help="the matter or ticket the hold is for")
    h = hsub.add_parser("list", parents=[common, as_json], help="list legal holds")
    h.add_argument("--all", action="store_true", help="include released holds")
    h = hsub.add_parser("remove", parents=[common, as_json], help="release a hold")
    h.add_argument("id", type=int)
    h.add_argument("--reason", help="why it is released")
    p.set_defaults(func=cmd_hold)

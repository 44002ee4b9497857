"""The archive as storage: where archived months live, their manifests, and reading them in place.

A purge (dashboard.retention.purge) moves the events of old months to one Parquet file per month
(`<month>.r<revision>.parquet`) with a manifest beside it (`<month>.manifest.json`: rows, sequence
range, file digest, chain boundary). This module reads them: the manifests, the files of the months
a period overlaps, and the hot store UNION ALL those files (`union_relation` for SQLAlchemy
statements, `shadow_events_sql` for a temporary `events` view on one connection), so the explorer,
packs and the writer's duplicate check read archived months without restoring them.

`maintenance_lock` keeps verification, purge and restore of one database from overlapping.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from dashboard.store import schema
from dashboard.store.backend.postgres import CHAIN_LOCK
from dashboard.store.db import Database


class ArchiveSite(Protocol):
    """Where the archive of one database is (evidence.locations.Locations is one)."""

    @property
    def archive_dir(self) -> Path:
        """The folder of the archived months."""
        ...


MANIFEST_FORMAT = "auditdash-archive/1"


@dataclass(frozen=True)
class Manifest:
    """What one archived month holds (written as `<month>.manifest.json` beside its file)."""

    month: str
    revision: int
    file: str
    rows: int
    expired_rows: int
    first_seq: int
    last_seq: int
    first_at: str | None
    last_at: str | None
    sha256: str
    bytes: int
    hashes_digest: str
    boundary_batch_id: int
    boundary_hash: str
    created_at: str
    run_id: str
    format: str = MANIFEST_FORMAT

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Read a manifest; raises ValueError when a field is missing or of the wrong kind."""
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__})
        except KeyError as exc:
            raise ValueError(f"manifest field {exc} is missing") from exc


def manifest_path(archive_dir: Path, month: str) -> Path:
    """The manifest file of an archived month."""
    return archive_dir / f"{month}.manifest.json"


def read_manifests(archive_dir: Path) -> tuple[dict[str, Manifest], list[str]]:
    """Every committed manifest in the archive folder, and the problems met reading them."""
    found: dict[str, Manifest] = {}
    problems: list[str] = []
    if not archive_dir.is_dir():
        return found, problems
    for path in sorted(archive_dir.glob("*.manifest.json")):
        try:
            manifest = Manifest.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"{path.name}: unreadable manifest ({exc})")
            continue
        if path.name != f"{manifest.month}.manifest.json":
            problems.append(f"{path.name}: names month {manifest.month}")
            continue
        found[manifest.month] = manifest
    return found, problems


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class MaintenanceLock:
    """A thread lock that, on PostgreSQL, also holds a session-level advisory lock
    (`MAINTENANCE_LOCK`) on a connection of its own while held: the processes sharing the store
    run their verifications, purges, restores and erasures one at a time too."""

    def __init__(self, url: str | None) -> None:
        self._thread = threading.Lock()
        self._conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1) if url else None
        self._conn: Any = None

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (False when `blocking` is off and another thread or process holds it)."""
        if not self._thread.acquire(blocking):
            return False
        if self._conninfo is None:
            return True
        import psycopg

        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, application_name="auditdash-maintenance")
            call = "pg_advisory_lock" if blocking else "pg_try_advisory_lock"
            row = conn.execute(f"SELECT {call}(%s)", (MAINTENANCE_LOCK,)).fetchone()
            if not blocking and not (row and row[0]):
                conn.close()
                self._thread.release()
                return False
        except BaseException:
            self._thread.release()
            raise
        self._conn = conn
        return True

    def release(self) -> None:
        """Give the lock back (closing the connection ends the advisory lock)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self._thread.release()

    def __enter__(self) -> MaintenanceLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


#: the advisory lock of `MaintenanceLock` on PostgreSQL (the chain's writers use others)
MAINTENANCE_LOCK = CHAIN_LOCK + 3

_LOCKS: weakref.WeakKeyDictionary[Database, MaintenanceLock] = weakref.WeakKeyDictionary()


_LOCKS_GUARD = threading.Lock()


def maintenance_lock(db: Database) -> MaintenanceLock:
    """The lock that keeps verification, purge, restore and erasure of one database from overlapping.

    A purge replaces archive files; a verification reading them meanwhile would see a file
    vanish. One process owns a DuckDB file (its file lock), so a thread lock suffices there; on
    PostgreSQL the processes sharing the store meet at an advisory lock too.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(db)
        if lock is None:
            lock = _LOCKS[db] = MaintenanceLock(db.url)
        return lock


ARCHIVE_COLUMNS: tuple[str, ...] = tuple(c.name for c in schema.events.columns)


ARCHIVE_COLUMNS_SQL = ", ".join(ARCHIVE_COLUMNS)
#: columns `events` gained after months were first archived (schema version 12): a file written
#: before has none of them, and reads them as NULL (its events are of canonical forms 1 and 2)
LATER_COLUMNS: tuple[str, ...] = ("salt", "erased")


def parquet_sql(files_sql: str) -> str:
    """SQL of a subquery: the rows of the archive files `files_sql` (a SQL list or a parameter) with
    exactly the columns of `events`, in order; a column a file lacks (`LATER_COLUMNS`) is NULL."""
    nulls = ", ".join(f"CAST(NULL AS VARCHAR) AS {c}" for c in LATER_COLUMNS)
    return (
        f"(SELECT {ARCHIVE_COLUMNS_SQL} FROM (SELECT {nulls} WHERE false UNION ALL BY NAME "  # noqa: S608
        f"SELECT * FROM read_parquet({files_sql}, union_by_name = true)))"
    )


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


def months_between(manifests: dict[str, Manifest], start: datetime, end: datetime) -> list[str]:
    return [m for m in sorted(manifests) if month_range(m)[0] < end and month_range(m)[1] > start]


def manifest_files(where: ArchiveSite, manifests: dict[str, Manifest], months: list[str] | None = None) -> list[str]:
    return [str(where.archive_dir / m.file) for k, m in sorted(manifests.items()) if months is None or k in months]


def archived_months(where: ArchiveSite, start: datetime | None = None, end: datetime | None = None) -> list[Manifest]:
    """The committed archived months overlapping [start, end) that still hold readable events, oldest first.

    Months whose every event has expired (contents dropped) are left out: nothing there can be shown.
    """
    manifests, _ = read_manifests(where.archive_dir)
    lo, hi = start or datetime(1, 1, 1), end or datetime(9999, 12, 31)
    return [manifests[m] for m in months_between(manifests, lo, hi) if manifests[m].rows > manifests[m].expired_rows]


def archive_files(where: ArchiveSite, start: datetime | None = None, end: datetime | None = None) -> list[str]:
    """The Parquet files of `archived_months(where, start, end)`."""
    return [str(where.archive_dir / m.file) for m in archived_months(where, start, end)]


def archive_table(files: Sequence[str]) -> sa.Subquery:
    """The archived rows of `files` as a table with the columns of `events` (read in place)."""
    cols = [sa.column(c.name, c.type) for c in schema.events.columns]
    return (
        sa.text(f"SELECT * FROM {parquet_sql(':archive_files')}")  # noqa: S608 - our own SQL
        .bindparams(sa.bindparam("archive_files", list(files), type_=sa.ARRAY(sa.String)))
        .columns(*cols)
        .subquery("archived")
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
    archived = sa.select(*(arch.c[col] for col in ARCHIVE_COLUMNS)).where(*arch_conds)
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
    archived_cols = ", ".join(f"a.{c}" for c in ARCHIVE_COLUMNS)
    return (
        f"CREATE TEMP VIEW events AS SELECT {ARCHIVE_COLUMNS_SQL} FROM {hot} "  # noqa: S608 - our own literals
        f"UNION ALL SELECT {archived_cols} FROM {parquet_sql(files_sql)} a "
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
    conn: Any, where: ArchiveSite, filters: Any, now: datetime, files: Sequence[str] | None = None
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
    if conn.dialect.name == "postgresql":
        rows = _archived_rows_postgres(conn, stmt, files, start, end)
    else:
        rows = conn.execute(stmt).fetchall()
    return ArchivedInView(sum(int(n) for n, _ in rows), tuple(str(m) for n, m in rows if n))


def _archived_rows_postgres(
    conn: Any, stmt: sa.Select[Any], files: Sequence[str], start: datetime, end: datetime
) -> list[Any]:
    """`archived_in_view`'s query on a PostgreSQL store: PostgreSQL cannot read Parquet, so it runs
    on an in-memory DuckDB where `events` holds the (seq, occurred_at) of the hot events of the
    archived months in the period (held or restored ones: few), read from PostgreSQL first."""
    lo = max(start, min(month_range(Path(f).name[:7])[0] for f in files))
    hi = min(end, max(month_range(Path(f).name[:7])[1] for f in files))
    ev = schema.events
    hot = conn.execute(sa.select(ev.c.seq, ev.c.occurred_at).where(ev.c.occurred_at >= lo, ev.c.occurred_at < hi))
    rows = hot.all()
    import pyarrow as pa

    table = pa.table(
        {
            "seq": pa.array([r[0] for r in rows], pa.int64()),
            "occurred_at": pa.array([r[1] for r in rows], pa.timestamp("us")),
        }
    )
    engine = sa.create_engine("duckdb:///:memory:")
    try:
        with engine.connect() as duck:
            raw = duck.connection.driver_connection
            raw.register("_hot", table)  # type: ignore[union-attr]
            duck.execute(sa.text("CREATE TABLE events AS SELECT * FROM _hot"))
            return list(duck.execute(stmt).fetchall())
    finally:
        engine.dispose()


def events_relation(
    db: Database,
    where: ArchiveSite,
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

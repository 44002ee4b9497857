"""The database: one object owns the engine, the connections and the single writer.

DuckDB lets exactly one process open a file read-write. Inside that process the web server,
the ingest API and the scheduled jobs share the database through the engine's pool (each
thread checks out its own connection); writes that assign sequence numbers go through one
lock. A second process that tries to open the file gets `DatabaseLocked`, whose message says
which process holds it and what to do.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import duckdb
import duckdb_engine
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dashboard.store import schema
from dashboard.store.backend import engine_url, is_postgres, postgres
from dashboard.store.errors import StoreError
from dashboard.store.faults import classify

log = logging.getLogger(__name__)

#: how long closing a Database waits, in all, for the background work using it to stop
CLOSE_WAIT_S = 30.0

#: every Database open in this process, closed (background users stopped first) at exit
_OPEN: weakref.WeakSet[Database] = weakref.WeakSet()


@atexit.register
def _close_all_at_exit() -> None:
    """Close every open Database before the interpreter finalises: a background thread still
    inside DuckDB then would be torn down through DuckDB's C++ frames, which aborts the process
    (exit 134, "terminate called ... exception not rethrown")."""
    for db in list(_OPEN):
        try:
            db.close()
        except Exception:  # exiting: report, never raise
            log.exception("closing %s at exit failed", db.path)


class DatabaseLocked(StoreError):
    """Another process holds the database file."""

    def __init__(self, path: Path, pid: int | None, server: dict[str, Any] | None) -> None:
        self.path = path
        self.pid = pid
        self.server = server
        who = f"process {pid}" if pid else "another process"
        if server and server.get("pid") == pid:
            who = f"the auditdash server (process {pid}, {server.get('url')})"
        advice = (
            "Stop that process first, or send the work to the running server "
            "(for ingest: auditdash ingest --server URL --token TOKEN FILE...)."
        )
        super().__init__(f"{path} is in use by {who}. {advice}")


def server_info_path(db_path: Path) -> Path:
    """Where a running server notes its pid and address, beside the database file."""
    return db_path.with_name(db_path.name + ".server.json")


def _read_server_info(db_path: Path) -> dict[str, Any] | None:
    try:
        info: dict[str, Any] = json.loads(server_info_path(db_path).read_text())
        return info
    except (OSError, ValueError):
        return None


Migration = Callable[[Connection], None]


def _create(*tables: sa.Table) -> Migration:
    """A migration step that creates the given tables (and their sequences)."""

    def step(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":  # events partitioned by month (store/backend/postgres.py)
            postgres.create_tables(conn, tables)
            return
        schema.metadata.create_all(conn, tables=list(tables))

    return step


def _add_columns(conn: Connection, table: sa.Table, *names: str) -> None:
    """Add columns of `table` (as schema.py defines them) that the file's table lacks: a store
    created at an earlier version gains them; one created since has them already."""
    query = sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND table_schema = current_schema()"
    )
    present = {str(row[0]) for row in conn.execute(query, {"t": table.name})}
    for name in names:
        if name not in present:
            column = table.c[name]
            kind = column.type.compile(dialect=conn.dialect)
            conn.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{name}" {kind}'))


def _versioned_chain(conn: Connection) -> None:
    """Canonical form versions per chain batch, and quarantined records in the chain.

    Existing batches keep version 1 (verified exactly as before) and existing quarantined records
    stay outside the chain (no batch); batches written from now on use the current version.
    """
    for sql in (
        "ALTER TABLE chain_batches ADD COLUMN IF NOT EXISTS version INTEGER DEFAULT 1",
        "ALTER TABLE chain_batches ADD COLUMN IF NOT EXISTS quarantine_count BIGINT DEFAULT 0",
        "ALTER TABLE chain_batches ADD COLUMN IF NOT EXISTS quarantine_digest VARCHAR",
        "ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS batch_id BIGINT",
        "ALTER TABLE quarantine ADD COLUMN IF NOT EXISTS hash VARCHAR",
    ):
        conn.execute(sa.text(sql))


def _rollups(conn: Connection) -> None:
    """Create the rollups and fill them from the events stored (docs/architecture.md, "Rollups")."""
    from dashboard.store import rollups  # it reads the filter model, which reads the schema

    rollups.rebuild_step(conn)


def _text_values(conn: Connection) -> None:
    """Create the free-text search's tables and fill them from the events stored."""
    from dashboard.store import rollups

    rollups.text_step(conn)


def _time_order_index(conn: Connection) -> None:
    """On PostgreSQL, the index the explorer's time order reads (DuckDB needs none)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(postgres.TIME_SEQ_INDEX))


def _events_tally(conn: Connection) -> None:
    """On PostgreSQL, the events' tally kept by triggers, counted once from the events stored
    (`postgres.install_tally`; not on Citus); DuckDB counts its events directly."""
    if conn.dialect.name == "postgresql":
        with postgres.driver_cursor(conn) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (postgres.CHAIN_LOCK,))
            postgres.install_tally(cur)


def _address_people(conn: Connection) -> None:
    """The address rollups made again with the person's type and name, filled from the events."""
    from dashboard.store import rollups

    rollups.reshape_step(conn, [schema.rollup_address_1d, schema.rollup_address_7d])


def _person_rollups(conn: Connection) -> None:
    """The rollups per person and action, filled from the events (a store made since has them)."""
    from dashboard.store import rollups

    rollups.reshape_step(conn, [schema.rollup_person_1d, schema.rollup_person_7d])


def _address_action_rollup(conn: Connection) -> None:
    """The weekly rollup per address, person and action, filled from the events."""
    from dashboard.store import rollups

    rollups.reshape_step(conn, [schema.rollup_address_action_7d])


def _real_places(conn: Connection) -> None:
    """On PostgreSQL, the places of the rollups and notable events in 32-bit floats as in `events`
    (they were 64-bit: a place read from the rollups did not equal the same place read from the
    events, and a map drew it twice). DuckDB's were 32-bit already."""
    if conn.dialect.name != "postgresql":
        return
    query = sa.text(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name IN ('geo_lat', 'geo_lon') AND data_type = 'double precision' ORDER BY 1, 2"
    )
    wide: dict[str, list[str]] = {}
    for table, column in conn.execute(query).fetchall():
        wide.setdefault(str(table), []).append(str(column))
    for table, columns in wide.items():
        changes = ", ".join(f"ALTER COLUMN {c} TYPE REAL" for c in columns)
        conn.execute(sa.text(f"ALTER TABLE {table} {changes}"))


#: forward migrations, applied in version order; each release appends, none is ever edited.
#: A new table is defined in schema.py and created by its own migration here.
MIGRATIONS: list[tuple[int, str, Migration]] = [
    (
        1,
        "events, integrity chain, quarantine, API tokens",
        _create(
            schema.schema_version,
            schema.meta,
            schema.events,
            schema.chain_batches,
            schema.quarantine,
            schema.api_tokens,
        ),
    ),
    (
        2,
        "dashboard users, sessions and login throttling",
        _create(schema.users, schema.sessions, schema.login_throttle),
    ),
    (
        3,
        "detection: alerts, evidence, alert activity, notifications, review sign-offs",
        _create(
            schema.alerts,
            schema.alert_evidence,
            schema.alert_activity,
            schema.notifications,
            schema.review_signoffs,
        ),
    ),
    (
        4,
        "retention and integrity: legal holds, archive months, purge journal, checkpoints",
        _create(schema.legal_holds, schema.archive_months, schema.purge_runs, schema.checkpoints),
    ),
    (
        5,
        "ingest tokens bound to accounts (api_tokens.accounts)",
        lambda conn: _add_columns(conn, schema.api_tokens, "accounts"),
    ),
    (
        6,
        "integrity: canonical form version per chain batch, quarantined records chained",
        _versioned_chain,
    ),
    (7, "streaming out: a cursor per destination", _create(schema.stream_state)),
    (
        8,
        "single sign-on: the identity-provider account of a user (dashboard_users.sso_subject)",
        lambda conn: _add_columns(conn, schema.users, "sso_subject"),
    ),
    (
        9,
        "integrity: sequence numbers a chain batch skipped over rows stored outside the chain",
        lambda conn: _add_columns(conn, schema.chain_batches, "skipped_first", "skipped_last"),
    ),
    (10, "streaming out: destinations made on the Streams page", _create(schema.stream_destinations)),
    (
        12,
        "erasure: a salt per event for its personal fields' commitments (canonical form 3), erasure records",
        lambda conn: _add_columns(conn, schema.events, "salt", "erased"),
    ),
    (11, "saved views: named filters, own or shared", _create(schema.saved_views)),
    (13, "rollups: event counts per bucket, and the notable events, built from the stored events", _rollups),
    (14, "free-text search: the distinct actors and targets of the stored events", _text_values),
    (15, "explorer: events in time order on PostgreSQL (index on occurred_at, seq)", _time_order_index),
    (16, "rollups: on PostgreSQL, the events' count and sequence sum kept by triggers (events_tally)", _events_tally),
    (17, "rollups: on PostgreSQL, places in 32-bit floats as in the events (a map drew a place twice)", _real_places),
    (
        18,
        "rollups: the address rollups name the person's type and name (an address block's people counted from them)",
        _address_people,
    ),
    (
        19,
        "rollups: events per person and action by day and week (people of an action, actions of a person)",
        _person_rollups,
    ),
    (
        20,
        "rollups: events per address, person and action by week (the map and addresses of an action)",
        _address_action_rollup,
    ),
]

CURRENT_VERSION = max(version for version, _, _ in MIGRATIONS)


class CachingDuckDBDialect(duckdb_engine.Dialect):
    """duckdb-engine's dialect with SQLAlchemy's compiled-statement cache turned on.

    duckdb-engine 0.17 declares `supports_statement_cache = False`, so every execution compiled
    its statement again (about 1 ms per dashboard query; docs/PERFORMANCE.md, "Dashboard").
    Its compiler adds only type names (no SQL constructs of its own), so the cache keys
    SQLAlchemy derives from our statements are complete; values stay bound parameters.
    """

    supports_statement_cache = True


sa.dialects.registry.register("duckdb.auditdash", __name__, "CachingDuckDBDialect")


def utcnow() -> datetime:
    """Now, as the naive UTC datetime the tables store (millisecond precision)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=(now.microsecond // 1000) * 1000)


class Database:
    """The store: engine, per-thread connections, one writer, migrations.

    Args:
        path: the DuckDB file (created with its folder when missing), or a `postgresql+psycopg://`
            URL (store/backend/postgres.py; then `path` is the folder-side name of the files kept
            beside the database: keys, archive, see `pg_state_path`).
        read_only: open without the write lock (fails while a writer holds the file).
        upgrade: on PostgreSQL, apply the migrations an older schema lacks (`auditdash migrate
            --to URL`); without it such a database is refused, untouched.
    """

    def __init__(self, path: Path | str, read_only: bool = False, upgrade: bool = False) -> None:
        #: the PostgreSQL URL (psycopg 3 driver) when the store is PostgreSQL, else None (DuckDB)
        self.url: str | None = engine_url(str(path)) if is_postgres(path) else None
        self.path = Path(path) if self.url is None else pg_state_path(self.url)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.existed = self.path.exists()
        self.write_lock = threading.RLock()
        #: background work using this database (detection runs, the pack queue, jobs, streams):
        #: (name, stop) pairs; `close` calls stop(timeout) on each, newest first, before disposing
        self._users: list[tuple[str, Callable[[float], object]]] = []
        self._users_lock = threading.Lock()
        connect_args: dict[str, Any] = {"read_only": read_only} if read_only else {}
        self.engine: Engine = (
            postgres.create_engine(self.url)
            if self.url
            else sa.create_engine(
                f"duckdb+auditdash:///{self.path}",
                connect_args=connect_args,
                pool_size=8,
                max_overflow=24,
                pool_pre_ping=False,
            )
        )
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise (postgres.explain(exc, self.url) if self.url else _explain(exc, self.path)) from exc
        if self.url and not upgrade:  # several processes share it: an older schema is upgraded on purpose only
            self._check_postgres_version()
        if not read_only:
            try:
                self.migrate()
            except (sa.exc.DBAPIError, duckdb.Error, OSError) as exc:  # a damaged file shows here first
                self.engine.dispose()
                fault = classify(exc, self.path)
                if fault is None:
                    raise
                raise fault from exc
        _OPEN.add(self)

    # -- background users ------------------------------------------------------------------
    def add_user(self, name: str, stop: Callable[[float], object]) -> None:
        """Register background work that uses this database: `stop(timeout)` must stop scheduling
        new work and wait up to `timeout` seconds for what runs. `close` (and the process's exit)
        calls it before the connections go away."""
        with self._users_lock:
            self._users.append((name, stop))

    def stop_users(self, timeout: float = CLOSE_WAIT_S) -> list[str]:
        """Stop the registered background work, newest first, within `timeout` seconds in all;
        returns the names of those whose stop failed."""
        with self._users_lock:
            users, self._users = self._users[::-1], []
        deadline = time.monotonic() + timeout
        failed: list[str] = []
        for name, stop in users:
            try:
                stop(max(deadline - time.monotonic(), 0.1))
            except Exception:  # one user's failure must not keep the others running
                log.exception("stopping %s (using %s) failed", name, self.path)
                failed.append(name)
        return failed

    # -- connections -------------------------------------------------------------------
    def connect(self) -> Connection:
        """A SQLAlchemy connection from the pool (use it in a `with` block)."""
        return self.engine.connect()

    @contextmanager
    def raw(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The DuckDB connection under a pooled connection, for bulk work (Arrow, COPY).

        On PostgreSQL: a scratch in-memory DuckDB (validation of batches runs there); the store's
        tables are reached through `batch_session` and `snapshot`, never through it."""
        if self.url is not None:
            scratch = duckdb.connect(":memory:")
            try:
                yield scratch
            finally:
                scratch.close()
            return
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            # duckdb-engine wraps the DuckDB connection; reach the real one.
            real = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
            yield real

    @contextmanager
    def batch_session(self, batch: Any) -> Iterator[duckdb.DuckDBPyConnection]:
        """The DuckDB connection the writer stores one batch (an Arrow table) with.

        DuckDB: `raw()` (the writer's own transaction, under `write_lock`). PostgreSQL: a staging
        DuckDB whose writes are copied to PostgreSQL under the chain's advisory lock
        (`backend.postgres.stage_batch`, docs/integrity.md "Several writers")."""
        if self.url is None:
            with self.raw() as con:
                yield con
            return
        with postgres.stage_batch(self.engine, batch) as con:
            yield con

    def snapshot(self, tables: tuple[str, ...]) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB copy of `tables`, read in one consistent transaction (PostgreSQL only:
        on DuckDB, use `raw()`). The caller closes it."""
        if self.url is None:
            raise StoreError("snapshot() is for PostgreSQL stores; use raw() on DuckDB")
        return postgres.snapshot(self.engine, tables)

    @contextmanager
    def reading(self, tables: tuple[str, ...] = postgres.CHAIN_TABLES) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB connection to read `tables` with DuckDB's SQL (the verification): `raw()` on
        DuckDB; on PostgreSQL a consistent copy, in memory (`snapshot`) for the small tables, in a
        temporary DuckDB file when it holds `events` (`backend.pg_copy`: bounded memory)."""
        if self.url is None:
            with self.raw() as con:
                yield con
            return
        if "events" in tables:
            from dashboard.store.backend.pg_copy import disk_snapshot

            with disk_snapshot(self.engine, tables) as con:
                yield con
            return
        con = self.snapshot(tables)
        try:
            yield con
        finally:
            con.close()

    def jobs_leader(self) -> Callable[[], bool] | None:
        """On PostgreSQL, the test "does this process run the scheduled jobs now" (one process of
        those sharing the store: `backend.postgres.JobsLease`); None on DuckDB (one process)."""
        if self.url is None:
            return None
        lease = postgres.JobsLease(self.url)
        self.add_user("scheduled jobs lease", lease.close)
        return lease.held

    def _check_postgres_version(self) -> None:
        current = self.version()
        if 0 < current < CURRENT_VERSION:
            self.engine.dispose()
            raise postgres.PostgresUnavailable(
                f"PostgreSQL at {postgres.redacted(str(self.url))} holds auditdash schema version {current}, older "
                f"than this auditdash ({CURRENT_VERSION}). Stop the auditdash processes using it, upgrade it once "
                f"with `auditdash migrate --to URL`, then start them again; nothing was written."
            )

    @property
    def shown(self) -> str:
        """The store as people are told it and pass it back with `--db`: the DuckDB file's path, or the
        PostgreSQL URL with its password hidden (`path` names only the files kept beside it there)."""
        return postgres.redacted(self.url) if self.url is not None else str(self.path)

    def dialect(self) -> str:
        """The backend's dialect name (`duckdb`, later `postgresql`)."""
        return str(self.engine.dialect.name)

    # -- schema --------------------------------------------------------------------------
    def version(self) -> int:
        """The schema version of the file (0 for an empty file)."""
        with self.connect() as conn:
            if not sa.inspect(conn).has_table("schema_version"):
                return 0
            v = conn.execute(sa.select(sa.func.max(schema.schema_version.c.version))).scalar()
            return int(v or 0)

    def migrate(self) -> int:
        """Apply the forward migrations the file lacks; return the version reached."""
        with self.write_lock, postgres.migration_lock(self.engine):
            current = self.version()
            if current > CURRENT_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this auditdash "
                    f"({CURRENT_VERSION}); upgrade auditdash."
                )
            with self.connect() as conn:
                applied = (
                    {int(v) for v in conn.execute(sa.select(schema.schema_version.c.version)).scalars()}
                    if current
                    else set()
                )
            # every step the file lacks, also one below its newest (each step is idempotent: it
            # creates or adds only what is missing)
            for version, description, step in sorted(MIGRATIONS, key=lambda m: m[0]):
                if version in applied:
                    continue
                with self.engine.begin() as conn:
                    step(conn)
                    conn.execute(
                        schema.schema_version.insert().values(
                            version=version, applied_at=utcnow(), description=description
                        )
                    )
            return max(current, CURRENT_VERSION)

    # -- small key/value settings ----------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A value of the `meta` table (for example `demo` when the data is demo data)."""
        with self.connect() as conn:
            value = conn.execute(sa.select(schema.meta.c.value).where(schema.meta.c.key == key)).scalar()
            return None if value is None else str(value)

    def set_meta(self, key: str, value: str) -> None:
        """Store a value in the `meta` table."""
        with self.write_lock, self.engine.begin() as conn:
            conn.execute(schema.meta.delete().where(schema.meta.c.key == key))
            conn.execute(schema.meta.insert().values(key=key, value=value))

    def close(self, timeout: float = CLOSE_WAIT_S) -> None:
        """Stop the background work using the database (`add_user`; up to `timeout` seconds),
        then close every pooled connection (the file lock is released)."""
        self.stop_users(timeout)
        _OPEN.discard(self)
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_LOCK_PID = re.compile(r"\(PID (\d+)\)")


def _explain(exc: sa.exc.DBAPIError, path: Path) -> StoreError:
    text = str(exc.orig) if exc.orig else str(exc)
    if "Could not set lock" in text or "Conflicting lock" in text:
        m = _LOCK_PID.search(text)
        pid = int(m.group(1)) if m else None
        return DatabaseLocked(path, pid, _read_server_info(path))
    if "not a valid DuckDB database" in text or "Unable to open" in text:
        return StoreError(
            f"{path} is not an auditdash database file: {text.splitlines()[0].rstrip('.!')}. Check the path "
            "(--db, AUDITDASH_DB); if it is the database, it is damaged: restore it from your latest "
            f"backup and run `auditdash verify --db {path}`."
        )
    fault = classify(exc, path)
    if fault is not None:  # a full disk, a damaged file, an I/O error: what to do, in words
        return fault
    return StoreError(f"cannot open {path}: {text.splitlines()[0]}")


def pg_state_path(url: str) -> Path:
    """Where the files kept beside a PostgreSQL store live (signing and second-factor keys, the
    archive): `config.url_state_path` under the home folder, one per server and database."""
    from dashboard import config

    return config.url_state_path(url, config.load().home_dir)


def write_server_info(db_path: Path, url: str) -> Path:
    """Note, beside the database, that this process serves it (removed on exit)."""
    target = server_info_path(db_path)
    target.write_text(json.dumps({"pid": os.getpid(), "url": url, "started_at": utcnow().isoformat()}))
    return target

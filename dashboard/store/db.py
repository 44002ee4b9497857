"""The database: one object owns the engine, the connections and the single writer.

DuckDB lets exactly one process open a file read-write. Inside that process the web server,
the ingest API and the scheduled jobs share the database through the engine's pool (each
thread checks out its own connection); writes that assign sequence numbers go through one
lock. A second process that tries to open the file gets `DatabaseLocked`, whose message says
which process holds it and what to do.
"""

from __future__ import annotations

import json
import os
import re
import threading
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


class StoreError(Exception):
    """A database problem explained in words a user can act on."""


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
        schema.metadata.create_all(conn, tables=list(tables))

    return step


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
        path: the DuckDB file (created with its folder when missing).
        read_only: open without the write lock (fails while a writer holds the file).
    """

    def __init__(self, path: Path | str, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.existed = self.path.exists()
        self.write_lock = threading.RLock()
        connect_args: dict[str, Any] = {"read_only": read_only} if read_only else {}
        self.engine: Engine = sa.create_engine(
            f"duckdb+auditdash:///{self.path}",
            connect_args=connect_args,
            pool_size=8,
            max_overflow=24,
            pool_pre_ping=False,
        )
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.DBAPIError as exc:
            self.engine.dispose()
            raise _explain(exc, self.path) from exc
        if not read_only:
            self.migrate()

    # -- connections -------------------------------------------------------------------
    def connect(self) -> Connection:
        """A SQLAlchemy connection from the pool (use it in a `with` block)."""
        return self.engine.connect()

    @contextmanager
    def raw(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The DuckDB connection under a pooled connection, for bulk work (Arrow, COPY)."""
        with self.engine.connect() as conn:
            driver = conn.connection.driver_connection
            # duckdb-engine wraps the DuckDB connection; reach the real one.
            real = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
            yield real

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
        with self.write_lock:
            current = self.version()
            if current > CURRENT_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this auditdash "
                    f"({CURRENT_VERSION}); upgrade auditdash."
                )
            for version, description, step in sorted(MIGRATIONS, key=lambda m: m[0]):
                if version <= current:
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

    def close(self) -> None:
        """Close every pooled connection (the file lock is released)."""
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
        return StoreError(f"{path} is not an auditdash database file: {text.splitlines()[0]}")
    return StoreError(f"cannot open {path}: {text.splitlines()[0]}")


def write_server_info(db_path: Path, url: str) -> Path:
    """Note, beside the database, that this process serves it (removed on exit)."""
    target = server_info_path(db_path)
    target.write_text(json.dumps({"pid": os.getpid(), "url": url, "started_at": utcnow().isoformat()}))
    return target

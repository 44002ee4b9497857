"""The view a pack is built from: one consistent snapshot of the events that match the filters.

A pack is built inside one read transaction on one connection, bounded by the highest sequence
number stored when it started (`snapshot_seq`). So the count on the cover, the header of the
NDJSON file, the CSV and the manifest all describe exactly the same events, even while new
events arrive or a purge runs. On DuckDB that is one transaction of the store's connection; on
PostgreSQL one REPEATABLE READ, READ ONLY transaction of one psycopg connection (the count, the
PDF's aggregates and the streamed rows all read its snapshot).

Rows are streamed in sequence order as Arrow record batches, chunk by chunk over sequence
ranges (each chunk sorted on its own), so memory stays bounded however many events match: on
DuckDB its Arrow reader, on PostgreSQL one `COPY (...) TO STDOUT` per chunk parsed by pyarrow
(`backend.postgres.copy_stream`), typed as DuckDB types the same columns, so the files' bytes are
the same on both engines. Statements are SQLAlchemy Core, compiled once per view for its
connection's dialect (`$1..$n` on DuckDB, `%(name)s` on PostgreSQL) with bound parameters.

Archived months of the period: on DuckDB they are read in place through hard links made for
the pack (`_pin`), so a purge that rewrites a month meanwhile does not take the file from under
it. PostgreSQL cannot read their Parquet files: there the pack holds the hot store only, and
`not_included` says which archived months hold matching events it does not include (the pack's
cover, header and manifest say so, with the command that restores them).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from dashboard.evidence.locations import Locations
from dashboard.filters import Filters, View
from dashboard.packs.model import Control, PackError
from dashboard.store.archive import ArchivedInView, archive_files, archived_in_view, shadow_events_sql
from dashboard.store.backend import postgres
from dashboard.store.db import Database
from dashboard.store.errors import StoreError
from dashboard.store.schema import chain_batches, events
from dashboard.when import in_zone

#: sequence numbers per streamed chunk (each chunk is sorted by the database on its own).
CHUNK_SEQ = 250_000
#: rows per Arrow record batch.
BATCH_ROWS = 50_000


def compile_sql(dialect: Dialect, stmt: sa.sql.ClauseElement) -> tuple[str, dict[str, Any], list[str]]:
    """SQL text for `dialect`, its parameter values by name, and the names in positional order
    (`$1..$n` on DuckDB; empty for a dialect that binds by name, as psycopg's `%(name)s`)."""
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    names = list(getattr(compiled, "positiontup", None) or [])
    return compiled.string, dict(compiled.params), names


@dataclass(frozen=True)
class Query:
    """A compiled statement, run on the raw connection with its parameters."""

    sql: str
    defaults: dict[str, Any]
    names: list[str]
    positional: bool = True

    def params(self, **values: Any) -> list[Any] | dict[str, Any]:
        """The parameters, with some bound values replaced: a list in `$n` order when the dialect
        binds by position, else the values by name."""
        merged = {**self.defaults, **values}
        if not self.positional:
            return merged
        return [merged[n] for n in self.names]


class Reader(Protocol):
    """How the statements of a pack run on its connection (one per engine)."""

    def rows(self, query: Query) -> list[tuple[Any, ...]]:
        """All rows of a (small) statement."""
        ...

    def batches(self, query: Query, params: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows of a statement as Arrow record batches of at most `batch_rows` rows."""
        ...

    def settle(self) -> None:
        """Before the SQLAlchemy connection is used: nothing of the reader's may still be pending."""
        ...


@dataclass
class DuckReader:
    """DuckDB: the DuckDB connection under the SQLAlchemy one (the same transaction)."""

    con: duckdb.DuckDBPyConnection

    def rows(self, query: Query) -> list[tuple[Any, ...]]:
        self.con.complete()  # a result the SQLAlchemy side left unread would block the connection
        return self.con.execute(query.sql, query.params()).fetchall()

    def batches(self, query: Query, params: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
        self.con.complete()
        reader = self.con.sql(query.sql, params=params).to_arrow_reader(batch_rows)
        try:
            yield from reader
        finally:
            reader.close()

    def settle(self) -> None:
        self.con.complete()


@dataclass
class PostgresReader:
    """PostgreSQL: cursors of the psycopg connection under the SQLAlchemy one (the same
    REPEATABLE READ transaction, so the same snapshot)."""

    pg: Any  # psycopg.Connection

    def rows(self, query: Query) -> list[tuple[Any, ...]]:
        with self.pg.cursor() as cur:
            cur.execute(query.sql, query.params())
            return list(cur.fetchall())

    def batches(self, query: Query, params: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
        with self.pg.cursor() as cur:
            yield from postgres.copy_stream(cur, query.sql, params, batch_rows)

    def settle(self) -> None:
        """Nothing to do: every cursor is read to its end or closed."""


@dataclass
class PackView:
    """The events of one pack: a `View` (filters resolved at a fixed moment), against a fixed snapshot.

    Attributes:
        view: the filters resolved at the pack's moment (`filters`, `now`, `start`, `end` are its).
        snapshot_seq: the highest sequence number included.
        events: how many events match.
        first_seq: the lowest matching sequence number.
        last_seq: the highest matching sequence number.
        conn: the SQLAlchemy connection of the snapshot (the shared aggregate queries run on it).
        reader: the same connection at the engine's level (rows and streams).
        from_archive: the matching events read from archived months (only the archive holds them).
        not_included: matching events only archived months hold, which this pack does not include
            (PostgreSQL cannot read them in place: restored, they are included).
    """

    view: View
    snapshot_seq: int
    events: int
    first_seq: int | None
    last_seq: int | None
    conn: Connection
    reader: Reader
    dialect: Dialect
    from_archive: ArchivedInView = field(default_factory=lambda: ArchivedInView(0, ()))
    not_included: ArchivedInView = field(default_factory=lambda: ArchivedInView(0, ()))

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection of the snapshot (DuckDB stores only: Parquet, registered Arrow tables)."""
        if not isinstance(self.reader, DuckReader):
            raise PackError("this part of the pack reads the DuckDB connection, which a PostgreSQL store does not have")
        return self.reader.con

    @property
    def filters(self) -> Filters:
        """What the pack was asked for."""
        return self.view.filters

    @property
    def now(self) -> datetime:
        """The moment relative ranges were resolved against (aware UTC)."""
        return self.view.now

    @property
    def start(self) -> datetime:
        """Period start, naive UTC (inclusive)."""
        return self.view.start

    @property
    def end(self) -> datetime:
        """Period end, naive UTC (exclusive)."""
        return self.view.end

    # -- SQL -------------------------------------------------------------------------------
    def condition(self, own_activity: bool = False) -> sa.ColumnElement[bool]:
        """The pack's WHERE clause: the filters and the snapshot bound (`own_activity`: with the
        dashboard's own activity whatever the filters say, for the section about it)."""
        filters = self.view.filters
        if own_activity and not filters.dashboard_activity:
            filters = filters.with_(dashboard_activity=True)
        return sa.and_(filters.where(events, self.view.now), events.c.seq <= self.snapshot_seq)

    def period_condition(self) -> sa.ColumnElement[bool]:
        """Only the period (every event of it, whatever the other filters) and the snapshot bound."""
        return sa.and_(
            events.c.occurred_at >= self.start,
            events.c.occurred_at < self.end,
            events.c.seq <= self.snapshot_seq,
        )

    def compile(self, stmt: sa.sql.ClauseElement) -> Query:
        """Compile a statement for this view's connection."""
        sql, params, names = compile_sql(self.dialect, stmt)
        return Query(sql, params, names, bool(self.dialect.positional))

    def rows(self, stmt: sa.sql.ClauseElement) -> list[tuple[Any, ...]]:
        """Run a (small) statement and return all its rows."""
        return self.reader.rows(self.compile(stmt))

    def scalar(self, stmt: sa.sql.ClauseElement) -> Any:
        """Run a statement that returns one value."""
        rows = self.rows(stmt)
        return rows[0][0] if rows else None

    def settle(self) -> None:
        """Call before running statements on `conn` (DuckDB: finish what the reader left pending)."""
        self.reader.settle()

    def stream(
        self,
        columns: Sequence[sa.ColumnElement[Any]],
        control: Control | None = None,
        chunk_seq: int | None = None,
        batch_rows: int | None = None,
    ) -> Iterator[pa.RecordBatch]:
        """The matching events in sequence order, as Arrow batches of the given columns.

        One query per range of `CHUNK_SEQ` sequence numbers, each sorted by the database: storage
        order is not enough, since DuckDB's parallel scan hands batches over in any order.
        """
        if self.first_seq is None or self.last_seq is None:
            return
        chunk_seq = chunk_seq or CHUNK_SEQ
        batch_rows = batch_rows or BATCH_ROWS
        lo = sa.bindparam("chunk_lo", 0, type_=sa.BigInteger)
        hi = sa.bindparam("chunk_hi", 0, type_=sa.BigInteger)
        stmt = sa.select(*columns).where(self.condition(), events.c.seq >= lo, events.c.seq < hi).order_by(events.c.seq)
        query = self.compile(stmt)
        for chunk_lo in range(self.first_seq, self.last_seq + 1, chunk_seq):
            if control is not None:
                control.check()
            params = query.params(chunk_lo=chunk_lo, chunk_hi=chunk_lo + chunk_seq)
            yield from self.reader.batches(query, params, batch_rows)

    @contextmanager
    def on_duckdb(self) -> Iterator[PackView]:
        """This view where DuckDB's own SQL runs (the proof of a ZIP pack rebuilds canonical texts
        with the writer's DuckDB statements): on DuckDB the view itself; on PostgreSQL the same view
        over a DuckDB file of its own, holding every event of the chain batches the view's events
        are in and those batches, copied from this view's snapshot (removed on exit)."""
        if isinstance(self.reader, DuckReader):
            yield self
            return
        import duckdb_engine

        with tempfile.TemporaryDirectory(prefix="auditdash-pack-") as folder:
            con = duckdb.connect(str(Path(folder) / "proof.duckdb"))
            try:
                touched = sa.select(events.c.batch_id).where(self.condition()).distinct()
                for table, stmt in (
                    (events, sa.select(*events.c).where(events.c.batch_id.in_(touched))),
                    (chain_batches, sa.select(*chain_batches.c).where(chain_batches.c.batch_id.in_(touched))),
                ):
                    postgres.stage_table(con, table)
                    query = self.compile(stmt)
                    names = ", ".join(f'"{c.name}"' for c in table.columns)
                    for batch in self.reader.batches(query, query.params(), BATCH_ROWS):
                        con.register("_copied", batch)
                        con.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM _copied")  # noqa: S608
                        con.unregister("_copied")
                yield PackView(
                    view=self.view,
                    snapshot_seq=self.snapshot_seq,
                    events=self.events,
                    first_seq=self.first_seq,
                    last_seq=self.last_seq,
                    conn=self.conn,
                    reader=DuckReader(con),
                    dialect=duckdb_engine.Dialect(paramstyle="numeric_dollar"),
                    from_archive=self.from_archive,
                    not_included=self.not_included,
                )
            finally:
                con.close()

    # -- words -----------------------------------------------------------------------------
    def local(self, value: datetime) -> datetime:
        """A naive UTC datetime in the view's zone."""
        return in_zone(value, self.filters.zone)

    def period_text(self) -> str:
        """`2026-08-01 00:00 to 2026-08-31 24:00 (Europe/Berlin)`-style period in the view's zone."""
        start, end = self.local(self.start), self.local(self.end)
        return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} ({self.filters.tz})"

    def period_json(self) -> dict[str, str]:
        """The period for manifests and headers: UTC and local, ISO 8601."""
        return {
            "from": self.local(self.start).isoformat(timespec="seconds"),
            "to": self.local(self.end).isoformat(timespec="seconds"),
            "from_utc": self.start.isoformat(timespec="seconds") + "Z",
            "to_utc": self.end.isoformat(timespec="seconds") + "Z",
            "tz": self.filters.tz,
            "end_exclusive": "true",
        }


@contextmanager
def open_view(db: Database, filters: Filters, now: datetime, archive: Locations | None = None) -> Iterator[PackView]:
    """Open one read transaction and resolve the view in it (rolled back on exit).

    The SQLAlchemy connection (`view.conn`, for the shared aggregate queries) and the engine's
    connection under it (`view.reader`, for rows and streams) are the same connection, so
    everything the pack reads comes from one snapshot.

    With `archive` (where retention keeps archived months), a view whose period reaches into
    archived months reads them too on DuckDB, straight from their Parquet files: in this
    connection `events` stands for the hot store and those months together
    (`archive.shadow_events_sql`), so every query of the pack is the same as for a hot period. On
    PostgreSQL those events are counted (`view.not_included`) and left out.
    """
    if db.url is not None:
        with _open_postgres(db, filters, now, archive) as view:
            yield view
        return
    pins: Path | None = None
    with db.connect() as conn:
        tx = conn.begin()
        try:
            driver = conn.connection.driver_connection
            # duckdb-engine wraps the DuckDB connection; reach the real one (as Database.raw does).
            con = cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))
            resolved = View.of(filters, now)
            start, end = resolved.start, resolved.end
            from_archive = ArchivedInView(0, ())
            files = archive_files(archive, start, end) if archive is not None else []
            if archive is not None and files:
                try:
                    pins = Path(tempfile.mkdtemp(prefix=PIN_PREFIX, dir=archive.archive_dir))
                except OSError:  # an archive this process may only read: read the files where they are
                    pins = None
                if pins is not None:
                    files = _pin(files, pins)
                from_archive = archived_in_view(conn, archive, filters, now, files)  # before `events` grows
                con.complete()
                database = str(con.execute("SELECT current_database()").fetchall()[0][0])
                con.execute(shadow_events_sql(database, files, start, end)).fetchall()
            view = PackView(
                view=resolved,
                snapshot_seq=0,
                events=0,
                first_seq=None,
                last_seq=None,
                conn=conn,
                reader=DuckReader(con),
                dialect=db.engine.dialect,
                from_archive=from_archive,
            )
            _resolve(view)
            yield view
        finally:
            con.complete()
            tx.rollback()  # takes the temporary view with it: `events` is the table again
            if pins is not None:
                shutil.rmtree(pins, ignore_errors=True)


@contextmanager
def _open_postgres(db: Database, filters: Filters, now: datetime, archive: Locations | None) -> Iterator[PackView]:
    """`open_view` on PostgreSQL: one REPEATABLE READ, READ ONLY transaction of one connection."""
    try:
        postgres.ensure_read_functions(db.engine)
    except StoreError as exc:
        raise PackError(str(exc)) from exc
    with db.connect() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        tx = conn.begin()
        try:
            resolved = View.of(filters, now)
            view = PackView(
                view=resolved,
                snapshot_seq=0,
                events=0,
                first_seq=None,
                last_seq=None,
                conn=conn,
                reader=PostgresReader(conn.connection.driver_connection),
                dialect=db.engine.dialect,
            )
            _resolve(view)  # the first statement: it fixes the transaction's snapshot
            if archive is not None and archive_files(archive, resolved.start, resolved.end):
                # in the same snapshot: the hot events of archived months that a restore brought back
                view.not_included = archived_in_view(conn, archive, filters, now)
            yield view
        finally:
            tx.rollback()


def _resolve(view: PackView) -> None:
    """The snapshot's bound and the view's count and sequence range, read in its transaction."""
    view.snapshot_seq = int(view.scalar(sa.select(sa.func.coalesce(sa.func.max(events.c.seq), 0))))
    count, first, last = view.rows(
        sa.select(sa.func.count(), sa.func.min(events.c.seq), sa.func.max(events.c.seq)).where(view.condition())
    )[0]
    view.events = int(count)
    view.first_seq = None if first is None else int(first)
    view.last_seq = None if last is None else int(last)


#: the folder (in the archive folder) of the hard links a pack reads archived months through
PIN_PREFIX = ".pack-reading-"


def _pin(files: list[str], folder: Path) -> list[str]:
    """Hard links in `folder` to the archive's month files, read instead of them while the pack runs.

    A purge that rewrites a month meanwhile (an expiry, a held event released) removes the old
    file's name, not the file: the pack reads on from its link. Where the file system has no hard
    links, the files are read where they are.
    """
    pinned: list[str] = []
    for name in files:
        link = folder / Path(name).name
        try:
            os.link(name, link)
        except FileNotFoundError:
            raise PackError(f"the archive changed while the pack started ({name} is gone): build it again") from None
        except OSError:
            pinned.append(name)
            continue
        pinned.append(str(link))
    return pinned


def count_matching(db: Database, filters: Filters, now: datetime | None = None) -> int:
    """How many stored events match the filters now (what the report page shows)."""
    with db.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).select_from(events).where(filters.where(events, now or datetime.now(UTC)))
            ).scalar()
            or 0
        )

"""PostgreSQL (and Citus) as the shared store of several auditdash processes.

What this module holds, and only this module:

- opening: the engine (psycopg 3), and a failed connection explained in words (server not
  reachable, credentials refused, database missing) before anything is written;
- the schema parts PostgreSQL needs in its own words: `events` range-partitioned by month on
  `occurred_at` (BRIN on time, B-tree for the sidebar's filters), and `event_ids`, the one place
  an id is unique: primary key (account_id, event_id), so it stays valid when Citus distributes
  both tables by `account_id` (a unique constraint on `events` would have to hold the partition
  key too);
- the chain's serialisation point: one transaction-level advisory lock (`CHAIN_LOCK`) that every
  writer of every process takes before it reads the chain head and holds until its batch commits;
- bulk load: Arrow tables written with `COPY ... FROM STDIN` (CSV made by pyarrow, vectorised),
  and the stored events a batch reads back with `COPY (...) TO STDOUT` (CSV parsed by pyarrow);
- the staging of a batch (`stage_batch`): the writer's set-based DuckDB statements (store/writer.py)
  run unchanged on an in-memory DuckDB that holds what they read of the store (the chain head, the
  stored events with the batch's ids, rows past the chain's end, the integrity status); what they
  wrote there is then copied to PostgreSQL in the same transaction, under the lock.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import duckdb_engine
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dashboard.store import schema
from dashboard.store.errors import StoreError

log = logging.getLogger(__name__)

#: the key of the advisory lock that serialises chain writers (any 64-bit number; "auditdash")
CHAIN_LOCK = 0x6175646974646173
#: the key of the advisory lock whose holder runs the scheduled jobs (`web/scheduler.py`)
JOBS_LOCK = CHAIN_LOCK + 1

#: the tables a verification reads (`Database.reading`)
CHAIN_TABLES = ("events", "chain_batches", "quarantine", "checkpoints", "archive_months", "meta")
#: the tables the writer reads and writes; staged in DuckDB for one batch
_STAGED = (schema.meta, schema.events, schema.chain_batches, schema.quarantine, schema.archive_months)
#: tables of counts kept in the writer's transaction (store/rollups.py): one row per key (every
#: column but `n`), `n` added to on PostgreSQL (`INSERT ... ON CONFLICT ... DO UPDATE`)
COUNTED = (
    schema.rollup_activity_15m,
    schema.rollup_activity_1h,
    schema.rollup_activity_1d,
    schema.rollup_actor_1d,
    schema.rollup_actor_7d,
    schema.rollup_person_1d,
    schema.rollup_person_7d,
    schema.rollup_address_1d,
    schema.rollup_address_7d,
    schema.rollup_address_action_7d,
    schema.text_actors,
    schema.text_targets,
)
#: one-row tables the writer updates (what the rollups count; the free-text generation): staged
#: with PostgreSQL's row and written back whole (every writer holds the chain lock)
_STATES = (schema.rollup_state, schema.text_state)
#: the derived tables of a batch, staged empty: what the writer adds there is what PostgreSQL gains
_DERIVED = (*COUNTED, schema.events_notable, *_STATES)


class PostgresUnavailable(StoreError):
    """The PostgreSQL server cannot be used: not reachable, credentials refused, no database."""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def create_engine(url: str) -> Engine:
    """The engine of a PostgreSQL store (a pool per process; connections checked before use; JIT
    compilation off in its sessions, `SESSION_SETTINGS`)."""
    engine = sa.create_engine(
        url,
        pool_size=8,
        max_overflow=24,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "application_name": "auditdash"},
    )
    sa.event.listen(engine, "connect", _session_settings)
    return engine


#: set in every session auditdash opens. JIT compilation pays for itself on long scans of a few
#: huge expressions; auditdash's statements are many short aggregations with many expressions, where
#: compiling costs more than it saves: 300 ms of the 1.5 s of the 90-day headline figures at 10 M
#: events, 10 s of a 33 s plan (docs/PERFORMANCE.md, "PostgreSQL, side by side"). A SET, not a
#: startup option, so connection poolers that refuse startup options (PgBouncer) still connect.
SESSION_SETTINGS = ("SET jit = off",)


def _session_settings(dbapi_connection: Any, _record: Any) -> None:
    was = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # outside any transaction: kept for the session
    try:
        with dbapi_connection.cursor() as cur:
            for statement in SESSION_SETTINGS:
                cur.execute(statement)
    finally:
        dbapi_connection.autocommit = was


def explain(exc: BaseException, url: str) -> StoreError:
    """A failed connection in words that name what to do."""
    text = str(getattr(exc, "orig", None) or exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    where = redacted(url)
    if (
        "password authentication failed" in text
        or "no password supplied" in text
        or ("role" in text and "does not exist" in text)
    ):
        return PostgresUnavailable(
            f"PostgreSQL at {where} refused the credentials ({first}). Check the user name and password "
            "in the URL (--db, AUDITDASH_DB); nothing was written."
        )
    if "database" in text and "does not exist" in text:
        return PostgresUnavailable(
            f"PostgreSQL at {where}: {first}. Create it first (createdb, or CREATE DATABASE as its owner), "
            "then start auditdash again; nothing was written."
        )
    if "Connection refused" in text or "could not translate host name" in text or "timeout" in text.lower():
        return PostgresUnavailable(
            f"cannot reach PostgreSQL at {where} ({first}). Check that the server runs and the host and "
            "port in the URL (--db, AUDITDASH_DB); nothing was written."
        )
    return PostgresUnavailable(f"cannot use PostgreSQL at {where}: {first}; nothing was written.")


# -- schema ------------------------------------------------------------------------------------

#: the explorer's order (migration 15 adds it to a store made before)
TIME_SEQ_INDEX = "CREATE INDEX IF NOT EXISTS events_time_seq ON events (occurred_at, seq)"
#: indexes of `events` (created on the partitioned table: every month's partition gets them)
EVENT_INDEXES = (
    "CREATE INDEX IF NOT EXISTS events_occurred_brin ON events USING brin (occurred_at)",
    "CREATE INDEX IF NOT EXISTS events_seq ON events (seq)",
    "CREATE INDEX IF NOT EXISTS events_batch ON events (batch_id)",
    "CREATE INDEX IF NOT EXISTS events_account_time ON events (account_id, occurred_at)",
    "CREATE INDEX IF NOT EXISTS events_action_time ON events (action, occurred_at)",
    "CREATE INDEX IF NOT EXISTS events_category_time ON events (category, occurred_at)",
    "CREATE INDEX IF NOT EXISTS events_actor_time ON events (actor_id, occurred_at)",
    "CREATE INDEX IF NOT EXISTS events_outcome_time ON events (outcome, occurred_at)",
    # the explorer's listing in time order (ties by seq): a page is an index range, at any offset
    TIME_SEQ_INDEX,
)

#: an id is stored once per account: the unique key lives here, not on the partitioned `events`
EVENT_IDS_DDL = (
    "CREATE TABLE IF NOT EXISTS event_ids (account_id VARCHAR NOT NULL, event_id VARCHAR NOT NULL, "
    "seq BIGINT NOT NULL, occurred_at TIMESTAMP NOT NULL, PRIMARY KEY (account_id, event_id))"
)


#: the staged rows of the batch being stored (by id and numbers: `$p`, `$f`, `$l`)
STAGED_BATCH = "events WHERE batch_id = $p AND seq BETWEEN $f AND $l"


def create_tables(conn: Connection, tables: Sequence[sa.Table]) -> None:
    """Create `tables` on PostgreSQL: `events` partitioned by month (with `event_ids`), the rest as
    schema.py defines them. Idempotent, like every migration step."""
    others = [t for t in tables if t is not schema.events]
    schema.metadata.create_all(conn, tables=others)
    if schema.events in tables:
        ddl = str(sa.schema.CreateTable(schema.events).compile(dialect=conn.dialect)).strip()
        ddl = re.sub(r",\s*PRIMARY KEY \(seq\)\s*\)$", "\n)", ddl)
        ddl = ddl.replace("CREATE TABLE events", "CREATE TABLE IF NOT EXISTS events", 1)
        conn.execute(sa.text(ddl + " PARTITION BY RANGE (occurred_at)"))
        for statement in (*EVENT_INDEXES, EVENT_IDS_DDL, *FUNCTIONS_DDL):
            conn.execute(sa.text(statement))


def _key_sql(table: sa.Table) -> str:
    """The conflict key of a counted table: `occurred_at` (when it has one) and an MD5 of the other
    columns, each as its length and text or `-` for NULL (no two keys share it; long names stay
    within an index entry's size, which the columns themselves need not)."""
    dims = [c.name for c in table.columns if c.name not in ("occurred_at", "n")]
    parts = " || ',' || ".join(f"coalesce(length(CAST({d} AS TEXT)) || ':' || CAST({d} AS TEXT), '-')" for d in dims)
    key = f"(md5({parts}))"
    return f"occurred_at, {key}" if "occurred_at" in table.c else key


def create_counted(conn: Connection, tables: Sequence[sa.Table]) -> None:
    """Create the counted tables (`COUNTED`) among `tables` with their conflict keys (a unique index)."""
    schema.metadata.create_all(conn, tables=list(tables))
    for table in tables:
        if table in COUNTED:
            conn.execute(
                sa.text(f"CREATE UNIQUE INDEX IF NOT EXISTS {table.name}_key ON {table.name} ({_key_sql(table)})")
            )


#: DuckDB's bucket of a rollup grain (store/rollups.py `_bucket_sql`) in PostgreSQL's words
def _bucket_sql(grain: int) -> str:
    if grain == 86400:
        return "date_trunc('day', occurred_at)"
    if grain == 3600:
        return "date_trunc('hour', occurred_at)"
    return f"date_bin(INTERVAL '{grain} seconds', occurred_at, TIMESTAMP '1970-01-01')"


def rebuild_rollups(cur: psycopg.Cursor[Any], grains: Sequence[tuple[sa.Table, int]], notable_where: str) -> None:
    """Recompute the rollups from `events` on PostgreSQL (store/rollups.py `rebuild`): `grains` the
    rollup tables with their bucket in seconds, `notable_where` the condition on `events e` of the
    notable events. In the cursor's transaction, under the chain lock (writers wait meanwhile).
    The events' tally is made or repaired and counted first: its row stays locked to the end, so
    a writer behind auditdash's back waits too, and every count here sees the same events."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    install_tally(cur)
    for table, _ in grains:
        cur.execute(f"DELETE FROM {table.name}")  # noqa: S608 - names of the schema
    fill_rollups(cur, grains)
    columns = ", ".join(c.name for c in schema.events.columns)
    cur.execute("DELETE FROM events_notable")
    cur.execute(f"INSERT INTO events_notable SELECT {columns} FROM events e WHERE {notable_where}")  # noqa: S608
    cur.execute("DELETE FROM rollup_state")
    cur.execute("INSERT INTO rollup_state SELECT count(*), coalesce(sum(seq), 0) FROM events")


def fill_rollups(cur: psycopg.Cursor[Any], grains: Sequence[tuple[sa.Table, int]]) -> None:
    """Fill the (empty) rollup tables `grains` (with their bucket in seconds) from `events`, under
    the chain lock (a migration that made them again: store/rollups.py `reshape_step`)."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    for table, grain in grains:
        dims = ", ".join(c.name for c in table.columns if c.name not in ("occurred_at", "n"))
        cur.execute(
            f"INSERT INTO {table.name} (occurred_at, {dims}, n) SELECT {_bucket_sql(grain)}, {dims}, count(*) "  # noqa: S608
            f"FROM events GROUP BY {_bucket_sql(grain)}, {dims}"
        )


def rebuild_text(cur: psycopg.Cursor[Any], values: Sequence[tuple[sa.Table, Sequence[str]]]) -> None:
    """Recompute the free-text search's distinct values from `events` on PostgreSQL (store/rollups.py
    `rebuild_text`): `values` the tables with the columns they keep. Under the chain lock."""
    cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
    for table, dims in values:
        cols = ", ".join(dims)
        present = " OR ".join(f"{d} IS NOT NULL" for d in dims)
        cur.execute(f"DELETE FROM {table.name}")  # noqa: S608 - names of the schema
        cur.execute(
            f"INSERT INTO {table.name} ({cols}, n) SELECT {cols}, count(*) FROM events "  # noqa: S608
            f"WHERE {present} GROUP BY {cols}"
        )
    cur.execute("SELECT coalesce(max(generation), 0) + 1 FROM text_state")
    generation = int(cur.fetchone()[0])  # type: ignore[index]
    cur.execute("DELETE FROM text_state")
    cur.execute("INSERT INTO text_state SELECT %s, coalesce(max(seq), 0) FROM events", (generation,))


def driver_cursor(conn: Connection) -> psycopg.Cursor[Any]:
    """A psycopg cursor in the transaction of SQLAlchemy connection `conn`."""
    pg = conn.connection.driver_connection
    assert isinstance(pg, psycopg.Connection)
    return pg.cursor()


def partition_name(month: str) -> str:
    """The partition of `events` that holds month `YYYY-MM`."""
    return f"events_{month.replace('-', '_')}"


def partition_ddl(months: Sequence[str]) -> list[str]:
    """The statements that create the monthly partitions of `events` for `months` (`YYYY-MM`),
    each with the events' tally triggers when the store keeps the tally (a statement naming the
    partition fires only the partition's own statement triggers)."""
    out = []
    for month in sorted(set(months)):
        year, mon = int(month[:4]), int(month[5:7])
        nxt = f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}-01"
        name = partition_name(month)
        out.append(f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF events FOR VALUES FROM ('{month}-01') TO ('{nxt}')")
        out.append(
            "DO $$ BEGIN IF to_regprocedure('auditdash_tally_arm(regclass)') IS NOT NULL THEN "
            f"PERFORM auditdash_tally_arm('{name}'); END IF; END $$"
        )
    return out


def ensure_partitions(cur: psycopg.Cursor[Any], months: Sequence[str]) -> None:
    """Create the monthly partitions of `events` that `months` (`YYYY-MM`) lack (a catalog lookup
    when none is missing: no DDL, no lock)."""
    wanted = sorted(set(months))
    if not wanted:
        return
    cur.execute(
        "SELECT m FROM unnest(%s::text[]) AS m WHERE to_regclass('events_' || replace(m, '-', '_')) IS NULL",
        (wanted,),
    )
    for statement in partition_ddl([str(r[0]) for r in cur.fetchall()]):
        cur.execute(statement)


# -- the events' tally: what `rollups.in_step` compares with `rollup_state` without reading events --
# A one-row table holding the number of rows of `events` and the sum of their `seq`, kept by
# statement-level AFTER triggers with transition tables (one UPDATE per statement, whatever its
# rows) on the partitioned `events` and on each monthly partition: a statement that names the
# parent fires the parent's triggers only (its transition tables hold the rows of every partition
# it touched), one that names a partition fires that partition's only. TRUNCATE has no transition
# table: it marks the tally unknown until `recount_tally`. Not made on Citus (docs/scaling.md):
# there `in_step` counts the events.

#: the statement triggers of the tally, by name, on `events` and on every partition
TALLY_TRIGGERS = ("events_tally_insert", "events_tally_delete", "events_tally_update", "events_tally_truncate")

TALLY_DDL = (
    "CREATE TABLE IF NOT EXISTS events_tally (events BIGINT NOT NULL, seq_sum NUMERIC NOT NULL, "
    "known BOOLEAN NOT NULL)",
    # one function for the four triggers; the transition tables it reads are named by the trigger
    # that fired it (a branch not taken is never planned). A statement that changed no row, or
    # no row's seq, leaves the tally's row unlocked.
    """CREATE OR REPLACE FUNCTION auditdash_events_tally() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE events_tally SET events = events + d.n, seq_sum = seq_sum + d.s
      FROM (SELECT count(*) AS n, coalesce(sum(seq), 0) AS s FROM tally_new) d WHERE d.n > 0;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE events_tally SET events = events - d.n, seq_sum = seq_sum - d.s
      FROM (SELECT count(*) AS n, coalesce(sum(seq), 0) AS s FROM tally_old) d WHERE d.n > 0;
  ELSIF TG_OP = 'UPDATE' THEN
    UPDATE events_tally SET seq_sum = seq_sum + d.s
      FROM (SELECT (SELECT coalesce(sum(seq), 0) FROM tally_new) - (SELECT coalesce(sum(seq), 0) FROM tally_old) AS s) d
      WHERE d.s <> 0;
  ELSE
    UPDATE events_tally SET known = false;
  END IF;
  RETURN NULL;
END $$""",
    # the four triggers on `rel` (the parent or a partition), those missing created, disabled ones enabled
    """CREATE OR REPLACE FUNCTION auditdash_tally_arm(rel regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  spec text[] := ARRAY[
    'events_tally_insert', 'AFTER INSERT', 'REFERENCING NEW TABLE AS tally_new',
    'events_tally_delete', 'AFTER DELETE', 'REFERENCING OLD TABLE AS tally_old',
    'events_tally_update', 'AFTER UPDATE', 'REFERENCING OLD TABLE AS tally_old NEW TABLE AS tally_new',
    'events_tally_truncate', 'AFTER TRUNCATE', ''];
  i int;
  state "char";
BEGIN
  FOR i IN 0..3 LOOP
    SELECT tgenabled INTO state FROM pg_trigger WHERE tgrelid = rel AND tgname = spec[i * 3 + 1];
    IF NOT FOUND THEN
      EXECUTE format('CREATE TRIGGER %I %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION auditdash_events_tally()',
        spec[i * 3 + 1], spec[i * 3 + 2], rel, spec[i * 3 + 3]);
    ELSIF state NOT IN ('O', 'A') THEN
      EXECUTE format('ALTER TABLE %s ENABLE TRIGGER %I', rel, spec[i * 3 + 1]);
    END IF;
  END LOOP;
END $$""",
)

#: what `rollups.in_step` reads on PostgreSQL when the tally exists: `rollup_state`, the tally, and
#: whether every relation of `events` (the parent and each partition) has its four triggers
#: enabled (a partition attached or made out of band, or a trigger disabled, has not): one row of
#: each table and a few catalog rows per month, never an event
TALLY_CHECK_SQL = (
    "SELECT s.events, s.seq_sum, t.events, t.seq_sum, t.known, "
    "(SELECT count(*) FROM pg_trigger g WHERE g.tgname = ANY(:names) AND g.tgenabled IN ('O', 'A') "
    "AND g.tgrelid IN (SELECT 'events'::regclass UNION ALL "
    "SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass)), "
    "(SELECT count(*) + 1 FROM pg_inherits WHERE inhparent = 'events'::regclass) "
    "FROM events_tally t LEFT JOIN rollup_state s ON true"
)


#: the tally taken away (its table, trigger functions and every trigger): for a store to be
#: distributed with Citus when the extension was made after the schema (docs/scaling.md)
DROP_TALLY_SQL = (
    "DROP FUNCTION IF EXISTS auditdash_events_tally() CASCADE; "
    "DROP FUNCTION IF EXISTS auditdash_tally_arm(regclass); DROP TABLE IF EXISTS events_tally"
)

#: whether the store keeps the tally (not on Citus, nor before the migration that adds it)
HAS_TALLY_SQL = "SELECT to_regclass('events_tally') IS NOT NULL"


def has_tally(conn: Connection) -> bool:
    """Whether the store keeps the events' tally."""
    return bool(conn.execute(sa.text(HAS_TALLY_SQL)).scalar())


def tally_in_step(conn: Connection) -> bool:
    """Whether `rollup_state` equals the events' tally, the tally is known (no TRUNCATE since it was
    counted) and every relation of `events` carries its triggers enabled. Two one-row reads and
    the catalog; no event is read."""
    rows = conn.execute(sa.text(TALLY_CHECK_SQL), {"names": list(TALLY_TRIGGERS)}).all()
    if len(rows) != 1:
        return False
    state_n, state_s, n, s, known, armed, relations = rows[0]
    return (
        bool(known)
        and state_n is not None
        and int(armed) == len(TALLY_TRIGGERS) * int(relations)
        and (int(state_n), int(state_s)) == (int(n), int(s))
    )


def _on_citus(cur: psycopg.Cursor[Any]) -> bool:
    cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citus'")
    return bool(cur.fetchone()[0])  # type: ignore[index]


def install_tally(cur: psycopg.Cursor[Any]) -> bool:
    """Make the events' tally (table, trigger functions, the triggers on `events` and on every
    partition), then count it from the events (`recount_tally`). Idempotent: the migration that
    adds it to a store, and every `rebuild_rollups`. Not on a database with the Citus extension
    (returns False): Citus runs triggers on distributed tables only with
    `citus.enable_unsafe_triggers`, on the shards, where the tally is not."""
    if _on_citus(cur):
        return False
    for statement in TALLY_DDL:
        cur.execute(statement)
    cur.execute(
        "SELECT auditdash_tally_arm(r) FROM (SELECT 'events'::regclass AS r UNION ALL "
        "SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'events'::regclass) x"
    )
    recount_tally(cur)
    return True


def recount_tally(cur: psycopg.Cursor[Any]) -> None:
    """Set the tally to a full count of the events (known again after a TRUNCATE). Its row is
    locked first, in a statement of its own: a writer whose trigger updated it has committed by
    then, so the count (a later statement, a later snapshot) sees its rows; a writer that comes
    after waits for this transaction and adds its rows on top of the count. Under the chain lock."""
    cur.execute("SELECT count(*) FROM (SELECT 1 FROM events_tally FOR UPDATE) t")
    if int(cur.fetchone()[0]) != 1:  # type: ignore[index]
        cur.execute("DELETE FROM events_tally")
        cur.execute("INSERT INTO events_tally VALUES (0, 0, false)")
    cur.execute(
        "UPDATE events_tally SET events = c.n, seq_sum = c.s, known = true "
        "FROM (SELECT count(*) AS n, coalesce(sum(seq), 0) AS s FROM events) c"
    )


def tally_detached(cur: psycopg.Cursor[Any], events: int, seq_sum: int) -> None:
    """Take a partition's rows out of the tally as auditdash detaches it (`remove_events`): DETACH
    fires no trigger."""
    cur.execute(HAS_TALLY_SQL)
    if cur.fetchone()[0]:  # type: ignore[index]
        cur.execute("UPDATE events_tally SET events = events - %s, seq_sum = seq_sum - %s", (events, seq_sum))


# -- bulk load ---------------------------------------------------------------------------------


def copy_arrow(cur: psycopg.Cursor[Any], table: str, data: pa.Table) -> None:
    """Append the rows of `data` to `table` (columns by name) with one `COPY ... FROM STDIN`."""
    if not data.num_rows:
        return
    out = io.BytesIO()
    casts = {}
    for name, kind in zip(data.column_names, data.schema.types, strict=True):
        if pa.types.is_timestamp(kind):  # microseconds, as PostgreSQL keeps them
            casts[name] = data.column(name).cast(pa.timestamp("us"))
    for name, column in casts.items():
        data = data.set_column(data.column_names.index(name), name, column)
    pacsv.write_csv(data, out, pacsv.WriteOptions(include_header=False, quoting_style="needed"))
    columns = ", ".join(f'"{c}"' for c in data.column_names)
    with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(out.getvalue())


def fetch_arrow(cur: psycopg.Cursor[Any], sql: str, params: Any = None) -> pa.Table:
    """The rows of a query as an Arrow table (column names from the query)."""
    cur.execute(sql, params)
    names = [d.name for d in cur.description or []]
    rows = cur.fetchall()
    return pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}) if names else pa.table({})


def _arrow_type(column: sa.Column[Any]) -> pa.DataType:
    kind = column.type
    if isinstance(kind, sa.BigInteger | sa.Integer):
        return pa.int64()
    if isinstance(kind, sa.DateTime):
        return pa.timestamp("us")
    if isinstance(kind, sa.Float):  # REAL on PostgreSQL, FLOAT (32 bits) on DuckDB
        return pa.float32()
    return pa.string()


def copy_out(cur: psycopg.Cursor[Any], table: sa.Table, sql: str) -> pa.Table:
    """The rows of `sql` (every column of `table`, in its order) as an Arrow table typed as
    `table`: one `COPY (...) TO STDOUT` in CSV, parsed by pyarrow (vectorised: `fetch_arrow`
    builds Python objects row by row). NULL is an unquoted empty field, an empty text a quoted
    one, as PostgreSQL writes them; the text of a REAL is the shortest that reads back exactly
    (the formats are set for the rest of the cursor's transaction, whatever the server's defaults)."""
    cur.execute("SET LOCAL datestyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1")
    buffer = io.BytesIO()
    with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)") as copy:
        for chunk in copy:
            buffer.write(chunk)
    names = [c.name for c in table.columns]
    types = {c.name: _arrow_type(c) for c in table.columns}
    if not buffer.tell():
        return pa.table({n: pa.array([], types[n]) for n in names})
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=names, block_size=16 << 20),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            timestamp_parsers=["%Y-%m-%d %H:%M:%S", pacsv.ISO8601],
        ),
    )


#: PostgreSQL's type of a result column (its OID) -> the Arrow type DuckDB gives the same SQL type
#: (bool, int8, int2, int4, float4, float8, timestamp); any other type is read as text
_ARROW_OF_OID = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int16(),
    23: pa.int32(),
    700: pa.float32(),
    701: pa.float64(),
    1114: pa.timestamp("us"),
}


def copy_stream(cur: psycopg.Cursor[Any], sql: str, params: Any, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of query `sql` as Arrow record batches of at most `batch_rows` rows, streamed with
    one `COPY (...) TO STDOUT` in CSV and parsed by pyarrow a batch at a time (memory stays
    bounded, one statement reads one snapshot). The columns are typed as DuckDB types the same SQL
    types (`_ARROW_OF_OID`, from the query's description), so what is written from them is the same
    on both engines. NULL is an unquoted empty field, an empty text a quoted one; libpq hands the
    data over one row at a time, so a batch ends at a row's end even when a text holds newlines."""
    cur.execute(f"SELECT * FROM ({sql}) AS q LIMIT 0", params)  # noqa: S608 - our own compiled SQL
    names = [d.name for d in cur.description or []]
    types = [_ARROW_OF_OID.get(d.type_code, pa.string()) for d in cur.description or []]
    cur.execute("SET LOCAL datestyle = 'ISO, YMD'; SET LOCAL extra_float_digits = 1")
    read = pacsv.ReadOptions(column_names=names, block_size=64 << 20, use_threads=False)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types=pa.schema(list(zip(names, types, strict=True))),
        null_values=[""],
        true_values=["t"],
        false_values=["f"],
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        timestamp_parsers=["%Y-%m-%d %H:%M:%S", pacsv.ISO8601],
    )

    def batch(rows: list[Any]) -> pa.RecordBatch:
        table = pacsv.read_csv(io.BytesIO(b"".join(rows)), read, parse, convert)
        return table.combine_chunks().to_batches()[0]

    with cur.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
        rows: list[Any] = []
        for row in copy:
            rows.append(row)
            if len(rows) >= batch_rows:
                yield batch(rows)
                rows = []
        if rows:
            yield batch(rows)


#: functions with DuckDB's names that a pack's statements call, made when missing
#: (`ensure_read_functions`); json_valid(text): whether the text is valid JSON (NULL for NULL)
_READ_FUNCTIONS = {
    "json_valid(text)": (
        # PostgreSQL 16 tests it in SQL (inlined); before, a cast that fails says no
        "CREATE FUNCTION json_valid(doc TEXT) RETURNS BOOLEAN LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        "AS $$ SELECT doc IS JSON $$",
        # an EXCEPTION block is a subtransaction, which a parallel worker cannot start: PARALLEL UNSAFE
        "CREATE FUNCTION json_valid(doc TEXT) RETURNS BOOLEAN LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL UNSAFE "
        "AS $$ BEGIN PERFORM CAST(doc AS JSON); RETURN true; EXCEPTION WHEN others THEN RETURN false; END $$",
    ),
}
_READ_FUNCTIONS_MADE: set[str] = set()


def ensure_read_functions(engine: Engine) -> None:
    """Make the functions of `_READ_FUNCTIONS` a store lacks (a store made before they were needed);
    checked once per process and database. Raises `StoreError`, in words, when they cannot be made."""
    key = str(engine.url)
    if key in _READ_FUNCTIONS_MADE:
        return
    try:
        with engine.begin() as conn:
            for signature, (modern, older) in _READ_FUNCTIONS.items():
                if conn.execute(sa.text("SELECT to_regprocedure(:s)"), {"s": signature}).scalar() is not None:
                    # made PARALLEL SAFE by an earlier auditdash: a parallel plan then failed with
                    # "cannot start subtransactions during a parallel operation"
                    conn.execute(
                        sa.text(
                            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang "
                            "WHERE p.oid = to_regprocedure('json_valid(text)') AND l.lanname = 'plpgsql' "
                            "AND p.proparallel <> 'u') THEN ALTER FUNCTION json_valid(text) PARALLEL UNSAFE; "
                            "END IF; END $$"
                        )
                    )
                    continue
                version = int(conn.execute(sa.text("SHOW server_version_num")).scalar() or 0)
                try:
                    with conn.begin_nested():
                        conn.execute(sa.text(modern if version >= 160000 else older))
                except (sa.exc.IntegrityError, sa.exc.ProgrammingError) as exc:  # made meanwhile by another process
                    if "already exists" not in str(exc) and "duplicate key" not in str(exc):
                        raise
    except sa.exc.DBAPIError as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise StoreError(
            f"PostgreSQL at {engine.url.render_as_string(hide_password=True)}: cannot create the "
            f"function json_valid that packs need ({first}); let auditdash's database user create functions, "
            "or create it as the database's owner (docs/packs.md)"
        ) from exc
    _READ_FUNCTIONS_MADE.add(key)


# -- the batch: staged in DuckDB, written under the chain lock ---------------------------------


def _staging(tables: Sequence[sa.Table], quarantine_start: int, path: str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    dialect = duckdb_engine.Dialect()
    for table in tables:
        for column in table.columns:
            if isinstance(column.default, sa.Sequence):
                start = quarantine_start if table is schema.quarantine else 1
                con.execute(f"CREATE SEQUENCE IF NOT EXISTS {column.default.name} START {start}")
    for table in tables:
        con.execute(str(sa.schema.CreateTable(table).compile(dialect=dialect)))
    return con


def _stage_quarantine(con: duckdb.DuckDBPyConnection, start: int) -> None:
    """The staging `quarantine` table, its ids continuing from `start` (PostgreSQL's next)."""
    for column in schema.quarantine.columns:
        if isinstance(column.default, sa.Sequence):
            con.execute(f"CREATE SEQUENCE IF NOT EXISTS {column.default.name} START {start}")
    con.execute(str(sa.schema.CreateTable(schema.quarantine).compile(dialect=duckdb_engine.Dialect())))


def _load(con: duckdb.DuckDBPyConnection, table: str, data: pa.Table) -> None:
    if data.num_rows:
        con.register("_load", data)
        columns = ", ".join(f'"{c}"' for c in data.column_names)
        con.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _load")  # noqa: S608 - schema names
        con.unregister("_load")


@contextmanager
def stage_batch(engine: Engine, batch: pa.Table) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection to run one batch of the writer on; stored in PostgreSQL at the end.

    The PostgreSQL transaction takes `CHAIN_LOCK` before it reads anything of the store and holds
    it until the batch is committed: the chain head read here is the one the batch links to, in
    every process. Only what reads nothing of the store comes first (the staging tables, the
    batch's ids copied into a temporary table), so that it overlaps another process's batch. When the block
    raises, nothing is written; when the connection is lost, the batch is not stored either (the
    transaction never committed) and the error says to send it again.
    """
    raw = engine.raw_connection()
    pg = raw.driver_connection
    assert isinstance(pg, psycopg.Connection)
    staging: duckdb.DuckDBPyConnection | None = None
    try:
        with pg.cursor() as cur:
            # What reads nothing of the store is done before the lock, so that another process's
            # batch can be stored meanwhile: the staging tables (all but `quarantine`, whose ids
            # continue PostgreSQL's), and the batch's ids in a temporary table of this transaction.
            staging = _staging([t for t in (*_STAGED, *_DERIVED) if t is not schema.quarantine], 1)
            if batch.num_rows:
                cur.execute("CREATE TEMPORARY TABLE _keys (account_id VARCHAR, event_id VARCHAR) ON COMMIT DROP")
                copy_arrow(cur, "_keys", batch.select(["account_id", "event_id"]))
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
            head = fetch_arrow(cur, "SELECT * FROM chain_batches ORDER BY batch_id DESC LIMIT 1")
            last_seq = int(head.column("last_seq")[0].as_py()) if head.num_rows else 0
            head_batch = int(head.column("batch_id")[0].as_py()) if head.num_rows else 0
            cur.execute("SELECT coalesce(max(id), 0) + 1 FROM quarantine")
            q_start = int(cur.fetchone()[0])  # type: ignore[index]
            _stage_quarantine(staging, q_start)
            for state in _STATES:
                _load(staging, state.name, fetch_arrow(cur, f"SELECT * FROM {state.name}"))  # noqa: S608 - schema names
            _load(staging, "chain_batches", head)
            _load(staging, "meta", fetch_arrow(cur, "SELECT * FROM meta WHERE key = 'integrity_status'"))
            _load(staging, "archive_months", fetch_arrow(cur, "SELECT * FROM archive_months"))
            # rows past the chain's end (inserted outside auditdash), and the stored events with the
            # batch's ids: all the writer reads of `events`. The highest `seq` first (an index probe
            # per partition): the rows past the end are read only when there are any.
            cur.execute("SELECT max(seq) FROM events")
            top = cur.fetchone()[0]  # type: ignore[index]
            if top is not None and int(top) > last_seq:
                _stage_foreign_tail(cur, staging, int(last_seq), batch.num_rows > 0)
            if batch.num_rows:
                stored = copy_out(
                    cur,
                    schema.events,
                    "SELECT e.* FROM (SELECT DISTINCT account_id, event_id FROM _keys) k JOIN event_ids i "  # noqa: S608
                    "ON i.account_id = k.account_id AND i.event_id = k.event_id "
                    "JOIN events e ON e.account_id = i.account_id AND e.seq = i.seq AND e.occurred_at = i.occurred_at "
                    f"WHERE e.seq <= {int(last_seq)}",
                )
                _load(staging, "events", stored)
            before = staging.execute("SELECT value FROM meta WHERE key = 'integrity_status'").fetchall()
            yield staging
            added = staging.sql(
                "SELECT * FROM chain_batches WHERE batch_id > $p", params={"p": head_batch}
            ).to_arrow_table()
            if not added.num_rows:
                pg.rollback()
                return
            batch_id = int(added.column("batch_id")[0].as_py())
            # the batch's rows by its id and numbers: rows forged past the chain's end (staged here as
            # their ends) may carry the same batch id, and are not the batch's to copy back
            mine = {
                "p": batch_id,
                "f": int(added.column("first_seq")[0].as_py()),
                "l": int(added.column("last_seq")[0].as_py()),
            }
            events = staging.sql(f"SELECT * FROM {STAGED_BATCH}", params=mine).to_arrow_table()  # noqa: S608
            quarantined = staging.sql("SELECT * FROM quarantine WHERE id >= $p", params={"p": q_start}).to_arrow_table()
            month_sql = f"SELECT DISTINCT strftime(occurred_at, '%Y-%m') FROM {STAGED_BATCH}"  # noqa: S608
            months = staging.execute(month_sql, mine).fetchall()
            ensure_partitions(cur, [str(m[0]) for m in months])
            copy_arrow(cur, "events", events)
            copy_arrow(cur, "event_ids", events.select(["account_id", "event_id", "seq", "occurred_at"]))
            copy_arrow(cur, "quarantine", quarantined)
            copy_arrow(cur, "chain_batches", added)
            if quarantined.num_rows:
                cur.execute("SELECT setval('quarantine_id_seq', (SELECT max(id) FROM quarantine))")
            _write_derived(cur, staging)
            after = staging.execute("SELECT value FROM meta WHERE key = 'integrity_status'").fetchall()
            if after != before:
                cur.execute("DELETE FROM meta WHERE key = 'integrity_status'")
                for (value,) in after:
                    cur.execute("INSERT INTO meta (key, value) VALUES ('integrity_status', %s)", (value,))
        pg.commit()
    except psycopg.OperationalError as exc:
        _rollback(pg)
        raise StoreError(
            f"the connection to PostgreSQL was lost while storing a batch ({str(exc).strip().splitlines()[0]}); "
            "nothing of the batch was stored: send it again (its ids make the retry safe)."
        ) from exc
    except BaseException:
        _rollback(pg)
        raise
    finally:
        if staging is not None:
            staging.close()
        raw.close()


#: rows past the chain's end (written out of band) copied whole into the staging DuckDB; beyond
#: this many, only what the writer reads of them is (see `_stage_foreign_tail`)
FOREIGN_ROWS_COPIED = 10_000


def _stage_foreign_tail(
    cur: psycopg.Cursor[Any], staging: duckdb.DuckDBPyConnection, last_seq: int, keys: bool
) -> None:
    """Stage the stored rows past the chain's end, which no batch accounts for (inserted outside
    auditdash): all of them when they are few; else, so that memory does not grow with them, the
    first and the last (the sequence numbers the batch skips), those carrying an id of the batch
    (the duplicate check), and their number and first seq in `foreign_tail_count`, which the
    writer's `foreign_tail` reads instead of counting the staged rows."""
    cur.execute(f"SELECT count(*), min(seq) FROM events WHERE seq > {last_seq}")  # noqa: S608 - a number
    count, first = cur.fetchone()  # type: ignore[misc]
    past = f"SELECT * FROM events WHERE seq > {last_seq}"  # noqa: S608 - a number
    if int(count) <= FOREIGN_ROWS_COPIED:
        _load(staging, "events", copy_out(cur, schema.events, past))
        return
    ends = f"{past} AND seq IN ({int(first)}, (SELECT max(seq) FROM events))"  # noqa: S608 - numbers
    _load(staging, "events", copy_out(cur, schema.events, ends))
    if keys:
        ids = (
            f"SELECT e.* FROM events e JOIN (SELECT DISTINCT account_id, event_id FROM _keys) k "  # noqa: S608
            f"ON e.account_id = k.account_id AND e.event_id = k.event_id WHERE e.seq > {last_seq}"
        )
        matched = copy_out(cur, schema.events, ids)
        if matched.num_rows:
            staging.register("_matched", matched)
            staging.execute("INSERT INTO events SELECT * FROM _matched WHERE seq NOT IN (SELECT seq FROM events)")
            staging.unregister("_matched")
    staging.execute("CREATE TABLE foreign_tail_count (first_seq BIGINT, n BIGINT)")
    staging.execute("INSERT INTO foreign_tail_count VALUES (?, ?)", [int(first), int(count)])


def _write_derived(cur: psycopg.Cursor[Any], staging: duckdb.DuckDBPyConnection) -> None:
    """What the writer's rollup upkeep (store/rollups.py `add_rows`) made on the staging DuckDB,
    applied to PostgreSQL's tables in the batch's transaction: counts added to the stored ones by
    key, notable events appended, the state rows written back. A key may have several rows there
    (a small batch appends its counts, `rollups._append`): they are summed first, since one
    `INSERT ... ON CONFLICT` cannot update a row twice."""
    for table in COUNTED:
        keys = ", ".join(c.name for c in table.columns if c.name != "n")
        data = staging.sql(
            f"SELECT {keys}, CAST(sum(n) AS BIGINT) AS n FROM {table.name} GROUP BY ALL HAVING sum(n) <> 0"  # noqa: S608
        ).to_arrow_table()
        if not data.num_rows:
            continue
        cur.execute(f"CREATE TEMPORARY TABLE _delta (LIKE {table.name}) ON COMMIT DROP")
        copy_arrow(cur, "_delta", data)
        columns = ", ".join(f'"{c}"' for c in data.column_names)
        cur.execute(
            f"INSERT INTO {table.name} AS t ({columns}) SELECT {columns} FROM _delta "  # noqa: S608 - schema names
            f"ON CONFLICT ({_key_sql(table)}) DO UPDATE SET n = t.n + excluded.n"
        )
        cur.execute("DROP TABLE _delta")
    copy_arrow(cur, "events_notable", staging.sql("SELECT * FROM events_notable").to_arrow_table())
    for state in _STATES:
        rows = staging.sql(f"SELECT * FROM {state.name}").to_arrow_table()  # noqa: S608 - schema names
        cur.execute(f"DELETE FROM {state.name}")  # noqa: S608 - schema names
        copy_arrow(cur, state.name, rows)


def _rollback(pg: psycopg.Connection[Any]) -> None:
    with contextlib.suppress(psycopg.Error):  # the connection is gone: nothing was committed
        pg.rollback()


def snapshot(engine: Engine, tables: Sequence[str]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB holding `tables` as read in one repeatable-read transaction: the
    verification's DuckDB statements run on it unchanged (every table read whole)."""
    known = {t.name: t for t in schema.metadata.sorted_tables}
    con = _staging([known[t] for t in tables if t in known], 1)
    copy_tables(engine, con, tables)
    return con


def copy_tables(
    engine: Engine,
    con: duckdb.DuckDBPyConnection,
    tables: Sequence[str],
    special: Mapping[str, Callable[[psycopg.Cursor[Any], duckdb.DuckDBPyConnection], object]] | None = None,
) -> None:
    """Copy `tables` into `con` as read in one REPEATABLE READ, READ ONLY transaction: a table of
    the schema into its staged table, another as it comes; `special` copies some tables its own way
    (the verification's copy reads `events` by ranges: `pg_copy`)."""
    known = {t.name for t in schema.metadata.sorted_tables}
    raw = engine.raw_connection()
    pg = raw.driver_connection
    assert isinstance(pg, psycopg.Connection)
    try:
        with pg.cursor() as cur:
            cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            for name in tables:
                if special and name in special:
                    special[name](cur, con)
                    continue
                data = fetch_arrow(cur, f"SELECT * FROM {name}")  # noqa: S608 - table names of the store
                if name in known:
                    _load(con, name, data)
                elif data.num_columns:
                    con.register("_t", data)
                    con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")  # noqa: S608 - table names of the store
                    con.unregister("_t")
        pg.rollback()
    finally:
        raw.close()


#: the key of the advisory lock held while one process applies migrations
MIGRATE_LOCK = CHAIN_LOCK + 2


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time applies migrations (the others wait, then find them
    applied); on DuckDB the file lock does that already."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATE_LOCK})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATE_LOCK})
            conn.commit()


#: the key of the advisory lock held while one process writes alerts (detect/alerts.py)
ALERTS_LOCK = CHAIN_LOCK + 3


def lock_alerts(conn: Connection) -> None:
    """Until `conn`'s transaction ends, be the only process that folds findings into alerts: every
    process sharing a PostgreSQL store runs detection (its ingest listener), and two that read
    the same alerts at once would both open one. On DuckDB one process owns the file (its
    `write_lock` does this)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": ALERTS_LOCK})


# -- the engine functions the read side reaches through `sa.func` --------------------------------
# The queries are written once, with DuckDB's names (store/analytics.py, detect/, packs/); on the
# PostgreSQL dialect each name below compiles to PostgreSQL's equivalent. Registered at import.

#: DuckDB's `time_bucket` origin for buckets under a month (a Monday), so both engines cut alike
_BUCKET_ORIGIN = "TIMESTAMP '2000-01-03 00:00:00'"

#: SQL functions with DuckDB's names and meaning whose argument is a format or a path (a bound
#: value, which a compiled statement cannot bake in): made with the schema (`create_tables`)
FUNCTIONS_DDL = (
    # strftime(ts, '%Y-%m-%dT%H:%M:%S.%gZ'): the format quoted whole, each code closing the quote
    """CREATE OR REPLACE FUNCTION strftime(ts TIMESTAMP, fmt TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE
    PARALLEL SAFE AS $$ SELECT to_char(ts, '"' || replace(replace(replace(replace(replace(replace(replace(
    replace(replace(fmt, '"', ''), '%Y', '"YYYY"'), '%m', '"MM"'), '%d', '"DD"'), '%H', '"HH24"'),
    '%M', '"MI"'), '%S', '"SS"'), '%g', '"MS"'), '%f', '"US"') || '"') $$""",
    # json_extract_string(text, '$.role[1]'): the value at the path as text (NULL when absent)
    r"""CREATE OR REPLACE FUNCTION json_extract_string(doc TEXT, path TEXT) RETURNS TEXT LANGUAGE sql
    IMMUTABLE PARALLEL SAFE AS $$ SELECT CAST(doc AS JSONB) #>> regexp_split_to_array(
    trim(BOTH '.' FROM regexp_replace(regexp_replace(path, '^\$', ''), '\[([0-9]+)\]', '.\1', 'g')),
    '\.') $$""",
)


#: the DuckDB function names compiled to PostgreSQL's own words below
_TRANSLATED = frozenset(
    (
        "epoch_ms",
        "time_bucket",
        "list",
        "arg_min",
        "first",
        "hour",
        "json_keys",
        "regexp_matches",
        "ends_with",
        "contains",
        "range",
        "to_json",
    )
)


def _json_text_sql(text: str) -> str:
    """`to_json(text)` as DuckDB writes it: PostgreSQL writes the `\\u00XX` escapes of control
    characters in lower case, DuckDB in upper case. A text with a control character (rare) is
    escaped here instead; any other goes through `to_json`."""
    escaped = f"replace(replace({text}, '\\', '\\\\'), '\"', '\\\"')"
    named = {8: "b", 9: "t", 10: "n", 12: "f", 13: "r"}
    for code in range(1, 32):
        escaped = f"replace({escaped}, chr({code}), '\\{named.get(code, f'u{code:04X}')}')"
    return f"(CASE WHEN {text} ~ '[[:cntrl:]]' THEN '\"' || {escaped} || '\"' ELSE CAST(to_json({text}) AS TEXT) END)"


def _pg_function(element: Any, compiler: Any, **kw: Any) -> str:
    name = str(element.name).lower()
    if name not in _TRANSLATED:
        return str(compiler.visit_function(element, **kw))
    args = list(element.clauses)

    def sql(i: int) -> str:
        return str(compiler.process(args[i], **kw))

    if name == "to_json":  # of a text: DuckDB's escapes (other values: PostgreSQL's to_json, the same text)
        kind = args[0].type
        if isinstance(kind, sa.String) or kind._isnull:
            return _json_text_sql(f"CAST({sql(0)} AS TEXT)")
        return f"CAST(to_json({sql(0)}) AS TEXT)"
    if name == "range":  # range(n): 0 .. n-1, as a table of one column
        return f"generate_series(0, {sql(0)} - 1)"
    if name == "epoch_ms":
        return f"CAST(EXTRACT(EPOCH FROM {sql(0)}) * 1000 AS BIGINT)"
    if name == "time_bucket":
        return f"date_bin({sql(0)}, {sql(1)}, {_BUCKET_ORIGIN})"
    if name == "list":  # list(DISTINCT x) as array_agg(DISTINCT x)
        return f"array_agg({compiler.process(args[0], **{**kw, 'within_aggregate_function': True})})"
    if name == "arg_min":
        return f"(array_agg({sql(0)} ORDER BY {sql(1)}) FILTER (WHERE {sql(1)} IS NOT NULL))[1]"
    if name == "first":
        return f"(array_agg({sql(0)}))[1]"
    if name == "hour":  # an integer, as DuckDB's (EXTRACT gives a numeric)
        return f"CAST(EXTRACT(HOUR FROM {sql(0)}) AS INTEGER)"
    if name == "json_keys":
        # JSON, not JSONB: the keys in the text's order, as DuckDB gives them (NULL for NULL)
        doc = sql(0)
        return f"CASE WHEN {doc} IS NOT NULL THEN ARRAY(SELECT json_object_keys(CAST({doc} AS JSON))) END"
    if name == "regexp_matches":
        return f"({sql(0)} ~ {sql(1)})"
    if name == "ends_with":
        return f"(right({sql(0)}, length({sql(1)})) = {sql(1)})"
    if name == "contains":
        return f"(strpos({sql(0)}, {sql(1)}) > 0)"
    return str(compiler.visit_function(element, **kw))


def _pg_aggregate_order_by(element: Any, compiler: Any, **kw: Any) -> str:
    inner = element.element
    if str(getattr(inner, "name", "")).lower() == "first":
        arg = compiler.process(next(iter(inner.clauses)), **kw)
        order = compiler.process(element.order_by, **kw)
        return f"(array_agg({arg} ORDER BY {order}))[1]"
    return str(compiler.visit_aggregateorderby(element, **kw))


def _register_functions() -> None:
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.sql.elements import AggregateOrderBy
    from sqlalchemy.sql.functions import Function

    compiles(Function, "postgresql")(_pg_function)
    compiles(AggregateOrderBy, "postgresql")(_pg_aggregate_order_by)


_register_functions()


# -- the process that runs the scheduled jobs ---------------------------------------------------


class JobsLease:
    """Which of the processes sharing a PostgreSQL store runs the scheduled jobs.

    The holder keeps a session-level advisory lock (`JOBS_LOCK`) on a connection of its own. When
    the process dies, PostgreSQL ends its session and the lock is free at once (a machine that
    vanishes: TCP keepalives end the session within about 25 s); the other processes ask again
    every `RECHECK_S` seconds while their jobs come due, so one of them takes over within a minute.
    """

    RECHECK_S = 5.0

    def __init__(self, url: str) -> None:
        self.conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._checked = -math.inf
        self._lock = threading.Lock()

    def held(self) -> bool:
        """Whether this process runs the jobs now (asks the database at most every `RECHECK_S`)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked < self.RECHECK_S:
                return self._held
            self._checked = now
            was = self._held
            try:
                if self._conn is None or self._conn.closed:
                    self._held = False
                    self._conn = psycopg.connect(
                        self.conninfo,
                        autocommit=True,
                        connect_timeout=10,
                        keepalives=1,
                        keepalives_idle=10,
                        keepalives_interval=5,
                        keepalives_count=3,
                        application_name=f"auditdash-jobs-{os.getpid()}",
                    )
                if self._held:
                    self._conn.execute("SELECT 1")
                else:
                    row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (JOBS_LOCK,)).fetchone()
                    self._held = bool(row and row[0])
            except psycopg.Error as exc:
                log.warning("scheduled jobs: cannot ask PostgreSQL who runs them (%s); not running them", exc)
                self._drop()
            if self._held != was:
                log.warning(
                    "scheduled jobs: this process (%d) %s them",
                    os.getpid(),
                    "runs" if self._held else "stopped running",
                )
            return self._held

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn, self._held = None, False

    def close(self, timeout: float = 0.0) -> None:
        """Give the jobs up (another process takes them)."""
        with self._lock:
            self._drop()


# -- retention and erasure: months read in batches, rows removed and restored --------------------
# (dashboard/retention/: the purge, restore and erasure run their DuckDB statements on a staging
# DuckDB that holds what they read of PostgreSQL, and change PostgreSQL with the functions below,
# each in one transaction under `CHAIN_LOCK`, rollups and free-text values in step)

#: rows per batch read from PostgreSQL (a server-side cursor) or written to it (`COPY`)
BATCH_ROWS = 50_000


def stream_arrow(engine: Engine, sql: str, params: Any = None, batch_rows: int = BATCH_ROWS) -> Iterator[pa.Table]:
    """The rows of a query, `batch_rows` at a time (a server-side cursor: one statement, so one
    consistent state, and never the whole result in memory)."""
    raw = engine.raw_connection()
    pg = raw.driver_connection
    assert isinstance(pg, psycopg.Connection)
    try:
        with pg.cursor(name="auditdash_stream") as cur:
            cur.execute(sql, params)
            while True:
                rows = cur.fetchmany(batch_rows)
                if not rows:
                    break
                names = [d.name for d in cur.description or []]
                yield pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)})
        pg.rollback()
    finally:
        _rollback(pg)
        raw.close()


def stage_table(con: duckdb.DuckDBPyConnection, table: sa.Table) -> None:
    """Create `table` (as schema.py defines it, in DuckDB's words) on a staging DuckDB."""
    for column in table.columns:
        if isinstance(column.default, sa.Sequence):
            con.execute(f"CREATE SEQUENCE IF NOT EXISTS {column.default.name}")
    ddl = str(sa.schema.CreateTable(table).compile(dialect=duckdb_engine.Dialect()))
    con.execute(ddl.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS", 1))


def stage_rows(engine: Engine, con: duckdb.DuckDBPyConnection, table: sa.Table, sql: str, params: Any = None) -> int:
    """Copy the rows of a PostgreSQL query into `table` of the staging DuckDB `con` (created when
    missing), in batches; returns how many."""
    stage_table(con, table)
    count = 0
    for batch in stream_arrow(engine, sql, params):
        _load(con, table.name, batch)
        count += batch.num_rows
    return count


@contextmanager
def chain_transaction(engine: Engine) -> Iterator[psycopg.Cursor[Any]]:
    """A cursor in one transaction that holds `CHAIN_LOCK` (the writers of every process wait):
    committed when the block ends, rolled back when it raises."""
    raw = engine.raw_connection()
    pg = raw.driver_connection
    assert isinstance(pg, psycopg.Connection)
    try:
        with pg.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK,))
            yield cur
        pg.commit()
    except BaseException:
        _rollback(pg)
        raise
    finally:
        raw.close()


def copy_batches(cur: psycopg.Cursor[Any], table: str, batches: Any) -> int:
    """`copy_arrow` for each Arrow record batch (or table) of `batches`; returns the rows copied."""
    count = 0
    for batch in batches:
        data = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        copy_arrow(cur, table, data)
        count += data.num_rows
    return count


def adjust_derived(
    cur: psycopg.Cursor[Any],
    rows: str,
    sign: int,
    grains: Sequence[tuple[sa.Table, int]],
    notable_where: str,
    values: Sequence[tuple[sa.Table, Sequence[str]]],
) -> None:
    """Count the events of table `rows` (events-shaped, in the cursor's transaction) in (`sign` 1)
    or out (-1) of the rollups, the notable events and the free-text values, as store/rollups.py
    `add_rows` / `remove_rows` do on DuckDB: `grains` the rollup tables with their bucket in
    seconds, `notable_where` the condition on `events r` of a notable event, `values` the
    free-text tables with their columns. A count that reaches zero is deleted (an erased name does
    not stay behind). Call it under `CHAIN_LOCK`, in the transaction that changes `events`."""
    cur.execute(f"SELECT count(*), coalesce(sum(seq), 0), min(seq), max(seq) FROM {rows}")  # noqa: S608
    n, total, low, top = cur.fetchone()  # type: ignore[misc]
    if not n:
        return
    for table, grain in grains:
        dims = ", ".join(c.name for c in table.columns if c.name not in ("occurred_at", "n"))
        bucket = _bucket_sql(grain)
        cur.execute(
            f"INSERT INTO {table.name} AS t (occurred_at, {dims}, n) SELECT {bucket}, {dims}, {sign} * count(*) "  # noqa: S608
            f"FROM {rows} GROUP BY {bucket}, {dims} ON CONFLICT ({_key_sql(table)}) DO UPDATE SET n = t.n + excluded.n"
        )
        cur.execute(
            f"DELETE FROM {table.name} WHERE n <= 0 AND occurred_at >= (SELECT min({bucket}) FROM {rows}) "  # noqa: S608
            f"AND occurred_at <= (SELECT max({bucket}) FROM {rows})"
        )
    columns = ", ".join(c.name for c in schema.events.columns)
    if sign < 0:
        cur.execute(f"DELETE FROM events_notable WHERE seq IN (SELECT seq FROM {rows})")  # noqa: S608
    else:
        cur.execute(f"INSERT INTO events_notable SELECT {columns} FROM {rows} r WHERE {notable_where}")  # noqa: S608
    cur.execute("UPDATE rollup_state SET events = events + %s, seq_sum = seq_sum + %s", (sign * n, sign * total))
    for table, kept in values:
        cols = ", ".join(kept)
        present = " OR ".join(f"{d} IS NOT NULL" for d in kept)
        cur.execute(
            f"INSERT INTO {table.name} AS t ({cols}, n) SELECT {cols}, {sign} * count(*) FROM {rows} "  # noqa: S608
            f"WHERE {present} GROUP BY {cols} ON CONFLICT ({_key_sql(table)}) DO UPDATE SET n = t.n + excluded.n"
        )
        if sign < 0:
            cur.execute(f"DELETE FROM {table.name} WHERE n <= 0")  # noqa: S608
    if sign < 0:  # removed: matches found before no longer hold
        cur.execute("UPDATE text_state SET generation = generation + 1")
    else:  # restored below the highest sequence number: matches are found again
        cur.execute(
            "UPDATE text_state SET generation = generation + CASE WHEN %s <= high THEN 1 ELSE 0 END, "
            "high = greatest(high, %s)",
            (low, top),
        )


def _months_of(cur: psycopg.Cursor[Any], rows: str) -> list[str]:
    cur.execute(f"SELECT DISTINCT to_char(occurred_at, 'YYYY-MM') FROM {rows} ORDER BY 1")  # noqa: S608
    return [str(r[0]) for r in cur.fetchall()]


def _partition_of(cur: psycopg.Cursor[Any], month: str) -> str | None:
    """The partition of `events` named for `month`, when it exists as one."""
    cur.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' AND c.relname = %s",
        (partition_name(month),),
    )
    row = cur.fetchone()
    return str(row[0]) if row else None


def remove_events(cur: psycopg.Cursor[Any], rows: str) -> tuple[int, list[str]]:
    """Delete the events of table `rows` (events-shaped) and their `event_ids` rows. A month whose
    partition holds exactly those rows loses its partition (detached, then dropped); the others
    lose the rows. Returns the rows removed and the months whose partition was dropped."""
    cur.execute(
        f"DELETE FROM event_ids i USING {rows} g WHERE i.account_id = g.account_id "  # noqa: S608
        "AND i.event_id = g.event_id AND i.seq = g.seq"
    )
    removed, dropped = 0, []
    for month in _months_of(cur, rows):
        part = _partition_of(cur, month)
        cur.execute(
            f"SELECT count(*) FROM {rows} WHERE to_char(occurred_at, 'YYYY-MM') = %s",  # noqa: S608
            (month,),
        )
        gone = int(cur.fetchone()[0])  # type: ignore[index]
        if part is not None:
            cur.execute(f"SELECT count(*), coalesce(sum(seq), 0) FROM {part}")  # noqa: S608 - a name from the catalog
            held, seq_sum = cur.fetchone()  # type: ignore[misc]
            if int(held) == gone:
                tally_detached(cur, int(held), int(seq_sum))  # DETACH fires no trigger
                cur.execute(f"ALTER TABLE events DETACH PARTITION {part}")
                cur.execute(f"DROP TABLE {part}")
                removed += gone
                dropped.append(month)
                continue
        cur.execute(
            f"DELETE FROM events e USING {rows} g WHERE e.seq = g.seq AND e.occurred_at = g.occurred_at "  # noqa: S608
            "AND to_char(g.occurred_at, 'YYYY-MM') = %s",
            (month,),
        )
        removed += cur.rowcount
    return removed, dropped


def insert_events(cur: psycopg.Cursor[Any], rows: str, added: str) -> int:
    """Insert the events of table `rows` (events-shaped) that `events` lacks (by seq), with their
    `event_ids` rows; the monthly partitions they need are created. What was inserted is left in a
    temporary table named `added` (for the rollups). Returns how many."""
    cur.execute(
        f"CREATE TEMPORARY TABLE {added} ON COMMIT DROP AS SELECT DISTINCT ON (r.seq) r.* FROM {rows} r "  # noqa: S608
        "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = r.seq) ORDER BY r.seq"
    )
    ensure_partitions(cur, _months_of(cur, added))
    columns = ", ".join(c.name for c in schema.events.columns)
    cur.execute(f"INSERT INTO events ({columns}) SELECT {columns} FROM {added} ORDER BY seq")  # noqa: S608
    count = cur.rowcount
    cur.execute(
        "SELECT a.account_id, a.event_id, a.seq, i.seq FROM "  # noqa: S608
        f"{added} a JOIN event_ids i ON i.account_id = a.account_id AND i.event_id = a.event_id LIMIT 1"
    )
    clash = cur.fetchone()
    if clash:
        raise StoreError(
            f"event {clash[1]!r} of account {clash[0]!r} (seq {clash[2]}) is stored already as seq {clash[3]}: "
            "the restored copy would repeat its id; nothing was restored"
        )
    cur.execute(
        f"INSERT INTO event_ids (account_id, event_id, seq, occurred_at) "  # noqa: S608
        f"SELECT account_id, event_id, seq, occurred_at FROM {added}"
    )
    return max(count, 0)

"""A consistent copy of a PostgreSQL store's tables in a DuckDB file on disk, for the verification.

`auditdash verify` runs the same DuckDB statements on both engines. On PostgreSQL they run on a
copy of the tables read in one REPEATABLE READ transaction (so ingest goes on meanwhile and the copy
is one state of the store). The copy is a DuckDB file in a temporary folder (`TMPDIR`), `events`
copied in ranges of `EVENT_ROWS` sequence numbers with `COPY ... TO STDOUT`, and DuckDB held to
`MEMORY_LIMIT` (it spills to the same folder): memory stays bounded whatever the number of events
(an in-memory copy of 10 million events took more than 17 GB), and the folder is removed when the
block ends. It needs free disk space of about 60 bytes per event (DuckDB's compressed columns).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import psycopg
from sqlalchemy.engine import Engine

from dashboard.store import schema
from dashboard.store.backend import postgres

#: sequence numbers per `COPY` of events (each chunk parsed whole in memory: a few hundred MB at most)
EVENT_ROWS = 200_000
#: DuckDB's memory for the copy and the verification's statements on it
MEMORY_LIMIT = "1GB"


def _copy_events(cur: psycopg.Cursor[object], con: duckdb.DuckDBPyConnection) -> int:
    """Every row of `events`, range by range of `seq` (gaps skipped by an index probe; rows sharing
    a seq, as rows written out of band may, are all in their range)."""
    cur.execute("SELECT min(seq) FROM events")
    low = cur.fetchone()[0]  # type: ignore[index]
    copied = 0
    while low is not None:
        high = int(low) + EVENT_ROWS
        sql = f"SELECT * FROM events WHERE seq >= {int(low)} AND seq < {high}"  # noqa: S608 - numbers
        data = postgres.copy_out(cur, schema.events, sql)
        postgres._load(con, "events", data)
        copied += data.num_rows
        cur.execute("SELECT min(seq) FROM events WHERE seq >= %s", (high,))
        low = cur.fetchone()[0]  # type: ignore[index]
    return copied


@contextmanager
def disk_snapshot(engine: Engine, tables: Sequence[str]) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection on a temporary file holding `tables` as read in one repeatable-read
    transaction; the file and its folder are removed when the block ends."""
    folder = Path(tempfile.mkdtemp(prefix="auditdash-copy-"))
    con: duckdb.DuckDBPyConnection | None = None
    try:
        known = {t.name: t for t in schema.metadata.sorted_tables}
        con = postgres._staging([known[t] for t in tables if t in known], 1, str(folder / "copy.duckdb"))
        if "events" in tables:  # without the key: rows sharing a seq (written out of band) are copied, and reported
            con.execute("CREATE TABLE _events AS SELECT * FROM events LIMIT 0")
            con.execute("DROP TABLE events")
            con.execute("ALTER TABLE _events RENAME TO events")
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        con.execute("SET enable_progress_bar = false")
        con.execute(f"SET temp_directory = '{folder / 'spill'}'")
        con.execute("SET preserve_insertion_order = false")
        postgres.copy_tables(engine, con, tables, {"events": _copy_events})
        yield con
    finally:
        if con is not None:
            con.close()
        shutil.rmtree(folder, ignore_errors=True)

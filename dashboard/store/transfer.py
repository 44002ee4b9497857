"""Copying a whole store from DuckDB into PostgreSQL (`auditdash migrate --from FILE --to URL`).

Everything is copied in one PostgreSQL transaction that holds the chain's advisory lock: the
events (streamed from DuckDB as Arrow batches, written with `COPY`, their monthly partitions and
`event_ids` made on the way), the chain, the quarantine, and every other table (users, sessions,
tokens, alerts, reviews, holds, checkpoints, settings, streams, saved views); the rollups and
free-text values are rebuilt from the target's events at the end. Either all of it is stored or
nothing is. Running it again is safe: a target whose chain is the source's (a copy made before,
perhaps with batches added since) gets only what it lacks (rows of other tables whose key it does
not hold yet); a target holding another chain is refused before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from dashboard.store import rollups, schema
from dashboard.store.backend import postgres
from dashboard.store.db import Database
from dashboard.store.errors import StoreError

#: the tables of the chain, copied past the target's head; every other table is merged by key
CHAIN_TABLES = ("events", "chain_batches", "quarantine")
#: tables not merged by key: the chain (copied past the target's head), the schema's version, and
#: what is derived from the events (rebuilt from the target's events in the same transaction)
SKIPPED = frozenset(
    (
        *CHAIN_TABLES,
        "schema_version",
        *(t.name for t in postgres.COUNTED),
        "events_notable",
        "rollup_state",
        "text_state",
    )
)
#: rows of events per Arrow batch streamed from DuckDB
CHUNK_ROWS = 100_000


@dataclass
class Copied:
    """What one run copied: rows per table (0: the target had them all)."""

    rows: dict[str, int] = field(default_factory=dict)
    resumed_after_batch: int = 0


def copy_store(source: Database, target: Database) -> Copied:
    """Copy `source` (a DuckDB store) into `target` (a PostgreSQL store of the same schema version)."""
    if source.url is not None or target.url is None:
        raise StoreError("auditdash migrate copies a DuckDB file (--from) into PostgreSQL (--to URL)")
    if source.version() != target.version():
        raise StoreError(
            f"{source.path} has schema version {source.version()}, the target {target.version()}: open the file "
            "once with this auditdash (for example `auditdash stats --db FILE`) to upgrade it, then run migrate again"
        )
    out = Copied()
    raw = target.engine.raw_connection()
    pg = raw.driver_connection
    assert isinstance(pg, psycopg.Connection)
    try:
        with source.raw() as src, pg.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (postgres.CHAIN_LOCK,))
            after_batch, after_seq, after_q = _resume_point(cur, src, source)
            out.resumed_after_batch = after_batch
            out.rows["events"] = _copy_events(cur, src, after_seq)
            out.rows["chain_batches"] = _copy_rows(
                cur,
                src,
                "chain_batches",
                "SELECT * FROM chain_batches WHERE batch_id > ? ORDER BY batch_id",
                after_batch,
            )
            out.rows["quarantine"] = _copy_rows(
                cur, src, "quarantine", "SELECT * FROM quarantine WHERE id > ? ORDER BY id", after_q
            )
            present = set(sa.inspect(source.engine).get_table_names())
            for table in schema.metadata.sorted_tables:
                if table.name in SKIPPED or table.name not in present:
                    continue
                out.rows[table.name] = _merge(cur, src, table)
            # the rollups and free-text values count the target's events, copied or not
            rollups.rebuild_postgres(cur)
            for table in schema.metadata.sorted_tables:
                for column in table.columns:
                    if isinstance(column.default, sa.Sequence):
                        cur.execute(
                            f"SELECT setval('{column.default.name}', "  # noqa: S608 - names of the schema
                            f"greatest((SELECT max({column.name}) FROM {table.name}), 1))"
                        )
        pg.commit()
    except BaseException:
        pg.rollback()
        raise
    finally:
        raw.close()
    return out


def _resume_point(cur: psycopg.Cursor[Any], src: Any, source: Database) -> tuple[int, int, int]:
    """(batch, seq, quarantine id) the target holds of the source's chain; (0, 0, 0) when empty."""
    cur.execute("SELECT batch_id, hash, last_seq FROM chain_batches ORDER BY batch_id DESC LIMIT 1")
    head = cur.fetchone()
    cur.execute("SELECT count(*) FROM events")
    stored = int(cur.fetchone()[0])  # type: ignore[index]
    if head is None:
        if stored:
            raise StoreError("the target holds events but no chain: migrate into an empty database; nothing was copied")
        return 0, 0, 0
    # the chains agree up to the shorter one's head: the target is this file's copy (perhaps with
    # batches stored since, such as the audit event of the last run's verification)
    source_head = int(src.execute("SELECT coalesce(max(batch_id), 0) FROM chain_batches").fetchall()[0][0])
    batch_id = min(int(head[0]), source_head)
    cur.execute("SELECT hash FROM chain_batches WHERE batch_id = %s", (batch_id,))
    theirs = cur.fetchone()
    mine = src.execute("SELECT hash FROM chain_batches WHERE batch_id = ?", [batch_id]).fetchall()
    if not batch_id or not mine or theirs is None or mine[0][0] != theirs[0]:
        raise StoreError(
            f"the target holds another chain than {source.path} (its batch {batch_id} is not the file's): "
            "migrate into an empty database; nothing was copied"
        )
    last_seq, last_q = src.execute(
        "SELECT (SELECT last_seq FROM chain_batches WHERE batch_id = ?), "
        "(SELECT coalesce(max(id), 0) FROM quarantine WHERE batch_id <= ? OR batch_id IS NULL)",
        [batch_id, batch_id],
    ).fetchall()[0]
    return int(batch_id), int(last_seq), int(last_q)


def _copy_events(cur: psycopg.Cursor[Any], src: Any, after_seq: int) -> int:
    reader = src.sql("SELECT * FROM events WHERE seq > $s ORDER BY seq", params={"s": after_seq}).to_arrow_reader(
        CHUNK_ROWS
    )
    n = 0
    for chunk in reader:
        data = pa.Table.from_batches([chunk])
        months = pc.unique(pc.strftime(data.column("occurred_at"), format="%Y-%m")).to_pylist()
        postgres.ensure_partitions(cur, [str(m) for m in months])
        postgres.copy_arrow(cur, "events", data)
        postgres.copy_arrow(cur, "event_ids", data.select(["account_id", "event_id", "seq", "occurred_at"]))
        n += data.num_rows
    return n


def _copy_rows(cur: psycopg.Cursor[Any], src: Any, table: str, sql: str, after: int) -> int:
    data = src.sql(sql, params=[after]).to_arrow_table()
    postgres.copy_arrow(cur, table, data)
    return int(data.num_rows)


def _merge(cur: psycopg.Cursor[Any], src: Any, table: sa.Table) -> int:
    """Insert the source's rows of `table` whose key the target lacks; the count inserted."""
    data = src.sql(f"SELECT * FROM {table.name}").to_arrow_table()  # noqa: S608 - a table of the schema
    if not data.num_rows:
        return 0
    cur.execute(f"CREATE TEMPORARY TABLE _in (LIKE {table.name}) ON COMMIT DROP")
    postgres.copy_arrow(cur, "_in", data)
    columns = ", ".join(f'"{c}"' for c in data.column_names)
    cur.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM _in ON CONFLICT DO NOTHING"  # noqa: S608
    )
    inserted = cur.rowcount
    cur.execute("DROP TABLE _in")
    return int(inserted)

"""Writing archived months: one Parquet file and its manifest per month, written to a new
revision, synced to disk and then committed; leftovers of interrupted runs tidied, the
`archive_months` table kept in step with the manifests.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import sqlalchemy as sa

from dashboard.evidence.canonical import ERASE_ACTION, text_rows_sql
from dashboard.evidence.hashing import check_rows, hash_workers
from dashboard.evidence.locations import IntegrityError, Locations
from dashboard.retention.holds import held_sql
from dashboard.store import rollups, schema
from dashboard.store.archive import (
    ARCHIVE_COLUMNS,
    ARCHIVE_COLUMNS_SQL,
    Manifest,
    file_sha256,
    manifest_path,
    month_range,
    parquet_sql,
)
from dashboard.store.backend import postgres
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run

#: test hook: the purge stops after this step and waits (so a test can kill it there).
PAUSE_ENV = "AUDITDASH_PURGE_PAUSE_AFTER"


PAUSE_STEPS: tuple[str, ...] = ("planned", "written", "committed", "archived", "deleting", "deleted")


def pause_at(step: str) -> None:
    """Test hook: stop after `step` when AUDITDASH_PURGE_PAUSE_AFTER names it (so a test can kill us)."""
    if os.environ.get(PAUSE_ENV) == step:
        print(f"purge paused after {step}", file=sys.stderr, flush=True)
        time.sleep(600)


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


#: what an expired event keeps: its place in the chain, and what an erasure recorded (commitments
#: and the erasure that vouches for them; no personal value)
_KEEP_ALWAYS = ("seq", "batch_id", "hash", "erased")


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


_ARCHIVE_FILE = re.compile(r"^\d{4}-\d{2}\.r\d+\.parquet$")


def tidy(where: Locations, manifests: dict[str, Manifest]) -> list[str]:
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


def recorded_months(db: Database) -> dict[str, tuple[int, str]]:
    """Each month `archive_months` records: its revision and the SHA-256 of its file."""
    months = schema.archive_months.c
    with db.connect() as conn:
        rows = conn.execute(sa.select(months.month, months.revision, months.sha256))
        return {r.month: (r.revision, r.sha256) for r in rows}


def reconcile(db: Database, manifests: dict[str, Manifest]) -> None:
    """Bring `archive_months` up to the committed manifests (after a crash between the two)."""
    recorded = recorded_months(db)
    for month, manifest in manifests.items():
        if recorded.get(month) != (manifest.revision, manifest.sha256):
            _mirror(db, manifest)


def _source_sql(old_file: str | None, expire: bool) -> str:
    """The rows of a month's next revision: its archived rows plus the hot rows that join them.

    Parameters: $month_start, $month_end, $cutoff, $old (the current file, when there is one).
    When `expire`, every event not under a legal hold keeps only seq, batch_id, hash and erased;
    erasure records (`audit.erase` events) never expire: they vouch for erased events.
    """
    old = f"SELECT * FROM {parquet_sql('$old')}" if old_file else "SELECT * FROM events WHERE false"  # noqa: S608
    new = (
        f"SELECT {ARCHIVE_COLUMNS_SQL} FROM events e "  # noqa: S608 - our own column names
        "WHERE e.occurred_at >= $month_start AND e.occurred_at < $month_end "
        f"AND e.occurred_at < $cutoff AND NOT {held_sql('e')} "
        "AND NOT EXISTS (SELECT 1 FROM _old o WHERE o.seq = e.seq)"
    )
    rows = f"SELECT {ARCHIVE_COLUMNS_SQL} FROM _old UNION ALL {new}"  # noqa: S608
    if not expire:
        return f"WITH _old AS ({old}) SELECT * FROM ({rows})"  # noqa: S608
    cols = ", ".join(c if c in _KEEP_ALWAYS else f"CASE WHEN r._keep THEN r.{c} END AS {c}" for c in ARCHIVE_COLUMNS)
    keep = f"({held_sql('x')} OR coalesce(x.action = '{ERASE_ACTION}', false))"
    return f"WITH _old AS ({old}) SELECT {cols} FROM (SELECT x.*, {keep} AS _keep FROM ({rows}) x) r"  # noqa: S608


def adjust_postgres(cur: psycopg.Cursor[Any], rows: str, sign: int) -> None:
    """On PostgreSQL: count the events of temporary table `rows` in (`sign` 1) or out (-1) of the
    rollups, notable events and free-text values, in the cursor's transaction (`rollups.add_rows` /
    `remove_rows` on DuckDB)."""
    postgres.adjust_derived(
        cur, rows, sign, [(r.table, r.grain) for r in rollups.ROLLUPS], rollups.notable_sql("r"), rollups.TEXT_VALUES
    )


@contextmanager
def staging_file(db: Database) -> Iterator[duckdb.DuckDBPyConnection]:
    """On PostgreSQL: a DuckDB file beside the store's files, removed at the end, for the rows a
    retention step reads (bounded memory: DuckDB keeps them on disk)."""
    with tempfile.TemporaryDirectory(prefix=".auditdash-stage-", dir=db.path.parent) as folder:
        con = duckdb.connect(str(Path(folder) / "stage.duckdb"))
        try:
            yield con
        finally:
            con.close()


@contextmanager
def month_rows(db: Database, month: str, cutoff: datetime) -> Iterator[duckdb.DuckDBPyConnection]:
    """The DuckDB connection a month's archive is written with: the store itself on DuckDB; on
    PostgreSQL a staging file holding the month's hot events older than `cutoff` and not held
    (read in batches), the legal holds and the chain's batches (read after the events, so every
    staged event's batch is there)."""
    if db.url is None:
        with db.raw() as con:
            yield con
        return
    start, end = month_range(month)
    with staging_file(db) as con:
        postgres.stage_rows(
            db.engine,
            con,
            schema.events,
            "SELECT * FROM events e WHERE e.occurred_at >= %(start)s AND e.occurred_at < %(end)s "  # noqa: S608
            f"AND e.occurred_at < %(cutoff)s AND NOT {held_sql('e')} ORDER BY e.seq",
            {"start": start, "end": end, "cutoff": cutoff},
        )
        postgres.stage_rows(db.engine, con, schema.legal_holds, "SELECT * FROM legal_holds")
        postgres.stage_rows(db.engine, con, schema.chain_batches, "SELECT * FROM chain_batches")
        yield con


def write_month(
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
    with month_rows(db, plan.month, cutoff) as con:
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
            # each row in the canonical form of its batch (chain_batches keeps every batch)
            _, bad = check_rows(
                con.sql(
                    text_rows_sql("SELECT * FROM read_parquet($tmp) WHERE event_id IS NOT NULL"),
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
    pause_at("written")
    _atomic_write(manifest_path(where.archive_dir, plan.month), json.dumps(manifest.to_json(), indent=2) + "\n")
    pause_at("committed")
    _mirror(db, manifest)
    if current and current.file != name:
        (where.archive_dir / current.file).unlink(missing_ok=True)
    return manifest

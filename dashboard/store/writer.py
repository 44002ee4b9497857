"""The bulk writer: validated batches in, sequence numbers and hash chain assigned, stored.

One call stores one batch atomically: the new events (duplicates of stored ids dropped),
their chain batch, and the quarantined records, in a single transaction. Everything is done
with set-based SQL and Arrow operations on the batch's table; nothing is inserted row by row.

Integrity (docs/integrity.md): each event's `hash` is SHA-256 over a canonical text of its
stored columns (`schema.HASHED_COLUMNS`, joined with U+001F, NULL as U+0000). Each batch's
`events_digest` is SHA-256 over its events' hashes in sequence order, and the batch `hash` is
SHA-256 over the previous batch hash and the batch's fields, so batches form a chain.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.events.validate import Rejected
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import one, run, transaction
from dashboard.store.schema import HASHED_COLUMNS

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_SEP = "chr(31)"
_NULL = "chr(0)"


def _canon_expr(col: str) -> str:
    if col in ("occurred_at", "received_at"):
        return f"coalesce(strftime({col}, '%Y-%m-%dT%H:%M:%S.%gZ'), {_NULL})"
    return f"coalesce(CAST({col} AS VARCHAR), {_NULL})"


#: SQL expression of an event's hash over the columns of `events` (or a table shaped like it).
EVENT_HASH_SQL = "sha256(concat_ws(" + _SEP + ", " + ", ".join(_canon_expr(c) for c in HASHED_COLUMNS) + "))"


def batch_hash(prev_hash: str, batch_id: int, first_seq: int, last_seq: int, count: int, digest: str) -> str:
    """The chain link of one batch."""
    text = f"{prev_hash}|{batch_id}|{first_seq}|{last_seq}|{count}|{digest}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class WriteResult:
    """What one stored batch did."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    rejected_records: list[Rejected] = field(default_factory=list)

    def add(self, other: WriteResult) -> None:
        """Fold another batch's result into this one (keeps rejections for reporting)."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        if other.first_seq is not None and self.first_seq is None:
            self.first_seq = other.first_seq
        if other.last_seq is not None:
            self.last_seq = other.last_seq
        self.rejected_records.extend(other.rejected_records)


_INSERT_COLUMNS = (
    "event_id, occurred_at, account_id, action, category, outcome, reason, actor_id, actor_name, "
    "actor_email, actor_role, actor_type, target_type, target_id, target_name, ip, ip_scope, "
    "geo_country, geo_city, geo_lat, geo_lon, user_agent, session_id, request_id, changes, metadata"
)

#: the batch's new events as `events` rows, stamped for this batch (`EVENT_HASH_SQL` reads these).
_STAMPED = (
    f"SELECT seq, {_INSERT_COLUMNS}, CAST($received AS TIMESTAMP) AS received_at, "
    "CAST($source AS VARCHAR) AS source, CAST($batch_id AS BIGINT) AS batch_id FROM _new"
)


def _first_of_each_id(accepted: pa.Table) -> pa.Table:
    """The batch in position order, a repeated id kept only where it first occurs."""
    pos = accepted.column("pos").to_numpy()
    if len(pos) > 1 and not bool((pos[1:] >= pos[:-1]).all()):
        accepted = accepted.take(np.argsort(pos, kind="stable"))
    ids = accepted.column("event_id")
    if pc.count_distinct(ids).as_py() == accepted.num_rows:
        return accepted
    row = pa.array(np.arange(accepted.num_rows, dtype=np.int64))
    first = accepted.select(["event_id"]).append_column("row", row).group_by("event_id").aggregate([("row", "min")])
    return accepted.filter(pc.is_in(row, value_set=first.column("row_min")))


def _events_digest(stored: pa.Table, first: int, last: int) -> str:
    """SHA-256 over the batch's event hashes in sequence order, from its (seq, hash) rows."""
    seq = stored.column("seq").to_numpy()
    order = np.argsort(seq, kind="stable")
    if not np.array_equal(seq[order], np.arange(first, last + 1)):
        raise RuntimeError(f"stored batch does not hold exactly seq {first}..{last}")  # a bug, never data
    hashes = stored.column("hash").take(order).combine_chunks().cast(pa.string())
    # The hashes back to back are the array's data buffer between its first and last offset.
    _, offsets, data = hashes.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[hashes.offset : hashes.offset + len(hashes) + 1]
    return hashlib.sha256(memoryview(data)[bounds[0] : bounds[-1]] if data is not None else b"").hexdigest()


def _archived_ids(con: duckdb.DuckDBPyConnection, new: pa.Table, archive_dir: Path) -> pa.ChunkedArray | pa.Array:
    """Ids of `new` already stored in an archived month (the month of their `occurred_at`).

    Costs one query of `archive_months` per batch while nothing is archived, and one more
    comparison while the batch is newer than every archived month; only a batch with events of
    archived months reads those months' Parquet files (their `event_id` column, filtered). A
    month file that is missing is skipped (`auditdash verify` reports it). Expired events keep
    no id, so they cannot be recognised.
    """
    empty = pa.array([], pa.string())
    months = dict(run(con, "SELECT month, file FROM archive_months"))
    if not months:
        return empty
    con.register("_arch_new", new.select(["event_id", "occurred_at"]))
    try:
        sql = "SELECT DISTINCT strftime(occurred_at, '%Y-%m') FROM _arch_new WHERE occurred_at < $end"
        from dashboard.store.retention import month_range  # retention imports this module

        rows = run(con, sql, {"end": month_range(max(months))[1]})
        touched = [str(row[0]) for row in rows]
        files = [archive_dir / months[m] for m in sorted(touched) if m in months]
        present = [str(f) for f in files if f.is_file()]
        for missing in sorted(set(files) - {Path(f) for f in present}):
            log.warning("archived month file %s is missing: ids there are not checked for duplicates", missing)
        if not present:
            return empty
        found = con.sql(
            "SELECT DISTINCT a.event_id FROM read_parquet($files) a "
            "WHERE a.event_id IN (SELECT event_id FROM _arch_new)",
            params={"files": present},
        )
        return found.to_arrow_table().column("event_id")
    finally:
        con.unregister("_arch_new")


def store_batch(
    db: Database,
    accepted: pa.Table,
    rejected: list[Rejected],
    source: str,
    position_label: str = "record",
    received_at: datetime | None = None,
    archive_dir: Path | None = None,
) -> WriteResult:
    """Store one validated batch atomically.

    Args:
        db: the database (its write lock is held for the whole batch).
        accepted: the validator's accepted table (`validate.ACCEPTED_COLUMNS`).
        rejected: the validator's rejected records, quarantined with their reasons.
        source: where the batch came from (`api:TOKEN-NAME`, `file:NAME`, `demo`).
        position_label: how positions are named in quarantine (`line`, `record`, `index`).
        received_at: the receive time to stamp (default now).
        archive_dir: where retention archives months; an event whose id is archived in the month
            of its `occurred_at` is a duplicate too (None: look in the hot store only).

    Returns:
        Counts of accepted, duplicate and rejected records, and the sequence range written.
    """
    received = received_at or utcnow()
    result = WriteResult(rejected=len(rejected), rejected_records=list(rejected))
    # Repeats inside the batch need no lock; ids stored earlier are looked up under it.
    candidates = _first_of_each_id(accepted)
    with db.write_lock, db.raw() as con:
        try:
            with transaction(con):
                row = one(con, "SELECT coalesce(max(last_seq), 0), coalesce(max(batch_id), 0) FROM chain_batches")
                last_seq, last_batch = int(row[0]), int(row[1])
                batch_id = last_batch + 1
                # Drop ids already stored. The batch's ids make the hash table, and DuckDB passes their
                # range down to the scan of stored ids, which skips row groups outside it (cheap when
                # ids grow with time, as most senders' do); the cost grows with the table otherwise.
                con.register("_ids", candidates.select(["event_id"]))
                stored = con.sql("SELECT event_id FROM events WHERE event_id IN (SELECT event_id FROM _ids)")
                stored_ids = stored.to_arrow_table().column("event_id")
                con.unregister("_ids")
                new = candidates
                if len(stored_ids):
                    new = candidates.filter(pc.invert(pc.is_in(candidates.column("event_id"), value_set=stored_ids)))
                if archive_dir is not None and new.num_rows:
                    archived_ids = _archived_ids(con, new, archive_dir)
                    if len(archived_ids):
                        new = new.filter(pc.invert(pc.is_in(new.column("event_id"), value_set=archived_ids)))
                new_count = new.num_rows
                result.duplicates = accepted.num_rows - new_count
                if new_count:
                    first, last = last_seq + 1, last_seq + new_count
                    # Sequence numbers follow positions: `new` is in position order.
                    con.register("_new", new.append_column("seq", pa.array(np.arange(first, last + 1, dtype=np.int64))))
                    run(
                        con,
                        f"INSERT INTO events (seq, {_INSERT_COLUMNS}, received_at, source, batch_id, hash) "
                        f"SELECT seq, {_INSERT_COLUMNS}, received_at, source, batch_id, {EVENT_HASH_SQL} "
                        f"FROM ({_STAMPED})",
                        {"received": received, "source": source, "batch_id": batch_id},
                    )
                    # The digest is hashed here in Python (OpenSSL: far faster than DuckDB's sha256)
                    # from the hashes as stored, read back by batch id (only this batch's rows are read).
                    stored = con.sql("SELECT seq, hash FROM events WHERE batch_id = $b", params={"b": batch_id})
                    digest = _events_digest(stored.to_arrow_table(), first, last)
                    prev_rows = run(con, "SELECT hash FROM chain_batches WHERE batch_id = $b", {"b": last_batch})
                    prev_hash = prev_rows[0][0] if prev_rows else GENESIS_HASH
                    run(
                        con,
                        "INSERT INTO chain_batches VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        [
                            batch_id,
                            first,
                            last,
                            new_count,
                            received,
                            source,
                            digest,
                            prev_hash,
                            batch_hash(prev_hash, batch_id, first, last, new_count, digest),
                        ],
                    )
                    result.first_seq, result.last_seq = first, last
                result.accepted = new_count
                if rejected:
                    quarantined = pa.table(
                        {
                            "position": [f"{position_label} {r.pos}" for r in rejected],
                            "reason": [r.reason for r in rejected],
                            "raw": [r.raw for r in rejected],
                        }
                    )
                    con.register("_rejected", quarantined)
                    run(
                        con,
                        "INSERT INTO quarantine (received_at, source, position, reason, raw) "
                        "SELECT $received, $source, position, reason, raw FROM _rejected",
                        {"received": received, "source": source},
                    )
                    con.unregister("_rejected")
        finally:
            for name in ("_ids", "_new", "_rejected", "_arch_new"):
                with contextlib.suppress(Exception):  # a view never registered needs no cleanup
                    con.unregister(name)
    return result

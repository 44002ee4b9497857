"""The bulk writer: validated batches in, sequence numbers and hash chain assigned, stored.

One call stores one batch atomically: the new events (exact re-sends of stored ids counted as
duplicates, records whose id is stored with other content quarantined as conflicts), their chain
batch, and the quarantined records, in a single transaction. Everything is done
with set-based SQL and Arrow operations on the batch's table; nothing is inserted row by row.

Integrity (docs/integrity.md): each event's `hash` is SHA-256 over a canonical text of its
stored columns; which text is set per batch by its canonical form version (`chain_batches.version`:
1, the first form, `schema.HASHED_COLUMNS`; 2, every stored column, length-prefixed, for new
batches). Each batch's `events_digest` is SHA-256 over its events' hashes in sequence order; from
version 2 its quarantined records are chained too (`quarantine_count`, `quarantine_digest`). The
batch `hash` is SHA-256 over the previous batch hash and the batch's fields, so batches form a chain.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashboard.events.contract import FIELDS
from dashboard.events.validate import Rejected
from dashboard.store import rollups, schema
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import one, run, transaction
from dashboard.store.errors import StoreError
from dashboard.store.schema import HASHED_COLUMNS

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
_SEP = "chr(31)"
_NULL = "chr(0)"


def _canon_expr(col: str) -> str:
    if col in ("occurred_at", "received_at"):
        return f"coalesce(strftime({col}, '%Y-%m-%dT%H:%M:%S.%gZ'), {_NULL})"
    return f"coalesce(CAST({col} AS VARCHAR), {_NULL})"


#: canonical form version 1: `HASHED_COLUMNS`, U+001F between values, NULL as U+0000
EVENT_TEXT_SQL_V1 = "concat_ws(" + _SEP + ", " + ", ".join(_canon_expr(c) for c in HASHED_COLUMNS) + ")"

#: canonical form version 2 covers every stored column of `events` but `hash`, in this order.
HASHED_COLUMNS_V2: tuple[str, ...] = (
    "seq",
    "event_id",
    "occurred_at",
    "received_at",
    "account_id",
    "action",
    "category",
    "outcome",
    "reason",
    "actor_id",
    "actor_name",
    "actor_email",
    "actor_role",
    "actor_type",
    "target_type",
    "target_id",
    "target_name",
    "ip",
    "ip_scope",
    "geo_country",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "user_agent",
    "session_id",
    "request_id",
    "changes",
    "metadata",
    "source",
    "batch_id",
)
#: columns form 3 covers through the personal fields' commitments (not as fields of their own)
COMMITMENT_COLUMNS = ("salt", "erased")
_UNCOVERED = {c.name for c in schema.events.columns} - set(HASHED_COLUMNS_V2) - {"hash", *COMMITMENT_COLUMNS}
if _UNCOVERED:  # pragma: no cover - a new column needs a new canonical form version
    raise ImportError(f"events columns {sorted(_UNCOVERED)} are not in the canonical form: add a form version")
#: canonical form version 2 of a quarantined record (`quarantine` columns but `id` and `hash`)
QUARANTINE_COLUMNS_V2: tuple[str, ...] = ("batch_id", "received_at", "source", "position", "reason", "raw")
EVENT_PREFIX_V2 = "auditdash-event/2"
QUARANTINE_PREFIX_V2 = "auditdash-quarantine/2"


def _field_v2(col: str) -> str:
    """One value in form 2: `-` for NULL, else its UTF-8 length in bytes, `:`, and the text."""
    if col in ("occurred_at", "received_at"):
        text = f"strftime({col}, '%Y-%m-%dT%H:%M:%S.%fZ')"
    elif col in ("geo_lat", "geo_lon"):  # stored as 32-bit floats: 9 significant digits name each exactly
        text = f"printf('%.9g', CAST({col} AS FLOAT))"
    else:
        text = f"CAST({col} AS VARCHAR)"
    return f"coalesce(CAST(strlen({text}) AS VARCHAR) || ':' || {text}, '-')"


def _text_v2(prefix: str, columns: Sequence[str]) -> str:
    return f"concat_ws({_SEP}, '{prefix}', " + ", ".join(_field_v2(c) for c in columns) + ")"


EVENT_TEXT_SQL_V2 = _text_v2(EVENT_PREFIX_V2, HASHED_COLUMNS_V2)

#: canonical form 3: the columns of form 2, in its order; these personal fields enter as salted
#: commitments (`c:` and the commitment) instead of their values, so an erasure can replace a value
#: while the event's hash still verifies (docs/integrity.md, "Erasure").
PERSONAL_COLUMNS: tuple[str, ...] = (
    "reason",
    "actor_name",
    "actor_email",
    "target_name",
    "ip",
    "geo_city",
    "geo_lat",
    "geo_lon",
    "user_agent",
    "changes",
    "metadata",
)
EVENT_PREFIX_V3 = "auditdash-event/3"
SALT_BYTES = 16


def field_text_sql(col: str) -> str:
    """SQL of a column's text as forms 2 and 3 read it (NULL stays NULL)."""
    if col in ("occurred_at", "received_at"):
        return f"strftime({col}, '%Y-%m-%dT%H:%M:%S.%fZ')"
    if col in ("geo_lat", "geo_lon"):  # stored as 32-bit floats: 9 significant digits name each exactly
        return f"printf('%.9g', CAST({col} AS FLOAT))"
    return f"CAST({col} AS VARCHAR)"


#: `erased` when it is JSON (NULL otherwise: a damaged record must fail the hash, not the query)
_ERASED = "(CASE WHEN json_valid(erased) THEN erased END)"


def recorded_commitment_sql(col: str) -> str:
    """SQL of the commitment an erasure recorded for `col` (NULL when the field is not erased)."""
    return f"json_extract_string({_ERASED}, '$.c.{col}')"


def field_salt_sql(col: str) -> str:
    """SQL of the salt of `col`'s commitment: SHA-256 of the event's salt, U+001F and the column's
    name; an erased event keeps it for its fields not erased (`erased`.s) and loses its salt."""
    return f"coalesce(json_extract_string({_ERASED}, '$.s.{col}'), sha256(salt || {_SEP} || '{col}'))"


def commitment_sql(col: str) -> str:
    """SQL of a personal field's commitment computed from its value (NULL when it cannot be)."""
    return f"sha256({field_salt_sql(col)} || {_SEP} || {field_text_sql(col)})"


def _field_v3(col: str) -> str:
    if col not in PERSONAL_COLUMNS:
        return _field_v2(col)
    rec = recorded_commitment_sql(col)
    # a missing salt gives `!`, which no stored hash matches (concat_ws would drop a NULL)
    return (
        f"CASE WHEN {rec} IS NOT NULL THEN 'c:' || {rec} WHEN {field_text_sql(col)} IS NULL THEN '-' "
        f"ELSE coalesce('c:' || {commitment_sql(col)}, '!') END"
    )


EVENT_TEXT_SQL_V3 = (
    f"concat_ws({_SEP}, '{EVENT_PREFIX_V3}', " + ", ".join(_field_v3(c) for c in HASHED_COLUMNS_V2) + ")"
)
#: SQL expression of a quarantined record's canonical text (form 2) over the columns of `quarantine`
QUARANTINE_TEXT_SQL = _text_v2(QUARANTINE_PREFIX_V2, QUARANTINE_COLUMNS_V2)

#: the canonical form new batches are written with; each batch keeps its own (`chain_batches.version`)
HASH_VERSION = 3
#: SQL expression of an event's canonical text, per canonical form version
EVENT_TEXT_SQLS: dict[int, str] = {1: EVENT_TEXT_SQL_V1, 2: EVENT_TEXT_SQL_V2, 3: EVENT_TEXT_SQL_V3}
#: SQL expression of an event's hash over the columns of `events` (or a table shaped like it), per version
EVENT_HASH_SQLS: dict[int, str] = {v: f"sha256({t})" for v, t in EVENT_TEXT_SQLS.items()}
#: the hash of the current canonical form (what new events get)
EVENT_HASH_SQL = EVENT_HASH_SQLS[HASH_VERSION]
#: the digest of no hashes at all (a batch without events, or without quarantined records)
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()


def versioned_text_sql(version: str) -> str:
    """SQL expression of an event's canonical text in the form named by the SQL expression `version`
    (the version of the event's batch; an unknown batch is read in the current form)."""
    return (
        f"CASE WHEN {version} = 1 THEN {EVENT_TEXT_SQL_V1} WHEN {version} = 2 THEN {EVENT_TEXT_SQL_V2} "
        f"ELSE {EVENT_TEXT_SQL_V3} END"
    )


def new_salts(n: int) -> pa.Array:
    """`n` random salts (SALT_BYTES from the operating system's CSPRNG each, as hex), built in bulk."""
    width = 2 * SALT_BYTES
    data = binascii.hexlify(os.urandom(SALT_BYTES * n))
    offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def batch_hash(
    prev_hash: str,
    batch_id: int,
    first_seq: int,
    last_seq: int,
    count: int,
    digest: str,
    *,
    version: int | None = None,
    quarantine_count: int = 0,
    quarantine_digest: str = EMPTY_DIGEST,
    skipped: tuple[int, int] | None = None,
) -> str:
    """The chain link of one batch, in its canonical form version (default: the current one).

    `skipped` (version 2): the sequence numbers the batch skipped because rows stored outside the
    chain held them, appended to the text as `|skipped|first|last` (absent when it skipped none).
    """
    version = HASH_VERSION if version is None else version
    if version == 1:
        text = f"{prev_hash}|{batch_id}|{first_seq}|{last_seq}|{count}|{digest}"
    else:
        text = (
            f"auditdash-batch/{version}|{prev_hash}|{batch_id}|{first_seq}|{last_seq}|{count}|{digest}"
            f"|{quarantine_count}|{quarantine_digest}"
        )
        if skipped is not None:
            text += f"|skipped|{skipped[0]}|{skipped[1]}"
    return hashlib.sha256(text.encode()).hexdigest()


class ChainTampered(StoreError):
    """Events hold sequence numbers past the chain's end: rows were inserted outside the writer
    (a purge refuses to start; the writer stores past them, see `store_batch`)."""


#: called with (db, skipped) after a batch skipped sequence numbers over rows outside the chain and
#: was committed: the audit log records it as a failed `audit.verify` (`selflog` registers), which
#: the `integrity_break` detection rule alerts on. A listener's failure is logged, never raised.
SKIP_LISTENERS: list[Callable[[Database, Skipped], object]] = []

#: `meta` key of the latest integrity status (`evidence.status.INTEGRITY_STATUS_META`, which
#: this layer cannot import): the writer marks it failed when it finds rows past the chain's end
INTEGRITY_STATUS_META = "integrity_status"


@dataclass(frozen=True)
class Skipped:
    """Sequence numbers a batch skipped: `first..last`, held by `rows` events outside the chain."""

    first: int
    last: int
    rows: int
    batch_id: int

    def describe(self) -> str:
        """The break in the words of a verification (`inserted at seq N (hot store): ...`)."""
        return (
            f"inserted at seq {self.first} (hot store): {self.rows:,} stored events from seq {self.first:,} "
            f"lay past the end of the integrity chain; no chain batch accounts for them, so they were "
            f"inserted outside auditdash. Batch {self.batch_id} skipped seqs {self.first:,}..{self.last:,} "
            "and was stored after them. Run `auditdash verify` and keep a copy of the store (the file, or a "
            "dump of the database) as evidence."
        )


def _mark_broken(con: duckdb.DuckDBPyConnection, skipped: Skipped, now: datetime) -> None:
    """Record the integrity status as failed (in the batch's transaction), as a verification would;
    a failure recorded already (a verification's, which says more) is kept."""
    current = run(con, "SELECT value FROM meta WHERE key = $k", {"k": INTEGRITY_STATUS_META})
    with contextlib.suppress(ValueError, TypeError):
        if current and json.loads(str(current[0][0])).get("ok") is False:
            return
    status = {
        "checked_at": now.isoformat(timespec="milliseconds") + "Z",
        "ok": False,
        "scope": "write",
        "events": 0,
        "problem": skipped.describe(),
    }
    run(con, "DELETE FROM meta WHERE key = $k", {"k": INTEGRITY_STATUS_META})
    run(con, "INSERT INTO meta (key, value) VALUES ($k, $v)", {"k": INTEGRITY_STATUS_META, "v": json.dumps(status)})


def foreign_tail(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int] | None:
    """(first seq, count, chain's last seq) of stored events past the chain's last sequence number,
    which no batch accounts for (inserted outside the writer); None when there are none."""
    last = int(one(con, "SELECT coalesce(max(last_seq), 0) FROM chain_batches")[0])
    if one(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'foreign_tail_count'")[0]:
        # a PostgreSQL batch's staging holds only some of many such rows, and their count here
        row = one(con, "SELECT first_seq, n FROM foreign_tail_count")
    else:
        row = one(con, "SELECT min(seq), count(*) FROM events WHERE seq > $s", {"s": last})
    return (int(row[0]), int(row[1]), last) if row[1] else None


def refuse_foreign_tail(con: duckdb.DuckDBPyConnection, db_path: Path | str) -> None:
    """Raise `ChainTampered` when events lie past the chain's end: the next sequence numbers are
    taken, so nothing can be stored (and nothing is overwritten) until the tampering is dealt with."""
    refuse_tail(foreign_tail(con), db_path)


def refuse_tail(tail: tuple[int, int, int] | None, db_path: Path | str) -> None:
    """`refuse_foreign_tail` for a tail counted elsewhere (`foreign_tail`'s (first, count, last))."""
    if tail is not None:
        first, count, last = tail
        raise ChainTampered(
            f"{db_path}: {count:,} stored events from seq {first:,} lie past the end of the integrity chain "
            f"(seq {last:,}); no chain batch accounts for them, so they were inserted outside auditdash. "
            "Nothing was stored. Run `auditdash verify`, keep a copy of the store (the file, or a dump of the "
            "database) as evidence, and remove those rows (or restore a backup) before ingesting again."
        )


@dataclass
class WriteResult:
    """What one stored batch did."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    rejected_records: list[Rejected] = field(default_factory=list)
    #: records whose id was stored already with other content: quarantined, never dropped
    conflicts: int = 0
    conflict_records: list[Rejected] = field(default_factory=list)
    #: sequence numbers skipped over rows stored outside the chain (None: the usual case)
    skipped: Skipped | None = None

    def add(self, other: WriteResult) -> None:
        """Fold another batch's result into this one (keeps rejections for reporting)."""
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.conflicts += other.conflicts
        if other.first_seq is not None and self.first_seq is None:
            self.first_seq = other.first_seq
        if other.last_seq is not None:
            self.last_seq = other.last_seq
        self.rejected_records.extend(other.rejected_records)
        self.conflict_records.extend(other.conflict_records)
        self.skipped = other.skipped or self.skipped


_INSERT_COLUMNS = (
    "event_id, occurred_at, account_id, action, category, outcome, reason, actor_id, actor_name, "
    "actor_email, actor_role, actor_type, target_type, target_id, target_name, ip, ip_scope, "
    "geo_country, geo_city, geo_lat, geo_lon, user_agent, session_id, request_id, changes, metadata"
)

#: the batch's new events as `events` rows, stamped for this batch (`EVENT_HASH_SQL` reads these).
_STAMPED = (
    f"SELECT seq, {_INSERT_COLUMNS}, CAST($received AS TIMESTAMP) AS received_at, "
    "CAST($source AS VARCHAR) AS source, CAST($batch_id AS BIGINT) AS batch_id, salt, "
    "CAST(NULL AS VARCHAR) AS erased FROM _new"
)


#: What makes "the same event" when an id comes again: the fields its sender decides
#: (`contract.FIELDS`). Derived columns are left out (category, ip_scope, geo_*: a new taxonomy or
#: geolocation database must not turn an exact re-send into a conflict), and so is everything about
#: its receipt (received_at, source, batch_id, seq).
CONTENT_COLUMNS: tuple[str, ...] = tuple(f.column for f in FIELDS if f.column)
#: the scope of an id: unique per account, the sender's namespace (docs/events.md, "Ids").
KEY_COLUMNS: tuple[str, ...] = ("account_id", "event_id")
_FIELD_OF = {f.column: f.path for f in FIELDS if f.column}
_JSON_COLUMNS = ("changes", "metadata")
_COMPARED = tuple(c for c in CONTENT_COLUMNS if c not in KEY_COLUMNS)

#: raw records as the caller read them: an Arrow table of `pos` and `raw`, or (position, text) pairs.
RawRecords: TypeAlias = pa.Table | Sequence[tuple[int, str]]


def _diff_sql(new: str, old: str) -> str:
    """SQL select items: `diff`, the content columns in which row `new` differs from row `old`, and
    for the JSON columns both texts where they differ (key order is compared again in Python)."""
    items = ", ".join(f"CASE WHEN {new}.{c} IS DISTINCT FROM {old}.{c} THEN '{c}' END" for c in _COMPARED)
    texts = ", ".join(
        f"CASE WHEN {new}.{c} IS DISTINCT FROM {old}.{c} THEN CAST({new}.{c} AS VARCHAR) END AS new_{c}, "
        f"CASE WHEN {new}.{c} IS DISTINCT FROM {old}.{c} THEN CAST({old}.{c} AS VARCHAR) END AS old_{c}"
        for c in _JSON_COLUMNS
    )
    return f"list_filter([{items}], lambda x: x IS NOT NULL) AS diff, {texts}"


_KEY_JOIN = "s.event_id = b.event_id AND s.account_id = b.account_id"


def _numbered(accepted: pa.Table) -> pa.Table:
    """The batch in position order, each row numbered (`_r`) in that order."""
    pos = accepted.column("pos").to_numpy()
    if len(pos) > 1 and not bool((pos[1:] >= pos[:-1]).all()):
        accepted = accepted.take(np.argsort(pos, kind="stable"))
    return accepted.append_column("_r", pa.array(np.arange(accepted.num_rows, dtype=np.int64)))


def _has_repeats(batch: pa.Table) -> bool:
    """Whether two rows of the batch share an id in one account."""
    if batch.num_rows < 2:
        return False
    return batch.select(list(KEY_COLUMNS)).group_by(list(KEY_COLUMNS)).aggregate([]).num_rows < batch.num_rows


def _fields(row: dict[str, object]) -> list[str]:
    """The contract fields of one diff row, JSON values compared as JSON (key order aside)."""
    out = []
    for column in row["diff"] or []:  # type: ignore[attr-defined]
        if column in _JSON_COLUMNS:
            try:
                if json.loads(str(row[f"new_{column}"])) == json.loads(str(row[f"old_{column}"])):
                    continue
            except (TypeError, ValueError):
                pass
        out.append(_FIELD_OF[str(column)])
    return out


def _stored_matches(con: duckdb.DuckDBPyConnection, archive_dir: Path | None) -> pa.Table:
    """Rows of `_batch` whose id is stored in their account: `_r`, the stored `seq`, the diff.

    The hot store is one join; DuckDB passes the batch's id range down to the scan of stored
    events, which skips row groups outside it (cheap when ids grow with time, as most senders'
    do). Rows not found there whose `occurred_at` falls in an archived month are looked up in
    those months' Parquet files: this costs one query of `archive_months` per batch while nothing
    is archived, one more comparison while the batch is newer than every archived month, and only
    a batch with events of archived months reads Parquet (filtered by id). A month file that is
    missing is skipped (`auditdash verify` reports it). Expired events keep no id, so they cannot
    be recognised.
    """
    select = f"SELECT b._r, s.seq, {_diff_sql('b', 's')}"
    hot = con.sql(f"{select} FROM _batch b JOIN events s ON {_KEY_JOIN}").to_arrow_table()
    if archive_dir is None:
        return hot
    months = dict(run(con, "SELECT month, file FROM archive_months"))
    if not months:
        return hot
    from dashboard.store.archive import month_range

    con.register("_hot", hot.select(["_r"]))
    try:
        rows = run(
            con,
            "SELECT DISTINCT strftime(occurred_at, '%Y-%m') FROM _batch "
            "WHERE occurred_at < $end AND _r NOT IN (SELECT _r FROM _hot)",
            {"end": month_range(max(months))[1]},
        )
    finally:
        con.unregister("_hot")
    files = [archive_dir / months[m] for m in sorted(str(row[0]) for row in rows) if m in months]
    present = [str(f) for f in files if f.is_file()]
    for missing in sorted(set(files) - {Path(f) for f in present}):
        log.warning("archived month file %s is missing: ids there are not checked for duplicates", missing)
    if not present:
        return hot
    archived = con.sql(
        f"{select} FROM _batch b JOIN read_parquet($files) s ON {_KEY_JOIN}",
        params={"files": present},
    ).to_arrow_table()
    return pa.concat_tables([hot, archived.cast(hot.schema)])


def _batch_repeats(con: duckdb.DuckDBPyConnection) -> pa.Table:
    """Later rows of `_batch` with the id and account of an earlier row: `_r`, `_first`, the diff."""
    return con.sql(
        "WITH firsts AS (SELECT account_id, event_id, min(_r) AS _first FROM _batch "
        "GROUP BY account_id, event_id HAVING count(*) > 1) "
        f"SELECT b._r, f._first, {_diff_sql('b', 's')} FROM _batch b "
        "JOIN firsts f ON f.event_id = b.event_id AND f.account_id = b.account_id "
        "JOIN _batch s ON s._r = f._first WHERE b._r > f._first"
    ).to_arrow_table()


@dataclass
class _Sorted:
    """What each row of a numbered batch is: new, an exact repeat, or a conflict."""

    new: np.ndarray  # bool per row: stored as a new event
    #: (row, seq of the stored event, first row of the id in this batch, differing fields); one of
    #: the seq and the first row is None
    conflicts: list[tuple[int, int | None, int | None, list[str]]]


def _sort_rows(con: duckdb.DuckDBPyConnection, batch: pa.Table, archive_dir: Path | None) -> _Sorted:
    """Sort the rows of `batch` (registered as `_batch`) by what storing them means.

    A row whose id is stored in its account is a duplicate when its content is the stored event's,
    else a conflict with that event (the earliest one, were an id ever stored twice). Of the other
    rows, the first of each id in the batch is new; a later one is a duplicate of it or a conflict.
    """
    n = batch.num_rows
    new = np.ones(n, dtype=bool)
    conflicts: list[tuple[int, int | None, int | None, list[str]]] = []
    matches = _stored_matches(con, archive_dir)
    if matches.num_rows:
        r = matches.column("_r").to_numpy()
        seq = matches.column("seq").to_numpy()
        order = np.lexsort((seq, r))  # per row, its earliest stored event first
        first = np.ones(len(order), dtype=bool)
        first[1:] = r[order][1:] != r[order][:-1]
        picked = matches.take(order[first])
        new[picked.column("_r").to_numpy()] = False
        differs = pc.greater(pc.list_value_length(picked.column("diff")), 0)
        for row in picked.filter(differs).to_pylist():
            fields = _fields(row)
            if fields:
                conflicts.append((int(row["_r"]), int(row["seq"]), None, fields))
    if _has_repeats(batch):
        repeats = _batch_repeats(con)
        later = repeats.filter(pc.is_in(repeats.column("_r"), value_set=pa.array(np.flatnonzero(new))))
        new[later.column("_r").to_numpy()] = False
        differs = pc.greater(pc.list_value_length(later.column("diff")), 0)
        for row in later.filter(differs).to_pylist():
            fields = _fields(row)
            if fields:
                conflicts.append((int(row["_r"]), None, int(row["_first"]), fields))
    conflicts.sort()
    return _Sorted(new=new, conflicts=conflicts)


def _event_text(row: dict[str, object]) -> str:
    """An accepted row as contract JSON (the quarantine's raw text when the caller kept none)."""
    doc: dict[str, object] = {}
    for f in FIELDS:
        value = row.get(f.column) if f.column else None
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        elif f.column in _JSON_COLUMNS:
            value = json.loads(str(value))
        parent, _, child = f.path.partition(".")
        if child:
            nested = doc.setdefault(parent, {})
            assert isinstance(nested, dict)
            nested[child] = value
        else:
            doc[f.path] = value
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def raw_texts(raw: RawRecords | None, rows: pa.Table) -> list[str]:
    """The raw text of each row of `rows` (accepted rows, by `pos`), as the caller read it; rebuilt
    from the row when the caller kept no raw records."""
    positions = rows.column("pos").to_pylist()
    found: list[str | None] = [None] * len(positions)
    if isinstance(raw, pa.Table):
        where = pc.index_in(pa.array(positions, pa.int64()), value_set=raw.column("pos").cast(pa.int64()))
        texts = raw.column("raw")
        found = [None if i is None else texts[i].as_py() for i in where.to_pylist()]
    elif raw is not None:
        wanted = set(positions)
        by_pos = {p: t for p, t in raw if p in wanted}
        found = [by_pos.get(p) for p in positions]
    if all(t is not None for t in found):
        return [str(t) for t in found]
    dicts = rows.to_pylist()
    return [t if t is not None else _event_text(d) for t, d in zip(found, dicts, strict=True)]


def _conflict_records(batch: pa.Table, sorted_rows: _Sorted, first_seq: int, raw: RawRecords | None) -> list[Rejected]:
    """The conflicting rows as quarantine records, each naming the stored event it differs from."""
    if not sorted_rows.conflicts:
        return []
    new_before = np.cumsum(sorted_rows.new) - sorted_rows.new  # new rows before each row
    rows = batch.take(pa.array([c[0] for c in sorted_rows.conflicts], pa.int64()))
    texts = raw_texts(raw, rows)
    out = []
    for (_r, seq, first_row, fields), pos, event_id, text in zip(
        sorted_rows.conflicts, rows.column("pos").to_pylist(), rows.column("event_id").to_pylist(), texts, strict=True
    ):
        if seq is None:  # the id's first row in this batch, stored just now
            seq = first_seq + int(new_before[first_row])
        differs = ", ".join(fields)
        reason = f"conflict: id {event_id} already stored as seq {seq} with different content (fields: {differs})"
        out.append(Rejected(pos=int(pos), raw=text, reason=reason))
    return out


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


#: the batch's quarantined records with their batch and hash (form 2); ids come from their sequence
_QUARANTINE_INSERT_V2 = (
    "INSERT INTO quarantine (received_at, source, position, reason, raw, batch_id, hash) "
    f"SELECT received_at, source, position, reason, raw, batch_id, sha256({QUARANTINE_TEXT_SQL}) FROM ("
    "SELECT CAST($received AS TIMESTAMP) AS received_at, CAST($source AS VARCHAR) AS source, position, reason, "
    "raw, CAST($batch_id AS BIGINT) AS batch_id FROM _rejected)"
)


def _link_batch(
    con: duckdb.DuckDBPyConnection,
    version: int,
    batch_id: int,
    last_batch: int,
    first: int,
    last: int,
    received: datetime,
    source: str,
    skipped: Skipped | None = None,
) -> None:
    """Write the chain batch of the rows just stored (events `first..last`, none when `last < first`).

    The digests are hashed here in Python (OpenSSL: far faster than DuckDB's sha256) from the
    hashes as stored, read back by batch id (only this batch's rows are read).
    """
    count = last - first + 1
    digest = EMPTY_DIGEST
    if count:
        # by its numbers too: rows written behind auditdash's back may carry this batch's id
        stored = con.sql(
            "SELECT seq, hash FROM events WHERE batch_id = $b AND seq BETWEEN $f AND $l",
            params={"b": batch_id, "f": first, "l": last},
        )
        digest = _events_digest(stored.to_arrow_table(), first, last)
    q_count, q_digest = 0, EMPTY_DIGEST
    if version >= 2:
        q_count, q_hashes = one(
            con,
            "SELECT count(*), coalesce(string_agg(hash, '' ORDER BY id), '') FROM quarantine WHERE batch_id = $b",
            {"b": batch_id},
        )
        q_digest = hashlib.sha256(str(q_hashes).encode()).hexdigest()
    prev_rows = run(con, "SELECT hash FROM chain_batches WHERE batch_id = $b", {"b": last_batch})
    prev_hash = prev_rows[0][0] if prev_rows else GENESIS_HASH
    own = batch_hash(
        prev_hash,
        batch_id,
        first,
        last,
        count,
        digest,
        version=version,
        quarantine_count=int(q_count),
        quarantine_digest=q_digest,
        skipped=(skipped.first, skipped.last) if skipped else None,
    )
    run(
        con,
        "INSERT INTO chain_batches (batch_id, first_seq, last_seq, event_count, received_at, source, "
        "events_digest, prev_hash, hash, version, quarantine_count, quarantine_digest, skipped_first, skipped_last) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        [
            batch_id,
            first,
            last,
            count,
            received,
            source,
            digest,
            prev_hash,
            own,
            version,
            int(q_count),
            q_digest if version >= 2 else None,
            skipped.first if skipped else None,
            skipped.last if skipped else None,
        ],
    )


def store_batch(
    db: Database,
    accepted: pa.Table,
    rejected: list[Rejected],
    source: str,
    position_label: str = "record",
    received_at: datetime | None = None,
    archive_dir: Path | None = None,
    raw: RawRecords | None = None,
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
            of its `occurred_at` counts as stored too (None: look in the hot store only).
        raw: the batch's raw records, by position: a conflict is quarantined with its raw text
            (without them, with the event as contract JSON).

    An id is unique within its account (`KEY_COLUMNS`). A record whose id is stored already (or
    came earlier in the batch) is a duplicate when its content (`CONTENT_COLUMNS`) is the same,
    counted and not stored again; otherwise it is a conflict, quarantined with the stored event's
    sequence number and the fields that differ. Nothing is dropped silently.

    Returns:
        Counts of accepted, duplicate, conflicting and rejected records, and the sequence range written.
    """
    received = received_at or utcnow()
    result = WriteResult(rejected=len(rejected), rejected_records=list(rejected))
    batch = _numbered(accepted)
    with db.write_lock, db.batch_session(batch) as con:
        try:
            with transaction(con):
                row = one(con, "SELECT coalesce(max(last_seq), 0), coalesce(max(batch_id), 0) FROM chain_batches")
                last_seq, last_batch = int(row[0]), int(row[1])
                batch_id = last_batch + 1
                # Rows inserted past the chain's end outside the writer hold the next numbers: the
                # batch skips them (never overwriting or failing on them), its chain link records
                # the skip, and the integrity status turns failed. Refusing instead would stop
                # ingest and self-logging (so logins) on one forged row.
                skipped = _skip_foreign(con, last_seq, batch_id) if accepted.num_rows else None
                next_seq = skipped.last + 1 if skipped else last_seq + 1
                # Ids stored earlier (hot store and archived months) and repeats in the batch: new
                # rows, exact repeats (duplicates) and conflicts.
                con.register("_batch", batch)
                sorted_rows = _sort_rows(con, batch, archive_dir)
                con.unregister("_batch")
                new = batch.filter(pa.array(sorted_rows.new))
                new_count = new.num_rows
                conflicts = _conflict_records(batch, sorted_rows, next_seq, raw)
                result.conflicts, result.conflict_records = len(conflicts), conflicts
                result.duplicates = accepted.num_rows - new_count - len(conflicts)
                version = HASH_VERSION
                stamp = {"received": received, "source": source, "batch_id": batch_id}
                if not new_count:
                    skipped = None  # nothing takes a number: the forged rows stay past the end
                first, last = (next_seq, next_seq + new_count - 1) if new_count else (last_seq + 1, last_seq)
                if new_count:
                    if skipped:
                        _mark_broken(con, skipped, received)
                        result.skipped = skipped
                    # Sequence numbers follow positions: `new` is in position order.
                    numbered = new.append_column("seq", pa.array(np.arange(first, last + 1, dtype=np.int64)))
                    con.register("_new", numbered.append_column("salt", new_salts(new_count)))
                    run(
                        con,
                        f"INSERT INTO events (seq, {_INSERT_COLUMNS}, received_at, source, batch_id, salt, hash) "
                        f"SELECT seq, {_INSERT_COLUMNS}, received_at, source, batch_id, salt, "
                        f"{EVENT_HASH_SQLS[version]} "
                        f"FROM ({_STAMPED})",
                        stamp,
                    )
                    result.first_seq, result.last_seq = first, last
                    # the rollups count the new events in the same transaction (docs/architecture.md)
                    rollups.add_rows(con, "SELECT * FROM events WHERE seq >= $a AND seq <= $b", {"a": first, "b": last})
                result.accepted = new_count
                refused = sorted([*rejected, *conflicts], key=lambda r: r.pos)
                if refused:
                    quarantined = pa.table(
                        {
                            "position": [f"{position_label} {r.pos}" for r in refused],
                            "reason": [r.reason for r in refused],
                            "raw": [r.raw for r in refused],
                        }
                    )
                    con.register("_rejected", quarantined)
                    if version >= 2:  # chained: each record names its batch and carries its hash
                        run(con, _QUARANTINE_INSERT_V2, stamp)
                    else:
                        run(
                            con,
                            "INSERT INTO quarantine (received_at, source, position, reason, raw) "
                            "SELECT $received, $source, position, reason, raw FROM _rejected",
                            {"received": received, "source": source},
                        )
                    con.unregister("_rejected")
                if new_count or (refused and version >= 2):
                    _link_batch(con, version, batch_id, last_batch, first, last, received, source, skipped)
        finally:
            for name in ("_batch", "_hot", "_new", "_rejected"):
                with contextlib.suppress(Exception):  # a view never registered needs no cleanup
                    con.unregister(name)
    if result.skipped:
        # PCI DSS 10.3.4: the same alert line as a failed verification, once the batch is stored
        log.error("INTEGRITY BREAK: %s (%s)", result.skipped.describe(), db.shown)
        for listener in list(SKIP_LISTENERS):
            try:
                listener(db, result.skipped)
            except Exception:  # the batch is stored; the alert line above stands
                log.exception("recording the skip over rows outside the chain failed (%s)", db.path)
    return result


def _skip_foreign(con: duckdb.DuckDBPyConnection, last_seq: int, batch_id: int) -> Skipped | None:
    """The sequence numbers to skip: from the chain's end to the highest stored one, when rows no
    batch accounts for lie past the chain's end; None when there are none (one cheap range query)."""
    tail = foreign_tail(con)
    if tail is None:
        return None
    top = int(one(con, "SELECT max(seq) FROM events")[0])
    return Skipped(first=last_seq + 1, last=top, rows=tail[1], batch_id=batch_id)

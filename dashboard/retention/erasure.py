"""Erasure of a person's personal data (GDPR Art. 17) without breaking the hash chain.

Every personal field of the person's events is replaced by a pseudonym (names, e-mail) or removed
(address, user agent, place), in the hot store and in the archived months (each month rewritten to
a new revision with its manifest, as a purge does); free texts naming them (`reason`, `changes`,
`metadata`, of any event) get the pseudonym in their place. Events of canonical form 3 keep
verifying through the commitments the erasure records in `erased`; erased events of forms 1 and 2
keep their stored hash as the commitment of their content. Legal holds win: an erasure touching a
held event is refused with the hold named. The erasure is recorded as an `audit.erase` event (what,
when, by whom, why; never the data), which vouches for the events it marked
(docs/integrity.md, "Erasure").
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dashboard.evidence.canonical import ERASE_ACTION, erasure_digest, text_rows_sql
from dashboard.evidence.hashing import check_rows
from dashboard.evidence.locations import IntegrityError, Locations
from dashboard.retention.archive_write import (
    _atomic_write,
    _fsync_dir,
    _fsync_file,
    _mirror,
    adjust_postgres,
    staging_file,
)
from dashboard.retention.holds import Hold, get_hold
from dashboard.retention.policy import RetentionError
from dashboard.store import rollups, schema, selflog
from dashboard.store.archive import (
    ARCHIVE_COLUMNS,
    ARCHIVE_COLUMNS_SQL,
    Manifest,
    file_sha256,
    maintenance_lock,
    manifest_path,
    parquet_sql,
    read_manifests,
)
from dashboard.store.backend import postgres
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run, transaction
from dashboard.store.writer import PERSONAL_COLUMNS, commitment_sql, field_salt_sql

if TYPE_CHECKING:
    import duckdb

    from dashboard.access.users import Actor

#: the fields that are the person's when they are the event's actor (the address, browser and place
#: are the actor's); names and e-mail get the pseudonym, the others are removed (NULL)
ACTOR_FIELDS: tuple[str, ...] = ("actor_name", "actor_email", "ip", "user_agent", "geo_city", "geo_lat", "geo_lon")
#: the field that is the person's when they are the event's target
TARGET_FIELDS: tuple[str, ...] = ("target_name",)
#: free texts searched for the person's names and e-mail addresses, in every event
TEXT_FIELDS: tuple[str, ...] = ("reason", "changes", "metadata")
PSEUDONYM_FIELDS = ("actor_name", "actor_email", "target_name")
#: shorter values are not searched for in free texts (they would match inside other words)
MIN_TEXT_MATCH = 4
#: what an erasure puts in place of names (never searched for again: it names no one)
_PSEUDONYM = re.compile(r"erased-[0-9a-f]{8}")

if not set(ACTOR_FIELDS + TARGET_FIELDS + TEXT_FIELDS) <= set(PERSONAL_COLUMNS):  # pragma: no cover
    raise ImportError("an erased field is not committed in canonical form 3: erasure would break the chain")


class ErasureRefused(RetentionError):
    """The erasure is not allowed (a legal hold covers the person's events)."""


@dataclass
class ErasureResult:
    """What one erasure did (never the erased data)."""

    erasure_id: str
    subject_ids: list[str]
    pseudonym: str
    events: int = 0  # distinct events changed (hot and archived copies counted once)
    hot_events: int = 0
    archived_events: int = 0
    months: list[str] = field(default_factory=list)  # archived months rewritten
    fields: dict[str, int] = field(default_factory=dict)  # column -> events in which it was erased
    free_text_events: int = 0  # events changed only because a free text named the person
    hash_kept_events: int = 0  # events of forms 1 and 2: their stored hash stands for their content
    quarantined_mentions: int = 0  # quarantined records naming the person (not rewritten: see docs)
    derived_rows: int = 0  # rows of alerts, their activity and notifications that named the person
    digest: str = ""
    record_seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data."""
        return asdict(self)

    def summary(self) -> str:
        """One line for people."""
        where = f", {len(self.months)} archived months rewritten" if self.months else ""
        return (
            f"erasure {self.erasure_id}: {self.events:,} events now show {self.pseudonym} "
            f"({self.hot_events:,} hot, {self.archived_events:,} archived{where})"
        )


@dataclass
class _Subject:
    ids: list[str]
    emails: list[str]  # lower case
    names: list[str]  # names the person appears under (actor_name, target_name)
    texts: list[str]  # what is searched for in free texts (names, e-mail addresses)
    own: list[str] = field(default_factory=list)  # their addresses and user agents (their own events' texts)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    """A list of texts in SQL both engines read (DuckDB and PostgreSQL)."""
    return "ARRAY[" + ", ".join(_quote(v) for v in values) + "]::VARCHAR[]"


#: the rows a query over events selects: called with a function that makes the SQL from the
#: events' source (a subquery), it returns the distinct rows over the hot store and the archive
Rows = Callable[[Callable[[str], str]], set[tuple[Any, ...]]]


def _source(files: list[str]) -> str:
    """Hot events and every archived row (the person's events wherever they are)."""
    hot = f"SELECT {ARCHIVE_COLUMNS_SQL} FROM events"  # noqa: S608 - our own column names
    if not files:
        return hot
    return f"{hot} UNION ALL SELECT * FROM {parquet_sql(_list(files))}"  # noqa: S608


@contextmanager
def _reader(db: Database, files: list[str]) -> Iterator[Rows]:
    """`Rows` over the store's hot events and the archive `files`. On PostgreSQL each query runs
    twice: on PostgreSQL for the hot events (the SQL is written for both engines) and on DuckDB
    for the archived rows (with a copy of the legal holds); the two answers are joined."""
    if db.url is None:
        with db.raw() as con:
            yield lambda make: {tuple(r) for r in run(con, make(_source(files)))}
        return
    hot = f"SELECT {ARCHIVE_COLUMNS_SQL} FROM events"  # noqa: S608 - our own column names
    archived = f"SELECT * FROM {parquet_sql(_list(files))}" if files else None  # noqa: S608
    with db.reading(("legal_holds",)) as con, db.connect() as conn, postgres.driver_cursor(conn) as cur:

        def rows(make: Callable[[str], str]) -> set[tuple[Any, ...]]:
            cur.execute(make(hot))  # no parameters: values are quoted literals (`_quote`)
            out = {tuple(r) for r in cur.fetchall()}
            if archived is not None:
                out |= {tuple(r) for r in run(con, make(archived))}
            return out

        yield rows


def _actor_sql(s: _Subject, alias: str = "r") -> str:
    ids, emails = _list(s.ids), _list(s.emails)
    return f"({alias}.actor_id IN (SELECT unnest({ids})) OR lower({alias}.actor_email) IN (SELECT unnest({emails})))"


def _target_sql(s: _Subject, alias: str = "r") -> str:
    keys = _list(s.ids + s.emails)
    return (
        f"({alias}.target_id IN (SELECT unnest({keys})) OR lower({alias}.target_id) IN (SELECT unnest({keys})) "
        f"OR {alias}.target_name IN (SELECT unnest({_list(s.names + s.emails)})))"
    )


def _text_sql(s: _Subject, alias: str = "r") -> str:
    if not s.texts:
        return "false"
    blob = " || chr(31) || ".join(f"coalesce({alias}.{c}, '')" for c in TEXT_FIELDS)
    return "(" + " OR ".join(f"strpos({blob}, {_quote(t)}) > 0" for t in s.texts) + ")"


def _escaped(value: str) -> list[str]:
    """A value as it may appear in a text: itself, and inside a JSON string (escaped both ways)."""
    forms = [value, json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(value)[1:-1]]
    return list(dict.fromkeys(forms))


def _ids_sql(ids: str, emails: str, source: str) -> str:
    return (
        f"SELECT DISTINCT actor_id, lower(actor_email) FROM ({source}) r "  # noqa: S608 - quoted literals
        f"WHERE actor_id IN (SELECT unnest({ids})) OR lower(actor_email) IN (SELECT unnest({emails}))"
    )


def find_subject(rows: Rows, subject: str) -> _Subject:
    """Who the person is: `subject` is a user id (`actor_id` / `target_id`) or an e-mail address; the
    ids used with that e-mail address and the e-mail addresses used with those ids belong to them."""
    subject = subject.strip()
    ids = {subject}
    emails = {subject.lower()} if "@" in subject else set()
    for _ in range(2):  # ids <-> e-mail addresses, twice: an address used by two ids of the person
        id_list, email_list = _list(sorted(ids)), _list(sorted(emails))
        found = rows(functools.partial(_ids_sql, id_list, email_list))
        ids |= {str(a) for a, _ in found if a}
        emails |= {str(e) for _, e in found if e and not _PSEUDONYM.fullmatch(str(e))}
    s = _Subject(sorted(ids), sorted(emails), [], [])
    names = rows(
        lambda source: (
            f"SELECT DISTINCT actor_name FROM ({source}) r WHERE {_actor_sql(s)} AND actor_name IS NOT NULL "  # noqa: S608
            f"UNION SELECT DISTINCT target_name FROM ({source}) r "
            f"WHERE (r.target_id IN (SELECT unnest({_list(s.ids)})) "
            f"OR lower(r.target_id) IN (SELECT unnest({_list(s.emails)}))) "
            "AND target_name IS NOT NULL"
        )
    )
    s.names = sorted({str(n[0]) for n in names if not _PSEUDONYM.fullmatch(str(n[0]))})
    emails_as_written = rows(
        lambda source: (
            f"SELECT DISTINCT actor_email FROM ({source}) r WHERE {_actor_sql(s)} AND actor_email IS NOT NULL"  # noqa: S608
        )
    )
    values = {*s.names, *s.emails, *(str(e[0]) for e in emails_as_written if not _PSEUDONYM.fullmatch(str(e[0])))}
    s.texts = sorted({form for v in values if len(v) >= MIN_TEXT_MATCH for form in _escaped(v)})
    own = rows(
        lambda source: (
            f"SELECT DISTINCT ip FROM ({source}) r WHERE {_actor_sql(s)} AND ip IS NOT NULL "  # noqa: S608
            f"UNION SELECT DISTINCT user_agent FROM ({source}) r WHERE {_actor_sql(s)} AND user_agent IS NOT NULL"
        )
    )
    s.own = sorted({form for (v,) in own if len(str(v)) >= MIN_TEXT_MATCH for form in _escaped(str(v))})
    return s


def _holds(rows: Rows, s: _Subject) -> list[int]:
    """Active legal holds that cover the person or an event the erasure would change."""

    def holds_sql(source: str) -> str:
        return f"""SELECT DISTINCT h.id FROM legal_holds h WHERE h.released_at IS NULL AND (
              (h.kind = 'user' AND (h.user_id IN (SELECT unnest({_list(s.ids)}))
                                    OR lower(h.user_id) IN (SELECT unnest({_list(s.emails)}))))
              OR (h.kind = 'period' AND EXISTS (
                  SELECT 1 FROM ({source}) r
                  WHERE r.occurred_at >= h.starts_at AND r.occurred_at < h.ends_at
                    AND ({_actor_sql(s)} OR {_target_sql(s)} OR {_text_sql(s)}))))"""  # noqa: S608 - quoted literals

    found = rows(holds_sql)
    return sorted(int(r[0]) for r in found)


def _refusal(holds: list[Hold]) -> str:
    named = "; ".join(f"legal hold {h.id} ({h.describe()}, reason: {h.reason})" for h in holds)
    return (
        f"erasure refused: {named} covers this person's events. Legal holds win over erasure; "
        f"release the hold when the matter ends (auditdash hold remove {holds[0].id}) and erase then."
    )


def _replace_text(text: str, values: list[str], pseudonym: str) -> str:
    for value in sorted(values, key=len, reverse=True):
        text = text.replace(value, pseudonym)
    return text


#: the columns read for each affected row: the values, the batch's form, and for form 3 each
#: personal field's salt and commitment (computed by the very SQL verification uses)
def _rows_sql(source: str, s: _Subject) -> str:
    extra = ", ".join(f"{field_salt_sql(c)} AS _s_{c}, {commitment_sql(c)} AS _c_{c}" for c in PERSONAL_COLUMNS)
    return (
        f"SELECT r.*, v.version AS _version, {_actor_sql(s)} AS _as_actor, {_target_sql(s)} AS _as_target, "  # noqa: S608
        f"{extra} FROM ({source}) r LEFT JOIN chain_batches v ON v.batch_id = r.batch_id "
        f"WHERE r.event_id IS NOT NULL AND r.action <> '{ERASE_ACTION}' "  # a record names no data (ids only)
        f"AND ({_actor_sql(s)} OR {_target_sql(s)} OR {_text_sql(s)})"
    )


def _erase_row(row: dict[str, Any], s: _Subject, pseudonym: str, erasure_id: str) -> tuple[dict[str, Any], list[str]]:
    """The row's new personal values and `erased` record, and the fields this erasure changes.

    A field an earlier erasure replaced keeps its pseudonym; a free text is searched again (it may
    name another person too), and each erasure that changed a field is listed for it in `by`."""
    record: dict[str, Any] = json.loads(row["erased"]) if row["erased"] else {}
    by: dict[str, list[str]] = record.setdefault("by", {})
    targets: list[str] = []
    if row["_as_actor"]:
        targets += [c for c in ACTOR_FIELDS if row[c] is not None and c not in by]
    if row["_as_target"]:
        targets += [c for c in TARGET_FIELDS if row[c] is not None and c not in by]
    new: dict[str, Any] = {c: row[c] for c in PERSONAL_COLUMNS}
    for c in targets:
        new[c] = pseudonym if c in PSEUDONYM_FIELDS else None
    values = s.texts + s.own if row["_as_actor"] else s.texts
    for c in TEXT_FIELDS:
        if new[c] is not None:
            replaced = _replace_text(str(new[c]), values, pseudonym)
            if replaced != new[c]:
                new[c] = replaced
                targets.append(c)
    for c in targets:
        by.setdefault(c, []).append(erasure_id)
    if row["_version"] == 3:
        commitments: dict[str, str] = record.setdefault("c", {})
        salts: dict[str, str] = record.setdefault("s", {})
        for c in targets:
            if c not in commitments:  # erased before: its first commitment stands
                commitments[c] = row[f"_c_{c}"]
            salts.pop(c, None)
        # the event's salt goes: its fields not erased keep their own salts, the erased ones none
        for c in PERSONAL_COLUMNS:
            if c not in commitments and row[c] is not None and row[f"_s_{c}"] is not None:
                salts[c] = row[f"_s_{c}"]
        record = {k: v for k, v in record.items() if v}
    new["salt"] = None if row["_version"] == 3 else row["salt"]
    new["erased"] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return new, targets


def _changes(
    con: duckdb.DuckDBPyConnection, source: str, s: _Subject, pseudonym: str, erasure_id: str
) -> tuple[pa.Table, dict[int, list[str]], set[int]]:
    """The new values of the affected rows of `source` (seq and the personal columns, salt, erased),
    the fields erased per seq, and which of those events are of forms 1 and 2."""
    rows = con.sql(_rows_sql(source, s)).to_arrow_table().to_pylist()
    out: list[dict[str, Any]] = []
    marks: dict[int, list[str]] = {}
    kept: set[int] = set()
    for row in rows:
        if row["_version"] not in (1, 2, 3):
            raise IntegrityError(
                f"event seq {row['seq']}: no chain batch {row['batch_id']} accounts for it; run auditdash verify"
            )
        new, targets = _erase_row(row, s, pseudonym, erasure_id)
        if not targets:
            continue
        out.append({"seq": row["seq"], **new})
        marks[int(row["seq"])] = targets
        if row["_version"] in (1, 2):
            kept.add(int(row["seq"]))
    schema = pa.schema(
        [("seq", pa.int64())]
        + [(c, pa.float32() if c in ("geo_lat", "geo_lon") else pa.string()) for c in PERSONAL_COLUMNS]
        + [("salt", pa.string()), ("erased", pa.string())]
    )
    return pa.Table.from_pylist(out, schema=schema), marks, kept


_SET_COLUMNS = (*PERSONAL_COLUMNS, "salt", "erased")


#: tables outside the chain that copy texts of events (detection's alerts, their notes and the
#: notifications sent about them): the person's values in their texts are replaced by the pseudonym
DERIVED_TABLES: tuple[str, ...] = ("alerts", "alert_activity", "notifications")


def _erase_derived(con: duckdb.DuckDBPyConnection, values: list[str], pseudonym: str) -> int:
    """Replace `values` by the pseudonym in every text column of `DERIVED_TABLES`; rows changed."""
    if not values:
        return 0
    changed = 0
    ordered = sorted(values, key=len, reverse=True)
    for table in DERIVED_TABLES:
        cols = [
            str(r[0])
            for r in run(
                con,
                "SELECT column_name FROM information_schema.columns WHERE table_name = $t AND data_type = 'VARCHAR'",
                {"t": table},
            )
        ]
        if not cols:
            continue
        sets = []
        for col in cols:
            expr = col
            for v in ordered:
                expr = f"replace({expr}, {_quote(v)}, {_quote(pseudonym)})"
            sets.append(f"{col} = {expr}")
        hit = " OR ".join(f"contains({c}, {_quote(v)})" for c in cols for v in ordered)
        done = run(con, f"UPDATE {table} SET {', '.join(sets)} WHERE {hit}")  # noqa: S608 - quoted literals
        changed += int(done[0][0]) if done else 0
    return changed


def _rewritten_sql(file_sql: str) -> str:
    """The rows of a month file with the changes of `_erase` applied (in seq order)."""
    cols = ", ".join(
        f"CASE WHEN x.seq IS NULL THEN a.{c} ELSE x.{c} END AS {c}" if c in _SET_COLUMNS else f"a.{c}"
        for c in ARCHIVE_COLUMNS
    )
    return f"SELECT {cols} FROM {parquet_sql(file_sql)} a LEFT JOIN _erase x ON x.seq = a.seq ORDER BY a.seq"  # noqa: S608


def _rewrite_month(
    db: Database, con: duckdb.DuckDBPyConnection, where: Locations, manifest: Manifest, erasure_id: str
) -> Manifest:
    """Write the month's next revision with the erasure applied, check it, commit its manifest."""
    revision = manifest.revision + 1
    name = f"{manifest.month}.r{revision}.parquet"
    final, tmp = where.archive_dir / name, where.archive_dir / f".{name}.tmp"
    old = where.archive_dir / manifest.file
    if file_sha256(old) != manifest.sha256:
        raise IntegrityError(f"archive {manifest.month}: {manifest.file} is altered; run auditdash archive verify")
    options = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
    run(con, f"COPY ({_rewritten_sql('$old')}) TO $tmp ({options})", {"old": str(old), "tmp": str(tmp)})
    _fsync_file(tmp)
    # Read back: the same hashes in the same order, every row's hash recomputed from the file.
    got = run(
        con,
        "SELECT count(*), count(*) FILTER (WHERE event_id IS NULL), string_agg(hash, '' ORDER BY seq) "
        "FROM read_parquet($f)",
        {"f": str(tmp)},
    )[0]
    rel = con.sql(
        text_rows_sql("SELECT * FROM read_parquet($tmp) WHERE event_id IS NOT NULL"), params={"tmp": str(tmp)}
    )
    _, bad = check_rows(rel)
    digest = hashlib.sha256((got[2] or "").encode()).hexdigest()
    if got[0] != manifest.rows or got[1] != manifest.expired_rows or digest != manifest.hashes_digest or bad:
        tmp.unlink(missing_ok=True)
        raise IntegrityError(
            f"archive {manifest.month}: the erased revision failed its read-back check ({got[0]:,} rows, "
            f"{len(bad):,} with a wrong hash); the month is unchanged"
        )
    new = Manifest(
        **{
            **manifest.to_json(),
            "revision": revision,
            "file": name,
            "sha256": file_sha256(tmp),
            "bytes": tmp.stat().st_size,
            "created_at": utcnow().isoformat(timespec="milliseconds") + "Z",
            "run_id": erasure_id,
        }
    )
    os.replace(tmp, final)
    _fsync_dir(where.archive_dir)
    _atomic_write(manifest_path(where.archive_dir, manifest.month), json.dumps(new.to_json(), indent=2) + "\n")
    _mirror(db, new)
    old.unlink(missing_ok=True)
    return new


#: what erasing the hot store did: fields erased per seq, the events of forms 1 and 2, rows of
#: `DERIVED_TABLES` changed, quarantined records naming the person
HotErased = tuple[dict[int, list[str]], set[int], int, int]


def _erase_hot_duckdb(db: Database, s: _Subject, pseudonym: str, erasure_id: str) -> HotErased:
    """The person's hot events rewritten in one DuckDB transaction, the rollups in step."""
    derived = 0
    with db.write_lock, db.raw() as con:
        source = f"SELECT {ARCHIVE_COLUMNS_SQL} FROM events"  # noqa: S608
        table, marks, hot_kept = _changes(con, source, s, pseudonym, erasure_id)
        if marks:
            con.register("_erase", table)
            try:
                sets = ", ".join(f"{c} = x.{c}" for c in _SET_COLUMNS)
                with transaction(con):
                    # the rollups (and their copies of notable events) count the old values: out
                    # with them, then in with the new ones, in the same transaction
                    rollups.remove_rows(con, "seq IN (SELECT seq FROM _erase)")
                    run(con, f"UPDATE events SET {sets} FROM _erase x WHERE events.seq = x.seq")  # noqa: S608
                    rollups.add_rows(con, "SELECT * FROM events WHERE seq IN (SELECT seq FROM _erase)")
                    derived = _erase_derived(con, s.texts + s.own, pseudonym)
            finally:
                con.unregister("_erase")
            # the old values leave the file: DuckDB writes the changed blocks anew at a checkpoint
            run(con, "CHECKPOINT")
        quarantined = run(
            con,
            "SELECT count(*) FROM quarantine q WHERE "  # noqa: S608 - literals quoted by _quote
            + (" OR ".join(f"contains(q.raw, {_quote(t)})" for t in s.texts) or "false"),
        )[0][0]
    return marks, hot_kept, derived, int(quarantined)


def _erase_hot_postgres(db: Database, s: _Subject, pseudonym: str, erasure_id: str) -> HotErased:
    """The person's hot events rewritten on PostgreSQL. Their rows are read (in batches) into a
    staging DuckDB file, then the chain's batches; the new values are made there by the same
    statements as on DuckDB, and written back in one transaction under the chain's lock: the old
    rows counted out of the rollups and text values, the rows updated, the new ones counted in,
    the alerts' texts rewritten."""
    derived = 0
    wanted = (
        "SELECT * FROM events r WHERE r.event_id IS NOT NULL "  # noqa: S608 - literals quoted by _quote
        f"AND r.action <> '{ERASE_ACTION}' AND ({_actor_sql(s)} OR {_target_sql(s)} OR {_text_sql(s)})"
    )
    with staging_file(db) as con:
        postgres.stage_rows(db.engine, con, schema.events, wanted)
        postgres.stage_rows(db.engine, con, schema.chain_batches, "SELECT * FROM chain_batches")
        table, marks, hot_kept = _changes(con, f"SELECT {ARCHIVE_COLUMNS_SQL} FROM events", s, pseudonym, erasure_id)  # noqa: S608
    with db.write_lock, postgres.chain_transaction(db.engine) as cur:
        if marks:
            kinds = ", ".join(
                f"{f.name} {'REAL' if pa.types.is_floating(f.type) else 'BIGINT' if f.name == 'seq' else 'VARCHAR'}"
                for f in table.schema
            )
            cur.execute(f"CREATE TEMPORARY TABLE _erase ({kinds}) ON COMMIT DROP")
            postgres.copy_arrow(cur, "_erase", table)
            rows = "SELECT e.* FROM events e JOIN _erase x ON x.seq = e.seq"
            cur.execute(f"CREATE TEMPORARY TABLE _before ON COMMIT DROP AS {rows}")
            adjust_postgres(cur, "_before", -1)
            sets = ", ".join(f"{c} = x.{c}" for c in _SET_COLUMNS)
            cur.execute(f"UPDATE events e SET {sets} FROM _erase x WHERE e.seq = x.seq")  # noqa: S608
            cur.execute(f"CREATE TEMPORARY TABLE _after ON COMMIT DROP AS {rows}")
            adjust_postgres(cur, "_after", 1)
            derived = _erase_derived_postgres(cur, s.texts + s.own, pseudonym)
        cur.execute(
            "SELECT count(*) FROM quarantine q WHERE "  # noqa: S608 - literals quoted by _quote
            + (" OR ".join(f"strpos(q.raw, {_quote(t)}) > 0" for t in s.texts) or "false")
        )
        quarantined = int(cur.fetchone()[0])  # type: ignore[index]
    return marks, hot_kept, derived, quarantined


def _erase_derived_postgres(cur: Any, values: list[str], pseudonym: str) -> int:
    """`_erase_derived` on PostgreSQL (its text columns, its words); rows changed."""
    if not values:
        return 0
    changed = 0
    ordered = sorted(values, key=len, reverse=True)
    for table in DERIVED_TABLES:
        cur.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND table_schema = current_schema() AND data_type IN ('character varying', 'text')",
            (table,),
        )
        cols = [str(r[0]) for r in cur.fetchall()]
        if not cols:
            continue
        sets = []
        for col in cols:
            expr = col
            for v in ordered:
                expr = f"replace({expr}, {_quote(v)}, {_quote(pseudonym)})"
            sets.append(f"{col} = {expr}")
        hit = " OR ".join(f"strpos({c}, {_quote(v)}) > 0" for c in cols for v in ordered)
        cur.execute(f"UPDATE {table} SET {', '.join(sets)} WHERE {hit}")  # noqa: S608 - quoted literals
        changed += max(cur.rowcount, 0)
    return changed


def erase(db: Database, where: Locations, actor: Actor, subject: str, reason: str) -> ErasureResult:
    """Erase one person's personal data from the hot store and the archive (docs/integrity.md, "Erasure").

    Raises:
        RetentionError: no reason, no subject, or nothing of the person stored.
        ErasureRefused: a legal hold covers the person or an event the erasure would change.
        IntegrityError: an archive file does not match its manifest, or a rewritten month fails its check.
    """
    reason = reason.strip()
    if not reason:
        raise RetentionError("an erasure needs a reason (the request or ticket it answers)")
    if not subject.strip():
        raise RetentionError("name the person to erase: a user id or an e-mail address (--subject)")
    erasure_id = f"er-{secrets.token_hex(6)}"
    pseudonym = f"erased-{secrets.token_hex(4)}"
    with maintenance_lock(db):
        manifests, problems = read_manifests(where.archive_dir)
        if problems:
            raise IntegrityError("the archive cannot be read: " + "; ".join(problems))
        files = [str(where.archive_dir / m.file) for m in manifests.values()]
        with _reader(db, files) as rows:
            s = find_subject(rows, subject)
            held = _holds(rows, s)
        if held:
            raise ErasureRefused(_refusal([get_hold(db, h) for h in held]))
        result = ErasureResult(erasure_id, [i for i in s.ids if "@" not in i], pseudonym)
        all_marks: dict[int, list[str]] = {}
        kept: set[int] = set()
        fields: Counter[str] = Counter()
        # 1. the archived months, each committed with its manifest
        for month, manifest in sorted(manifests.items()):
            path = str(where.archive_dir / manifest.file)
            with db.reading(("chain_batches",)) as con:  # on PostgreSQL: a copy of the chain's batches
                source = f"SELECT * FROM {parquet_sql(_list([path]))}"  # noqa: S608
                table, marks, month_kept = _changes(con, source, s, pseudonym, erasure_id)
                if not marks:
                    continue
                con.register("_erase", table)
                try:
                    _rewrite_month(db, con, where, manifest, erasure_id)
                finally:
                    con.unregister("_erase")
            result.months.append(month)
            result.archived_events += len(marks)
            all_marks.update(marks)
            kept |= month_kept
        # 2. the hot store, in one transaction
        erase_hot = _erase_hot_duckdb if db.url is None else _erase_hot_postgres
        hot_marks, hot_kept, result.derived_rows, quarantined = erase_hot(db, s, pseudonym, erasure_id)
        result.hot_events = len(hot_marks)
        for seq, cols in hot_marks.items():
            all_marks[seq] = sorted(set(all_marks.get(seq, [])) | set(cols))
        kept |= hot_kept
        if not all_marks:
            raise RetentionError(
                f"nothing of {subject.strip()!r} left to erase: no stored event names them (as actor, target or "
                "in a free text), or an earlier erasure replaced it all"
            )
        for cols in all_marks.values():
            fields.update(cols)
        result.events = len(all_marks)
        result.fields = dict(sorted(fields.items()))
        result.hash_kept_events = len(kept)
        result.free_text_events = sum(1 for cols in all_marks.values() if set(cols) <= set(TEXT_FIELDS))
        result.quarantined_mentions = int(quarantined)
        result.digest = erasure_digest(list(all_marks.items()))
        written = selflog.record(
            db,
            ERASE_ACTION,
            actor.name,
            **actor.audit(),
            target_type="person",
            target_id=result.subject_ids[0] if result.subject_ids else pseudonym,
            target_name=pseudonym,
            metadata={"reason": reason, **result.to_json()},
        )
        result.record_seq = written.first_seq
    return result


def compact(db_path: Path) -> None:
    """Rewrite a database file whole (no process may have it open): DuckDB reuses freed blocks but
    does not wipe them, so values an UPDATE replaced can linger in the file's free space until then.

    The copy is checked (every table has as many rows as in the original) before it replaces the
    file; on any failure the original stays and the partial copy is removed."""
    import duckdb as _duckdb

    tmp = db_path.with_name(f".{db_path.name}.compact")
    tmp.unlink(missing_ok=True)
    con = _duckdb.connect()
    try:
        run(con, f"ATTACH {_quote(str(db_path))} AS src")
        run(con, "CHECKPOINT src")  # a write-ahead log left beside the file is folded in (none may follow it)
        run(con, f"ATTACH {_quote(str(tmp))} AS dst")
        run(con, "COPY FROM DATABASE src TO dst")
        tables = run(con, "SELECT table_name FROM duckdb_tables() WHERE database_name = 'src' ORDER BY 1")
        for (table,) in tables:
            quoted = '"' + str(table).replace('"', '""') + '"'
            a = run(con, f"SELECT count(*) FROM src.main.{quoted}")[0][0]  # noqa: S608 - names from the catalog
            b = run(con, f"SELECT count(*) FROM dst.main.{quoted}")[0][0]  # noqa: S608
            if a != b:
                raise IntegrityError(f"{db_path}: compacting copied {b:,} of the {a:,} rows of {table}; file unchanged")
        run(con, "DETACH dst")
        run(con, "DETACH src")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    _fsync_file(tmp)
    os.replace(tmp, db_path)
    _fsync_dir(db_path.parent)

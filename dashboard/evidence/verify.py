"""Verify the hash chain (hot store and archive) and name the first broken place.

The chain (docs/integrity.md): every event's `hash` is SHA-256 over the canonical text of its
columns (`writer.EVENT_HASH_SQL`); every batch in `chain_batches` carries the SHA-256 of its
events' hashes in sequence order (`events_digest`) and links to the previous batch's hash. A
purge moves events to monthly Parquet files but keeps the batch rows, so the chain is checked
over the union of the hot store and the archive.

* **altered**: an event's content no longer matches its hash, or a batch record, an archive
  file or a manifest changed;
* **missing**: a sequence number, a batch or an archive month is gone;
* **inserted**: an event that no batch accounts for (out of its batch's range, unknown batch,
  or a sequence number stored twice);
* **reordered**: events changed places: each hash matches its content at another position,
  and the batch digest matches again in the original order;
* **rewritten**: the chain is consistent but differs from a signed checkpoint, so someone
  recomputed it (only a checkpoint kept outside the database can show this).
"""

from __future__ import annotations

import bisect
import collections
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dashboard.evidence.canonical import ERASE_ACTION, KNOWN_VERSIONS, ROW_TEXT_SQL, erasure_digest, text_rows_sql
from dashboard.evidence.checkpoints import Checkpoint, read_checkpoint_file
from dashboard.evidence.hashing import MAX_FINDINGS, check_rows, hash_workers, stream_batches
from dashboard.evidence.keys import signature_checks
from dashboard.evidence.locations import Locations
from dashboard.store.archive import file_sha256, maintenance_lock, parquet_sql, read_manifests
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run
from dashboard.store.writer import EMPTY_DIGEST, GENESIS_HASH, QUARANTINE_TEXT_SQL, batch_hash

KINDS: tuple[str, ...] = ("altered", "missing", "inserted", "reordered", "rewritten")


_REORDER_CANDIDATES = 256  # rows examined for a reordering (the trial is quadratic)


_PRIORITY = {
    "archive": 0,
    "row": 1,
    "inserted": 2,
    "missing": 3,
    "chain": 4,
    "batch": 5,
    "checkpoint": 6,
    "quarantine": 7,
}


@dataclass(frozen=True)
class Break:
    """One broken place of the chain."""

    kind: str  # one of KINDS
    seq: int | None  # the first sequence number concerned (None: not tied to one)
    where: str  # hot store, archive 2026-01, chain batch 17, checkpoint file ...
    detail: str
    batch_id: int | None = None
    level: str = "row"  # archive, row, inserted, missing, batch, chain, checkpoint (orders ties)

    def describe(self) -> str:
        """One line a person can act on."""
        at = f" at seq {self.seq}" if self.seq is not None else ""
        return f"{self.kind}{at} ({self.where}): {self.detail}"

    def sort_key(self) -> tuple[int, int]:
        """Earliest sequence number first; at the same place the most specific finding first."""
        return (self.seq if self.seq is not None else sys.maxsize, _PRIORITY.get(self.level, 9))


@dataclass
class Verification:
    """The outcome of one verification."""

    ok: bool
    head_batch_id: int | None
    head_seq: int | None
    head_hash: str | None
    hot_events: int
    archived_events: int
    expired_events: int
    checked_events: int
    batches: int
    checkpoints_checked: int
    breaks: list[Break]
    notes: list[str]
    started_at: datetime
    seconds: float
    start: datetime | None = None
    end: datetime | None = None
    scope: str = "all"

    @property
    def first(self) -> Break | None:
        """The first broken place, or None when the chain is intact."""
        return self.breaks[0] if self.breaks else None

    def summary(self) -> str:
        """One line: OK with the head hash, or the first break."""
        if self.ok:
            head = (
                f"head {self.head_hash} (batch {self.head_batch_id}, seq {self.head_seq})"
                if self.head_hash
                else "empty chain"
            )
            return f"OK: {self.checked_events:,} events and {self.batches:,} batches verified; {head}"
        first = self.first
        more = f" (+{len(self.breaks) - 1} more)" if len(self.breaks) > 1 else ""
        return f"BROKEN: {first.describe() if first else 'unknown'}{more}"

    def to_json(self) -> dict[str, Any]:
        """JSON-ready data (for `--json`, the page and compliance packs)."""
        out = asdict(self)
        out["first"] = asdict(self.first) if self.first else None
        out["summary"] = self.summary()
        for key in ("started_at", "start", "end"):
            value = out[key]
            out[key] = value.isoformat(timespec="milliseconds") + "Z" if value else None
        return out


@dataclass
class _Findings:
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, seq: int | None, where: str, detail: str, level: str, batch_id: int | None = None) -> None:
        if len(self.breaks) < MAX_FINDINGS:
            self.breaks.append(Break(kind, seq, where, detail, batch_id, level))


def _batches(con: duckdb.DuckDBPyConnection) -> list[tuple[int, int, int, int, str, str, str]]:
    return [
        (int(r[0]), int(r[1]), int(r[2]), int(r[3]), str(r[4]), str(r[5]), str(r[6]))
        for r in run(
            con,
            "SELECT batch_id, first_seq, last_seq, event_count, events_digest, prev_hash, hash "
            "FROM chain_batches ORDER BY batch_id",
        )
    ]


def _batch_forms(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[int, int, str | None]]:
    """batch id -> (canonical form version, quarantined records, their digest); a store that has
    not been migrated yet (opened read-only) has version 1 everywhere."""
    columns = {
        str(r[0]) for r in run(con, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'chain_batches'")
    }
    if "version" not in columns:
        return {}
    return {
        int(r[0]): (int(r[1]) if r[1] is not None else 1, int(r[2] or 0), r[3])
        for r in run(con, "SELECT batch_id, version, quarantine_count, quarantine_digest FROM chain_batches")
    }


def _batch_skips(con: duckdb.DuckDBPyConnection) -> dict[int, tuple[int, int]]:
    """batch id -> (first, last) sequence numbers the batch skipped because rows stored outside
    the chain held them (docs/integrity.md, "Rows past the end"); empty on a store without them."""
    columns = {
        str(r[0]) for r in run(con, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'chain_batches'")
    }
    if "skipped_first" not in columns:
        return {}
    return {
        int(r[0]): (int(r[1]), int(r[2]))
        for r in run(
            con,
            "SELECT batch_id, skipped_first, skipped_last FROM chain_batches "
            "WHERE skipped_first IS NOT NULL OR skipped_last IS NOT NULL",
        )
        if r[1] is not None and r[2] is not None
    }


def _check_chain(
    batches: list[tuple[int, int, int, int, str, str, str]],
    out: _Findings,
    forms: dict[int, tuple[int, int, str | None]] | None = None,
    skips: dict[int, tuple[int, int]] | None = None,
) -> None:
    """The batch records: ids and sequence ranges without gaps (but the skips batches record, each
    covered by the batch's hash), each hash right, each link right."""
    prev_hash, expect_id, expect_seq = GENESIS_HASH, 1, 1
    forms = forms or {}
    skips = skips or {}
    for bid, first, last, count, digest, prev, own in batches:
        where = f"chain batch {bid}"
        gap = bid != expect_id
        if gap:
            ids = f"{expect_id}" if bid == expect_id + 1 else f"{expect_id} to {bid - 1}"
            out.add(
                "missing", expect_seq, "chain", f"chain batch {ids} is gone (the chain jumps to {bid})", "chain", bid
            )
        skip = skips.get(bid)
        version, q_count, q_digest = forms.get(bid, (1, 0, None))
        if version not in KNOWN_VERSIONS:
            out.add("altered", first, where, f"unknown canonical form version {version}", "chain", bid)
        elif (
            batch_hash(
                prev,
                bid,
                first,
                last,
                count,
                digest,
                version=version,
                quarantine_count=q_count,
                quarantine_digest=q_digest if q_digest is not None else "",  # NULL in version 2: altered
                skipped=skip,
            )
            != own
        ):
            out.add("altered", first, where, "the batch record does not match its own hash", "chain", bid)
        elif prev != prev_hash and not gap:
            out.add(
                "altered", first, where, f"does not link to batch {bid - 1} (its previous hash differs)", "chain", bid
            )
        if last - first + 1 != count:
            out.add("altered", first, where, f"range {first}..{last} does not hold {count} events", "chain", bid)
        if skip is not None and not gap:
            if skip != (expect_seq, first - 1):
                out.add(
                    "altered",
                    first,
                    where,
                    f"records skipping seqs {skip[0]}..{skip[1]}, but the skip between the previous batch "
                    f"and this one is {expect_seq}..{first - 1}",
                    "chain",
                    bid,
                )
            else:
                # explained by the chain: the writer stored past rows inserted outside it, which
                # are reported as inserted below
                out.notes.append(
                    f"batch {bid} skipped seqs {skip[0]}..{skip[1]}: rows stored outside the chain held them"
                )
                expect_seq = first
        if first > expect_seq and not gap:
            out.add(
                "missing",
                expect_seq,
                where,
                f"sequence numbers {expect_seq}..{first - 1} belong to no batch",
                "chain",
                bid,
            )
        elif first < expect_seq:
            out.add("inserted", first, where, f"starts at {first}, inside the previous batch's range", "chain", bid)
        prev_hash, expect_id, expect_seq = own, bid + 1, last + 1


def _archive_sources(
    con: duckdb.DuckDBPyConnection, archive_dir: Path, batches_by_id: dict[int, tuple[Any, ...]], out: _Findings
) -> list[str]:
    """Check every archived month's manifest and file; return the readable files to include."""
    recorded = {
        str(r[0]): r
        for r in run(con, "SELECT month, revision, file, rows, sha256, first_seq, last_seq FROM archive_months")
    }
    manifests, problems = read_manifests(archive_dir)
    for problem in problems:
        out.add("altered", None, "archive", problem, "archive")
    files: list[str] = []
    for month in sorted(set(recorded) | set(manifests)):
        rec = recorded.get(month)
        man = manifests.get(month)
        where = f"archive {month}"
        if man is None:
            assert rec is not None
            out.add(
                "missing",
                int(rec[5]),
                where,
                f"the manifest of {month} ({int(rec[3]):,} events, seq {rec[5]}..{rec[6]}) is gone from {archive_dir}",
                "archive",
            )
            continue
        if rec is None:
            out.notes.append(f"archive {month} is not yet recorded in the database (a purge was interrupted?)")
        elif (int(rec[1]), str(rec[2]), int(rec[3]), str(rec[4])) != (man.revision, man.file, man.rows, man.sha256):
            out.add("altered", man.first_seq, where, "the manifest differs from the database's record of it", "archive")
        path = archive_dir / man.file
        if not path.is_file():
            out.add(
                "missing",
                man.first_seq,
                where,
                f"{man.file} ({man.rows:,} events, seq {man.first_seq}..{man.last_seq}) is gone",
                "archive",
            )
            continue
        if file_sha256(path) != man.sha256:
            out.add(
                "altered", man.first_seq, where, f"{man.file} does not match the SHA-256 in its manifest", "archive"
            )
        try:
            count, lo, hi = run(con, "SELECT count(*), min(seq), max(seq) FROM read_parquet($f)", {"f": str(path)})[0]
        except duckdb.Error as exc:
            out.add(
                "altered", man.first_seq, where, f"{man.file} cannot be read: {str(exc).splitlines()[0]}", "archive"
            )
            continue
        if (int(count), lo, hi) != (man.rows, man.first_seq, man.last_seq):
            out.add(
                "altered",
                man.first_seq,
                where,
                f"{man.file} holds {count:,} events, seq {lo}..{hi}; "
                f"the manifest says {man.rows:,}, seq {man.first_seq}..{man.last_seq}",
                "archive",
            )
        boundary = batches_by_id.get(man.boundary_batch_id)
        if boundary is None or boundary[6] != man.boundary_hash:
            out.add(
                "altered",
                man.last_seq,
                where,
                f"the chain hash at the archive's boundary (batch {man.boundary_batch_id}) differs from the manifest",
                "archive",
            )
        files.append(str(path))
    return files


def _reordered(con: duckdb.DuckDBPyConnection, table: str, seqs: list[int]) -> dict[int, int]:
    """For rows whose hash does not match: the sequence number at which their hash matches.

    A swap of two rows' sequence numbers leaves each stored hash matching its content at the
    other position. Each mismatched row is tried at every other mismatched row's place.
    """
    if len(seqs) < 2:
        return {}
    sql = (
        f"SELECT at_seq, seq FROM (SELECT r.* REPLACE (c.cand AS seq), r.seq AS at_seq, v.version AS _version "  # noqa: S608 - fixed names
        f"FROM {table} r JOIN (SELECT unnest($seqs) AS cand) c ON c.cand <> r.seq "
        "LEFT JOIN _versions v ON v.batch_id = r.batch_id "
        f"WHERE list_contains($seqs, r.seq)) WHERE sha256({ROW_TEXT_SQL}) = hash"
    )
    return {int(a): int(b) for a, b in run(con, sql, {"seqs": seqs})}


def _batch_of(batches: list[tuple[int, int, int, int, str, str, str]], seq: int) -> int:
    """The id of the batch whose range holds `seq` (0 when none does)."""
    i = bisect.bisect_right([b[1] for b in batches], seq) - 1
    return batches[i][0] if i >= 0 and batches[i][1] <= seq <= batches[i][2] else 0


def _original_order_matches(
    con: duckdb.DuckDBPyConnection, batches: list[tuple[int, int, int, int, str, str, str]], moved: dict[int, int]
) -> bool:
    """Whether every batch touched by a move gives its digest again with the moves undone."""
    by_id = {b[0]: b for b in batches}
    for bid in {_batch_of(batches, s) for s in (*moved, *moved.values())}:
        if bid not in by_id:
            return False
        _, first, last, _count, digest, _prev, _own = by_id[bid]
        rows = run(con, "SELECT seq, hash FROM _pop WHERE seq BETWEEN $f AND $l", {"f": first, "l": last})
        ordered = sorted(rows, key=lambda r: moved.get(int(r[0]), int(r[0])))
        if hashlib.sha256("".join(str(r[1]) for r in ordered).encode()).hexdigest() != digest:
            return False
    return True


def _resolve_range(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    return (start or datetime(1, 1, 1), end or datetime(9999, 12, 31))


def verify(
    db: Database,
    where: Locations,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    checkpoint_files: Sequence[Path] = (),
    archive_only: bool = False,
    public_keys: Sequence[Path] = (),
    tail: bool = False,
) -> Verification:
    """Recompute the chain over the hot store and the archive and name the first broken place.

    Args:
        db: the store.
        where: the archive folder, the checkpoint file and key.
        start: with `end`, verify the events that occurred in [start, end) in full (their row
            hashes and their batches' digests); counts, ranges and links are always checked
            for the whole chain, and so are checkpoints.
        end: see `start`.
        checkpoint_files: more checkpoint files to check against (copies kept elsewhere); the
            configured checkpoint file is always read when it exists.
        archive_only: verify only the archived months (their files, rows and batches).
        public_keys: Ed25519 public key files to check checkpoints with (an auditor's own copy);
            when given, only they are trusted, not the keys beside the database.
        tail: verify in full only the batches after the newest checkpoint stored in the database
            (all of them when there is none): what a server checks when it starts. Batch records,
            membership, the archive manifests, quarantined records and checkpoints are checked whole.

    Returns:
        The verification: `ok`, the head, and the breaks in sequence order.
    """
    started, clock = utcnow(), time.monotonic()
    out = _Findings()
    ranged = start is not None or end is not None
    lo, hi = _resolve_range(start, end)
    with maintenance_lock(db), db.reading() as con:
        run(con, "BEGIN TRANSACTION")  # one snapshot: ingest may go on meanwhile
        try:
            result = _verify_in(
                con, db, where, out, ranged, lo, hi, archive_only, checkpoint_files, public_keys, tail=tail
            )
        finally:
            run(con, "ROLLBACK")
    hot, archived, expired, checked, batches, checkpoints, head = result
    breaks = _dedupe(out.breaks)
    return Verification(
        ok=not breaks,
        head_batch_id=head[0] if head else None,
        head_seq=head[1] if head else None,
        head_hash=head[2] if head else None,
        hot_events=hot,
        archived_events=archived,
        expired_events=expired,
        checked_events=checked,
        batches=batches,
        checkpoints_checked=checkpoints,
        breaks=breaks,
        notes=out.notes,
        started_at=started,
        seconds=round(time.monotonic() - clock, 3),
        start=start,
        end=end,
        scope="archive" if archive_only else ("range" if ranged else ("tail" if tail else "all")),
    )


def _dedupe(breaks: list[Break]) -> list[Break]:
    """Sort, and keep one finding per place: a row that is reordered is not also inserted."""
    ordered = sorted(breaks, key=Break.sort_key)
    seen: set[tuple[int, str]] = set()
    out: list[Break] = []
    for b in ordered:
        if b.seq is not None and b.level in ("row", "inserted"):
            key = (b.seq, "row")
            if key in seen:
                continue
            seen.add(key)
        out.append(b)
    return out


def _verify_in(
    con: duckdb.DuckDBPyConnection,
    db: Database,
    where: Locations,
    out: _Findings,
    ranged: bool,
    lo: datetime,
    hi: datetime,
    archive_only: bool,
    checkpoint_files: Sequence[Path],
    public_keys: Sequence[Path] = (),
    tail: bool = False,
) -> tuple[int, int, int, int, int, int, tuple[int, int, str] | None]:
    batches = _batches(con)
    by_id = {b[0]: b for b in batches}
    head = (batches[-1][0], batches[-1][2], batches[-1][6]) if batches else None
    forms = _batch_forms(con)
    skips = _batch_skips(con)
    _check_chain(batches, out, forms, skips)
    # Each batch's canonical form version, for the row hashes (an unknown batch: the current form).
    run(con, "CREATE OR REPLACE TEMP TABLE _versions (batch_id BIGINT, version INTEGER)")
    if forms:
        run(con, "INSERT INTO _versions SELECT batch_id, version FROM chain_batches")
    bad_records = {b.batch_id for b in out.breaks if b.level == "chain" and b.kind == "altered"}

    # Every archived month is checked against its manifest, whatever the range: it is cheap.
    files = _archive_sources(con, where.archive_dir, by_id, out)

    # The population the chain covers: hot rows, plus archived rows not also hot (a restore
    # or an interrupted purge leaves identical copies in both places).
    run(con, "CREATE OR REPLACE TEMP VIEW _hot AS SELECT * FROM events")
    if files:
        listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
        run(con, f"CREATE OR REPLACE TEMP VIEW _arch AS SELECT * FROM {parquet_sql(listed)}")  # noqa: S608
    else:
        run(con, "CREATE OR REPLACE TEMP VIEW _arch AS SELECT * FROM events WHERE false")
    run(
        con,
        """CREATE OR REPLACE TEMP VIEW _pop AS
           SELECT seq, batch_id, hash, occurred_at, 'hot' AS place FROM _hot
           UNION ALL
           SELECT a.seq, a.batch_id, a.hash, a.occurred_at, 'archive' AS place FROM _arch a
           WHERE NOT EXISTS (SELECT 1 FROM _hot h WHERE h.seq = a.seq)""",
    )
    hot = int(run(con, "SELECT count(*) FROM _hot")[0][0])
    archived, expired = (
        int(v or 0)
        for v in run(
            con,
            "SELECT count(*) FILTER (WHERE event_id IS NOT NULL), count(*) FILTER (WHERE event_id IS NULL) FROM _arch",
        )[0]
    )

    # Which batches get the full treatment (row hashes and digests).
    if archive_only:
        run(con, "CREATE OR REPLACE TEMP TABLE _sel AS SELECT DISTINCT batch_id FROM _arch")
    elif ranged:
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _sel AS "
            "SELECT DISTINCT batch_id FROM _pop WHERE occurred_at >= $lo AND occurred_at < $hi",
            {"lo": lo, "hi": hi},
        )
    elif tail:
        signed = int(run(con, "SELECT coalesce(max(batch_id), 0) FROM checkpoints")[0][0])
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _sel AS SELECT batch_id FROM chain_batches WHERE batch_id > $b",
            {"b": signed},
        )
        if signed:
            out.notes.append(f"events checked in full from batch {signed + 1} (after the newest checkpoint)")
    else:
        run(con, "CREATE OR REPLACE TEMP TABLE _sel AS SELECT batch_id FROM chain_batches")
    selected = {int(r[0]) for r in run(con, "SELECT batch_id FROM _sel")}

    # Row hashes (the heavy part), hot and archive.
    checked = 0
    row_bad: dict[str, list[int]] = {}
    with hash_workers((0 if archive_only else hot) + archived) as pool:
        for place, table in (("hot", "_hot"), ("archive", "_arch")):
            if place == "hot" and archive_only:
                continue
            cond = "" if not (ranged or archive_only or tail) else " AND batch_id IN (SELECT batch_id FROM _sel)"
            rel = con.sql(
                text_rows_sql(f"SELECT * FROM {table} WHERE event_id IS NOT NULL{cond}", "_versions")  # noqa: S608
            )
            n, bad = check_rows(rel, pool)
            checked += n
            row_bad[place] = bad

    # Per batch, one pass over the population: how many of its events lie in the batch's
    # range, how many carry its id but lie outside, and, for the selected batches, the hashes
    # in sequence order (for the digest). Rows of unknown batches are counted under their id.
    agg = con.sql(
        """SELECT p.batch_id,
                  count(*) FILTER (WHERE p.seq BETWEEN b.first_seq AND b.last_seq) AS n,
                  count(*) FILTER (WHERE b.batch_id IS NULL OR p.seq NOT BETWEEN b.first_seq AND b.last_seq)
                      AS stray,
                  string_agg(p.hash, '' ORDER BY p.seq)
                      FILTER (WHERE s.batch_id IS NOT NULL AND p.seq BETWEEN b.first_seq AND b.last_seq) AS hashes
           FROM _pop p LEFT JOIN chain_batches b USING (batch_id) LEFT JOIN _sel s USING (batch_id)
           GROUP BY p.batch_id"""
    )
    counts: dict[int, int] = {}
    digests: dict[int, str] = {}
    strays = 0
    for rb in stream_batches(agg, rows=4096):
        cols = rb.to_pydict()
        for bid, n, stray, hashes in zip(cols["batch_id"], cols["n"], cols["stray"], cols["hashes"], strict=True):
            counts[bid] = n
            strays += stray
            if hashes is not None:
                digests[bid] = hashlib.sha256(hashes.encode()).hexdigest()

    # Rows that no batch accounts for.
    stray_seqs: set[int] = set()
    if strays:
        for seq, bid, place in run(
            con,
            """SELECT p.seq, p.batch_id, p.place FROM _pop p LEFT JOIN chain_batches b USING (batch_id)
               WHERE b.batch_id IS NULL OR p.seq NOT BETWEEN b.first_seq AND b.last_seq
               ORDER BY p.seq LIMIT 1000""",
        ):
            reason = (
                f"batch {bid} does not exist"
                if bid not in by_id
                else f"outside batch {bid}'s range {by_id[bid][1]}..{by_id[bid][2]}"
            )
            skipper = next((b for b, (a, z) in skips.items() if a <= int(seq) <= z), None)
            if skipper is not None:
                reason += f" (batch {skipper} skipped seqs {skips[skipper][0]}..{skips[skipper][1]} over it)"
            stray_seqs.add(int(seq))
            out.add(
                "inserted",
                int(seq),
                f"{place} store" if place == "hot" else "archive",
                f"no batch accounts for this event: {reason}",
                "inserted",
                int(bid),
            )
    # a sequence number held twice (a DuckDB store's key refuses it; PostgreSQL's key is per month)
    for seq, n in run(con, "SELECT seq, count(*) FROM _hot GROUP BY seq HAVING count(*) > 1 ORDER BY seq LIMIT 1000"):
        out.add(
            "inserted", int(seq), "hot store", f"the hot store holds {n} events with this sequence number", "inserted"
        )
    if files:
        for seq, n in run(
            con, "SELECT seq, count(*) FROM _arch GROUP BY seq HAVING count(*) > 1 ORDER BY seq LIMIT 1000"
        ):
            out.add("inserted", int(seq), "archive", f"the archive holds this event {n} times", "inserted")
        for (seq,) in run(
            con,
            "SELECT a.seq FROM _arch a JOIN _hot h USING (seq) WHERE a.hash <> h.hash ORDER BY a.seq LIMIT 1000",
        ):
            out.add("altered", int(seq), "hot store", "the hot copy and the archived copy of this event differ", "row")

    # Mismatched rows: altered, unless they are a permutation of each other (reordered).
    row_batches: set[int] = set()
    for place, table in (("hot", "_hot"), ("archive", "_arch")):
        bad = row_bad.get(place, [])
        if not bad:
            continue
        label = "hot store" if place == "hot" else "archive"
        moved = _reordered(con, table, bad[:_REORDER_CANDIDATES])
        if not moved or set(moved.values()) != set(moved):
            moved = {}
        if moved:
            pairs = ", ".join(f"{at} belongs at {orig}" for at, orig in sorted(moved.items())[:6])
            restored = _original_order_matches(con, batches, moved)
            out.add(
                "reordered",
                min(moved),
                label,
                f"events changed places ({pairs}): each hash matches its content at another position"
                + ("; in the original order the batch digest matches again" if restored else ""),
                "row",
            )
            # a row moved out of its batch's range is explained by the move, not inserted
            out.breaks = [b for b in out.breaks if not (b.level == "inserted" and b.seq in moved)]
        for seq in bad:
            # an event no batch accounts for is an insertion, whatever its hash (reported above)
            if seq not in moved and seq not in stray_seqs:
                out.add("altered", seq, label, "the event's content does not match its hash", "row")
        row_batches |= {_batch_of(batches, seq) for seq in bad[:MAX_FINDINGS]}
        row_batches |= {
            int(r[0])
            for r in run(
                con,
                f"SELECT DISTINCT batch_id FROM {table} WHERE list_contains($s, seq)",  # noqa: S608
                {"s": bad[:MAX_FINDINGS]},
            )
        }

    short = [bid for bid, b in by_id.items() if counts.get(bid, 0) < b[3]]
    for bid in short[:1000]:
        _, first, last, count, *_ = by_id[bid]
        gone = run(
            con,
            """SELECT r.s FROM range($first, $last + 1) r(s) WHERE NOT EXISTS
               (SELECT 1 FROM _pop p WHERE p.seq = r.s AND p.batch_id = $b) ORDER BY r.s LIMIT 1""",
            {"first": first, "last": last, "b": bid},
        )
        n_gone = count - counts.get(bid, 0)
        seq = int(gone[0][0]) if gone else first
        out.add(
            "missing",
            seq,
            f"batch {bid}",
            f"{n_gone:,} of the batch's {count:,} events are gone, the first at seq {seq}",
            "missing",
            bid,
        )
    short_set = set(short)
    for bid, digest in digests.items():
        b = by_id[bid]
        if bid in short_set or bid in row_batches or bid in bad_records or counts[bid] != b[3]:
            continue  # explained more precisely by the findings above
        if digest != b[4]:
            out.add(
                "altered",
                b[1],
                f"batch {bid}",
                "the events' hashes no longer give the batch digest: events were changed and re-hashed",
                "batch",
                bid,
            )
    _check_erasures(con, out)
    if not archive_only:
        _check_quarantine(con, by_id, forms, out)
    checkpoints = _check_checkpoints(con, where, by_id, head, out, checkpoint_files, public_keys)
    if not selected and not archive_only and batches:
        out.notes.append("no events in the range")
    return hot, archived, expired, checked, len(selected), checkpoints, head


def _check_erasures(con: duckdb.DuckDBPyConnection, out: _Findings) -> None:
    """Erased fields must be vouched for by an erasure record (docs/integrity.md, "Erasure").

    An erasure replaces values whose commitments it records in `erased` (form 3), or leaves the
    event's stored hash as the commitment of its content (forms 1 and 2); marking an event erased
    without an erasure would stop its fields from being checked. So every event's `erased`.by
    names, per field, the erasure that did it, and that erasure's `audit.erase` event (itself in
    the chain) lists them: the digest of `seq:fields` over its events must be the one it recorded.
    """
    marks: dict[str, list[tuple[int, list[str]]]] = {}
    for seq, text, place in run(
        con,
        """SELECT seq, erased, 'hot store' FROM _hot WHERE erased IS NOT NULL
           UNION ALL SELECT a.seq, a.erased, 'archive' FROM _arch a
           WHERE a.erased IS NOT NULL AND NOT EXISTS (SELECT 1 FROM _hot h WHERE h.seq = a.seq)""",
    ):
        try:
            by = dict(json.loads(text).get("by") or {})
        except (ValueError, AttributeError, TypeError):
            out.add("altered", int(seq), place, "the event's erasure record (`erased`) is unreadable", "row")
            continue
        per: dict[str, list[str]] = {}
        for column, erasures in by.items():
            for erasure in erasures if isinstance(erasures, list) else [erasures]:
                per.setdefault(str(erasure), []).append(str(column))
        if not per:
            out.add("altered", int(seq), place, "the event is marked erased without naming an erasure", "row")
        for erasure, columns in per.items():
            marks.setdefault(erasure, []).append((int(seq), columns))
    records: dict[str, tuple[int, str | None, int | None]] = {}
    for seq, erasure, digest, count in run(
        con,
        f"""SELECT seq, json_extract_string(metadata, '$.erasure_id'), json_extract_string(metadata, '$.digest'),
                  TRY_CAST(json_extract_string(metadata, '$.events') AS BIGINT)
           FROM (SELECT seq, action, outcome, metadata FROM _hot
                 UNION ALL SELECT a.seq, a.action, a.outcome, a.metadata FROM _arch a
                 WHERE NOT EXISTS (SELECT 1 FROM _hot h WHERE h.seq = a.seq))
           WHERE action = '{ERASE_ACTION}' AND outcome = 'success'""",  # noqa: S608 - our own constant
    ):
        if erasure is not None:
            records[str(erasure)] = (int(seq), digest, count)
    for erasure, items in sorted(marks.items(), key=lambda kv: min(s for s, _ in kv[1])):
        first = min(s for s, _ in items)
        record = records.get(erasure)
        if record is None:
            out.add(
                "altered",
                first,
                f"erasure {erasure}",
                f"{len(items):,} events are marked erased by an erasure no {ERASE_ACTION} event records",
                "row",
            )
        elif erasure_digest(items) != record[1]:
            out.add(
                "altered",
                first,
                f"erasure {erasure}",
                f"the events marked erased ({len(items):,}) are not those its record at seq {record[0]} lists "
                f"({record[2] if record[2] is not None else '?'})",
                "row",
            )
    if marks:
        out.notes.append(
            f"{sum(len(v) for v in marks.values()):,} erased events, vouched for by {len(marks):,} erasure records"
        )


def _check_quarantine(
    con: duckdb.DuckDBPyConnection,
    by_id: dict[int, tuple[int, int, int, int, str, str, str]],
    forms: dict[int, tuple[int, int, str | None]],
    out: _Findings,
) -> None:
    """Quarantined records of batches of form 2 and later: each record's hash, and per batch their
    count and digest. A record is placed in the chain at its batch's first sequence number."""
    if not forms:
        return
    rows = run(con, f"SELECT id, batch_id, hash, {QUARANTINE_TEXT_SQL} FROM quarantine ORDER BY id")  # noqa: S608
    chained = [r for r in rows if r[1] is not None]
    first_chained = min((int(r[0]) for r in chained), default=None)
    has_v1 = any(f[0] == 1 for f in forms.values())
    loose = 0
    by_batch: dict[int, list[str]] = collections.defaultdict(list)
    altered: set[int] = set()
    for qid, bid, stored, text in rows:
        if bid is None:
            if (first_chained is not None and qid > first_chained) or (not has_v1 and by_id):
                out.add(
                    "inserted",
                    None,
                    "quarantine",
                    f"quarantined record {qid} belongs to no batch, yet it was stored after quarantined "
                    "records were chained",
                    "quarantine",
                )
            else:
                loose += 1
            continue
        bid = int(bid)
        batch = by_id.get(bid)
        form = forms.get(bid)
        if batch is None or form is None or form[0] < 2:
            why = "does not exist" if batch is None else "chains no quarantined records (canonical form 1)"
            out.add(
                "inserted",
                batch[1] if batch else None,
                "quarantine",
                f"quarantined record {qid} names batch {bid}, which {why}",
                "quarantine",
                bid,
            )
            continue
        by_batch[bid].append(str(stored))
        if hashlib.sha256(str(text).encode()).hexdigest() != stored:
            altered.add(bid)
            out.add(
                "altered",
                batch[1],
                f"quarantine (batch {bid})",
                f"quarantined record {qid} does not match its hash",
                "quarantine",
                bid,
            )
    for bid, (version, count, digest) in forms.items():
        if version < 2 or bid not in by_id:
            continue
        hashes = by_batch.get(bid, [])
        first = by_id[bid][1]
        where = f"quarantine (batch {bid})"
        if len(hashes) < count:
            out.add(
                "missing",
                first,
                where,
                f"{count - len(hashes):,} of the batch's {count:,} quarantined records are gone",
                "quarantine",
                bid,
            )
        elif len(hashes) > count:
            out.add(
                "inserted",
                first,
                where,
                f"the batch holds {len(hashes):,} quarantined records; its chain record says {count:,}",
                "quarantine",
                bid,
            )
        elif bid not in altered and hashlib.sha256("".join(hashes).encode()).hexdigest() != (digest or EMPTY_DIGEST):
            out.add(
                "altered",
                first,
                where,
                "the quarantined records' hashes no longer give the batch's quarantine digest: records were "
                "changed and re-hashed, or reordered",
                "quarantine",
                bid,
            )
    if loose:
        out.notes.append(f"{loose:,} quarantined records stored before canonical form 2 are not covered by the chain")


def _check_checkpoints(
    con: duckdb.DuckDBPyConnection,
    where: Locations,
    by_id: dict[int, tuple[int, int, int, int, str, str, str]],
    head: tuple[int, int, str] | None,
    out: _Findings,
    extra_files: Sequence[Path],
    public_keys: Sequence[Path] = (),
) -> int:
    """Check every signed checkpoint (database and files) against the chain as it is now."""
    found: dict[str, tuple[Checkpoint, str]] = {}
    for r in run(
        con,
        "SELECT created_at, reason, chain_id, batch_id, last_seq, head_hash, algorithm, key_id, signature "
        "FROM checkpoints",
    ):
        cp = Checkpoint(r[0].isoformat(timespec="milliseconds") + "Z", *r[1:])
        found.setdefault(cp.payload().decode() + cp.signature, (cp, "database"))
    files = [where.checkpoint_path] if where.checkpoint_path.exists() else []
    files += [Path(f) for f in extra_files]
    in_database = len(found)
    for path in files:
        cps, problems = read_checkpoint_file(path)
        out.notes.extend(problems)
        for cp in cps:
            found.setdefault(cp.payload().decode() + cp.signature, (cp, f"checkpoint file {path}"))
    if len(found) > in_database:
        # Not a break by itself (a file may be shared), but deleted checkpoints are worth a look.
        out.notes.append(f"{len(found) - in_database} checkpoints of the checkpoint files are not in the database")
    if not found:
        if public_keys:
            _unvouched(out, 0, public_keys)
        return 0
    verifiers = signature_checks(where, public_keys)
    if not verifiers:
        out.notes.append(
            f"{len(found)} checkpoints not checked: no checkpoint key (public key {where._public_key_path()}, "
            f"HMAC key {where.key_path})"
        )
        return 0
    checked = 0
    good_upto = 0  # the last sequence number a matching checkpoint vouches for
    mismatched: list[tuple[Checkpoint, str]] = []
    for cp, source in sorted(found.values(), key=lambda item: (item[0].batch_id, item[0].created_at)):
        verifier = verifiers.get(cp.key_id)
        if verifier is None:
            out.notes.append(f"checkpoint of batch {cp.batch_id} ({source}) is signed with another key ({cp.key_id})")
            continue
        checked += 1
        algorithm, check = verifier
        if cp.algorithm != algorithm or not check(cp.payload(), cp.signature):
            out.add(
                "altered",
                cp.last_seq,
                source,
                f"the checkpoint of batch {cp.batch_id} ({cp.created_at}) has a wrong signature: "
                "it was altered or forged",
                "checkpoint",
            )
            continue
        batch = by_id.get(cp.batch_id)
        if batch is None:
            last = head[0] if head else 0
            out.add(
                "missing",
                cp.last_seq,
                source,
                f"the chain ends at batch {last}, but a checkpoint of {cp.created_at} signs batch "
                f"{cp.batch_id}: batches were removed",
                "checkpoint",
            )
        elif batch[6] != cp.head_hash:
            mismatched.append((cp, source))
        else:
            good_upto = max(good_upto, cp.last_seq)
    if public_keys:
        if good_upto == 0 and not mismatched:
            _unvouched(out, len(found), public_keys)
        elif head is not None and good_upto < head[1]:
            out.notes.append(
                f"the given public key vouches for the chain up to seq {good_upto:,}; "
                f"seq {good_upto + 1:,} to {head[1]:,} is checked only against itself"
            )
    for cp, source in mismatched:
        seq = good_upto + 1 if good_upto < cp.last_seq else 1
        out.add(
            "rewritten",
            seq,
            source,
            f"batch {cp.batch_id} differs from the checkpoint signed at {cp.created_at}: the chain up to seq "
            f"{cp.last_seq} was recomputed after seq {good_upto}",
            "checkpoint",
            cp.batch_id,
        )
    return checked


def _unvouched(out: _Findings, found: int, public_keys: Sequence[Path]) -> None:
    """An auditor's key vouches for nothing: the checkpoints it signed are gone or were replaced."""
    names = ", ".join(str(p) for p in public_keys)
    out.add(
        "missing",
        None,
        "checkpoints",
        f"no checkpoint signed with the given public key ({names}) matches the chain ({found} checkpoints "
        "found, none of them by that key): the checkpoints were removed or replaced, so nothing vouches for "
        "the chain; verify against your own copy of the checkpoint file (--checkpoint)",
        "checkpoint",
    )

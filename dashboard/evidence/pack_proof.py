"""The proof a ZIP pack carries, so an auditor can verify it offline (docs/integrity.md, "Packs an
auditor verifies offline"), and `verify_pack`, which runs the script shipped in the pack.

Building a proof has two steps. `collect` runs inside the pack's read transaction (the view's
snapshot, archived months of the period included): every event of the view with the field texts
of its canonical form, and, for every batch the view touches, the hashes of all its events.
`write_proof` runs after the view is closed: the batch records from the oldest touched batch up to
a checkpoint that covers the newest (one is signed for the pack when none does and the signing key
is here), the checkpoint, and the files under `proof/`. The chain is append-only, so reading its
records after the snapshot reads the same records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from dashboard.evidence import verify_pack_script as script
from dashboard.evidence.checkpoints import Checkpoint, write_checkpoint
from dashboard.evidence.keys import public_key_id
from dashboard.evidence.locations import ED25519, Locations
from dashboard.store.archive import archive_files
from dashboard.store.db import Database
from dashboard.store.schema import HASHED_COLUMNS
from dashboard.store.writer import (
    HASHED_COLUMNS_V2,
    PERSONAL_COLUMNS,
    field_salt_sql,
    recorded_commitment_sql,
    versioned_text_sql,
)

#: the script's name in a pack
SCRIPT_NAME = "verify_pack.py"
#: the manifest's signature in a pack, and the proof's folder
SIGNATURE_NAME = script.SIGNATURE_NAME
PROOF_DIR = script.PROOF_DIR
#: what the proof repeats of the manifest (the script checks both agree)
VIEW_KEYS = ("pack_id", "filters", "period", "snapshot_seq")


class ProofError(Exception):
    """The proof cannot be built (the pack is not delivered without it)."""


@dataclass(frozen=True)
class ProofFile:
    """A file of the proof, for the pack's manifest."""

    name: str
    kind: str
    size: int
    sha256: str


#: field texts per canonical form version: SQL of each column's text (NULL stays NULL)
_TIME_TEXT = {
    1: "strftime({c}, '%Y-%m-%dT%H:%M:%S.%gZ')",
    2: "strftime({c}, '%Y-%m-%dT%H:%M:%S.%fZ')",
    3: "strftime({c}, '%Y-%m-%dT%H:%M:%S.%fZ')",
}
COLUMNS: dict[int, tuple[str, ...]] = {1: tuple(HASHED_COLUMNS), 2: HASHED_COLUMNS_V2, 3: HASHED_COLUMNS_V2}
if script.PERSONAL_COLUMNS != PERSONAL_COLUMNS:  # pragma: no cover - one definition, two copies
    raise ImportError("verify_pack_script.PERSONAL_COLUMNS differs from writer.PERSONAL_COLUMNS")
_VERSION_SQL = "(SELECT _cb.version FROM chain_batches _cb WHERE _cb.batch_id = events.batch_id)"

LIMITS = (
    "completeness is proved per batch: every event of a batch the view touches is accounted for (its "
    "hash is listed), and the builder's list of the batch's events in the view is in the data files; "
    "whether an event left out matched the filters is not proved (its content is not in the pack)",
    "batches the view does not touch are not in the proof",
)


def _field_sql(version: int, column: str) -> str:
    if column in ("occurred_at", "received_at"):
        return _TIME_TEXT[version].format(c=column)
    if column in ("geo_lat", "geo_lon"):
        return f"printf('%.9g', CAST({column} AS FLOAT))"
    return f"CAST({column} AS VARCHAR)"


def _field_columns() -> list[sa.ColumnElement[Any]]:
    """The select list: seq, batch_id, hash, version, canonical text, then every field text needed."""
    names: dict[str, str] = {}
    for version, cols in COLUMNS.items():
        for col in cols:
            names.setdefault(
                f"f{version}_{col}" if col in ("occurred_at", "received_at") else col, _field_sql(version, col)
            )
    out: list[sa.ColumnElement[Any]] = [
        sa.literal_column("seq").label("p_seq"),
        sa.literal_column("batch_id").label("p_batch"),
        sa.literal_column("hash").label("p_hash"),
        sa.literal_column(_VERSION_SQL).label("p_version"),
        sa.literal_column(versioned_text_sql(_VERSION_SQL)).label("p_text"),
        sa.literal_column("erased IS NOT NULL").label("p_erased"),
    ]
    out.extend(sa.literal_column(sql).label(f"x_{name}") for name, sql in names.items())
    # form 3: each personal field's salt and, for an erased one, the commitment its erasure recorded
    for col in PERSONAL_COLUMNS:
        out.append(sa.literal_column(field_salt_sql(col)).label(f"k_{col}"))
        out.append(sa.literal_column(recorded_commitment_sql(col)).label(f"r_{col}"))
    return out


def _commitments(row: dict[str, Any], version: int) -> tuple[dict[str, str], dict[str, str]]:
    """Form 3: the salts of the personal fields given as values, and the recorded commitments."""
    if version < 3:
        return {}, {}
    recorded = {c: str(row[f"r_{c}"]) for c in PERSONAL_COLUMNS if row[f"r_{c}"] is not None}
    salts = {
        c: str(row[f"k_{c}"])
        for c in PERSONAL_COLUMNS
        if c not in recorded and row[f"x_{c}"] is not None and row[f"k_{c}"] is not None
    }
    return salts, recorded


def _fields(row: dict[str, Any], version: int) -> list[str | None]:
    out = []
    for col in COLUMNS[version]:
        key = f"x_f{version}_{col}" if col in ("occurred_at", "received_at") else f"x_{col}"
        out.append(row[key])
    return out


@dataclass
class Collected:
    """What the proof takes from the view's snapshot."""

    events_path: Path
    events: int = 0
    batches: dict[int, list[int]] = field(default_factory=dict)  # batch -> seqs in the view
    hashes: dict[int, str] = field(default_factory=dict)  # batch -> all its hashes, back to back
    ranges: dict[int, tuple[int, int]] = field(default_factory=dict)


def collect(view: Any, folder: Path, archive: Locations | None, control: Any) -> Collected:
    """Write `proof/events.ndjson` (every event of the view) and gather the touched batches' hashes."""
    (folder / script.PROOF_DIR).mkdir(exist_ok=True)
    out = Collected(folder / script.EVENTS_FILE)
    with out.events_path.open("w", encoding="utf-8") as fh:
        for batch in view.stream(_field_columns(), control):
            for row in batch.to_pylist():
                version = int(row["p_version"]) if row["p_version"] is not None else 0
                if version not in COLUMNS:
                    raise ProofError(f"event seq {row['p_seq']}: no chain batch {row['p_batch']} accounts for it")
                fields = _fields(row, version)
                salts, recorded = _commitments(row, version)
                text = script.canonical_text(version, fields, COLUMNS[version], salts, recorded)
                if text != str(row["p_text"]).encode("utf-8"):
                    raise ProofError(f"event seq {row['p_seq']}: its canonical text could not be rebuilt for the proof")
                doc: dict[str, Any] = {
                    "seq": row["p_seq"],
                    "batch": row["p_batch"],
                    "v": version,
                    "hash": row["p_hash"],
                    "f": fields,
                }
                if salts:
                    doc["k"] = salts
                if row["p_erased"] and version < 3:  # erased in form 1 or 2: its hash stands for it
                    doc["kept"] = True
                if recorded:
                    doc["c"] = recorded
                fh.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
                out.batches.setdefault(int(row["p_batch"]), []).append(int(row["p_seq"]))
                out.events += 1
            control.check()
    if not out.batches:
        return out
    con = view.con
    con.complete()
    ids = sorted(out.batches)
    records = con.execute(
        "SELECT batch_id, first_seq, last_seq FROM chain_batches WHERE batch_id IN (SELECT unnest($1::BIGINT[]))",
        [ids],
    ).fetchall()
    out.ranges = {int(b): (int(f), int(last)) for b, f, last in records}
    touched = pa.table(
        {
            "batch_id": pa.array(list(out.ranges), pa.int64()),
            "first_seq": pa.array([r[0] for r in out.ranges.values()], pa.int64()),
            "last_seq": pa.array([r[1] for r in out.ranges.values()], pa.int64()),
        }
    )
    con.register("_proof_touched", touched)
    try:
        found = _hashes(con, "SELECT seq, hash FROM events")
        missing = _missing(out.ranges, found)
        if missing and archive is not None:  # events of a touched batch archived outside the period
            files = archive_files(archive)
            if files:
                listed = "[" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "]"
                sql = f"SELECT seq, hash FROM read_parquet({listed})"  # noqa: S608 - our own literals
                found.update({s: h for s, h in _hashes(con, sql).items() if s not in found})
    finally:
        con.unregister("_proof_touched")
    for bid, (first, last) in out.ranges.items():
        hashes = [found.get(s) for s in range(first, last + 1)]
        absent = [first + i for i, h in enumerate(hashes) if h is None]
        if absent:
            raise ProofError(
                f"batch {bid}: the hashes of {len(absent):,} of its events (first seq {absent[0]}) could not be read "
                "for the pack's proof"
            )
        out.hashes[bid] = "".join(str(h) for h in hashes)
    return out


def _hashes(con: Any, source: str) -> dict[int, str]:
    rows = con.execute(
        f"SELECT e.seq, e.hash FROM ({source}) e JOIN _proof_touched t "  # noqa: S608 - our own SQL
        "ON e.seq BETWEEN t.first_seq AND t.last_seq"
    ).fetchall()
    return {int(s): str(h) for s, h in rows}


def _missing(ranges: dict[int, tuple[int, int]], found: dict[int, str]) -> bool:
    return any(s not in found for first, last in ranges.values() for s in range(first, last + 1))


def _record(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "batch_id",
        "first_seq",
        "last_seq",
        "event_count",
        "events_digest",
        "version",
        "quarantine_count",
        "quarantine_digest",
        "skipped_first",
        "skipped_last",
        "prev_hash",
        "hash",
    )
    return {k: row[k] for k in keys}


def _current_key_id(where: Locations) -> tuple[str | None, bool]:
    """The id of the Ed25519 key this database signs with, and whether the private key is here."""
    if where.signing != ED25519:
        return None, False
    private = where.load_signing_key(create=False)
    if private is not None:
        return public_key_id(private.public_key()), True
    try:
        keys = where.load_public_keys()
    except Exception:  # no public key either: nothing to prefer
        return None, False
    return (public_key_id(keys[0]) if keys else None), False


def _covering_checkpoint(db: Database, where: Locations, newest: int) -> Checkpoint | None:
    """The first Ed25519 checkpoint of this key that covers batch `newest`; one is signed when none does."""
    key_id, can_sign = _current_key_id(where)
    with db.reading(("checkpoints",)) as con:  # the file's connection, or a copy read from PostgreSQL
        rows = con.execute(
            "SELECT created_at, reason, chain_id, batch_id, last_seq, head_hash, algorithm, key_id, signature "
            "FROM checkpoints WHERE algorithm = 'ed25519' AND batch_id >= $1 ORDER BY batch_id, id",
            [newest],
        ).fetchall()
    found = [
        Checkpoint(
            r[0].isoformat(timespec="milliseconds") + "Z", r[1], r[2], int(r[3]), int(r[4]), r[5], r[6], r[7], r[8]
        )
        for r in rows
    ]
    mine = [cp for cp in found if cp.key_id == key_id]
    if mine:
        return mine[0]
    if can_sign:
        return write_checkpoint(db, where, "pack")
    return found[0] if found else None


def write_proof(
    db: Database, where: Locations, folder: Path, collected: Collected, view_doc: dict[str, Any]
) -> tuple[list[ProofFile], dict[str, Any]]:
    """Write the rest of `proof/` and the script; return their manifest entries and the manifest's `proof`."""
    proof_dir = folder / script.PROOF_DIR
    cp: Checkpoint | None = None
    chain: list[dict[str, Any]] = []
    if collected.batches:
        oldest, newest = min(collected.batches), max(collected.batches)
        cp = _covering_checkpoint(db, where, newest)
        top = cp.batch_id if cp is not None else newest
        with db.reading(("chain_batches",)) as con:
            cur = con.execute(
                "SELECT * FROM chain_batches WHERE batch_id BETWEEN $1 AND $2 ORDER BY batch_id", [oldest, top]
            )
            names = [d[0] for d in cur.description]
            chain = [_record(dict(zip(names, r, strict=True))) for r in cur.fetchall()]
    with (proof_dir / "batches.ndjson").open("w", encoding="utf-8") as fh:
        for bid in sorted(collected.batches):
            doc = {"batch_id": bid, "view_seqs": collected.batches[bid], "hashes": collected.hashes[bid]}
            fh.write(json.dumps(doc, separators=(",", ":")) + "\n")
    with (proof_dir / "chain.ndjson").open("w", encoding="utf-8") as fh:
        for rec in chain:
            fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
    if cp is not None:
        (proof_dir / "checkpoint.json").write_text(json.dumps(asdict(cp), sort_keys=True, indent=2) + "\n")
    key_id, _ = _current_key_id(where)
    summary = {
        "format": script.PROOF_FORMAT,
        "events": collected.events,
        "batches": len(collected.batches),
        "linked_batches": len(chain),
        "checkpoint": {"batch_id": cp.batch_id, "key_id": cp.key_id, "created_at": cp.created_at} if cp else None,
        "public_key_id": key_id,
        "verify": f"python {SCRIPT_NAME} PACK.zip --public-key auditdash.checkpoint.pub",
    }
    proof = {
        **summary,
        "columns": {str(v): list(cols) for v, cols in COLUMNS.items()},
        "view": view_doc,
        "limits": list(LIMITS),
    }
    (folder / script.PROOF_FILE).write_text(
        json.dumps(proof, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    (folder / SCRIPT_NAME).write_bytes(script_source())
    names = [script.PROOF_FILE, script.EVENTS_FILE, script.BATCHES_FILE, script.CHAIN_FILE]
    if cp is not None:
        names.append(script.CHECKPOINT_FILE)
    files = [_describe(folder, n, "proof_lines" if n.endswith(".ndjson") else "proof") for n in names]
    files.append(_describe(folder, SCRIPT_NAME, "script"))
    return files, summary


def _describe(folder: Path, name: str, kind: str) -> ProofFile:
    data = (folder / name).read_bytes()
    return ProofFile(name, kind, len(data), hashlib.sha256(data).hexdigest())


def script_source() -> bytes:
    """The verification script, as shipped in the package (one implementation for both)."""
    return resources.files("dashboard.evidence").joinpath("verify_pack_script.py").read_bytes()


def sign_manifest(where: Locations, manifest_bytes: bytes) -> dict[str, str] | None:
    """The manifest's Ed25519 signature with the checkpoint key, or None when the key is not here."""
    if where.signing != ED25519:
        return None
    private = where.load_signing_key(create=False)
    if private is None:
        return None
    signature = private.sign(script.MANIFEST_SIGNATURE_PREFIX + manifest_bytes).hex()
    return {"algorithm": ED25519, "key_id": public_key_id(private.public_key()), "signature": signature}


def verify_pack(path: Path, public_keys: Sequence[Path]) -> script.Report:
    """Verify a pack offline (the shipped script's code). Raises `script.Unreadable` or ValueError."""
    return script.verify_zip(path, list(public_keys))

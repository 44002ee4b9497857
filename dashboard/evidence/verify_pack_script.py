#!/usr/bin/env python3
"""Verify an auditdash compliance pack (ZIP) offline, without the database.

    python verify_pack.py PACK.zip --public-key auditdash.checkpoint.pub

This file is self-contained: the Python standard library and the `cryptography` package only
(for Ed25519). auditdash ships it in every ZIP pack as `verify_pack.py`, and its own command
`auditdash verify-pack` runs this same code. What it checks (docs/integrity.md, "Packs an
auditor verifies offline"):

* the manifest: its Ed25519 signature (made with the checkpoint key), every file's size and
  SHA-256, and that its counts, filters and period are the proof's;
* every event of the view (`proof/events.ndjson`): its canonical text rebuilt from its stored
  fields hashes to its hash, and that hash is the one its batch lists at its position;
* every batch the view touches: the hashes of all its events (`proof/batches.ndjson`) give the
  batch's `events_digest`, and its record gives its `hash`;
* the chain links from the oldest of those batches to a checkpoint, and the checkpoint's
  signature with the given public key;
* the data files (CSV, JSON): exactly the view's events, in the log's order, each with the
  content the chain vouches for.

Every finding names what and where; the exit code is 0 when the pack verifies, 1 when it does
not, 2 when it cannot be read.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

PROOF_FORMAT = "auditdash-pack-proof/1"
PROOF_DIR = "proof/"
PROOF_FILE = "proof/proof.json"
EVENTS_FILE = "proof/events.ndjson"
BATCHES_FILE = "proof/batches.ndjson"
CHAIN_FILE = "proof/chain.ndjson"
CHECKPOINT_FILE = "proof/checkpoint.json"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig.json"
#: what a manifest signature signs: this prefix, then the manifest's bytes (never a checkpoint's JSON)
MANIFEST_SIGNATURE_PREFIX = b"auditdash-pack-manifest/1\n"
GENESIS_HASH = "0" * 64
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
EVENT_PREFIX_V2 = "auditdash-event/2"
EVENT_PREFIX_V3 = "auditdash-event/3"
SEP = "\x1f"
#: form 3: the fields that enter the canonical text as salted commitments (docs/integrity.md)
PERSONAL_COLUMNS = (
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

#: how many findings of one kind are listed before the rest are counted
MAX_LISTED = 20


# -- the chain, as docs/integrity.md defines it ---------------------------------------------------
def commitment(field_salt: str, text: str) -> str:
    """Form 3: a personal field's commitment, SHA-256 of its salt, U+001F and its text."""
    return hashlib.sha256(f"{field_salt}{SEP}{text}".encode()).hexdigest()


def canonical_text(
    version: int,
    fields: list[str | None],
    columns: Iterable[str] = (),
    salts: dict[str, str] | None = None,
    recorded: dict[str, str] | None = None,
) -> bytes:
    """An event's canonical text from its field texts (as the proof stores them), in `version`.

    Form 3 needs the fields' `columns`, the `salts` of the personal fields given as values and the
    commitments an erasure `recorded` for the fields it replaced."""
    if version == 1:
        return SEP.join("\x00" if v is None else v for v in fields).encode("utf-8")
    if version == 2:
        return SEP.join(
            [EVENT_PREFIX_V2, *("-" if v is None else f"{len(v.encode('utf-8'))}:{v}" for v in fields)]
        ).encode("utf-8")
    parts = [EVENT_PREFIX_V3]
    salts, recorded = salts or {}, recorded or {}
    for col, v in zip(columns, fields, strict=True):
        if col not in PERSONAL_COLUMNS:
            parts.append("-" if v is None else f"{len(v.encode('utf-8'))}:{v}")
        elif col in recorded:
            parts.append("c:" + recorded[col])
        elif v is None:
            parts.append("-")
        elif col in salts:
            parts.append("c:" + commitment(salts[col], v))
        else:
            parts.append("!")  # no salt: matches no hash
    return SEP.join(parts).encode("utf-8")


def batch_hash(record: dict[str, Any]) -> str:
    """A batch record's chain link, in its version (docs/integrity.md, "Batches and their chain")."""
    version = int(record["version"])
    head = (
        f"{record['prev_hash']}|{record['batch_id']}|{record['first_seq']}|{record['last_seq']}"
        f"|{record['event_count']}|{record['events_digest']}"
    )
    if version == 1:
        text = head
    else:
        digest = record.get("quarantine_digest") or EMPTY_DIGEST
        text = f"auditdash-batch/{version}|{head}|{record.get('quarantine_count') or 0}|{digest}"
        if record.get("skipped_first") is not None:
            text += f"|skipped|{record['skipped_first']}|{record['skipped_last']}"
    return hashlib.sha256(text.encode()).hexdigest()


def checkpoint_payload(cp: dict[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers: canonical JSON of every field but the signature."""
    fields = {k: v for k, v in cp.items() if k != "signature"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def public_key_id(raw: bytes) -> str:
    """The short name of an Ed25519 public key (its 32 raw bytes), as checkpoints give it."""
    return hashlib.sha256(b"auditdash checkpoint public key\x00" + raw).hexdigest()[:16]


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key read from a PEM file."""

    path: str
    raw: bytes
    key: Any

    @property
    def key_id(self) -> str:
        return public_key_id(self.raw)

    def verifies(self, data: bytes, signature_hex: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self.key.verify(bytes.fromhex(signature_hex), data)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


def load_public_key(path: Path) -> PublicKey:
    """Read an Ed25519 public key (PEM); ValueError naming the file when it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ValueError(f"cannot read the public key {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{path} is not a PEM public key: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PublicKey(str(path), raw, key)


# -- findings -------------------------------------------------------------------------------------
@dataclass
class Report:
    """What a verification found: failures (the pack does not verify) and notes."""

    pack: str
    failures: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, kind: str, message: str) -> None:
        self.failures.append((kind, message))

    def kinds(self) -> set[str]:
        return {k for k, _ in self.failures}

    def lines(self) -> list[str]:
        out = []
        if self.ok:
            counts = ", ".join(f"{v:,} {k}" for k, v in self.checked.items())
            out.append(f"OK: {self.pack} verifies ({counts})")
        else:
            out.append(f"FAILED: {self.pack} does not verify: {len(self.failures)} problem(s)")
            shown: dict[str, int] = {}
            hidden: dict[str, int] = {}
            for kind, message in self.failures:
                shown[kind] = shown.get(kind, 0) + 1
                if shown[kind] <= MAX_LISTED:
                    out.append(f"  {kind}: {message}")
                else:
                    hidden[kind] = hidden.get(kind, 0) + 1
            for kind, n in hidden.items():
                out.append(f"  {kind}: {n:,} more")
        out.extend(f"  note: {n}" for n in self.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "ok": self.ok,
            "failures": [{"kind": k, "message": m} for k, m in self.failures],
            "notes": self.notes,
            "checked": self.checked,
        }


class Unreadable(Exception):
    """The pack cannot be read at all (not a ZIP, no proof)."""


# -- reading the pack -----------------------------------------------------------------------------
def _ndjson(data: bytes, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # lines end at "\n" only: splitlines() would also cut at U+2028, U+0085 ... inside a JSON string
    for number, line in enumerate(data.decode("utf-8").split("\n"), 1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except ValueError as exc:
            raise ValueError(f"{name} line {number}: not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise ValueError(f"{name} line {number}: not a JSON object")
        yield number, doc


def _json_equal(shown: str | None, stored: str | None) -> bool:
    """Whether a JSON text in a data file says what the stored text says (or is its placeholder)."""
    if stored is None:
        return shown in (None, "")
    if shown == stored:
        return True
    try:
        value = json.loads(shown) if isinstance(shown, str) else shown
    except ValueError:
        return False
    if isinstance(value, dict) and "_unreadable" in value:
        return value.get("raw_sha256") == hashlib.sha256(stored.encode("utf-8")).hexdigest()
    try:
        return bool(value == json.loads(stored))
    except ValueError:
        return False


def _same_instant(shown: str, stored: str | None) -> bool:
    """A time in a data file (milliseconds, any offset) against the stored UTC text."""
    if stored is None:
        return shown == ""
    try:
        want = datetime.fromisoformat(stored[:23] + "+00:00")
        got = datetime.fromisoformat(shown.replace("Z", "+00:00"))
    except ValueError:
        return False
    return got == want


@dataclass
class ViewEvent:
    seq: int
    batch_id: int
    version: int
    hash: str
    fields: dict[str, str | None]


#: CSV columns compared as plain text with the stored field of the same name
_CSV_TEXT = (
    "event_id",
    "account_id",
    "category",
    "action",
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
    "user_agent",
    "session_id",
    "request_id",
    "source",
    "seq",
    "batch_id",
)
#: NDJSON (event contract) members and the stored field each names
_CONTRACT = {
    ("id",): "event_id",
    ("account_id",): "account_id",
    ("action",): "action",
    ("outcome",): "outcome",
    ("reason",): "reason",
    ("actor", "id"): "actor_id",
    ("actor", "name"): "actor_name",
    ("actor", "email"): "actor_email",
    ("actor", "role"): "actor_role",
    ("actor", "type"): "actor_type",
    ("target", "type"): "target_type",
    ("target", "id"): "target_id",
    ("target", "name"): "target_name",
    ("ip",): "ip",
    ("user_agent",): "user_agent",
    ("session_id",): "session_id",
    ("request_id",): "request_id",
}


def _csv_cell_matches(shown: str, stored: str | None) -> bool:
    if stored is None:
        return shown == ""
    # a cell a spreadsheet would run as a formula is written with a leading quote (docs/packs.md)
    return shown in (stored, "'" + stored)


def _csv_differences(row: dict[str, str], ev: ViewEvent) -> list[str]:
    f = ev.fields
    out = []
    for name in _CSV_TEXT:
        if name in row and not _csv_cell_matches(row[name], f.get(name)):
            out.append(f"{name} is {row[name]!r}, the chain says {f.get(name)!r}")
    if "hash" in row and row["hash"] != ev.hash:
        out.append(f"hash is {row['hash']!r}, the chain says {ev.hash!r}")
    for name, stored in (
        ("occurred_at", "occurred_at"),
        ("occurred_at_utc", "occurred_at"),
        ("received_at_utc", "received_at"),
    ):
        if name in row and not _same_instant(row[name], f.get(stored)):
            out.append(f"{name} is {row[name]!r}, the chain says {f.get(stored)!r}")
    for name in ("changes", "metadata"):
        if name in row and not _json_equal(row[name] or None, f.get(name)):
            out.append(f"{name} is {row[name]!r}, the chain says {f.get(name)!r}")
    return out


def _contract_differences(doc: dict[str, Any], ev: ViewEvent) -> list[str]:
    f = ev.fields
    out = []
    for path, name in _CONTRACT.items():
        value: Any = doc
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value != f.get(name):
            out.append(f"{'.'.join(path)} is {value!r}, the chain says {f.get(name)!r}")
    occurred = doc.get("occurred_at")
    if not isinstance(occurred, str) or not _same_instant(occurred, f.get("occurred_at")):
        out.append(f"occurred_at is {occurred!r}, the chain says {f.get('occurred_at')!r}")
    for name in ("changes", "metadata"):
        value = doc.get(name)
        if not _json_equal(None if value is None else json.dumps(value), f.get(name)):
            out.append(f"{name} is {value!r}, the chain says {f.get(name)!r}")
    return out


def _check_order(report: Report, name: str, seqs: list[int], where: list[str]) -> None:
    """Events out of the log's order in a data file: named as reordered."""
    for i in range(1, len(seqs)):
        if seqs[i] < seqs[i - 1]:
            report.fail(
                "event reordered",
                f"{name} {where[i]}: seq {seqs[i]} comes after seq {seqs[i - 1]} (the view is in the log's order)",
            )


def _check_membership(report: Report, name: str, found: Iterable[int], view: dict[int, ViewEvent]) -> None:
    seen = set(found)
    for seq in sorted(set(view) - seen):
        ev = view[seq]
        report.fail(
            "event removed",
            f"{name}: seq {seq} (event id {ev.fields.get('event_id')!r}, batch {ev.batch_id}) is in the view "
            "but not in the file",
        )


def check_csv(report: Report, name: str, data: bytes, view: dict[int, ViewEvent]) -> None:
    """The CSV file holds exactly the view's events, in order, with their stored content."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    seqs: list[int] = []
    where: list[str] = []
    seen: set[int] = set()
    for row in reader:
        line = f"line {reader.line_num}"
        try:
            seq = int(row.get("seq") or "")
        except ValueError:
            report.fail("event added", f"{name} {line}: a row without a sequence number ({row.get('event_id')!r})")
            continue
        ev = view.get(seq)
        if ev is None or seq in seen:
            why = "it appears twice" if seq in seen else "it is not an event of the view"
            report.fail("event added", f"{name} {line}: seq {seq} (event id {row.get('event_id')!r}): {why}")
            continue
        seen.add(seq)
        seqs.append(seq)
        where.append(line)
        for diff in _csv_differences(row, ev):
            report.fail("event altered", f"{name} {line}: seq {seq}: {diff}")
    _check_order(report, name, seqs, where)
    _check_membership(report, name, seqs, view)
    report.checked[f"{name} rows"] = len(seqs)


def check_ndjson(report: Report, name: str, data: bytes, view: dict[int, ViewEvent]) -> None:
    """The JSON file (header line, then events) holds exactly the view's events, in order, unchanged."""
    by_key = {(ev.fields.get("account_id"), ev.fields.get("event_id")): ev for ev in view.values()}
    seqs: list[int] = []
    where: list[str] = []
    seen: set[int] = set()
    for number, doc in _ndjson(data, name):
        if number == 1 and "auditdash_pack" in doc:
            continue
        line = f"line {number}"
        ev = by_key.get((doc.get("account_id"), doc.get("id")))
        if ev is None or ev.seq in seen:
            why = "it appears twice" if ev is not None else "it is not an event of the view"
            report.fail("event added", f"{name} {line}: event id {doc.get('id')!r} ({doc.get('account_id')!r}): {why}")
            continue
        seen.add(ev.seq)
        seqs.append(ev.seq)
        where.append(line)
        for diff in _contract_differences(doc, ev):
            report.fail("event altered", f"{name} {line}: seq {ev.seq}: {diff}")
    _check_order(report, name, seqs, where)
    _check_membership(report, name, seqs, view)
    report.checked[f"{name} events"] = len(seqs)


def _check_manifest(report: Report, zf: zipfile.ZipFile, keys: list[PublicKey]) -> dict[str, Any] | None:
    names = set(zf.namelist())
    if MANIFEST_NAME not in names:
        report.fail("manifest edited", f"{MANIFEST_NAME} is missing from the pack")
        return None
    raw = zf.read(MANIFEST_NAME)
    try:
        manifest = json.loads(raw)
    except ValueError as exc:
        report.fail("manifest edited", f"{MANIFEST_NAME} is not JSON: {exc}")
        return None
    if SIGNATURE_NAME in names:
        try:
            sig = json.loads(zf.read(SIGNATURE_NAME))
        except ValueError:
            sig = {}
        key = next((k for k in keys if k.key_id == sig.get("key_id")), None)
        if key is None:
            given = ", ".join(k.key_id for k in keys)
            report.fail(
                "manifest signed by another key",
                f"{SIGNATURE_NAME}: key id {sig.get('key_id')!r}, not the given public key ({given})",
            )
        elif not key.verifies(MANIFEST_SIGNATURE_PREFIX + raw, str(sig.get("signature", ""))):
            report.fail(
                "manifest edited",
                f"{MANIFEST_NAME}: its signature ({SIGNATURE_NAME}) does not verify with {key.path}: "
                "the manifest was changed after the pack was built",
            )
    else:
        report.fail(
            "manifest not signed",
            f"the pack has no {SIGNATURE_NAME}: the manifest is only checked against the files and the proof",
        )
    listed = set()
    for entry in manifest.get("files", []):
        name = str(entry.get("name"))
        listed.add(name)
        if name not in names:
            report.fail("file removed", f"{name}: named by the manifest, missing from the pack")
            continue
        data = zf.read(name)
        if len(data) != entry.get("size") or hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            report.fail(
                "file changed",
                f"{name}: {len(data):,} bytes, SHA-256 {hashlib.sha256(data).hexdigest()[:16]}..., "
                f"the manifest says {entry.get('size')} bytes, {str(entry.get('sha256'))[:16]}...",
            )
    for name in sorted(names - listed - {MANIFEST_NAME, SIGNATURE_NAME}):
        if not name.endswith("/"):
            report.fail("file added", f"{name}: in the pack but not named by the manifest")
    return dict(manifest)


def _check_chain(
    report: Report, chain: list[dict[str, Any]], keys: list[PublicKey], cp: dict[str, Any] | None
) -> dict[int, dict[str, Any]]:
    """Each batch record's hash, the links between them, and the checkpoint at the end."""
    records: dict[int, dict[str, Any]] = {}
    previous: dict[str, Any] | None = None
    for rec in chain:
        bid = int(rec["batch_id"])
        records[bid] = rec
        if batch_hash(rec) != rec.get("hash"):
            report.fail("batch record altered", f"batch {bid}: its record does not give its hash {rec.get('hash')}")
        if previous is not None:
            if bid != int(previous["batch_id"]) + 1:
                report.fail(
                    "broken link", f"batch {bid} follows batch {previous['batch_id']}: batches are missing between them"
                )
            elif rec.get("prev_hash") != previous.get("hash"):
                report.fail(
                    "broken link",
                    f"batch {bid}: prev_hash {rec.get('prev_hash')} is not batch {previous['batch_id']}'s hash "
                    f"{previous.get('hash')}",
                )
        elif bid == 1 and rec.get("prev_hash") != GENESIS_HASH:
            report.fail("broken link", "batch 1: prev_hash is not the genesis hash")
        previous = rec
    if cp is None:
        report.fail("no checkpoint", "the pack holds no signed checkpoint: nothing vouches for its chain")
        return records
    key = next((k for k in keys if k.key_id == cp.get("key_id")), None)
    if cp.get("algorithm") != "ed25519" or key is None:
        given = ", ".join(f"{k.key_id} ({k.path})" for k in keys)
        report.fail(
            "checkpoint signed by another key",
            f"{CHECKPOINT_FILE}: signed with key id {cp.get('key_id')!r} ({cp.get('algorithm')}), "
            f"not the given public key {given}",
        )
    elif not key.verifies(checkpoint_payload(cp), str(cp.get("signature", ""))):
        report.fail("checkpoint altered", f"{CHECKPOINT_FILE}: its signature does not verify with {key.path}")
    if previous is None:
        report.fail("broken link", "the proof holds no batch records")
        return records
    if int(cp.get("batch_id", -1)) != int(previous["batch_id"]) or cp.get("head_hash") != previous.get("hash"):
        report.fail(
            "broken link",
            f"the chain in the proof ends at batch {previous['batch_id']} ({previous.get('hash')}), "
            f"the checkpoint signs batch {cp.get('batch_id')} ({cp.get('head_hash')})",
        )
    report.checked["linked batches"] = len(chain)
    return records


def verify_zip(path: Path, key_paths: list[Path]) -> Report:
    """Verify a pack; raise `Unreadable` when it cannot be read as a pack, ValueError for a bad key."""
    keys = [load_public_key(p) for p in key_paths]
    report = Report(str(path))
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise Unreadable(f"{path}: not a readable ZIP file ({exc})") from exc
    with zf:
        names = set(zf.namelist())
        manifest = _check_manifest(report, zf, keys)
        for name in (PROOF_FILE, EVENTS_FILE, BATCHES_FILE, CHAIN_FILE):
            if name not in names:
                if name == PROOF_FILE:
                    raise Unreadable(
                        f"{path}: the pack has no proof ({PROOF_FILE}); packs built with masked data carry none"
                    )
                report.fail("proof incomplete", f"{name} is missing from the pack")
                return report
        try:
            proof = json.loads(zf.read(PROOF_FILE))
            if proof.get("format") != PROOF_FORMAT:
                raise Unreadable(f"{PROOF_FILE}: format {proof.get('format')!r}, this script reads {PROOF_FORMAT}")
            columns = {int(k): list(v) for k, v in proof["columns"].items()}
            events = [doc for _, doc in _ndjson(zf.read(EVENTS_FILE), EVENTS_FILE)]
            batches = [doc for _, doc in _ndjson(zf.read(BATCHES_FILE), BATCHES_FILE)]
            chain = [doc for _, doc in _ndjson(zf.read(CHAIN_FILE), CHAIN_FILE)]
            cp = json.loads(zf.read(CHECKPOINT_FILE)) if CHECKPOINT_FILE in names else None
        except (KeyError, ValueError, TypeError) as exc:
            report.fail("proof unreadable", str(exc))
            return report
        try:
            if events or batches or chain:
                records = _check_chain(report, chain, keys, cp)
            else:  # nothing matched: the data files must hold no event, and no chain is needed
                records = {}
                report.notes.append("the view holds no events: there is no chain to link")
            # every event of the view: its fields give its hash
            view: dict[int, ViewEvent] = {}
            kept = 0
            for doc in events:
                seq, version = int(doc["seq"]), int(doc["v"])
                cols = columns.get(version)
                if cols is None or len(doc["f"]) != len(cols):
                    report.fail(
                        "event altered", f"{EVENTS_FILE}: seq {seq}: fields do not fit canonical form {version}"
                    )
                    continue
                text = canonical_text(version, doc["f"], cols, doc.get("k"), doc.get("c"))
                if doc.get("kept") is True and version < 3:
                    kept += 1  # erased in form 1 or 2: the hash stands for its content (docs/integrity.md)
                elif hashlib.sha256(text).hexdigest() != doc["hash"]:
                    report.fail(
                        "event altered", f"{EVENTS_FILE}: seq {seq}: its fields do not give its hash {doc['hash']}"
                    )
                if seq in view:
                    report.fail("event added", f"{EVENTS_FILE}: seq {seq} is listed twice")
                view[seq] = ViewEvent(
                    seq, int(doc["batch"]), version, str(doc["hash"]), dict(zip(cols, doc["f"], strict=True))
                )
            if kept:
                report.notes.append(
                    f"{kept:,} erased events of canonical forms 1-2: their hash stands for their content, vouched "
                    "for by its place in its batch and the signed manifest, not by their fields"
                )
            # every batch touched: all hashes give the digest, the view's events sit at their place
            in_batches: set[int] = set()
            whole = 0  # batches whose every event is in the view: complete in the pack, whatever the filters
            for b in batches:
                bid = int(b["batch_id"])
                rec = records.get(bid)
                if rec is None:
                    report.fail("broken link", f"batch {bid}: its record is not in the chain of the proof")
                    continue
                hashes = str(b["hashes"])
                first, count = int(rec["first_seq"]), int(rec["event_count"])
                if len(hashes) != 64 * count or hashlib.sha256(hashes.encode()).hexdigest() != rec["events_digest"]:
                    report.fail(
                        "batch digest mismatch",
                        f"batch {bid}: the hashes of its {count:,} events do not give its events_digest "
                        f"{rec['events_digest']}",
                    )
                whole += len(set(b["view_seqs"])) == count
                for seq in b["view_seqs"]:
                    in_batches.add(int(seq))
                    ev = view.get(int(seq))
                    if ev is None:
                        report.fail(
                            "event removed",
                            f"{EVENTS_FILE}: seq {seq} of batch {bid} is in the view but not in the proof",
                        )
                        continue
                    if ev.batch_id != bid or int(rec["version"]) != ev.version:
                        report.fail(
                            "event altered",
                            f"{EVENTS_FILE}: seq {seq}: batch {ev.batch_id} form {ev.version}, "
                            f"its batch is {bid} form {rec['version']}",
                        )
                    if (
                        not first <= seq < first + count
                        or hashes[64 * (seq - first) : 64 * (seq - first + 1)] != ev.hash
                    ):
                        report.fail(
                            "event altered",
                            f"seq {seq}: its hash {ev.hash} is not the one batch {bid} lists at its place",
                        )
            for seq in sorted(set(view) - in_batches):
                report.fail("event added", f"{EVENTS_FILE}: seq {seq} is in no batch's list of the view")
            # the manifest says what the proof says
            if manifest is not None:
                for key in ("filters", "period", "snapshot_seq", "pack_id"):
                    if manifest.get(key) != proof.get("view", {}).get(key):
                        report.fail("manifest edited", f"{MANIFEST_NAME}: {key} differs from the proof's")
                counted = (manifest.get("counts") or {}).get("events")
                if counted != len(view):
                    report.fail(
                        "manifest edited",
                        f"{MANIFEST_NAME}: counts.events is {counted}, the proof holds {len(view):,} events",
                    )
            # the data files
            for entry in (manifest or {}).get("files", []):
                name, kind = str(entry.get("name")), entry.get("kind")
                if name not in names or kind not in ("csv", "json"):
                    continue
                try:
                    if kind == "csv":
                        check_csv(report, name, zf.read(name), view)
                    else:
                        check_ndjson(report, name, zf.read(name), view)
                except (ValueError, UnicodeDecodeError, csv.Error) as exc:
                    report.fail("file unreadable", f"{name}: {exc}")
            report.checked = {
                "events": len(view),
                "batches": len(batches),
                "batches wholly in the view": whole,
                **report.checked,
            }
            report.notes.extend(str(n) for n in proof.get("limits", []))
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            report.fail(
                "proof unreadable", f"the proof is not in the form this script reads: {type(exc).__name__}: {exc}"
            )
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verify_pack.py", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("pack", type=Path, help="the pack's ZIP file")
    parser.add_argument(
        "--public-key",
        type=Path,
        action="append",
        required=True,
        metavar="FILE",
        help="the Ed25519 public key (PEM) you trust; the pack's own files are never trusted for it",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        report = verify_zip(args.pack, args.public_key)
    except (Unreadable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())

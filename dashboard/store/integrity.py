"""Integrity: verify the hash chain (hot store and archive), sign and check checkpoints.

The chain (docs/integrity.md): every event's `hash` is SHA-256 over the canonical text of its
columns (`writer.EVENT_HASH_SQL`); every batch in `chain_batches` carries the SHA-256 of its
events' hashes in sequence order (`events_digest`) and links to the previous batch's hash. A
purge moves events to monthly Parquet files but keeps the batch rows, so the chain is checked
over the union of the hot store and the archive.

`verify` recomputes all of it and names the first broken place:

* **altered**: an event's content no longer matches its hash, or a batch record, an archive
  file or a manifest changed;
* **missing**: a sequence number, a batch or an archive month is gone;
* **inserted**: an event that no batch accounts for (out of its batch's range, unknown batch,
  or a sequence number stored twice);
* **reordered**: events changed places: each hash matches its content at another position,
  and the batch digest matches again in the original order;
* **rewritten**: the chain is consistent but differs from a signed checkpoint, so someone
  recomputed it (only a checkpoint kept outside the database can show this).

Checkpoints sign the chain head with HMAC-SHA256 and a key kept outside the database; they
are written to the `checkpoints` table and appended to a checkpoint file that can be copied
elsewhere.

Speed: DuckDB builds each event's canonical text in parallel, and Python's OpenSSL SHA-256
(SHA-NI where the CPU has it) hashes it: DuckDB's own `sha256` is several times slower.
"""

from __future__ import annotations

import argparse
import binascii
import bisect
import collections
import hashlib
import hmac
import itertools
import json
import logging
import multiprocessing
import os
import queue
import secrets
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from dashboard.config import ConfigError, archive_folder
from dashboard.keyfile import create_key_file, warn_if_readable
from dashboard.store import schema, selflog
from dashboard.store.db import Database, StoreError, utcnow
from dashboard.store.duck import run
from dashboard.store.writer import EVENT_HASH_SQL, GENESIS_HASH, batch_hash

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

    from dashboard.config import Settings
    from dashboard.store.users import Actor

log = logging.getLogger(__name__)

KINDS: tuple[str, ...] = ("altered", "missing", "inserted", "reordered", "rewritten")

# The canonical text is what EVENT_HASH_SQL hashes; hashing it in Python gives the same digest.
if not (EVENT_HASH_SQL.startswith("sha256(") and EVENT_HASH_SQL.endswith(")")):  # pragma: no cover
    raise ImportError("writer.EVENT_HASH_SQL is no longer sha256(<canonical text>): update integrity.py")
#: SQL expression of an event's canonical text (the argument of EVENT_HASH_SQL's sha256).
EVENT_TEXT_SQL = EVENT_HASH_SQL[len("sha256(") : -1]

ED25519 = "ed25519"
HMAC_SHA256 = "hmac-sha256"
#: how checkpoints can be signed; Ed25519 is the default: anyone with the public key can check a
#: checkpoint, and only the holder of the private key can make one
SIGNING_ALGORITHMS = (ED25519, HMAC_SHA256)
#: `meta` key holding the JSON of the last verification of the whole log (for the Retention
#: page and compliance packs)
LAST_VERIFY_META = "integrity.last_verify"
MANIFEST_FORMAT = "auditdash-archive/1"
_MAX_FINDINGS = 10_000  # per kind of check; a rewritten table must not fill the memory
_REORDER_CANDIDATES = 256  # rows examined for a reordering (the trial is quadratic)


class IntegrityError(StoreError):
    """The chain, the archive or a checkpoint cannot be checked (a key or a file is missing)."""


# ----------------------------------------------------------------------------- locations
@dataclass(frozen=True)
class Locations:
    """Where the archive, the checkpoint file and the checkpoint key of one database live."""

    archive_dir: Path
    checkpoint_path: Path
    key_path: Path  # the HMAC key file
    key: bytes | None = field(default=None, repr=False)  # the HMAC key from the environment, when given
    signing: str = ED25519
    signing_key_path: Path | None = None  # the Ed25519 private key (PEM)
    public_key_path: Path | None = None  # the Ed25519 public key (PEM), for verifiers

    @classmethod
    def resolve(cls, settings: Settings, db_path: Path) -> Locations:
        """Apply the documented defaults (beside the database file) to `settings`."""
        if settings.checkpoint_signing not in SIGNING_ALGORITHMS:
            raise ConfigError(
                f"AUDITDASH_CHECKPOINT_SIGNING={settings.checkpoint_signing!r}: use {' or '.join(SIGNING_ALGORITHMS)}"
            )

        def beside(setting: Path | None, suffix: str) -> Path:
            return Path(setting) if setting else db_path.with_name(db_path.name + suffix)

        return cls(
            archive_dir=archive_folder(settings.archive_dir, db_path),
            checkpoint_path=beside(settings.checkpoint_path, ".checkpoints.jsonl"),
            key_path=beside(settings.checkpoint_key_path, ".checkpoint.key"),
            key=settings.checkpoint_key.encode() if settings.checkpoint_key else None,
            signing=settings.checkpoint_signing,
            signing_key_path=beside(settings.checkpoint_signing_key_path, ".checkpoint.ed25519"),
            public_key_path=beside(settings.checkpoint_public_key_path, ".checkpoint.pub"),
        )

    def _private_key_path(self) -> Path:
        return self.signing_key_path or self.key_path.with_name(self.key_path.name.removesuffix(".key") + ".ed25519")

    def _public_key_path(self) -> Path:
        return self.public_key_path or self.key_path.with_name(self.key_path.name.removesuffix(".key") + ".pub")

    def load_signing_key(self, create: bool = False) -> Ed25519PrivateKey | None:
        """The Ed25519 private key; generated (mode 0600, public key beside it) when missing and `create`."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        path = self._private_key_path()
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except FileNotFoundError:
            if not create:
                return None
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            if not create_key_file(path, pem):  # another thread made one first: theirs is kept
                return self.load_signing_key(create=False)
            self._write_public_key(key.public_key())
            log.warning(
                "generated checkpoint signing key %s: keep a copy of %s with your auditors",
                path,
                self._public_key_path(),
            )
            return key
        except (OSError, ValueError) as exc:
            raise IntegrityError(f"cannot read the checkpoint signing key {path}: {exc}") from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise IntegrityError(f"{path} is not an Ed25519 private key")
        warn_if_readable(path, "checkpoint signing key")
        if not self._public_key_path().exists():
            self._write_public_key(loaded.public_key())
        return loaded

    def _write_public_key(self, key: Ed25519PublicKey) -> None:
        from cryptography.hazmat.primitives import serialization

        pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        path = self._public_key_path()
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(pem)
        tmp.replace(path)

    def load_public_keys(self, extra: Sequence[Path] = ()) -> list[Ed25519PublicKey]:
        """The Ed25519 public keys to verify with: the files in `extra` (an auditor's own copy) and
        only those when given; else the public key file and the one of the private key."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        keys: list[Ed25519PublicKey] = []
        if not extra:
            private = self.load_signing_key(create=False)
            if private is not None:  # the server's own key: a .pub file beside it is not trusted over it
                return [private.public_key()]
        for path in extra or [self._public_key_path()]:
            try:
                loaded = serialization.load_pem_public_key(Path(path).read_bytes())
            except FileNotFoundError:
                if Path(path) in [Path(e) for e in extra]:
                    raise IntegrityError(f"public key file {path} not found") from None
                continue
            except (OSError, ValueError) as exc:
                raise IntegrityError(f"cannot read the public key {path}: {exc}") from exc
            if not isinstance(loaded, Ed25519PublicKey):
                raise IntegrityError(f"{path} is not an Ed25519 public key")
            keys.append(loaded)
        return keys

    def load_key(self, create: bool = False) -> bytes | None:
        """The checkpoint key: from the environment, else the key file (generated when `create`)."""
        if self.key:
            return self.key
        try:
            text = self.key_path.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
            text = secrets.token_hex(32)
            if not create_key_file(self.key_path, (text + "\n").encode()):  # another thread made it first
                return self.load_key(create=False)
            log.warning("generated checkpoint key %s: keep a copy away from the database", self.key_path)
        except OSError as exc:
            raise IntegrityError(f"cannot read the checkpoint key {self.key_path}: {exc}") from exc
        if not text:
            raise IntegrityError(f"the checkpoint key file {self.key_path} is empty")
        return text.encode()


def key_id(key: bytes) -> str:
    """A short public name of an HMAC key (so a verifier can tell which key signed)."""
    return hashlib.sha256(b"auditdash checkpoint key\x00" + key).hexdigest()[:16]


def public_key_id(key: Ed25519PublicKey) -> str:
    """A short name of an Ed25519 public key (SHA-256 of its 32 raw bytes, first 16 hex digits)."""
    from cryptography.hazmat.primitives import serialization

    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(b"auditdash checkpoint public key\x00" + raw).hexdigest()[:16]


@dataclass(frozen=True)
class _Signer:
    algorithm: str
    key_id: str
    sign: Callable[[bytes], str]


def _signer(where: Locations) -> _Signer:
    """How this database signs its checkpoints (the key is made on first use)."""
    if where.signing == ED25519:
        private = where.load_signing_key(create=True)
        assert private is not None
        return _Signer(ED25519, public_key_id(private.public_key()), lambda data: private.sign(data).hex())
    secret = where.load_key(create=True)
    assert secret is not None
    return _Signer(HMAC_SHA256, key_id(secret), lambda data: hmac.new(secret, data, hashlib.sha256).hexdigest())


def _verifiers(
    where: Locations, public_keys: Sequence[Path] = ()
) -> dict[str, tuple[str, Callable[[bytes, str], bool]]]:
    """key id -> (algorithm, check(payload, signature)) for every key this verification can use."""
    out: dict[str, tuple[str, Callable[[bytes, str], bool]]] = {}
    for public in where.load_public_keys(public_keys):

        def check(data: bytes, signature: str, key: Ed25519PublicKey = public) -> bool:
            from cryptography.exceptions import InvalidSignature

            try:
                key.verify(bytes.fromhex(signature), data)
            except (InvalidSignature, ValueError):
                return False
            return True

        out.setdefault(public_key_id(public), (ED25519, check))
    secret = where.load_key(create=False) if not public_keys else None
    if secret is not None:

        def check_hmac(data: bytes, signature: str, key: bytes = secret) -> bool:
            expected = hmac.new(key, data, hashlib.sha256).hexdigest().encode()
            return hmac.compare_digest(expected, signature.encode("utf-8", "replace"))

        out.setdefault(key_id(secret), (HMAC_SHA256, check_hmac))
    return out


_LOCKS: weakref.WeakKeyDictionary[Database, threading.Lock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def maintenance_lock(db: Database) -> threading.Lock:
    """The lock that keeps verification, purge and restore of one database from overlapping.

    A purge replaces archive files; a verification reading them meanwhile would see a file
    vanish. One process owns the database (DuckDB's file lock), so a thread lock suffices.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(db)
        if lock is None:
            lock = _LOCKS[db] = threading.Lock()
        return lock


# ----------------------------------------------------------------------------- archive manifests
@dataclass(frozen=True)
class Manifest:
    """What one archived month holds (written as `<month>.manifest.json` beside its file)."""

    month: str
    revision: int
    file: str
    rows: int
    expired_rows: int
    first_seq: int
    last_seq: int
    first_at: str | None
    last_at: str | None
    sha256: str
    bytes: int
    hashes_digest: str
    boundary_batch_id: int
    boundary_hash: str
    created_at: str
    run_id: str
    format: str = MANIFEST_FORMAT

    def to_json(self) -> dict[str, Any]:
        """The manifest as JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        """Read a manifest; raises ValueError when a field is missing or of the wrong kind."""
        if data.get("format") != MANIFEST_FORMAT:
            raise ValueError(f"unknown manifest format {data.get('format')!r}")
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__})
        except KeyError as exc:
            raise ValueError(f"manifest field {exc} is missing") from exc


def manifest_path(archive_dir: Path, month: str) -> Path:
    """The manifest file of an archived month."""
    return archive_dir / f"{month}.manifest.json"


def read_manifests(archive_dir: Path) -> tuple[dict[str, Manifest], list[str]]:
    """Every committed manifest in the archive folder, and the problems met reading them."""
    found: dict[str, Manifest] = {}
    problems: list[str] = []
    if not archive_dir.is_dir():
        return found, problems
    for path in sorted(archive_dir.glob("*.manifest.json")):
        try:
            manifest = Manifest.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            problems.append(f"{path.name}: unreadable manifest ({exc})")
            continue
        if path.name != f"{manifest.month}.manifest.json":
            problems.append(f"{path.name}: names month {manifest.month}")
            continue
        found[manifest.month] = manifest
    return found, problems


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# ----------------------------------------------------------------------------- row hashing
def _buffers(arr: pa.Array) -> tuple[np.ndarray, memoryview]:
    """Offsets (numpy) and data buffer of a string or binary Arrow array."""
    if pa.types.is_string_view(arr.type) or pa.types.is_binary_view(arr.type):
        arr = arr.cast(pa.large_binary())
    wide = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    bufs = arr.buffers()
    offsets = np.frombuffer(
        bufs[1], dtype=np.int64 if wide else np.int32, count=len(arr) + 1, offset=arr.offset * (8 if wide else 4)
    )
    data = memoryview(bufs[2]) if bufs[2] is not None else memoryview(b"")
    return offsets, data


def _hex_digests(data: bytes | memoryview, offsets: list[int]) -> bytes:
    """Hex SHA-256 of each slice data[offsets[i]:offsets[i+1]], concatenated (64 bytes each)."""
    view = memoryview(data)
    sha = hashlib.sha256
    return binascii.hexlify(b"".join([sha(view[a:b]).digest() for a, b in itertools.pairwise(offsets)]))


def _differing(got: bytes, stored: bytes) -> list[int]:
    """Positions where two runs of 64-byte hex hashes differ."""
    if got == stored:
        return []
    n = len(got) // 64
    a = np.frombuffer(got, dtype=np.uint8).reshape(n, 64)
    b = np.frombuffer(stored, dtype=np.uint8).reshape(n, 64)
    return np.flatnonzero((a != b).any(axis=1)).tolist()


def check_chunk(data: bytes, offsets: bytes, stored: bytes) -> list[int]:
    """Worker task: positions whose stored hex hash differs from the SHA-256 of their text.

    Args:
        data: the texts, back to back.
        offsets: int64 start offsets into `data`, one more than there are texts.
        stored: the stored hex hashes, 64 bytes each.
    """
    return _differing(_hex_digests(data, np.frombuffer(offsets, dtype=np.int64).tolist()), stored)


def _pack(texts: pa.Array, hashes: pa.Array) -> tuple[bytes, bytes, bytes] | None:
    """A record batch as plain bytes for a worker; None when a hash is not 64 characters."""
    n = len(texts)
    if hashes.null_count or not (pa.types.is_string(hashes.type) or pa.types.is_large_string(hashes.type)):
        return None
    h_off, h_data = _buffers(hashes)
    if h_off[-1] - h_off[0] != 64 * n or not np.all(np.diff(h_off) == 64):
        return None
    t_off, t_data = _buffers(texts)
    lo, hi = int(t_off[0]), int(t_off[-1])
    return (
        bytes(t_data[lo:hi]),
        (t_off.astype(np.int64) - lo).tobytes(),
        bytes(h_data[int(h_off[0]) : int(h_off[-1])]),
    )


def mismatched(texts: pa.Array, hashes: pa.Array) -> list[int]:
    """Positions whose stored hash differs from the SHA-256 of their canonical text."""
    packed = _pack(texts, hashes)
    if packed is not None:
        return check_chunk(*packed)
    offsets, data = _buffers(texts)
    got = _hex_digests(data, offsets.tolist())
    values = hashes.to_pylist()
    return [i for i, v in enumerate(values) if v is None or v.encode() != got[64 * i : 64 * i + 64]]


#: below this many rows the hashing stays in this process (starting workers costs more)
PARALLEL_MIN_ROWS = 400_000


@contextmanager
def hash_workers(rows: int, workers: int | None = None) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes for hashing `rows` rows (None when they would not help).

    Without workers, DuckDB builds the canonical texts on its threads while this process
    hashes them, which keeps two cores busy. Workers only pay (they cost a copy of every text
    through a pipe) when more cores are free: by default one per core beyond the first two.
    They come from a fork server that has imported this module once: they never touch DuckDB
    (which is not fork-safe), they only hash bytes sent to them.
    """
    count = (os.cpu_count() or 1) - 2 if workers is None else workers
    if rows < PARALLEL_MIN_ROWS or count < 2:
        yield None
        return
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with ProcessPoolExecutor(max_workers=count, mp_context=ctx) as pool:
        yield pool


def _stream(rel: duckdb.DuckDBPyRelation, rows: int = 65_536) -> Iterator[pa.RecordBatch]:
    """The record batches of a relation, produced by DuckDB in a thread while the caller works."""
    reader = rel.to_arrow_reader(rows)
    out: queue.Queue[pa.RecordBatch | BaseException | None] = queue.Queue(maxsize=3)
    stop = threading.Event()

    def produce() -> None:
        try:
            for rb in reader:
                while not stop.is_set():
                    try:
                        out.put(rb, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            out.put(None)
        except BaseException as exc:  # handed to the consumer
            out.put(exc)

    thread = threading.Thread(target=produce, name="verify-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


def check_rows(
    rel: duckdb.DuckDBPyRelation, pool: ProcessPoolExecutor | None = None, limit: int = _MAX_FINDINGS
) -> tuple[int, list[int]]:
    """Hash every row of a relation with columns (seq, hash, text); return (rows, mismatched seqs).

    With a pool, record batches are hashed by the workers while DuckDB builds the next ones.
    Should the pool break (a worker killed, or a main module that cannot be re-imported), the
    work left is done here.
    """
    total = 0
    bad: list[int] = []
    pending: collections.deque[tuple[Future[list[int]], tuple[bytes, bytes, bytes], pa.Array]] = collections.deque()
    depth = 2 * (pool._max_workers if pool is not None else 1)  # type: ignore[attr-defined]

    def note(wrong: list[int], seqs: pa.Array) -> None:
        if wrong and len(bad) < limit:
            bad.extend(int(s) for s in seqs.take(pa.array(wrong[: limit - len(bad)])).to_pylist())

    def collect() -> None:
        nonlocal pool
        future, packed, seqs = pending.popleft()
        try:
            wrong = future.result()
        except BrokenProcessPool:
            log.warning("hash workers stopped; hashing in this process")
            pool = None
            wrong = check_chunk(*packed)
        note(wrong, seqs)

    for rb in _stream(rel):
        total += rb.num_rows
        packed = _pack(rb.column(2), rb.column(1)) if pool is not None else None
        if pool is not None and packed is not None:
            try:
                pending.append((pool.submit(check_chunk, *packed), packed, rb.column(0)))
            except BrokenProcessPool:
                pool = None
                note(check_chunk(*packed), rb.column(0))
            while len(pending) >= depth:
                collect()
        else:
            note(mismatched(rb.column(2), rb.column(1)), rb.column(0))
    while pending:
        collect()
    return total, sorted(bad)


# ----------------------------------------------------------------------------- the result
_PRIORITY = {"archive": 0, "row": 1, "inserted": 2, "missing": 3, "chain": 4, "batch": 5, "checkpoint": 6}


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


# ----------------------------------------------------------------------------- checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: at `created_at` the chain's head was `head_hash` at `batch_id`."""

    created_at: str
    reason: str
    chain_id: str
    batch_id: int
    last_seq: int
    head_hash: str
    algorithm: str
    key_id: str
    signature: str

    def payload(self) -> bytes:
        """The signed bytes: canonical JSON of every field but the signature."""
        fields = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def sign(cls, signer: _Signer, **fields: Any) -> Checkpoint:
        """Make and sign a checkpoint."""
        unsigned = cls(algorithm=signer.algorithm, key_id=signer.key_id, signature="", **fields)
        return cls(**{**asdict(unsigned), "signature": signer.sign(unsigned.payload())})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        """Read one checkpoint (a line of the checkpoint file); ValueError when malformed."""
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from exc


def _head(con: duckdb.DuckDBPyConnection) -> tuple[int, int, str] | None:
    rows = run(con, "SELECT batch_id, last_seq, hash FROM chain_batches ORDER BY batch_id DESC LIMIT 1")
    return (int(rows[0][0]), int(rows[0][1]), str(rows[0][2])) if rows else None


def _chain_id(con: duckdb.DuckDBPyConnection) -> str:
    rows = run(con, "SELECT hash FROM chain_batches ORDER BY batch_id LIMIT 1")
    return str(rows[0][0]) if rows else GENESIS_HASH


def write_checkpoint(db: Database, where: Locations, reason: str, only_if_moved: bool = False) -> Checkpoint | None:
    """Sign the chain head; store it in `checkpoints` and append it to the checkpoint file.

    Args:
        db: the store.
        where: the key and the checkpoint file.
        reason: why (scheduled, purge, manual, verify).
        only_if_moved: skip when the newest checkpoint already signs the current head.

    Returns:
        The checkpoint, or None when the chain is empty or has not moved.
    """
    signer = _signer(where)
    with db.raw() as con:
        head = _head(con)
        if head is None:
            return None
        if only_if_moved:
            last = run(con, "SELECT head_hash FROM checkpoints ORDER BY id DESC LIMIT 1")
            if last and last[0][0] == head[2]:
                return None
        chain_id = _chain_id(con)
    cp = Checkpoint.sign(
        signer,
        created_at=utcnow().isoformat(timespec="milliseconds") + "Z",
        reason=reason,
        chain_id=chain_id,
        batch_id=head[0],
        last_seq=head[1],
        head_hash=head[2],
    )
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(
            schema.checkpoints.insert().values(
                created_at=datetime.fromisoformat(cp.created_at.rstrip("Z")),
                **{k: v for k, v in asdict(cp).items() if k != "created_at"},
            )
        )
    where.checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
    with where.checkpoint_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(cp), sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return cp


def read_checkpoint_file(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints of a file (one JSON object a line) and the lines that could not be read."""
    found: list[Checkpoint] = []
    problems: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return found, [f"checkpoint file {path} not found"]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_json(json.loads(line)))
        except ValueError as exc:
            problems.append(f"{path.name} line {number}: {exc}")
    return found, problems


def list_checkpoints(db: Database, limit: int = 20) -> list[Checkpoint]:
    """The newest checkpoints stored in the database."""
    query = sa.select(schema.checkpoints).order_by(schema.checkpoints.c.id.desc()).limit(limit)
    with db.connect() as conn:
        rows = conn.execute(query).mappings().fetchall()
    return [
        Checkpoint.from_json({**dict(r), "created_at": r["created_at"].isoformat(timespec="milliseconds") + "Z"})
        for r in rows
    ]


# ----------------------------------------------------------------------------- verification
@dataclass
class _Findings:
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, kind: str, seq: int | None, where: str, detail: str, level: str, batch_id: int | None = None) -> None:
        if len(self.breaks) < _MAX_FINDINGS:
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


def _check_chain(batches: list[tuple[int, int, int, int, str, str, str]], out: _Findings) -> None:
    """The batch records: ids and sequence ranges without gaps, each hash right, each link right."""
    prev_hash, expect_id, expect_seq = GENESIS_HASH, 1, 1
    for bid, first, last, count, digest, prev, own in batches:
        where = f"chain batch {bid}"
        gap = bid != expect_id
        if gap:
            ids = f"{expect_id}" if bid == expect_id + 1 else f"{expect_id} to {bid - 1}"
            out.add(
                "missing", expect_seq, "chain", f"chain batch {ids} is gone (the chain jumps to {bid})", "chain", bid
            )
        if batch_hash(prev, bid, first, last, count, digest) != own:
            out.add("altered", first, where, "the batch record does not match its own hash", "chain", bid)
        elif prev != prev_hash and not gap:
            out.add(
                "altered", first, where, f"does not link to batch {bid - 1} (its previous hash differs)", "chain", bid
            )
        if last - first + 1 != count:
            out.add("altered", first, where, f"range {first}..{last} does not hold {count} events", "chain", bid)
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
        f"SELECT at_seq, seq FROM (SELECT r.* REPLACE (c.cand AS seq), r.seq AS at_seq "  # noqa: S608 - fixed names
        f"FROM {table} r JOIN (SELECT unnest($seqs) AS cand) c ON c.cand <> r.seq "
        f"WHERE list_contains($seqs, r.seq)) WHERE {EVENT_HASH_SQL} = hash"
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

    Returns:
        The verification: `ok`, the head, and the breaks in sequence order.
    """
    started, clock = utcnow(), time.monotonic()
    out = _Findings()
    ranged = start is not None or end is not None
    lo, hi = _resolve_range(start, end)
    with maintenance_lock(db), db.raw() as con:
        run(con, "BEGIN TRANSACTION")  # one snapshot: ingest may go on meanwhile
        try:
            result = _verify_in(con, db, where, out, ranged, lo, hi, archive_only, checkpoint_files, public_keys)
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
        scope="archive" if archive_only else ("range" if ranged else "all"),
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
) -> tuple[int, int, int, int, int, int, tuple[int, int, str] | None]:
    batches = _batches(con)
    by_id = {b[0]: b for b in batches}
    head = (batches[-1][0], batches[-1][2], batches[-1][6]) if batches else None
    _check_chain(batches, out)
    bad_records = {b.batch_id for b in out.breaks if b.level == "chain" and b.kind == "altered"}

    # Every archived month is checked against its manifest, whatever the range: it is cheap.
    files = _archive_sources(con, where.archive_dir, by_id, out)

    # The population the chain covers: hot rows, plus archived rows not also hot (a restore
    # or an interrupted purge leaves identical copies in both places).
    run(con, "CREATE OR REPLACE TEMP VIEW _hot AS SELECT * FROM events")
    if files:
        con.read_parquet(files).create_view("_arch", replace=True)
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
            cond = "" if not (ranged or archive_only) else " AND batch_id IN (SELECT batch_id FROM _sel)"
            rel = con.sql(
                f"SELECT seq, hash, {EVENT_TEXT_SQL} AS t FROM {table} WHERE event_id IS NOT NULL{cond}"  # noqa: S608
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
    for rb in _stream(agg, rows=4096):
        cols = rb.to_pydict()
        for bid, n, stray, hashes in zip(cols["batch_id"], cols["n"], cols["stray"], cols["hashes"], strict=True):
            counts[bid] = n
            strays += stray
            if hashes is not None:
                digests[bid] = hashlib.sha256(hashes.encode()).hexdigest()

    # Rows that no batch accounts for.
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
            out.add(
                "inserted",
                int(seq),
                f"{place} store" if place == "hot" else "archive",
                f"no batch accounts for this event: {reason}",
                "inserted",
                int(bid),
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
            if seq not in moved:
                out.add("altered", seq, label, "the event's content does not match its hash", "row")
        row_batches |= {_batch_of(batches, seq) for seq in bad[:_MAX_FINDINGS]}
        row_batches |= {
            int(r[0])
            for r in run(
                con,
                f"SELECT DISTINCT batch_id FROM {table} WHERE list_contains($s, seq)",  # noqa: S608
                {"s": bad[:_MAX_FINDINGS]},
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
    checkpoints = _check_checkpoints(con, where, by_id, head, out, checkpoint_files, public_keys)
    if not selected and not archive_only and batches:
        out.notes.append("no events in the range")
    return hot, archived, expired, checked, len(selected), checkpoints, head


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
    verifiers = _verifiers(where, public_keys)
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


# ----------------------------------------------------------------------------- command line
def _settings(args: argparse.Namespace) -> Settings:
    from dashboard import config

    return config.load().with_overrides(db_path=Path(args.db) if getattr(args, "db", None) else None)


def parse_when(text: str, end: bool = False) -> datetime:
    """A command-line time: YYYY-MM, YYYY-MM-DD or an ISO time (UTC); an `end` date is inclusive."""
    text = text.strip().rstrip("Z")
    try:
        if len(text) == 7:
            value = datetime.strptime(text, "%Y-%m")
            if end:
                value = value.replace(year=value.year + (value.month == 12), month=value.month % 12 + 1)
            return value
        if len(text) == 10:
            value = datetime.strptime(text, "%Y-%m-%d")
            return value + timedelta(days=1 if end else 0)
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not YYYY-MM, YYYY-MM-DD or an ISO time") from exc
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def print_verification(result: Verification, as_json: bool) -> None:
    """Print a verification for a person, or as JSON."""
    if as_json:
        print(json.dumps(result.to_json(), indent=2, default=str))
        return
    print(result.summary())
    print(
        f"  hot {result.hot_events:,} events, archive {result.archived_events:,} (+{result.expired_events:,} expired), "
        f"{result.checkpoints_checked} checkpoints checked, {result.seconds:.1f} s"
    )
    for b in result.breaks[1:10]:
        print(f"  also: {b.describe()}")
    for note in result.notes:
        print(f"  note: {note}")


def cmd_verify(args: argparse.Namespace) -> int:
    """`auditdash verify`: recompute the chain; exit 1 when it is broken."""
    from dashboard.web.auth_cli import cli_actor

    settings = _settings(args)
    db = Database(settings.db_path)
    try:
        where = Locations.resolve(settings, db.path)
        result = verify(
            db,
            where,
            start=args.start,
            end=args.end,
            checkpoint_files=args.checkpoint or (),
            public_keys=args.public_key or (),
        )
        record_verification(db, result, cli_actor())
    finally:
        db.close()
    print_verification(result, args.json)
    return 0 if result.ok else 1


def record_verification(db: Database, result: Verification, actor: Actor) -> None:
    """Record a verification in the audit log (`audit.verify`, failure when broken).

    A verification of the whole log is also kept in `meta` (LAST_VERIFY_META).
    """
    if result.scope == "all":
        kept = result.to_json()
        kept["breaks"] = kept["breaks"][:20]  # the first ones; the count is in `summary`
        db.set_meta(LAST_VERIFY_META, json.dumps(kept, default=str))
    first = result.first
    selflog.record(
        db,
        "audit.verify",
        actor.name,
        **actor.audit(),
        outcome="success" if result.ok else "failure",
        reason=first.describe()[:256] if first else None,
        metadata={
            "scope": result.scope,
            "start": result.start.isoformat() if result.start else None,
            "end": result.end.isoformat() if result.end else None,
            "head_hash": result.head_hash,
            "head_batch_id": result.head_batch_id,
            "events": result.checked_events,
            "breaks": len(result.breaks),
            "first_break": asdict(first) if first else None,
        },
    )


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """`auditdash checkpoint`: sign the chain head now."""
    settings = _settings(args)
    db = Database(settings.db_path)
    try:
        where = Locations.resolve(settings, db.path)
        cp = write_checkpoint(db, where, "manual")
    finally:
        db.close()
    if args.json:
        print(json.dumps(asdict(cp) if cp else None, indent=2))
    elif cp:
        print(
            f"checkpoint: batch {cp.batch_id}, seq {cp.last_seq}, head {cp.head_hash}; "
            f"appended to {where.checkpoint_path}"
        )
    else:
        print("the chain is empty: nothing to sign")
    return 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
) -> None:
    """Add `verify` and `checkpoint` to the `auditdash` command."""
    p = sub.add_parser("verify", parents=[common, as_json], help="verify the integrity chain (hot store and archive)")
    p.add_argument(
        "--from", dest="start", type=parse_when, metavar="WHEN", help="from this time (YYYY-MM[-DD] or ISO, UTC)"
    )
    p.add_argument(
        "--to",
        dest="end",
        type=lambda s: parse_when(s, end=True),
        metavar="WHEN",
        help="to this time (a date is inclusive)",
    )
    p.add_argument(
        "--checkpoint", action="append", metavar="FILE", help="also check against this copy of the checkpoint file"
    )
    p.add_argument(
        "--public-key",
        action="append",
        type=Path,
        metavar="FILE",
        help="check checkpoints with this Ed25519 public key only (your own copy, not the one beside the database)",
    )
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("checkpoint", parents=[common, as_json], help="sign the chain head now")
    p.set_defaults(func=cmd_checkpoint)

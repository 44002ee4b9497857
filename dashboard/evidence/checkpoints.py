"""Checkpoints: the chain head signed with a key kept outside the database, stored in the
`checkpoints` table and appended to a checkpoint file that can be copied elsewhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from dashboard.evidence.keys import Signer, signer_of
from dashboard.evidence.locations import Locations
from dashboard.store import schema
from dashboard.store.db import Database, utcnow
from dashboard.store.duck import run
from dashboard.store.writer import GENESIS_HASH


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
    def sign(cls, signer: Signer, **fields: Any) -> Checkpoint:
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
    signer = signer_of(where)
    with db.reading(("chain_batches", "checkpoints")) as con:  # on PostgreSQL: a consistent copy
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
    except (OSError, UnicodeDecodeError) as exc:  # a folder, unreadable, not text: said, not a traceback
        return found, [f"checkpoint file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}"]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            found.append(Checkpoint.from_json(json.loads(line)))
        except ValueError as exc:
            problems.append(f"{path.name} line {number}: {exc}")
    return found, problems

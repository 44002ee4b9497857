"""The store: migrations, sequence numbers, the hash chain, atomic batches."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from dashboard.events.validate import validate_records
from dashboard.store.db import CURRENT_VERSION, Database
from dashboard.store.writer import GENESIS_HASH, HASHED_COLUMNS_V2, PERSONAL_COLUMNS, batch_hash, store_batch
from tests.conftest import event


def store(db: Database, docs: list[dict], source: str = "test"):
    with db.raw() as con:
        checked = validate_records(con, docs)
    return store_batch(db, checked.accepted, checked.rejected, source)


def canonical_hash(row: dict) -> str:
    """An independent re-implementation of the documented canonical text, version 3 (docs/integrity.md):
    version 2's fields, the personal ones as salted commitments."""
    parts = ["auditdash-event/3"]
    for col in HASHED_COLUMNS_V2:
        value = row[col]
        if value is None:
            parts.append("-")
            continue
        if col in ("occurred_at", "received_at"):
            text = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        elif isinstance(value, float):
            text = format(value, ".9g")
        else:
            text = str(value)
        if col in PERSONAL_COLUMNS:
            field_salt = hashlib.sha256(f"{row['salt']}\x1f{col}".encode()).hexdigest()
            parts.append("c:" + hashlib.sha256(f"{field_salt}\x1f{text}".encode()).hexdigest())
        else:
            parts.append(f"{len(text.encode())}:{text}")
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def test_new_file_gets_current_schema_version(store_target: Path | str) -> None:
    with Database(store_target) as db:
        assert db.version() == CURRENT_VERSION
    with Database(store_target) as db, db.connect() as conn:  # reopening applies nothing twice
        assert conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar() == CURRENT_VERSION


def test_sequence_and_hash_chain(store_target: Path | str) -> None:
    with Database(store_target) as db:
        r1 = store(db, [event(id=f"a{i}", changes={"role": ["agent", f"x{i}"]}) for i in range(3)])
        r2 = store(db, [event(id=f"b{i}", ip="10.0.0.1") for i in range(2)])
        assert (r1.first_seq, r1.last_seq, r2.first_seq, r2.last_seq) == (1, 3, 4, 5)
        with db.connect() as conn:
            rows = [dict(r) for r in conn.execute(sa.text("SELECT * FROM events ORDER BY seq")).mappings()]
            batches = [
                dict(r) for r in conn.execute(sa.text("SELECT * FROM chain_batches ORDER BY batch_id")).mappings()
            ]
    for row in rows:
        assert row["hash"] == canonical_hash(row)
    prev = GENESIS_HASH
    for b in batches:
        members = [r["hash"] for r in rows if r["batch_id"] == b["batch_id"]]
        digest = hashlib.sha256("".join(members).encode()).hexdigest()
        assert b["events_digest"] == digest
        assert b["prev_hash"] == prev
        assert b["hash"] == batch_hash(prev, b["batch_id"], b["first_seq"], b["last_seq"], b["event_count"], digest)
        prev = b["hash"]


def test_an_altered_event_no_longer_matches_its_hash(db_path: Path) -> None:
    with Database(db_path) as db:
        store(db, [event(id="t1"), event(id="t2")])
    con = duckdb.connect(str(db_path))  # a separate connection, as a tamperer would use
    con.execute("UPDATE events SET actor_id = 'someone-else' WHERE event_id = 't2'")
    con.close()
    with Database(db_path) as db, db.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text("SELECT * FROM events ORDER BY seq")).mappings()]
    assert rows[0]["hash"] == canonical_hash(rows[0])
    assert rows[1]["hash"] != canonical_hash(rows[1])


def test_a_failing_batch_writes_nothing(store_target: Path | str) -> None:
    with Database(store_target) as db:
        store(db, [event(id="keep")])
        with db.raw() as con:
            checked = validate_records(con, [event(id="n1"), event(id="n2")])
        broken = checked.accepted.drop_columns(["occurred_at"])  # the insert must fail mid-batch
        with pytest.raises(Exception):  # noqa: B017 - any driver error; what matters is what is left
            store_batch(db, broken, [], "test")
        with db.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 1
            assert conn.execute(sa.text("SELECT count(*) FROM chain_batches")).scalar() == 1


def test_meta_flags(store_target: Path | str) -> None:
    with Database(store_target) as db:
        assert db.get_meta("demo") is None
        db.set_meta("demo", "true")
        assert db.get_meta("demo") == "true"

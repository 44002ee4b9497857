"""Integrity: every kind of tampering, made with a connection of its own to the database, is found and
named, on DuckDB and on PostgreSQL (the same tests, parametrised by `backend`; tests/tamper_sql.py
knows how to tamper with each engine)."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dashboard.config import ConfigError, Settings
from dashboard.events.validate import validate_records
from dashboard.evidence.canonical import EVENT_TEXT_SQL
from dashboard.evidence.checkpoints import write_checkpoint
from dashboard.evidence.hashing import check_rows, hash_workers
from dashboard.evidence.locations import Locations
from dashboard.evidence.verify import verify
from dashboard.store.db import Database
from dashboard.store.writer import EVENT_HASH_SQL, GENESIS_HASH, batch_hash, store_batch
from dashboard.when import parse_when
from tests.conftest import cli, event
from tests.tamper_sql import (
    Target,
    fresh_copy,
    home_for_module,
    locations,
    rehash,
    rows,
    tamper,
    template_store,
    verified,
)
from tests.tamper_sql import copy_files as copy_database

__all__ = ["copy_database", "locations", "make_events", "store", "tamper", "verified"]  # used by other test modules

NOW = datetime(2026, 11, 20, 12, 0)
#: the tests that are about DuckDB itself (its file, its SQL), or about files only
DUCKDB_ONLY = pytest.mark.parametrize("backend", ["duckdb"])


def make_events(n: int, start: datetime, end: datetime, seed: int = 1, prefix: str = "e") -> list[dict[str, Any]]:
    """`n` valid events spread over [start, end), in shuffled order (so batches span months)."""
    rnd = random.Random(seed)
    span = (end - start).total_seconds()
    docs = []
    for i in range(n):
        when = start + timedelta(seconds=span * i / n)
        docs.append(
            event(
                id=f"{prefix}{i}",
                occurred_at=when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{i % 1000:03d}Z",
                actor={"id": f"u{i % 4}", "name": f"Agent {i % 4}", "role": "agent"},
                action=("auth.login", "message.create", "conversation.view")[i % 3],
                changes={"status": ["open", "resolved"]} if i % 7 == 0 else None,
                ip="10.0.0.1" if i % 5 else None,
            )
        )
    rnd.shuffle(docs)
    return docs


def store(db: Database, docs: list[dict[str, Any]], batch: int = 25, now: datetime = NOW) -> None:
    """Store `docs` in batches of `batch` (each one chain batch)."""
    for k in range(0, len(docs), batch):
        with db.raw() as con:
            checked = validate_records(con, docs[k : k + batch], now=now)
        assert not checked.rejected, checked.rejected
        store_batch(db, checked.accepted, [], "test")


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from home_for_module(tmp_path_factory)


def _build_chain(db: Database, target: Target) -> None:
    store(db, make_events(100, datetime(2026, 9, 1), datetime(2026, 11, 1)))
    write_checkpoint(db, locations(target), "test")


_TEMPLATES: dict[str, Target] = {}


@pytest.fixture
def chain(backend: str, request: pytest.FixtureRequest) -> Target:
    """A fresh copy, on the test's engine, of a closed store of 100 events in 4 batches with a
    checkpoint (the store built once per engine)."""
    if backend not in _TEMPLATES:
        _TEMPLATES[backend] = template_store(request, backend, "chain", _build_chain)
    return fresh_copy(_TEMPLATES[backend], request)


def test_intact_chain_is_ok_with_its_head(chain: Target) -> None:
    result = verified(chain)
    assert result.ok, result.summary()
    assert result.checked_events == 100 and result.batches == 4 and result.checkpoints_checked == 1
    head = rows(chain, "SELECT hash FROM chain_batches ORDER BY batch_id DESC LIMIT 1")[0]
    assert result.head_hash == head[0]
    assert result.summary().startswith("OK") and head[0] in result.summary()


@DUCKDB_ONLY
def test_canonical_text_hashes_to_the_stored_hash(chain: Path) -> None:
    """Python's SHA-256 of EVENT_TEXT_SQL is the writer's EVENT_HASH_SQL, in process and in workers."""
    con = duckdb.connect(str(chain), read_only=True)
    try:
        rows = con.execute(f"SELECT hash, {EVENT_TEXT_SQL}, {EVENT_HASH_SQL} FROM events").fetchall()  # noqa: S608
        assert all(h == hashlib.sha256(t.encode()).hexdigest() == again for h, t, again in rows)
        wrong_at_7 = "CASE WHEN seq = 7 THEN repeat('0', 64) ELSE hash END"
        rel = con.sql(f"SELECT seq, {wrong_at_7}, {EVENT_TEXT_SQL} FROM events")  # noqa: S608
        assert check_rows(rel) == (100, [7])
        with hash_workers(10**9, workers=2) as pool:  # the worker processes, on a small table
            assert pool is not None
            assert check_rows(rel, pool) == (100, [7])
    finally:
        con.close()


def test_changed_field_is_altered_at_its_seq(chain: Target) -> None:
    tamper(chain, "UPDATE events SET actor_id = 'someone-else' WHERE seq = 42")
    result = verified(chain)
    assert not result.ok
    assert (result.first.kind, result.first.seq) == ("altered", 42) if result.first else False
    assert "does not match its hash" in result.summary()


def test_deleted_row_is_missing_at_its_seq(chain: Target) -> None:
    tamper(chain, "DELETE FROM events WHERE seq = 57")
    first = verified(chain).first
    assert first is not None and (first.kind, first.seq) == ("missing", 57)


def test_inserted_row_is_found_even_with_a_valid_hash(chain: Target) -> None:
    # A forged event with a correct hash of its own, put after the last one, in the last batch.
    tamper(
        chain,
        "CREATE TEMP TABLE forged AS SELECT * FROM events WHERE seq = 100",
        "UPDATE forged SET seq = 101, event_id = 'forged', actor_id = 'ghost'",
        "INSERT INTO events SELECT * FROM forged",
    )
    rehash(chain, "seq = 101")
    first = verified(chain).first
    assert first is not None and (first.kind, first.seq) == ("inserted", 101)
    assert "outside batch 4" in first.detail


def test_inserted_row_of_an_unknown_batch(chain: Target) -> None:
    tamper(
        chain,
        "CREATE TEMP TABLE forged AS SELECT * FROM events WHERE seq = 3",
        "UPDATE forged SET seq = 500, batch_id = 99, event_id = 'forged'",
        "INSERT INTO events SELECT * FROM forged",
    )
    rehash(chain, "seq = 500")
    first = verified(chain).first
    assert first is not None and (first.kind, first.seq) == ("inserted", 500)
    assert "batch 99 does not exist" in first.detail


def test_swapped_rows_are_reordered(chain: Target) -> None:
    tamper(
        chain,
        "UPDATE events SET seq = -1 WHERE seq = 30",
        "UPDATE events SET seq = 30 WHERE seq = 31",
        "UPDATE events SET seq = 31 WHERE seq = -1",
    )
    result = verified(chain)
    first = result.first
    assert first is not None and (first.kind, first.seq) == ("reordered", 30), result.summary()
    assert "in the original order the batch digest matches again" in first.detail
    assert len(result.breaks) == 1  # one finding for the swap, not an alteration per row


def test_rehashed_change_is_caught_by_the_batch_digest(chain: Target) -> None:
    tamper(chain, "UPDATE events SET outcome = 'failure' WHERE seq = 60")
    rehash(chain)
    first = verified(chain).first
    assert first is not None and first.kind == "altered" and first.where == "batch 3"
    assert first.seq == 51  # the batch's first sequence number


def test_altered_batch_record(chain: Target) -> None:
    tamper(chain, "UPDATE chain_batches SET events_digest = repeat('a', 64) WHERE batch_id = 2")
    first = verified(chain).first
    assert first is not None and (first.kind, first.where, first.seq) == ("altered", "chain batch 2", 26)
    assert "does not match its own hash" in first.detail


def _rewrite_everything(target: Target) -> None:
    """Change an event, then recompute every hash, digest and link, and drop the checkpoints."""
    tamper(target, "UPDATE events SET actor_id = 'cover-up' WHERE seq = 10")
    rehash(target)
    prev = GENESIS_HASH
    batches = rows(target, "SELECT batch_id, first_seq, last_seq, event_count FROM chain_batches ORDER BY 1")
    for bid, first, last, count in batches:
        row = rows(target, "SELECT string_agg(hash, '' ORDER BY seq) FROM events WHERE batch_id = ?", [bid])[0]
        digest = hashlib.sha256(row[0].encode()).hexdigest()
        own = batch_hash(prev, bid, first, last, count, digest)
        tamper(
            target,
            "UPDATE chain_batches SET events_digest = ?, prev_hash = ?, hash = ? WHERE batch_id = ?",
            params=[digest, prev, own, bid],
        )
        prev = own
    tamper(target, "DELETE FROM checkpoints")


def test_rewritten_chain_is_found_only_with_the_checkpoint_file(chain: Target, tmp_path: Path) -> None:
    where = locations(chain)
    copy = tmp_path / "elsewhere" / "checkpoints.jsonl"
    copy.parent.mkdir()
    shutil.copy(where.checkpoint_path, copy)
    where.checkpoint_path.unlink()  # the rewriter removed the local file as well
    _rewrite_everything(chain)
    assert verified(chain).ok  # consistent again: nothing in the database can tell
    result = verified(chain, checkpoint_files=[copy])
    first = result.first
    assert first is not None and first.kind == "rewritten", result.summary()
    assert "batch 4 differs from the checkpoint" in first.detail


def test_removed_tail_is_found_by_the_checkpoint(chain: Target) -> None:
    tamper(chain, "DELETE FROM events WHERE batch_id = 4", "DELETE FROM chain_batches WHERE batch_id = 4")
    first = verified(chain).first
    assert first is not None and first.kind == "missing" and "batches were removed" in first.detail


def test_forged_checkpoint_is_named(chain: Target) -> None:
    where = locations(chain)
    lines = where.checkpoint_path.read_text().splitlines()
    forged = json.loads(lines[0]) | {"head_hash": "f" * 64}
    where.checkpoint_path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    first = verified(chain).first
    assert first is not None and first.kind == "altered" and "wrong signature" in first.detail


@DUCKDB_ONLY
def test_checkpoints_need_the_key(chain: Path) -> None:
    where = locations(chain)
    assert where.signing_key_path is not None and where.public_key_path is not None
    where.signing_key_path.unlink()
    where.public_key_path.unlink()
    result = verified(chain)
    assert result.ok and result.checkpoints_checked == 0
    assert any("no checkpoint key" in n for n in result.notes)


@DUCKDB_ONLY
def test_checkpoints_are_ed25519_and_the_public_key_alone_checks_them(chain: Path, tmp_path: Path) -> None:
    where = locations(chain)
    assert where.signing_key_path is not None and where.public_key_path is not None
    line = json.loads(where.checkpoint_path.read_text().splitlines()[0])
    assert line["algorithm"] == "ed25519" and len(line["signature"]) == 128
    assert where.signing_key_path.stat().st_mode & 0o077 == 0  # the private key is the owner's only
    assert where.public_key_path.read_text().startswith("-----BEGIN PUBLIC KEY-----")
    # an auditor keeps a copy of the public key; the private key need not be anywhere near
    auditor = tmp_path / "auditor.pub"
    shutil.copy(where.public_key_path, auditor)
    where.signing_key_path.unlink()
    with Database(chain) as db:
        result = verify(db, where, public_keys=[auditor])
    assert result.ok and result.checkpoints_checked >= 1, result.summary()
    # a forged checkpoint (head changed, signature kept) fails against the public key
    lines = where.checkpoint_path.read_text().splitlines()
    forged = json.loads(lines[0]) | {"head_hash": "e" * 64}
    where.checkpoint_path.write_text("\n".join([*lines, json.dumps(forged)]) + "\n")
    with Database(chain) as db:
        first = verify(db, where, public_keys=[auditor]).first
    assert first is not None and first.kind == "altered" and "wrong signature" in first.detail


def test_checkpoints_replaced_by_someone_elses_key_fail_the_auditors_check(chain: Target, tmp_path: Path) -> None:
    where = locations(chain)
    assert where.public_key_path is not None and where.signing_key_path is not None
    auditor = tmp_path / "auditor.pub"
    shutil.copy(where.public_key_path, auditor)
    # someone with the database rewrites the chain, throws the checkpoints away and signs new ones
    # with a key of their own, replacing the key files beside the database too
    _rewrite_everything(chain)
    where.checkpoint_path.unlink()
    where.signing_key_path.unlink()
    where.public_key_path.unlink()
    with Database(chain) as db:
        write_checkpoint(db, where, "forged")
        assert verify(db, where).ok  # by the database's own (new) keys, all is consistent
        result = verify(db, where, public_keys=[auditor])
    first = result.first
    assert not result.ok and first is not None and first.kind == "missing", result.summary()
    assert "nothing vouches for the chain" in first.detail
    assert any("signed with another key" in n for n in result.notes)


def test_no_checkpoint_at_all_fails_the_auditors_check(chain: Target, tmp_path: Path) -> None:
    where = locations(chain)
    assert where.public_key_path is not None
    auditor = tmp_path / "auditor.pub"
    shutil.copy(where.public_key_path, auditor)
    where.checkpoint_path.unlink()
    tamper(chain, "DELETE FROM checkpoints")
    with Database(chain) as db:
        assert verify(db, where).ok  # nothing to check against: consistent, with a note
        result = verify(db, where, public_keys=[auditor])
    assert not result.ok and result.first is not None and result.first.kind == "missing"


def test_a_tampered_hmac_signature_is_a_break_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "hmac2.duckdb"
    where = Locations.resolve(Settings(db_path=path, checkpoint_signing="hmac-sha256"), path)
    with Database(path) as db:
        store(db, make_events(10, datetime(2026, 9, 1), datetime(2026, 10, 1)))
        write_checkpoint(db, where, "test")
    line = json.loads(where.checkpoint_path.read_text().splitlines()[0])
    where.checkpoint_path.write_text(json.dumps(line | {"signature": "é" * 64}) + "\n")
    tamper(path, "DELETE FROM checkpoints")
    with Database(path) as db:
        first = verify(db, where).first
    assert first is not None and first.kind == "altered" and "wrong signature" in first.detail


def test_hmac_checkpoints_still_work(tmp_path: Path) -> None:
    path = tmp_path / "hmac.duckdb"
    settings = Settings(db_path=path, checkpoint_signing="hmac-sha256")
    where = Locations.resolve(settings, path)
    with Database(path) as db:
        store(db, make_events(20, datetime(2026, 9, 1), datetime(2026, 10, 1)))
        cp = write_checkpoint(db, where, "test")
        assert cp is not None and cp.algorithm == "hmac-sha256" and len(cp.signature) == 64
        result = verify(db, where)
    assert result.ok and result.checkpoints_checked == 1
    with pytest.raises(ConfigError, match="AUDITDASH_CHECKPOINT_SIGNING='rsa'"):
        Locations.resolve(Settings(db_path=path, checkpoint_signing="rsa"), path)


def test_checkpoint_key_from_the_environment(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "k.duckdb", checkpoint_key="from-the-vault")
    where = Locations.resolve(settings, settings.db_path)
    assert where.load_key(create=True) == b"from-the-vault"
    assert not where.key_path.exists()


def test_range_verification_checks_the_batches_of_the_range(chain: Target) -> None:
    tamper(chain, "UPDATE events SET actor_id = 'x' WHERE seq = 90")
    whole = verified(chain)
    assert whole.first is not None and whole.first.seq == 90
    when = rows(chain, "SELECT occurred_at FROM events WHERE seq = 90")[0]
    hit = verified(chain, start=when[0], end=when[0] + timedelta(milliseconds=1))
    assert hit.first is not None and hit.first.seq == 90 and hit.scope == "range"
    assert hit.batches == 1


def test_verify_command(chain: Target) -> None:
    ok = cli("verify", "--db", str(chain), "--json")
    data = json.loads(ok.stdout)
    assert data["ok"] is True and data["head_hash"]
    tamper(chain, "DELETE FROM events WHERE seq = 12")
    broken = cli("verify", "--db", str(chain), check=False)
    assert broken.returncode == 1
    assert broken.stdout.startswith("BROKEN: missing at seq 12")
    outcomes = rows(chain, "SELECT outcome FROM events WHERE action = 'audit.verify' ORDER BY seq")
    assert [o for (o,) in outcomes] == ["success", "failure"]  # each verification is in the audit log


@pytest.mark.parametrize(
    ("text", "end", "expected"),
    [
        ("2026-01", False, datetime(2026, 1, 1)),
        ("2026-12", True, datetime(2027, 1, 1)),  # a month given as an end includes the month
        ("2026-01-31", True, datetime(2026, 2, 1)),  # so does a day
        ("2026-01-31", False, datetime(2026, 1, 31)),
        ("2026-01-05T03:04Z", True, datetime(2026, 1, 5, 3, 4)),  # a time is exact
        ("2026-01-01T10:00:00+02:00", False, datetime(2026, 1, 1, 8, 0)),  # offsets become UTC
    ],
)
def test_command_line_times(text: str, end: bool, expected: datetime) -> None:
    assert parse_when(text, end=end) == expected

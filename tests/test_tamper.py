"""Tampering with a real store by direct SQL, then `verify`: every stored column of an event,
NULL against '' and NUL, quarantined records, an event inserted at the next sequence number,
stores of canonical form 1, the archive, and the verification at server start. The tests about the
chain run on DuckDB and on PostgreSQL (parametrised by `backend`, fixture `target`); those about
DuckDB files (canonical form 1, the archive, the server's start) on DuckDB."""

# ruff: noqa: S608 - the tampering SQL is built from fixed column names and numbers

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.events.validate import validate_records
from dashboard.evidence import status as integrity
from dashboard.evidence.checkpoints import write_checkpoint
from dashboard.evidence.status import read_integrity_status, record_verification
from dashboard.evidence.verify import verify
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store import schema, writer
from dashboard.store.db import Database
from dashboard.store.writer import (
    HASHED_COLUMNS_V2,
    PERSONAL_COLUMNS,
    ChainTampered,
    store_batch,
)
from tests.conftest import GEO_DIR, cli, event
from tests.tamper_sql import Target, fresh_copy, is_pg, rehash, rows, template_store
from tests.test_integrity import copy_database, home, locations, make_events, tamper, verified  # noqa: F401 - home

NOW = datetime(2026, 11, 20, 12, 0)
ADMIN = Actor("ana.admin", "admin")
#: every stored column of `events` but the hash itself: what canonical form 2 must cover
EVENT_COLUMNS = [c.name for c in schema.events.columns if c.name != "hash"]
TARGET = 30  # the event the column tests change (batch 2 of 4)
GEO = {"geo_country": "DE", "geo_city": "Berlin", "geo_lat": 52.5, "geo_lon": 13.25}


def store_with_rejects(db: Database, docs: list[dict[str, Any]], batch: int = 25, bad: int = 2) -> None:
    """Store `docs` in batches of `batch`, each with `bad` invalid records (quarantined), and a
    geolocation on every other event (so the map's columns hold values to move)."""
    for k in range(0, len(docs), batch):
        chunk = docs[k : k + batch] + [{"id": f"bad-{k}-{i}", "occurred_at": "not a time"} for i in range(bad)]
        with db.raw() as con:
            checked = validate_records(con, chunk, now=NOW)
        accepted = checked.accepted
        located = pa.array([i % 2 == 1 for i in range(accepted.num_rows)])
        for name, value in GEO.items():
            i = accepted.schema.get_field_index(name)
            column = pa.array([value if hit.as_py() else None for hit in located], accepted.schema.field(i).type)
            accepted = accepted.set_column(i, accepted.schema.field(i), column)
        assert len(checked.rejected) == bad
        store_batch(db, accepted, checked.rejected, "test")


def snapshot(db_path: Target) -> list[Any]:
    """What a verification must not change before it reports: events, batches, quarantine."""
    return [
        rows(db_path, "SELECT count(*), max(seq), string_agg(hash, '' ORDER BY seq) FROM events"),
        rows(db_path, "SELECT count(*), max(batch_id) FROM chain_batches"),
        rows(db_path, "SELECT count(*) FROM quarantine"),
    ]


def _build(db: Database, target: Target) -> None:
    """100 events in 4 batches of canonical form 2, 8 quarantined records, a checkpoint after batch 2."""
    docs = make_events(100, datetime(2026, 9, 1), datetime(2026, 11, 1))
    store_with_rejects(db, docs[:50])
    write_checkpoint(db, locations(target), "test")
    store_with_rejects(db, docs[50:])


@pytest.fixture(scope="module")
def template(request: pytest.FixtureRequest) -> Path:
    """The DuckDB store of `_build`, built once."""
    path = template_store(request, "duckdb", "tamper", _build)
    assert isinstance(path, Path)
    return path


@pytest.fixture
def store(template: Path, db_path: Path) -> Iterator[Path]:
    """A fresh copy of the DuckDB template, for the tests about DuckDB files."""
    yield copy_database(template, db_path)


@pytest.fixture(scope="module")
def pg_template(request: pytest.FixtureRequest) -> str:
    """The PostgreSQL store of `_build`, built once."""
    return str(template_store(request, "postgres", "tamper", _build))


@pytest.fixture
def target(backend: str, request: pytest.FixtureRequest) -> Target:
    """A fresh copy of the store of `_build` on the test's engine."""
    if backend == "postgres":
        return fresh_copy(request.getfixturevalue("pg_template"), request)
    return copy_database(request.getfixturevalue("template"), request.getfixturevalue("db_path"))


def forge_next(target: Target) -> None:
    """`INSERT_NEXT` in SQL both engines run: a copy of the last event at the next sequence number."""
    tamper(
        target,
        "CREATE TEMP TABLE forged AS SELECT * FROM events WHERE seq = (SELECT max(seq) FROM events)",
        "UPDATE forged SET seq = seq + 1, event_id = 'forged-' || event_id",
        "INSERT INTO events SELECT * FROM forged",
    )


def test_intact_store_verifies_with_form_2_and_chained_quarantine(target: Target) -> None:
    result = verified(target)
    assert result.ok, result.summary()
    assert result.checked_events == 100 and result.batches == 4
    assert rows(target, "SELECT DISTINCT version FROM chain_batches") == [(3,)]
    assert rows(target, "SELECT count(*) FILTER (WHERE batch_id IS NULL), count(hash) FROM quarantine") == [(0, 8)]
    assert rows(target, "SELECT sum(quarantine_count) FROM chain_batches") == [(8,)]
    located = rows(target, "SELECT geo_lat, geo_lon, geo_city FROM events WHERE seq = ?", [TARGET + 1])
    assert located == [(52.5, 13.25, "Berlin")]


def test_canonical_form_3_is_the_documented_text(store: Path) -> None:
    """An independent Python version of docs/integrity.md, form 3, gives every stored hash."""

    def text(row: dict[str, Any]) -> str:
        parts = ["auditdash-event/3"]
        for col in HASHED_COLUMNS_V2:
            value = row[col]
            if value is None:
                parts.append("-")
                continue
            if isinstance(value, datetime):
                value = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            elif isinstance(value, float):
                value = format(value, ".9g")
            value = str(value)
            if col in PERSONAL_COLUMNS:  # a salted commitment
                field_salt = hashlib.sha256(f"{row['salt']}\x1f{col}".encode()).hexdigest()
                parts.append("c:" + hashlib.sha256(f"{field_salt}\x1f{value}".encode()).hexdigest())
                continue
            parts.append(f"{len(value.encode())}:{value}")
        return "\x1f".join(parts)

    con = duckdb.connect(str(store), read_only=True)
    try:
        cur = con.execute("SELECT * FROM events ORDER BY seq")
        names = [d[0] for d in cur.description]
        events = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()
    assert any(e["geo_lat"] is not None for e in events)
    for e in events:
        assert hashlib.sha256(text(e).encode()).hexdigest() == e["hash"], e["seq"]
    assert sorted(EVENT_COLUMNS) == sorted([*HASHED_COLUMNS_V2, "salt", "erased"])


# ---------------------------------------------------------------------------------- inserted row
INSERT_NEXT = (
    "INSERT INTO events SELECT * REPLACE (seq + 1 AS seq, 'forged-' || event_id AS event_id) "
    "FROM events WHERE seq = (SELECT max(seq) FROM events)"
)


def test_row_inserted_at_the_next_seq_is_reported_before_anything_is_written(target: Target) -> None:
    forge_next(target)
    before = snapshot(target)
    with Database(target) as db:
        result = verify(db, locations(target))
        assert (snapshot(target) if is_pg(target) else snapshot_of(db)) == before  # nothing written to report it
        first = result.first
        assert first is not None and (first.kind, first.seq) == ("inserted", 101), result.summary()
        assert "no batch accounts for this event" in first.detail
        problem = record_verification(db, result, ADMIN)  # must not raise, must not collide
        assert problem is None  # recorded past the forged row, which it skipped
        status = read_integrity_status(db)
    assert status is not None and status["ok"] is False and status["scope"] == "full"
    assert status["problem"].startswith("inserted at seq 101")
    # the forged row is still there, nothing overwrote it; the audit event went past it
    assert rows(target, "SELECT event_id FROM events WHERE seq = 101")[0][0].startswith("forged-")
    assert rows(target, "SELECT action, outcome FROM events WHERE seq = 102") == [("audit.verify", "failure")]


def rows_of(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with db.raw() as con:
        return con.execute(sql).fetchall()


def snapshot_of(db: Database) -> list[Any]:
    with db.raw() as con:
        return [
            con.execute("SELECT count(*), max(seq), string_agg(hash, '' ORDER BY seq) FROM events").fetchall(),
            con.execute("SELECT count(*), max(batch_id) FROM chain_batches").fetchall(),
            con.execute("SELECT count(*) FROM quarantine").fetchall(),
        ]


def test_cli_verify_reports_the_inserted_row_without_a_traceback(target: Target) -> None:
    forge_next(target)
    before = snapshot(target)
    proc = cli("verify", "--db", str(target), check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stdout.startswith("BROKEN: inserted at seq 101 (hot store)"), proc.stdout
    assert "not recorded in the audit log" not in proc.stderr  # the audit log skips the forged row
    # two batches more: the verification's audit.verify, stored past the forged row, and the
    # writer's own record of that skip (scope write)
    assert snapshot(target)[1][0][0] == before[1][0][0] + 2
    scope = "json_extract_string(metadata, '$.scope')"
    after = rows(target, f"SELECT seq, action, outcome, {scope} FROM events WHERE seq > 100 ORDER BY seq")
    assert after[1:] == [(102, "audit.verify", "failure", "all"), (103, "audit.verify", "failure", "write")]


def test_purge_refuses_and_ingest_and_login_go_on_past_rows_past_the_chain(store: Path, tmp_path: Path) -> None:
    from dashboard.access.users import create_user
    from dashboard.web.app import create_app

    tamper(store, INSERT_NEXT)
    with Database(store) as db:
        with pytest.raises(ChainTampered, match="Nothing was stored"):
            run_purge(db, locations(store), RetentionPolicy(), ADMIN, now=NOW)
        assert not locations(store).archive_dir.exists() or not any(locations(store).archive_dir.iterdir())
        before = snapshot_of(db)
        with db.raw() as con:
            checked = validate_records(con, [event(id="after-tamper"), event(id="after-tamper-2")], now=NOW)
        stored = store_batch(db, checked.accepted, [], "test")
        # stored past the forged row: its seq skipped, the skip in the batch's hashed link
        assert (stored.accepted, stored.first_seq, stored.last_seq) == (2, 102, 103)
        assert stored.skipped is not None and (stored.skipped.first, stored.skipped.last) == (101, 101)
        status = read_integrity_status(db)
        assert status is not None and status["ok"] is False and status["problem"].startswith("inserted at seq 101")
        assert rows_of(db, "SELECT skipped_first, skipped_last FROM chain_batches WHERE batch_id = 5") == [(101, 101)]
        # nothing overwritten: the forged row still at 101; the skip is in the audit log (alerted on)
        assert rows_of(db, "SELECT seq, event_id LIKE 'forged-%' FROM events WHERE seq = 101") == [(101, True)]
        skip_event = "SELECT seq, outcome, metadata->>'scope' FROM events WHERE action = 'audit.verify'"
        assert rows_of(db, skip_event) == [(104, "failure", "write")]
        result = verify(db, locations(store))
        first = result.first
        assert first is not None and (first.kind, first.seq) == ("inserted", 101), result.summary()
        assert "batch 5 skipped seqs 101..101" in first.detail
        assert len(result.breaks) == 1, result.summary()  # the skip is explained by the chain
        assert before[1][0][1] == 4
        # a person can still sign in (the login is recorded in the audit log past the forged row)
        create_user(db, "ana", "admin", "tamper-login-password")
        app = create_app(Settings(db_path=store, geo_dir=GEO_DIR, reports_dir=tmp_path / "reports"), db)
        client = app.server.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {"csrf_token": token, "username": "ana", "password": "tamper-login-password", "next": "/"}
        assert client.post("/login", data=form).status_code == 302
        logins = "SELECT seq FROM events WHERE action = 'audit.login' AND outcome = 'success' AND actor_id = 'ana'"
        assert [r[0] > 103 for r in rows_of(db, logins)] == [True]


# ---------------------------------------------------------------------------------- every column
def _changed(col: str) -> str:
    """An SQL expression giving a different value of the column (both engines' SQL)."""
    kind = schema.events.c[col].type
    if col == "seq":
        return "seq + 1000"
    if col == "batch_id":
        return "batch_id + 1"
    if isinstance(kind, sa.DateTime):
        return f"{col} + INTERVAL '1 microsecond'"  # below the millisecond form 1 wrote
    if isinstance(kind, sa.Float):
        return f"coalesce({col}, 0) + 0.0001"  # a map point moved by about 10 m
    return f"coalesce({col}, '') || 'x'"


#: on PostgreSQL, where the verification reads a copy of the tables, the columns of every kind the
#: copy reads its own way (numbers, times, floats, texts of the key, a salted commitment, JSON)
PG_COLUMNS = ["seq", "batch_id", "event_id", "account_id", "occurred_at", "received_at", "geo_lat", "geo_lon"]
PG_COLUMNS += ["actor_name", "metadata", "salt", "erased"]


@pytest.mark.parametrize(
    ("backend", "col"), [("duckdb", c) for c in EVENT_COLUMNS] + [("postgres", c) for c in PG_COLUMNS]
)
def test_every_stored_column_is_covered(target: Target, col: str) -> None:
    # TARGET + 1 carries a geolocation (every other event does)
    tamper(target, f"UPDATE events SET {col} = {_changed(col)} WHERE seq = {TARGET + 1}")
    result = verified(target)
    first = result.first
    assert first is not None, f"changing {col} went unnoticed"
    if col == "seq":
        assert first.kind in ("missing", "inserted") and first.seq == TARGET + 1, result.summary()
    elif col == "batch_id":
        assert first.kind == "inserted" and first.seq == TARGET + 1, result.summary()
    else:
        assert (first.kind, first.seq, first.where) == ("altered", TARGET + 1, "hot store"), result.summary()


@pytest.mark.parametrize(
    ("backend", "value"),
    [("duckdb", "''"), ("duckdb", "chr(0)"), ("postgres", "''")],  # PostgreSQL text cannot hold NUL
    ids=["duckdb-empty", "duckdb-nul", "postgres-empty"],
)
@pytest.mark.parametrize("col", ["reason", "target_type", "geo_city", "changes"])
def test_null_replaced_by_empty_or_nul_string(target: Target, col: str, value: str) -> None:
    seq = TARGET  # no geolocation, no reason, no target, no changes
    assert rows(target, f"SELECT {col} FROM events WHERE seq = ?", [seq]) == [(None,)]
    tamper(target, f"UPDATE events SET {col} = {value} WHERE seq = {seq}")
    first = verified(target).first
    assert first is not None and (first.kind, first.seq) == ("altered", seq)


def test_geolocation_moved_on_the_map(target: Target) -> None:
    tamper(target, f"UPDATE events SET geo_lat = 48.8566, geo_lon = 2.3522 WHERE seq = {TARGET + 1}")
    first = verified(target).first
    assert first is not None and (first.kind, first.seq) == ("altered", TARGET + 1)


# ---------------------------------------------------------------------------------- quarantine
def _quarantined(store: Target, batch_id: int) -> list[tuple[Any, ...]]:
    return rows(store, "SELECT id, batch_id FROM quarantine WHERE batch_id = ? ORDER BY id", [batch_id])


def test_quarantined_record_edited(target: Target) -> None:
    qid = _quarantined(target, 3)[0][0]
    tamper(target, f"UPDATE quarantine SET reason = 'nothing wrong here' WHERE id = {qid}")
    first = verified(target).first
    assert first is not None and first.kind == "altered" and first.where == "quarantine (batch 3)"
    assert first.seq == 51 and f"quarantined record {qid} does not match its hash" in first.detail


def test_quarantined_record_edited_and_rehashed(target: Target) -> None:
    qid = _quarantined(target, 3)[0][0]
    tamper(
        target,
        f"UPDATE quarantine SET raw = '{{}}' WHERE id = {qid}",
    )
    rehash(target, f"id = {qid}", table="quarantine")
    first = verified(target).first
    assert first is not None and first.kind == "altered" and "quarantine digest" in first.detail


def test_quarantined_record_deleted(target: Target) -> None:
    qid = _quarantined(target, 2)[1][0]
    tamper(target, f"DELETE FROM quarantine WHERE id = {qid}")
    first = verified(target).first
    assert first is not None and (first.kind, first.where, first.seq) == ("missing", "quarantine (batch 2)", 26)
    assert "1 of the batch's 2 quarantined records are gone" in first.detail


@pytest.mark.parametrize("batch", ["3", "NULL"])
def test_quarantined_record_inserted(target: Target, batch: str) -> None:
    tamper(
        target,
        "INSERT INTO quarantine (received_at, source, position, reason, raw, batch_id, hash) "
        f"SELECT received_at, source, 'record 99', 'forged', '{{}}', {batch}, hash FROM quarantine LIMIT 1",
    )
    result = verified(target)
    assert not result.ok
    inserted = [b for b in result.breaks if b.kind == "inserted" and "quarantine" in b.where]
    assert inserted, result.summary()


# ---------------------------------------------------------------------------------- form 1 stores
def _downgrade(db_path: Path) -> None:
    """Make the file what an earlier auditdash left: no form versions, no chained quarantine."""
    tamper(
        db_path,
        "ALTER TABLE chain_batches DROP COLUMN version",
        "ALTER TABLE chain_batches DROP COLUMN quarantine_count",
        "ALTER TABLE chain_batches DROP COLUMN quarantine_digest",
        "ALTER TABLE quarantine DROP COLUMN batch_id",
        "ALTER TABLE quarantine DROP COLUMN hash",
        "DELETE FROM schema_version WHERE version = 6",
    )


@pytest.fixture
def v1_store(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store written in canonical form 1 (as before form 2 existed), then migrated on opening."""
    with monkeypatch.context() as patch:
        patch.setattr(writer, "HASH_VERSION", 1)
        with Database(db_path) as db:
            store_with_rejects(db, make_events(50, datetime(2026, 5, 1), datetime(2026, 7, 1)))
    _downgrade(db_path)
    return db_path


def test_form_1_store_still_verifies_and_detects_edits(v1_store: Path) -> None:
    result = verified(v1_store)  # opening migrates it: existing batches keep version 1
    assert result.ok, result.summary()
    assert rows(v1_store, "SELECT DISTINCT version FROM chain_batches") == [(1,)]
    assert any("not covered by the chain" in n for n in result.notes)  # its quarantine predates chaining
    copy = v1_store.with_name("edited.duckdb")
    shutil.copy(v1_store, copy)
    tamper(copy, "UPDATE events SET actor_id = 'someone-else' WHERE seq = 7")
    first = verified(copy).first
    assert first is not None and (first.kind, first.seq) == ("altered", 7)


def test_form_1_store_continues_in_form_2(v1_store: Path) -> None:
    with Database(v1_store) as db:
        store_with_rejects(db, make_events(30, datetime(2026, 10, 1), datetime(2026, 11, 1), prefix="n"))
    assert rows(v1_store, "SELECT version, count(*) FROM chain_batches GROUP BY 1 ORDER BY 1") == [(1, 2), (3, 2)]
    result = verified(v1_store)
    assert result.ok, result.summary()
    tamper(v1_store, "UPDATE events SET geo_lon = 0 WHERE seq = 51")  # the first of form 2, located
    first = verified(v1_store).first
    assert first is not None and (first.kind, first.seq) == ("altered", 51)


def test_switching_a_batch_to_form_1_is_caught(target: Target) -> None:
    tamper(target, "UPDATE chain_batches SET version = 1 WHERE batch_id = 2")
    result = verified(target)
    assert not result.ok and result.first is not None and result.first.seq == 26  # the batch's first event
    assert ("altered", "chain batch 2", "the batch record does not match its own hash") in [
        (b.kind, b.where, b.detail) for b in result.breaks
    ]


# ---------------------------------------------------------------------------------- archive
def test_archive_round_trip_of_mixed_forms(v1_store: Path) -> None:
    """Months of form 1 and form 2 batches archived, verified, restored: clean, geolocation carried."""
    with Database(v1_store) as db:
        store_with_rejects(db, make_events(30, datetime(2026, 6, 1), datetime(2026, 8, 1), prefix="old"))
    located = rows(v1_store, "SELECT count(*) FROM events WHERE geo_lat = 52.5 AND occurred_at < '2026-08-01'")
    with Database(v1_store) as db:
        where = locations(v1_store)
        result = run_purge(db, where, RetentionPolicy(), ADMIN, now=NOW)
        assert result.written == ["2026-05", "2026-06", "2026-07"], result
        checked = verify(db, where)
        assert checked.ok and checked.archived_events == 80, checked.summary()
        assert verify(db, where, archive_only=True).ok
        restored = restore(db, where, ADMIN, datetime(2026, 5, 1), datetime(2026, 8, 1))
        assert restored.restored == 80
        checked = verify(db, where)
        assert checked.ok, checked.summary()
        into = v1_store.with_name("investigation.duckdb")
        assert restore(db, where, ADMIN, datetime(2026, 5, 1), datetime(2026, 8, 1), into=into).restored == 80
    files = [str(p) for p in where.archive_dir.glob("*.parquet")]
    archived = rows(v1_store, "SELECT count(*) FROM read_parquet(?) WHERE geo_lat = 52.5", [files])
    assert archived == located and located[0][0] > 0


# ---------------------------------------------------------------------------------- status at start
def test_server_start_records_a_broken_tail(store: Path) -> None:
    from dashboard.web.app import create_app

    tamper(store, "UPDATE events SET outcome = 'failure' WHERE seq = 80")  # after the checkpoint
    db = Database(store)
    try:
        app = create_app(Settings(db_path=store, geo_dir=GEO_DIR), db)
        scheduler = app.server.extensions["auditdash"].scheduler
        job = scheduler.jobs["integrity.verify-start"]
        scheduler.start()
        try:
            deadline = time.monotonic() + 300  # a bound for a hung job, not a speed assertion
            while job.runs == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            scheduler.stop()
        assert job.runs == 1 and job.last_error is None, job.last_error
        status = read_integrity_status(db)
    finally:
        db.close()
    assert status is not None and status["ok"] is False and status["scope"] == "tail", status
    assert status["problem"].startswith("altered at seq 80 (hot store)")
    assert status["events"] == 50  # batches 3 and 4, after the checkpoint of batch 2
    assert set(status) == {"checked_at", "ok", "scope", "events", "problem"}
    datetime.fromisoformat(status["checked_at"].replace("Z", "+00:00"))


def test_status_is_kept_until_a_full_verification_clears_it(target: Target) -> None:
    from dashboard.evidence.status import scheduled_verify

    where = locations(target)
    tamper(target, "UPDATE events SET outcome = 'failure' WHERE seq = 10")  # before the checkpoint
    with Database(target) as db:
        assert read_integrity_status(db) is None
        assert scheduled_verify(db, where, tail=True)  # the tail is intact
        status = read_integrity_status(db)
        assert status is not None and (status["ok"], status["scope"], status["events"]) == (True, "tail", 50)
        assert not scheduled_verify(db, where)  # the full verification finds it
        assert scheduled_verify(db, where, tail=True)
        status = read_integrity_status(db)  # the tail check did not look there: the break stays
        assert status is not None and status["ok"] is False and status["scope"] == "full"
        if not is_pg(target):  # on PostgreSQL `raw` is a scratch DuckDB, without the store's tables
            with db.raw() as con:
                assert read_integrity_status(con) == status
        with db.connect() as conn:
            assert read_integrity_status(conn) == status
        db.set_meta(integrity.INTEGRITY_STATUS_META, "{not json")
        unreadable = read_integrity_status(db)
        assert unreadable is not None and unreadable["ok"] is False and "cannot be read" in unreadable["problem"]


def test_batch_of_quarantined_records_only_is_chained(target: Target) -> None:
    with Database(target) as db:
        with db.raw() as con:
            checked = validate_records(con, [{"id": "x1"}, {"id": "x2", "occurred_at": "never"}], now=NOW)
        assert checked.accepted.num_rows == 0 and len(checked.rejected) == 2
        result = store_batch(db, checked.accepted, checked.rejected, "test")
        assert (result.accepted, result.rejected, result.first_seq) == (0, 2, None)
    assert rows(
        target, "SELECT first_seq, last_seq, event_count, quarantine_count FROM chain_batches WHERE batch_id = 5"
    ) == [(101, 100, 0, 2)]
    result = verified(target)
    assert result.ok and result.batches == 5, result.summary()
    tamper(target, "DELETE FROM quarantine WHERE batch_id = 5")
    first = verified(target).first
    assert first is not None and (first.kind, first.where, first.seq) == ("missing", "quarantine (batch 5)", 101)

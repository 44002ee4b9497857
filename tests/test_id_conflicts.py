"""Ids are scoped by account, and a conflicting re-send is never lost.

Real DuckDB files; the ingest path of the CLI and the API (the Ingestor in-process, the Flask
test client, the `auditdash` command as a subprocess). See docs/events.md, "Ids".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa

from dashboard import cli
from dashboard.access.tokens import create_token, list_tokens
from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.ingest.pipeline import Ingestor
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store.db import Database
from dashboard.web.app import create_app
from tests.conftest import GEO_DIR, event
from tests.test_integrity import locations, make_events, store


@pytest.fixture(autouse=True)
def _geo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITDASH_GEO_DIR", str(GEO_DIR))


def run_cli(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> tuple[str, str]:
    """`auditdash ARGS` in-process, as the command runs it; its stdout and stderr."""
    assert cli.main(list(args)) == code
    out = capsys.readouterr()
    return out.out, out.err


def _records(docs: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [(i + 1, json.dumps(d)) for i, d in enumerate(docs)]


def _rows(db_path: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


def _quarantine(db: Database) -> list[tuple[str, str, str, str]]:
    with db.connect() as conn:
        rows = conn.execute(sa.text("SELECT source, position, reason, raw FROM quarantine ORDER BY id")).fetchall()
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


def _seq_of(db: Database, account: str, event_id: str) -> list[int]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT seq FROM events WHERE account_id = :a AND event_id = :e ORDER BY seq"),
            {"a": account, "e": event_id},
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_an_exact_resend_is_a_silent_duplicate(store_target: Path | str) -> None:
    original = event(id="dup-1", metadata={"a": 1, "b": [1, 2]}, changes={"role": ["agent", "admin"]})
    # the same event as another sender library writes it: other offset, other key order
    again = {**original, "occurred_at": "2026-05-01T11:30:00+02:00", "metadata": {"b": [1, 2], "a": 1}}
    with Database(store_target) as db, Ingestor(db) as ingestor:
        first = ingestor.ingest_batch(_records([original]), "file:a.ndjson")
        second = ingestor.ingest_batch(_records([again, original]), "api:other")
        assert (first.accepted, first.duplicates, first.conflicts) == (1, 0, 0)
        assert (second.accepted, second.duplicates, second.conflicts, second.rejected) == (0, 2, 0, 0)
        assert _quarantine(db) == []
        assert _seq_of(db, "acme", "dup-1") == [1]


def test_changed_content_is_a_conflict_kept_in_quarantine(store_target: Path | str) -> None:
    with Database(store_target) as db, Ingestor(db) as ingestor:
        ingestor.ingest_batch(_records([event(id="x0"), event(id="evt-7", action="auth.login")]), "file:day1.ndjson")
        changed = event(id="evt-7", action="auth.logout", actor={"id": "u1", "name": "Someone Else"})
        raw = json.dumps(changed)
        result = ingestor.ingest_batch([(4, raw)], "file:day2.ndjson", "line")
        assert (result.accepted, result.duplicates, result.conflicts) == (0, 0, 1)
        reason = (
            "conflict: id evt-7 already stored as seq 2 with different content "
            "(fields: action, actor.name, actor.email, actor.role)"
        )
        assert [(r.pos, r.reason, r.raw) for r in result.conflict_records] == [(4, reason, raw)]
        # kept, raw, where the quarantine list shows it; the stored event is untouched
        assert _quarantine(db) == [("file:day2.ndjson", "line 4", reason, raw)]
        with db.connect() as conn:
            stored = conn.execute(sa.text("SELECT seq, action, actor_name FROM events WHERE event_id = 'evt-7'")).all()
        assert [tuple(r) for r in stored] == [(2, "auth.login", "Ana Souza")]


def test_conflicts_within_one_batch(store_target: Path | str) -> None:
    first = event(id="same", outcome="success")
    docs = [event(id="other"), first, event(id="same", outcome="failure", reason="bad_password"), dict(first)]
    with Database(store_target) as db, Ingestor(db) as ingestor:
        result = ingestor.ingest_batch(_records(docs), "api:t", "index")
        assert (result.accepted, result.duplicates, result.conflicts) == (2, 1, 1)
        assert _seq_of(db, "acme", "same") == [2]
        (conflict,) = result.conflict_records
        assert conflict.pos == 3
        assert conflict.reason == (
            "conflict: id same already stored as seq 2 with different content (fields: outcome, reason)"
        )
        assert json.loads(conflict.raw) == docs[2]
        assert [q[1] for q in _quarantine(db)] == ["index 3"]


def test_the_same_id_in_two_accounts_is_two_events(store_target: Path | str) -> None:
    with Database(store_target) as db, Ingestor(db) as ingestor:
        a = ingestor.ingest_batch(_records([event(id="shared", account_id="tenant-a")]), "api:a")
        b = ingestor.ingest_batch(_records([event(id="shared", account_id="tenant-b", action="auth.logout")]), "api:b")
        assert (a.accepted, b.accepted, b.duplicates, b.conflicts) == (1, 1, 0, 0)
        assert _seq_of(db, "tenant-a", "shared") == [1]
        assert _seq_of(db, "tenant-b", "shared") == [2]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Database, Any]]:
    db = Database(tmp_path / "api.duckdb")
    app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR, reports_dir=tmp_path / "reports"), db)
    try:
        yield db, app.server.test_client()
    finally:
        db.close()


def _post(client: Any, token: str, docs: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    reply = client.post(
        "/api/v1/events",
        data=json.dumps(docs),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    return reply.status_code, reply.get_json()


def test_a_token_bound_to_an_account_cannot_take_another_accounts_ids(api: tuple[Database, Any]) -> None:
    db, client = api
    _, feeder_a = create_token(db, "feeder-a", accounts="tenant-a")
    _, feeder_b = create_token(db, "feeder-b", accounts=["tenant-b"])
    bound = {t.name: t.accounts for t in list_tokens(db)}
    assert bound == {"feeder-a": ("tenant-a",), "feeder-b": ("tenant-b",)}

    # tenant A's token tries to store (and so pre-empt) ids of tenant B
    squat = [event(id="b-1", account_id="tenant-b", action="auth.logout"), event(id="a-1", account_id="tenant-a")]
    status, reply = _post(client, feeder_a, squat)
    assert status == 200
    assert (reply["accepted"], reply["duplicates"], reply["conflicts"]) == (1, 0, [])
    reason = "account 'tenant-b' is not among the accounts api:feeder-a may send events for (tenant-a)"
    assert reply["rejected"] == [{"index": 0, "reason": reason}]
    assert [(q[0], q[1], q[2]) for q in _quarantine(db)] == [("api:feeder-a", "index 0", reason)]
    assert json.loads(_quarantine(db)[0][3]) == squat[0]

    # tenant B's own event with that id is stored: nothing was taken
    status, reply = _post(client, feeder_b, [event(id="b-1", account_id="tenant-b")])
    assert (status, reply["accepted"], reply["duplicates"], reply["conflicts"]) == (200, 1, 0, [])
    with db.raw() as con:
        rows = con.execute("SELECT account_id, action, source FROM events WHERE event_id = 'b-1'").fetchall()
    assert rows == [("tenant-b", "auth.login", "api:feeder-b")]

    # and a conflict is answered as one, separately from the duplicates
    status, reply = _post(
        client, feeder_b, [event(id="b-1", account_id="tenant-b"), event(id="b-1", account_id="tenant-b", ip="1.1.1.1")]
    )
    assert (status, reply["accepted"], reply["duplicates"], reply["rejected"]) == (200, 0, 1, [])
    (seq,) = _seq_of(db, "tenant-b", "b-1")
    assert reply["conflicts"] == [
        {"index": 1, "reason": f"conflict: id b-1 already stored as seq {seq} with different content (fields: ip)"}
    ]


def test_a_file_is_idempotent_through_the_cli_and_the_api(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db_path = tmp_path / "both.duckdb"
    docs = [event(id=f"f{i}", account_id=("tenant-a", "tenant-b")[i % 2]) for i in range(6)]
    src = tmp_path / "export-2026-05.ndjson"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    run_cli(capsys, "ingest", str(src), "--db", str(db_path))
    with Database(db_path) as db:
        _, unbound = create_token(db, "importer")  # bound to no account: may send for any
        app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR, reports_dir=tmp_path / "r"), db)
        status, reply = _post(app.server.test_client(), unbound, docs)
        assert (status, reply["accepted"], reply["duplicates"], reply["conflicts"], reply["rejected"]) == (
            200,
            0,
            6,
            [],
            [],
        )
    moved = tmp_path / "elsewhere" / "renamed.ndjson"
    moved.parent.mkdir()
    moved.write_bytes(src.read_bytes())
    out = json.loads(run_cli(capsys, "ingest", str(moved), "--db", str(db_path), "--json")[0])
    assert (out["accepted"], out["duplicates"], out["conflicts"]) == (0, 6, 0)
    sql = "SELECT count(*), count(DISTINCT event_id) FROM events WHERE source <> 'auditdash'"
    assert _rows(db_path, sql) == [(6, 6)]


def test_cli_summary_counts_conflicts(tmp_path: Path, db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day1 = tmp_path / "day1.ndjson"
    day1.write_text("".join(json.dumps(event(id=f"c{i}")) + "\n" for i in range(3)))
    run_cli(capsys, "ingest", str(day1), "--db", str(db_path))
    day2 = tmp_path / "day2.ndjson"
    lines = [event(id="c0"), event(id="c1", action="auth.logout"), event(id="c9")]
    day2.write_text("".join(json.dumps(d) + "\n" for d in lines))
    out, _ = run_cli(capsys, "ingest", str(day2), "--db", str(db_path))
    assert "accepted 1, duplicates 1, rejected 0, conflicts 1" in out
    assert "conflict at 2: conflict: id c1 already stored as seq 2 with different content (fields: action)" in out
    again = json.loads(run_cli(capsys, "ingest", str(day2), "--db", str(db_path), "--json")[0])
    assert (again["accepted"], again["duplicates"], again["conflicts"]) == (0, 2, 1)
    assert again["files"][0]["conflicts"] == 1
    listed, _ = run_cli(capsys, "quarantine", "list", "--db", str(db_path))
    assert listed.count("conflict: id c1 already stored as seq 2") == 2  # each conflicting import is kept


NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01: May, June and July are archived


def test_a_conflict_with_an_archived_event(tmp_path: Path) -> None:
    db_path = tmp_path / "archive.duckdb"
    docs = make_events(120, datetime(2026, 5, 1), datetime(2026, 11, 1))
    where = locations(db_path)
    with Database(db_path) as db:
        store(db, docs, batch=40, now=NOW)
        purged = run_purge(db, where, RetentionPolicy(), Actor("ana.admin", "admin"), now=NOW)
        assert purged.written == ["2026-05", "2026-06", "2026-07"]
        june = next(d for d in docs if d["occurred_at"].startswith("2026-06"))
        (seq,) = _rows_archived(where.archive_dir, june["id"])
        assert _seq_of(db, june["account_id"], june["id"]) == []  # only in the archive now

        changed = {**june, "outcome": "failure", "reason": "mfa_failed"}
        with Ingestor(db, archive_dir=where.archive_dir) as ingestor:
            result = ingestor.ingest_batch(_records([june, changed]), "replay", "line")
        assert (result.accepted, result.duplicates, result.conflicts) == (0, 1, 1)
        assert result.conflict_records[0].reason == (
            f"conflict: id {june['id']} already stored as seq {seq} with different content (fields: outcome, reason)"
        )
        assert [(q[1], json.loads(q[3])) for q in _quarantine(db)] == [("line 2", changed)]


def _rows_archived(archive: Path, event_id: str) -> list[int]:
    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT seq FROM read_parquet($f) WHERE event_id = $id",
            {"f": [str(p) for p in archive.glob("*.parquet")], "id": event_id},
        ).fetchall()
    finally:
        con.close()
    return [int(r[0]) for r in rows]


def test_tokens_made_before_accounts_existed_stay_unbound(tmp_path: Path) -> None:
    db_path = tmp_path / "old.duckdb"
    with Database(db_path) as db:
        create_token(db, "legacy")
    # the file as schema version 4 left it: no accounts column
    con = duckdb.connect(str(db_path))
    try:
        con.execute("ALTER TABLE api_tokens DROP COLUMN accounts")
        con.execute("DELETE FROM schema_version WHERE version >= 5")
    finally:
        con.close()
    with Database(db_path) as db:
        assert db.version() >= 5
        (legacy,) = list_tokens(db)
        assert (legacy.name, legacy.accounts) == ("legacy", None)
        token, _ = create_token(db, "bound", accounts="tenant-a, tenant-b")
        assert token.accounts == ("tenant-a", "tenant-b")


def test_token_accounts_on_the_command_line(db_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, told = run_cli(capsys, "tokens", "create", "feeder", "--accounts", "tenant-a,tenant-b", "--db", str(db_path))
    assert "token 'feeder' (ingest, accounts tenant-a,tenant-b): shown once" in told
    listed = json.loads(run_cli(capsys, "tokens", "list", "--db", str(db_path), "--json")[0])
    assert [(t["name"], t["accounts"]) for t in listed] == [("feeder", ["tenant-a", "tenant-b"])]
    table, _ = run_cli(capsys, "tokens", "list", "--db", str(db_path))
    assert table.splitlines()[1].rstrip().endswith("active   tenant-a,tenant-b")
    long = "t" * 129
    _, err = run_cli(capsys, "tokens", "create", "x", "--accounts", f"tenant-a,{long}", "--db", str(db_path), code=1)
    assert f"error: account {long!r} is not an account id (1 to 128 characters, no comma)" in err
    _, err = run_cli(
        capsys, "tokens", "create", "y", "--scope", "read", "--accounts", "a", "--db", str(db_path), code=1
    )
    assert "error: accounts bind what a token may ingest: give the token scope ingest, or no accounts" in err
    listed = json.loads(run_cli(capsys, "tokens", "list", "--db", str(db_path), "--json")[0])
    assert [t["name"] for t in listed] == ["feeder"]

"""PostgreSQL as the shared store: what a user sees on bad input, and several writers at once.

Every test runs a real PostgreSQL server (tests/pg.py) and the real `auditdash` command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import psycopg
import sqlalchemy as sa

from dashboard.store import rollups
from dashboard.store.db import CURRENT_VERSION, Database
from tests.conftest import GEO_DIR, ROOT, event, free_port, run_cli
from tests.pg import PG_PASSWORD, PgServer
from tests.test_rollups import DERIVED


def _write(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def test_an_unreachable_server_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://auditdash:{PG_PASSWORD}@127.0.0.1:{free_port()}/nowhere"
    done = run_cli("stats", "--db", url, check=False, env={"AUDITDASH_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert "cannot reach PostgreSQL at postgresql+psycopg://auditdash:***@127.0.0.1" in done.stderr
    assert "Check that the server runs" in done.stderr and "nothing was written" in done.stderr
    assert PG_PASSWORD not in done.stderr and "Traceback" not in done.stderr


def test_wrong_credentials_are_named_and_nothing_is_written(pg_server: PgServer, pg_url: str, tmp_path: Path) -> None:
    name = pg_url.rsplit("/", 1)[1]
    done = run_cli(
        "stats", "--db", pg_server.url(name, password="wrong"), check=False, env={"AUDITDASH_HOME": str(tmp_path)}
    )
    assert done.returncode == 1
    assert "refused the credentials" in done.stderr and "Check the user name and password" in done.stderr
    assert "Traceback" not in done.stderr
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:  # not even the schema was made
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)


def test_a_database_of_an_older_schema_is_refused_untouched(pg_url: str, tmp_path: Path) -> None:
    with Database(pg_url) as db, db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM schema_version WHERE version > 7"))
    done = run_cli("stats", "--db", pg_url, check=False, env={"AUDITDASH_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert f"holds auditdash schema version 7, older than this auditdash ({CURRENT_VERSION})" in done.stderr
    assert "auditdash migrate --to URL" in done.stderr
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (7,)


def test_events_are_partitioned_by_month_with_ids_unique_per_account(pg_url: str, tmp_path: Path) -> None:
    docs = [
        event(id="a", occurred_at="2026-01-31T23:59:59.999Z"),
        event(id="b", occurred_at="2026-02-01T00:00:00Z"),
        event(id="a", account_id="other", occurred_at="2026-02-03T10:00:00Z"),
    ]
    run_cli("ingest", "--db", pg_url, str(_write(tmp_path / "e.ndjson", docs)), env={"AUDITDASH_HOME": str(tmp_path)})
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        parts = conn.execute(
            "SELECT c.relname, count(e.*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "LEFT JOIN events e ON e.tableoid = c.oid WHERE i.inhparent = 'events'::regclass "
            "AND c.relkind = 'r' GROUP BY c.relname ORDER BY 1"
        ).fetchall()
        assert parts == [("events_2026_01", 1), ("events_2026_02", 2)]
        ids = conn.execute("SELECT account_id, event_id, seq FROM event_ids ORDER BY seq").fetchall()
        assert ids == [("acme", "a", 1), ("acme", "b", 2), ("other", "a", 3)]


def test_four_processes_ingesting_overlapping_files_store_each_event_once(pg_url: str, tmp_path: Path) -> None:
    # 400 ids; each process sends 200 of them (half shared with the next process, the last wraps
    # around), in files of 25 events (a batch each), and its first file once more at the end
    with Database(pg_url):  # the schema once, before the writers race
        pass
    env = {**os.environ, "AUDITDASH_GEO_DIR": str(GEO_DIR), "AUDITDASH_HOME": str(tmp_path)}
    procs = []
    for n in range(4):
        ids = [(n * 100 + i) % 400 for i in range(200)]
        files = [
            _write(tmp_path / f"p{n}-{k}.ndjson", [event(id=f"e{i:04d}", actor={"id": f"u{i % 7}"}) for i in chunk])
            for k, chunk in enumerate(ids[k : k + 25] for k in range(0, 200, 25))
        ]
        command = [sys.executable, "-m", "dashboard.cli", "ingest", "--db", pg_url, *map(str, files), str(files[0])]
        procs.append(
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        )
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        count, distinct, first, last = conn.execute(
            "SELECT count(*), count(DISTINCT event_id), min(seq), max(seq) FROM events"
        ).fetchone() or (0, 0, 0, 0)
        assert (count, distinct, first, last) == (400, 400, 1, 400)
        chained = conn.execute("SELECT sum(event_count) FROM chain_batches").fetchone()
        assert chained == (400,)
    verified = run_cli("verify", "--db", pg_url, "--json", env={"AUDITDASH_HOME": str(tmp_path)})
    result = json.loads(verified.stdout)
    assert result["ok"] is True and result["checked_events"] == 400, verified.stdout
    # the rollups the four writers added to, batch by batch, count every event once
    with Database(pg_url) as db, db.reading(DERIVED) as con:
        assert rollups.differences(con) == []


def test_verify_on_postgres_names_an_altered_event(pg_url: str, tmp_path: Path) -> None:
    env = {"AUDITDASH_HOME": str(tmp_path)}
    run_cli(
        "ingest", "--db", pg_url, str(_write(tmp_path / "e.ndjson", [event(id=f"x{i}") for i in range(5)])), env=env
    )
    run_cli("checkpoint", "--db", pg_url, env=env)
    clean = json.loads(run_cli("verify", "--db", pg_url, "--json", env=env).stdout)
    assert clean["ok"] is True and clean["checkpoints_checked"] == 1, clean
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:  # a tamperer with SQL access
        conn.execute("UPDATE events SET actor_id = 'someone-else' WHERE event_id = 'x3'")
    done = run_cli("verify", "--db", pg_url, "--json", env=env, check=False)
    assert done.returncode != 0
    result = json.loads(done.stdout)
    assert result["ok"] is False and result["breaks"][0]["seq"] == 4, done.stdout


def test_migrate_copies_a_duckdb_store_and_running_it_again_is_safe(pg_url: str, tmp_path: Path) -> None:
    env = {"AUDITDASH_HOME": str(tmp_path)}
    source = tmp_path / "data" / "old.duckdb"
    docs = [event(id=f"m{i}", occurred_at=f"2026-0{1 + i % 3}-1{i % 9}T08:00:00Z") for i in range(30)]
    run_cli("ingest", "--db", str(source), str(_write(tmp_path / "m.ndjson", [*docs, {"id": "bad"}])), env=env)
    add_user_cli = ("users", "add", "vera", "--role", "compliance", "--password-stdin", "--db", str(source))
    run_cli(*add_user_cli, input_text="vera-compliance-password\n", env=env)
    run_cli("checkpoint", "--db", str(source), env=env)

    first = json.loads(run_cli("migrate", "--from", str(source), "--to", pg_url, "--json", env=env).stdout)
    assert first["rows"]["events"] >= 30 and first["rows"]["quarantine"] == 1
    assert first["rows"]["dashboard_users"] == 1 and first["rows"]["checkpoints"] == 1
    assert first["verify"]["ok"] is True, first
    again = json.loads(run_cli("migrate", "--from", str(source), "--to", pg_url, "--json", env=env).stdout)
    assert again["rows"]["events"] == 0 and again["rows"]["dashboard_users"] == 0
    assert again["verify"]["ok"] is True, again

    listed = run_cli("users", "list", "--db", pg_url, env=env).stdout
    assert "vera" in listed and "compliance" in listed
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        ids = conn.execute("SELECT count(*) FROM events WHERE event_id LIKE 'm%'").fetchone()
        assert ids == (30,)
    verified = json.loads(run_cli("verify", "--db", pg_url, "--json", env=env).stdout)
    assert verified["ok"] is True and verified["checkpoints_checked"] >= 1, verified


def test_migrate_refuses_a_target_with_another_chain(pg_url: str, tmp_path: Path) -> None:
    env = {"AUDITDASH_HOME": str(tmp_path)}
    source = tmp_path / "data" / "old.duckdb"
    run_cli("ingest", "--db", str(source), str(_write(tmp_path / "a.ndjson", [event(id="a")])), env=env)
    run_cli("ingest", "--db", pg_url, str(_write(tmp_path / "b.ndjson", [event(id="b")])), env=env)
    done = run_cli("migrate", "--from", str(source), "--to", pg_url, env=env, check=False)
    assert done.returncode == 1 and "holds another chain" in done.stderr and "nothing was copied" in done.stderr
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT event_id FROM events").fetchall() == [("b",)]


def test_migrate_from_an_older_file_writes_nothing_to_the_target(pg_url: str, tmp_path: Path) -> None:
    env = {"AUDITDASH_HOME": str(tmp_path)}
    source = tmp_path / "data" / "old.duckdb"
    run_cli("ingest", "--db", str(source), str(_write(tmp_path / "a.ndjson", [event(id="a")])), env=env)
    con = duckdb.connect(str(source))
    con.execute("DELETE FROM schema_version WHERE version >= ?", [CURRENT_VERSION])  # an older auditdash's file
    con.close()
    done = run_cli("migrate", "--from", str(source), "--to", pg_url, env=env, check=False)
    assert done.returncode == 1, done.stderr
    assert f"schema version {CURRENT_VERSION - 1}," in done.stderr
    assert "nothing was written to the target" in done.stderr
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()
    assert tables == (0,), "the target was written before the source was checked"

"""The store's later features on PostgreSQL: canonical form 3 (salted personal fields), rollups and
free-text values kept in the batch's transaction, saved views, and the migrations that add them to
an older PostgreSQL store. A real PostgreSQL server (tests/pg.py) and the real `auditdash` command.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from dashboard.access import saved_views
from dashboard.access.users import Actor
from dashboard.filters import Filters, View
from dashboard.store import analytics as A
from dashboard.store import rollups
from dashboard.store.db import CURRENT_VERSION, Database
from dashboard.store.writer import HASH_VERSION
from tests.conftest import cli, event
from tests.test_rollups import DERIVED, make_docs

#: the tables migrations 11, 13 and 14 make
LATER_TABLES = ("saved_views", *DERIVED[1:], "rollup_state", "text_state")


def _write(path: Path, docs: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def _differences(url: str) -> list[str]:
    with Database(url) as db, db.reading(DERIVED) as con:
        return rollups.differences(con)


def _sql(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"AUDITDASH_HOME": str(tmp_path)}


def test_ingest_on_postgres_hashes_form_3_keeps_the_rollups_and_verifies(
    pg_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    docs = make_docs(400, 5, datetime(2026, 9, 1), datetime(2026, 11, 20), "p")
    first = _write(tmp_path / "a.ndjson", docs[:250])
    second = _write(tmp_path / "b.ndjson", docs[200:])  # 50 resent: duplicates, counted once
    cli("ingest", "--db", pg_url, str(first), env={**env, "AUDITDASH_BATCH_SIZE": "60"})
    out = json.loads(cli("ingest", "--db", pg_url, str(second), "--json", env=env).stdout)
    assert (out["accepted"], out["duplicates"]) == (150, 50)

    assert _sql(pg_url, "SELECT DISTINCT version FROM chain_batches") == [(HASH_VERSION,)]
    assert _sql(pg_url, "SELECT count(*), count(salt), count(erased) FROM events") == [(400, 400, 0)]
    verified = json.loads(cli("verify", "--db", pg_url, "--json", env=env).stdout)
    assert verified["ok"] is True and verified["checked_events"] == 400, verified

    assert _differences(pg_url) == []
    # the 400 events and the verification's own audit event
    assert _sql(pg_url, "SELECT events, seq_sum FROM rollup_state") == [(401, sum(range(1, 402)))]
    rollups.forget_checks()
    view = View.of(Filters(preset="90d", dashboard_activity=True), datetime(2026, 11, 20, 12, tzinfo=UTC))
    with Database(pg_url) as db, db.connect() as conn:
        assert rollups.in_step(conn)
        fast = A.headline(conn, view)
        with rollups.raw_only():
            assert A.headline(conn, view) == fast
    assert fast.events == 400


def test_free_text_finds_the_same_events_from_the_kept_values(pg_url: str, tmp_path: Path, env: dict[str, str]) -> None:
    docs = [
        event(id="t1", actor={"id": "u-7", "name": "Mira Kessler", "email": "mira@example.org"}),
        event(
            id="t2",
            actor={"id": "u-8", "name": "Otto Lang"},
            target={"type": "contact", "id": "c1", "name": "Kessler GmbH"},
        ),
        event(id="t3", actor={"id": "u-9", "name": "Ana Ruiz"}),
    ]
    cli("ingest", "--db", pg_url, str(_write(tmp_path / "t.ndjson", docs)), env=env)
    assert _sql(pg_url, "SELECT actor_name, n FROM text_actors ORDER BY 1") == [
        ("Ana Ruiz", 1),
        ("Mira Kessler", 1),
        ("Otto Lang", 1),
    ]
    assert _sql(pg_url, "SELECT target_name, n FROM text_targets") == [("Kessler GmbH", 1)]
    rollups.forget_checks()
    rollups.forget_text_matches()
    with Database(pg_url) as db, db.connect() as conn:
        match = rollups.resolve_text(conn, "kessler")
        assert match is not None and match.actor_ids == ("u-7",) and match.seqs == (2,)


def test_saved_views_on_postgres(pg_url: str) -> None:
    with Database(pg_url) as db:
        ana = Actor("ana", "analyst")
        saved = saved_views.save(db, ana, "Failed logins", Filters(preset="7d", outcome="failure"), shared=True)
        assert [v.name for v in saved_views.visible(db, "ana")] == ["Failed logins"]
        assert [v.name for v in saved_views.visible(db, "bo")] == ["Failed logins"]  # shared
        assert saved_views.get(db, saved.id, "bo").filters.outcome == "failure"


def test_an_older_postgres_store_gains_migrations_11_to_14_with_its_events_counted(
    pg_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    docs = make_docs(120, 9, datetime(2026, 10, 1), datetime(2026, 11, 1), "o")
    cli("ingest", "--db", pg_url, str(_write(tmp_path / "o.ndjson", docs)), env=env)
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:  # as auditdash of schema 12 left it
        for table in LATER_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM schema_version WHERE version IN (11, 13, 14) OR version > 14")
    refused = cli("stats", "--db", pg_url, env=env, check=False)
    assert refused.returncode == 1 and "auditdash migrate --to URL" in refused.stderr

    upgraded = json.loads(cli("migrate", "--to", pg_url, "--json", env=env).stdout)
    assert upgraded["verify"]["ok"] is True, upgraded
    assert _sql(pg_url, "SELECT max(version), count(*) FROM schema_version") == [(CURRENT_VERSION, CURRENT_VERSION)]
    assert _differences(pg_url) == []
    assert _sql(pg_url, "SELECT events FROM rollup_state") == [(121,)]  # and the verification's audit event
    assert _sql(pg_url, "SELECT count(*) FROM saved_views") == [(0,)]
    # the writer adds to the rebuilt counts
    more = make_docs(30, 10, datetime(2026, 10, 1), datetime(2026, 11, 1), "n")
    cli("ingest", "--db", pg_url, str(_write(tmp_path / "n.ndjson", more)), env=env)
    assert _differences(pg_url) == []
    assert json.loads(cli("verify", "--db", pg_url, "--json", env=env).stdout)["ok"] is True


def test_a_postgres_store_of_schema_10_gains_the_salt_and_erased_columns(pg_url: str, env: dict[str, str]) -> None:
    with Database(pg_url):
        pass
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        conn.execute("ALTER TABLE events DROP COLUMN salt, DROP COLUMN erased")
        for table in LATER_TABLES:
            conn.execute(f"DROP TABLE {table}")
        conn.execute("DELETE FROM schema_version WHERE version > 10")
    cli("migrate", "--to", pg_url, env=env)
    columns = _sql(
        pg_url,
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'events' "
        "AND column_name IN ('salt', 'erased') ORDER BY 1",
    )
    assert columns == [("erased",), ("salt",)]
    assert _sql(pg_url, "SELECT max(version) FROM schema_version") == [(CURRENT_VERSION,)]


def test_migrate_from_duckdb_counts_the_copied_events_once_also_when_run_again(
    pg_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "data" / "old.duckdb"
    docs = make_docs(90, 4, datetime(2026, 10, 1), datetime(2026, 11, 1), "m")
    cli("ingest", "--db", str(source), str(_write(tmp_path / "m.ndjson", docs)), env=env)
    for _ in range(2):
        copied = json.loads(cli("migrate", "--from", str(source), "--to", pg_url, "--json", env=env).stdout)
        assert copied["verify"]["ok"] is True, copied
        assert _differences(pg_url) == []
    # the verification's own audit events are counted too
    (events,) = _sql(pg_url, "SELECT count(*) FROM events")[0]
    assert _sql(pg_url, "SELECT events FROM rollup_state") == [(events,)]


def test_erasure_purge_and_restore_on_postgres_run_from_the_command_line(
    pg_url: str, tmp_path: Path, env: dict[str, str]
) -> None:
    # older than the hot period (90 days), within the archive's (a year)
    day = (datetime.now(UTC) - timedelta(days=200)).replace(hour=10, minute=0, second=0, microsecond=0)
    first, after = day.replace(day=1), (day.replace(day=1) + timedelta(days=32)).replace(day=1)
    old = event(id="e1", actor={"id": "u-1", "name": "Ana Souza"}, occurred_at=day.strftime("%Y-%m-%dT%H:%M:%SZ"))
    cli("ingest", "--db", pg_url, str(_write(tmp_path / "e.ndjson", [old])), env=env)
    done = json.loads(
        cli("erase", "--db", pg_url, "--subject", "u-1", "--reason", "request 42", "--json", env=env).stdout
    )
    assert done["hot_events"] == 1 and done["compacted"] is False
    purge = cli("purge", "--db", pg_url, env=env)
    assert "archived 1 events in 1 months, deleted 1" in purge.stdout
    assert _sql(pg_url, "SELECT count(*) FROM events WHERE event_id = 'e1'") == [(0,)]
    cli("archive", "restore", "--from", f"{first:%Y-%m-%d}", "--to", f"{after:%Y-%m-%d}", "--db", pg_url, env=env)
    assert _sql(pg_url, "SELECT event_id, actor_id, actor_name FROM events WHERE event_id = 'e1'") == [
        ("e1", "u-1", done["pseudonym"])
    ]
    assert json.loads(cli("verify", "--db", pg_url, "--json", env=env).stdout)["ok"] is True

"""Retention on PostgreSQL, what only PostgreSQL has: a month's partition dropped by the purge and made
again by a restore (with `event_ids` and the rollups in step), archives moved between DuckDB and
PostgreSQL. The behaviour both engines share (purge, dry run, restore, legal holds, expiry, archive
tampering, the Retention page, a person's erasure) is tested on both by tests/test_retention.py and
tests/test_erasure.py. A real PostgreSQL server (tests/pg.py), real DuckDB files and Parquet
archives, in-process calls.
"""

from __future__ import annotations

import itertools
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.evidence.locations import Locations
from dashboard.evidence.verify import verify
from dashboard.filters import Filters, View
from dashboard.retention.holds import add_hold, release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import plan_purge, run_purge
from dashboard.retention.restore import restore
from dashboard.store import analytics as A
from dashboard.store import rollups
from dashboard.store.archive import read_manifests
from dashboard.store.db import Database
from dashboard.store.transfer import copy_store
from tests.pg import PgServer
from tests.test_integrity import make_events, store
from tests.test_rollups import DERIVED

NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff (90 days) 2026-08-01
POLICY = RetentionPolicy()
ADMIN = Actor("ana.admin", "admin")
#: the test events' period: May to October 2026 (May, June and July leave the hot store)
PERIOD = (datetime(2026, 5, 1), datetime(2026, 11, 1))
_copies = itertools.count(1)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own: the files kept beside a PostgreSQL store (archive, keys) go there."""
    monkeypatch.setenv("AUDITDASH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _where(db: Database) -> Locations:
    return Locations.resolve(Settings(), db.path)


def _sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return conn.execute(query, params).fetchall()


def _figures(db: Database) -> tuple[Any, ...]:
    """What the pages show of the test period (from the rollups), and the raw scan's answer."""
    rollups.forget_checks()
    view = View.of(Filters(preset=None, start=PERIOD[0], end=PERIOD[1]), NOW)
    with db.connect() as conn:
        assert rollups.in_step(conn)
        fast = (A.headline(conn, view), A.top_users_rows(conn, view))
        with rollups.raw_only():
            assert (A.headline(conn, view), A.top_users_rows(conn, view)) == fast
    return fast


def _clean(db: Database) -> None:
    checked = verify(db, _where(db))
    assert checked.ok, checked.summary()
    with db.reading(DERIVED) as con:
        assert rollups.differences(con) == []


def _partitions(url: str) -> list[str]:
    rows = _sql(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'events' ORDER BY 1",
    )
    return [r[0] for r in rows]


@pytest.fixture(scope="module")
def pg_template(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of 240 events from May to October 2026 in 4 batches, built once: each test
    gets a copy (`CREATE DATABASE ... TEMPLATE`)."""
    name = f"tmpl_{os.getpid()}"
    url = pg_server.create_database(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITDASH_HOME", str(tmp_path_factory.mktemp("template-home")))
        with Database(url) as db:
            store(db, make_events(240, *PERIOD), batch=60)
    return name


@pytest.fixture
def pg_store(pg_server: PgServer, pg_template: str) -> str:
    """A copy of the template database."""
    name = f"{pg_template}_{next(_copies)}"
    with psycopg.connect(pg_server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    return pg_server.url(name)


def test_months_partitions_dropped_and_made_again_with_ids_and_rollups(pg_store: str) -> None:
    """What the purge and the restore do to PostgreSQL's own tables (the behaviour both engines share
    is tested on both in tests/test_retention.py and tests/test_erasure.py): a month the purge empties
    loses its partition, a restore makes it again, `event_ids` and the rollups follow each step."""
    url = pg_store
    with Database(url) as db:
        where = _where(db)
        before = _figures(db)
        hashes = dict(_sql(url, "SELECT seq, hash FROM events WHERE occurred_at < '2026-08-01'"))
        add_hold(db, ADMIN, "dispute", start=datetime(2026, 7, 20), end=datetime(2026, 7, 21))
        plan = plan_purge(db, where, POLICY, NOW)
        assert [m.month for m in plan.months] == ["2026-05", "2026-06", "2026-07"] and plan.held > 0

        result = run_purge(db, where, POLICY, ADMIN, now=NOW)
        assert result.archived == result.deleted == plan.moves == len(hashes) - plan.held
        # May and June left whole: their partitions are gone; July keeps its held events
        parts = _partitions(url)
        assert "events_2026_05" not in parts and "events_2026_06" not in parts and "events_2026_07" in parts
        assert _sql(url, "SELECT count(*) FROM events WHERE occurred_at < '2026-08-01'") == [(plan.held,)]
        assert _sql(url, "SELECT count(*) FROM event_ids WHERE occurred_at < '2026-08-01'") == [(plan.held,)]
        manifests, _ = read_manifests(where.archive_dir)
        archived = pq.read_table(where.archive_dir / manifests["2026-06"].file)
        assert archived.schema.field("geo_lat").type == "float"  # the same file as DuckDB writes
        _clean(db)
        assert _figures(db) != before  # the archived months left the hot store's figures

        back = restore(db, where, ADMIN, datetime(2026, 5, 1), datetime(2026, 8, 1))
        assert back.restored == result.deleted and back.skipped == 0  # held events never left
        assert "events_2026_05" in _partitions(url)
        assert dict(_sql(url, "SELECT seq, hash FROM events WHERE occurred_at < '2026-08-01'")) == hashes
        assert _sql(url, "SELECT count(*) FROM event_ids WHERE occurred_at < '2026-08-01'") == [(len(hashes),)]
        assert _figures(db) == before
        _clean(db)

        # the restore's hold released, the next purge finds the months archived: it only deletes
        assert back.hold_id is not None
        release_hold(db, back.hold_id, ADMIN, "investigation closed")
        again = run_purge(db, where, POLICY, ADMIN, now=NOW)
        assert again.written == [] and again.deleted == back.restored
        assert "events_2026_05" not in _partitions(url)
        _clean(db)


def test_archives_move_from_duckdb_to_postgres_and_back(pg_url: str, tmp_path: Path) -> None:
    duck_path = tmp_path / "duck" / "audit.duckdb"
    with Database(duck_path) as duck:
        store(duck, make_events(240, *PERIOD), batch=60)
        count = sa.text("SELECT count(*) FROM events WHERE strftime(occurred_at, '%Y-%m') = :m")
        with duck.connect() as conn:
            in_june, in_august = (conn.execute(count, {"m": m}).scalar() for m in ("2026-06", "2026-08"))
        duck_where = _where(duck)
        first = run_purge(duck, duck_where, POLICY, ADMIN, now=NOW)  # May-July archived by DuckDB
        assert first.written == ["2026-05", "2026-06", "2026-07"]
        with Database(pg_url) as pg:
            copy_store(duck, pg)
            pg_where = _where(pg)
            shutil.copytree(duck_where.archive_dir, pg_where.archive_dir)
            # the DuckDB archive restores into PostgreSQL
            june = (datetime(2026, 6, 1), datetime(2026, 7, 1))
            back = restore(pg, pg_where, ADMIN, *june)
            assert back.restored == in_june and back.skipped == 0
            copy = restore(pg, pg_where, ADMIN, *june, into=tmp_path / "investigation.duckdb")
            assert copy.restored == in_june
            # PostgreSQL archives August (a month DuckDB still holds hot)
            later = datetime(2026, 12, 20)
            moved = run_purge(pg, pg_where, POLICY, ADMIN, now=later)
            assert "2026-08" in moved.written and "events_2026_08" not in _partitions(pg_url)
            _clean(pg)
            august = pg_where.archive_dir / read_manifests(pg_where.archive_dir)[0]["2026-08"].file
        # the PostgreSQL archive of August goes to DuckDB: its purge finds the month archived, deletes
        # it, and a restore brings it back from the file PostgreSQL wrote
        shutil.copy(august, duck_where.archive_dir / august.name)
        shutil.copy(pg_where.archive_dir / "2026-08.manifest.json", duck_where.archive_dir)
        again = run_purge(duck, duck_where, POLICY, ADMIN, now=later)
        assert "2026-08" not in again.written and again.deleted >= in_august
        _clean(duck)
        restored = restore(duck, duck_where, ADMIN, datetime(2026, 8, 1), datetime(2026, 9, 1))
        assert restored.restored == in_august
        _clean(duck)

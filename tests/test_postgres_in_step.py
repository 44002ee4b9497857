"""On PostgreSQL, whether the rollups count the stored events is read from the events' tally (a
row kept by statement triggers on `events` and on each monthly partition), never from the events:
every change behind auditdash's back, through the parent table or straight into a partition, sends
the figures to the raw events until a rebuild; auditdash's own ingest, purge, restore and erasure
keep them in step. A real PostgreSQL server (tests/pg.py), in-process calls.
"""

from __future__ import annotations

import itertools
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.evidence.locations import Locations
from dashboard.filters import Filters, View
from dashboard.retention.erasure import erase
from dashboard.retention.holds import release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store import analytics as A
from dashboard.store import rollups
from dashboard.store.backend import postgres
from dashboard.store.db import CURRENT_VERSION, Database
from tests.pg import PgServer
from tests.test_integrity import make_events, store

NOW = datetime(2026, 11, 20, 12, 0)  # the hot period (90 days) starts 2026-08-22
ADMIN = Actor("ana.admin", "admin")
#: the test events' period: May to October 2026
PERIOD = (datetime(2026, 5, 1), datetime(2026, 11, 1))
#: what the check may read: the two one-row tables and the catalog
CHECK_READS = {"rollup_state", "events_tally", "pg_trigger", "pg_inherits"}
_copies = itertools.count(1)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDITDASH_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


@pytest.fixture(scope="module")
def pg_template(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    """120 events from May to October 2026 in 2 batches, built once; each test gets a copy."""
    name = f"instep_{os.getpid()}"
    url = pg_server.create_database(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDITDASH_HOME", str(tmp_path_factory.mktemp("template-home")))
        with Database(url) as db:
            store(db, make_events(120, *PERIOD), batch=60)
    return name


@pytest.fixture
def url(pg_server: PgServer, pg_template: str) -> str:
    name = f"{pg_template}_{next(_copies)}"
    with psycopg.connect(pg_server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    return pg_server.url(name)


def _in_step(db: Database) -> bool:
    rollups.forget_checks()
    with db.connect() as conn:
        return rollups.in_step(conn)


def _tally_counts_the_events(url: str) -> None:
    """The tally equals a count of the events, and so does `rollup_state`."""
    live = _sql(url, "SELECT count(*), coalesce(sum(seq), 0) FROM events")[0]
    assert _sql(url, "SELECT events, seq_sum, known FROM events_tally") == [(*live, True)]
    assert _sql(url, "SELECT events, seq_sum FROM rollup_state") == [live]


def _rebuild(db: Database) -> None:
    with postgres.chain_transaction(db.engine) as cur:
        rollups.rebuild_postgres(cur)


def _figures_agree(db: Database) -> int:
    """The figures the pages read (rollups when in step) equal the raw events' count."""
    rollups.forget_checks()
    view = View.of(Filters(preset=None, start=PERIOD[0], end=datetime(2027, 1, 1)), NOW)
    with db.connect() as conn:
        shown = A.headline(conn, view).events
        with rollups.raw_only():
            assert A.headline(conn, view).events == shown
    return shown


#: changes behind auditdash's back: through the parent table, straight into a partition, and to
#: the triggers and partitions themselves
OUT_OF_BAND = {
    "insert through events": ["INSERT INTO events SELECT * FROM events WHERE seq = 3"],
    "delete through events": ["DELETE FROM events WHERE seq = 5"],
    "seq changed through events": ["UPDATE events SET seq = seq + 1000 WHERE seq = 7"],
    "row moved to another month through events": [
        "UPDATE events SET occurred_at = occurred_at + INTERVAL '40 days', seq = seq + 1 "
        "WHERE seq = (SELECT max(seq) FROM events_2026_06)"
    ],
    "insert into a partition": ["INSERT INTO events_2026_06 SELECT * FROM events_2026_06 LIMIT 1"],
    "delete from a partition": ["DELETE FROM events_2026_06 WHERE seq = (SELECT min(seq) FROM events_2026_06)"],
    "seq changed in a partition": [
        "UPDATE events_2026_06 SET seq = seq + 1000 WHERE seq = (SELECT min(seq) FROM events_2026_06)"
    ],
    "truncate of a partition": ["TRUNCATE events_2026_07"],
    "a trigger disabled": ["ALTER TABLE events_2026_08 DISABLE TRIGGER events_tally_insert"],
    "a partition made without the triggers": [
        "CREATE TABLE events_2027_03 PARTITION OF events FOR VALUES FROM ('2027-03-01') TO ('2027-04-01')"
    ],
}


def test_every_change_behind_auditdash_s_back_is_seen_and_a_rebuild_repairs_it(url: str) -> None:
    with Database(url) as db:
        assert _in_step(db)
        _tally_counts_the_events(url)
        for case, statements in OUT_OF_BAND.items():
            for statement in statements:
                _sql(url, statement)
            assert not _in_step(db), case
            _figures_agree(db)  # the raw events' figures meanwhile
            _rebuild(db)
            assert _in_step(db), case
            _tally_counts_the_events(url)
            assert _figures_agree(db) == _sql(url, "SELECT count(*) FROM events")[0][0]


def test_a_copy_into_a_partition_is_counted_as_any_insert(url: str) -> None:
    with Database(url) as db, psycopg.connect(url.replace("+psycopg", "")) as conn:
        with conn.cursor() as cur:
            data = cur.execute("SELECT * FROM events_2026_05 ORDER BY seq LIMIT 1").fetchall()
            with cur.copy("COPY events_2026_05 FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        conn.commit()
        assert not _in_step(db)
        (n,) = _sql(url, "SELECT events FROM events_tally")[0]
        assert n == _sql(url, "SELECT count(*) FROM events")[0][0] == 121


def test_auditdash_s_own_ingest_purge_restore_and_erasure_keep_it_in_step(url: str) -> None:
    with Database(url) as db:
        where = Locations.resolve(Settings(), db.path)
        store(db, make_events(40, datetime(2026, 11, 1), datetime(2026, 11, 15), seed=2, prefix="d"), batch=40)
        assert "events_2026_11" in [
            r[0] for r in _sql(url, "SELECT relname FROM pg_class WHERE relname LIKE 'events_2%'")
        ]
        assert _in_step(db)
        _tally_counts_the_events(url)
        # the purge drops the partitions of whole months (DETACH fires no trigger) and deletes rows
        purged = run_purge(db, where, RetentionPolicy(), ADMIN, now=NOW)
        assert purged.deleted > 0 and "events_2026_05" not in [r[0] for r in _sql(url, "SELECT relname FROM pg_class")]
        assert _in_step(db)
        _tally_counts_the_events(url)
        back = restore(db, where, ADMIN, datetime(2026, 5, 1), datetime(2026, 8, 1))
        assert back.restored == purged.deleted
        assert _in_step(db)
        _tally_counts_the_events(url)
        assert back.hold_id is not None
        release_hold(db, back.hold_id, ADMIN, "investigation closed")
        done = erase(db, where, ADMIN, "u1", "request 9")
        assert done.hot_events > 0
        assert _in_step(db)
        _tally_counts_the_events(url)
        # every partition the writer and the restore made carries the triggers
        assert _sql(
            url,
            "SELECT count(*) FROM pg_inherits i WHERE i.inhparent = 'events'::regclass AND "
            "(SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = i.inhrelid AND g.tgname LIKE 'events_tally_%') <> 4",
        ) == [(0,)]


def _sent(db: Database) -> list[tuple[str, Any]]:
    """The statements one check sends."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, params))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert _in_step(db)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return sent


def _relations(plan: Any) -> set[str]:
    if isinstance(plan, dict):
        return ({str(plan["Relation Name"])} if "Relation Name" in plan else set()).union(
            *(_relations(v) for v in plan.values())
        )
    if isinstance(plan, list):
        return set().union(*(_relations(v) for v in plan))
    return set()


def _read_by(db: Database, sent: list[tuple[str, Any]]) -> set[str]:
    """The relations the plans of `sent` read."""
    read: set[str] = set()
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for statement, params in sent:
            cur.execute("EXPLAIN (FORMAT JSON) " + statement, params)
            read |= _relations(cur.fetchone()[0])
    finally:
        raw.close()
    return read


def test_the_check_reads_no_event_and_counts_them_where_there_is_no_tally(url: str) -> None:
    with Database(url) as db:
        sent = _sent(db)
        assert len(sent) == 2 and _read_by(db, sent) <= CHECK_READS
        # a store without the tally (Citus: docs/scaling.md) counts the events, and its writer
        # makes new months' partitions without triggers
        _sql(url, postgres.DROP_TALLY_SQL)
        sent = _sent(db)
        assert "events_2026_06" in _read_by(db, sent)
        store(db, make_events(10, datetime(2026, 11, 1), datetime(2026, 11, 5), seed=3, prefix="c"), batch=10)
        assert _in_step(db)
        assert _sql(url, "SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'events_tally_%'") == [(0,)]
        _sql(url, "DELETE FROM events WHERE seq = 2")
        assert not _in_step(db)


def test_the_migration_counts_the_tally_of_a_store_made_before_it(url: str) -> None:
    _sql(url, postgres.DROP_TALLY_SQL)
    _sql(url, "DELETE FROM schema_version WHERE version = 16")
    with Database(url, upgrade=True) as db:
        assert db.version() == CURRENT_VERSION
        assert _in_step(db)
        _tally_counts_the_events(url)


def test_a_writer_behind_auditdash_s_back_neither_deadlocks_nor_loses_a_count(url: str) -> None:
    """An outside transaction holds the tally's row while auditdash stores a batch: the batch waits
    for it, then both are counted."""
    with Database(url) as db, psycopg.connect(url.replace("+psycopg", "")) as outside:
        outside.execute("INSERT INTO events SELECT * FROM events WHERE seq = 4")  # the tally's row locked
        failed: list[BaseException] = []

        def ingest() -> None:
            try:
                store(db, make_events(20, datetime(2026, 10, 1), datetime(2026, 10, 9), seed=4, prefix="w"), batch=20)
            except BaseException as exc:  # reported below
                failed.append(exc)

        worker = threading.Thread(target=ingest)
        worker.start()
        outside.execute("DELETE FROM events WHERE seq = 6")
        outside.commit()
        worker.join(timeout=120)
        assert not worker.is_alive() and not failed, failed
        (n, s) = _sql(url, "SELECT count(*), sum(seq) FROM events")[0]
        assert _sql(url, "SELECT events, seq_sum FROM events_tally") == [(n, s)] and n == 140
        assert not _in_step(db)  # the outside rows: the figures read the raw events
        _rebuild(db)
        assert _in_step(db)

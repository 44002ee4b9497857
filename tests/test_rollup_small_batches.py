"""Small batches append their counts to the rollups and free-text tables, folded later
(docs/architecture.md, "Rollups"): after many one-event batches every figure still equals the raw
events on both engines, the fold keeps the extra rows bounded, purge, restore and erasure stay
exact over rows not folded yet, and `differences` still finds a wrong count among them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dashboard.access.users import Actor
from dashboard.filters import Filters, View
from dashboard.retention.erasure import erase
from dashboard.retention.holds import list_holds, release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store import analytics as A
from dashboard.store import rollups, writer
from dashboard.store.db import Database
from tests.conftest import event
from tests.pg import pg_database
from tests.test_integrity import locations
from tests.test_rollups import NOW, both_ways, differences, ingest, make_docs, same

ADMIN = Actor("ana.admin", "admin")
#: the tables that may hold several rows per key
COUNTED = (*(r.table.name for r in rollups.ROLLUPS), *(t.name for t, _ in rollups.TEXT_VALUES))


def _keys(table: str) -> str:
    return ", ".join(
        c.name
        for t in (*(r.table for r in rollups.ROLLUPS), *(t for t, _ in rollups.TEXT_VALUES))
        if t.name == table
        for c in t.columns
        if c.name != "n"
    )


def extra_rows(db: Database) -> dict[str, int]:
    """Per table, its rows beyond one per key (appended and not folded yet)."""
    with db.reading((*COUNTED,)) as con:
        return {
            t: int(
                con.execute(
                    f"SELECT (SELECT count(*) FROM {t}) - (SELECT count(*) FROM (SELECT DISTINCT {_keys(t)} FROM {t}))"  # noqa: S608
                ).fetchone()[0]
            )
            for t in COUNTED
        }


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """150 events in one batch (merged), then 20 one-event batches over two days (appended, a fold
    every 8 sequence numbers), through the writer on each engine."""
    path: Path = tmp_path_factory.mktemp("small") / "small.duckdb"
    database = Database(path if request.param == "duckdb" else pg_database(request))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollups, "SMALL_BATCH", 50)
        patch.setattr(rollups, "FOLD_EVERY", 8)
        ingest(database, make_docs(150, 21, datetime(2026, 8, 12), datetime(2026, 11, 20, 12, 7), "m"), batch=150)
        ingest(database, make_docs(20, 22, datetime(2026, 11, 18, 12), datetime(2026, 11, 20, 12, 7), "s"), batch=1)
    rollups.forget_checks()
    yield database
    database.close()


VIEWS = (
    Filters(preset="7d", tz="Asia/Kathmandu", hours=(9, 10, 11)),
    Filters(preset="30d", users=("u1", "u2"), outcome="failure"),
    Filters(preset="90d", tz="Europe/Berlin", countries=("DE", "FR"), dashboard_activity=True),
    Filters(preset="7d", text="agent u3"),
)


def test_one_event_batches_keep_every_figure_equal_to_the_raw_events(small: Database) -> None:
    assert differences(small) == []
    with small.connect() as conn:
        assert rollups.in_step(conn)
    for f in VIEWS:
        for fast, raw in both_ways(small, View.of(f, NOW)):
            assert same(fast, raw), (f, fast, raw)
    with small.connect() as conn:
        everything = Filters(
            preset=None, start=datetime(2026, 8, 1), end=datetime(2026, 11, 21), dashboard_activity=True
        )
        assert A.headline(conn, View.of(everything, NOW)).events == 170
    extra = extra_rows(small)
    if small.url is None:  # DuckDB: since the last fold (at 168) the two newest events' counts are appended
        assert 0 < max(extra.values()) <= 170 - 168, extra
    else:  # PostgreSQL: each batch's counts are added to one row per key
        assert set(extra.values()) == {0}, extra


def test_the_fold_keeps_the_appended_rows_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same person's logins in one quarter-hour, one per batch: every batch appends a row to
    each table; the batch numbered at a multiple of FOLD_EVERY folds them into one row per key."""
    monkeypatch.setattr(rollups, "FOLD_EVERY", 5)
    at = datetime(2026, 11, 20, 11, 0)
    with Database(tmp_path / "fold.duckdb") as db:
        seen = []
        for i in range(1, 13):
            when = at + timedelta(seconds=i)
            ingest(db, [event(id=f"f{i}", occurred_at=when.isoformat(timespec="milliseconds") + "Z")], batch=1)
            extra = extra_rows(db)
            assert extra.pop("text_targets") == 0  # no targets
            assert len(set(extra.values())) == 1, extra  # one key per table: the same extra rows in each
            seen.append(extra[COUNTED[0]])
        # rows beyond the first: 0, 1, ... 3 appended, folded at 5 and 10, then 1, 2 appended
        assert seen == [0, 1, 2, 3, 0, 1, 2, 3, 4, 0, 1, 2], seen
        assert differences(db) == []
        with db.raw() as con:
            assert con.execute("SELECT sum(n), count(*) FROM rollup_activity_15m").fetchone() == (12, 3)
            # a wrong count among the appended rows is found, in a rollup and in a free-text table
            con.execute("UPDATE rollup_actor_1d SET n = n + 1 WHERE rowid = (SELECT max(rowid) FROM rollup_actor_1d)")
            con.execute("DELETE FROM text_actors WHERE rowid = (SELECT max(rowid) FROM text_actors)")
            found = rollups.differences(con)
        assert [d.split(":")[0] for d in found] == ["rollup_actor_1d", "text_actors"], found


def _people(start: datetime, prefix: str) -> list[dict[str, Any]]:
    """12 events of two people in ten minutes: the same keys again and again."""
    docs = []
    for i in range(12):
        k = i % 2 + 1
        when = (start + timedelta(seconds=50 * i)).isoformat(timespec="milliseconds") + "Z"
        person = {"id": f"u{k}", "name": f"Agent u{k}", "email": f"u{k}@example.com", "role": "agent"}
        target = {"type": "user", "id": f"u{3 - k}", "name": f"Agent u{3 - k}"}
        docs.append(event(id=f"{prefix}{i}", occurred_at=when, actor=person, ip=f"10.0.0.{k}", target=target))
    return docs


def test_purge_restore_and_erasure_after_appended_rows_stay_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing folded (a fold far away): purge, restore and erasure take counts away from, and
    add them to, keys held in several rows."""
    monkeypatch.setattr(rollups, "FOLD_EVERY", 10**9)
    path = tmp_path / "upkeep.duckdb"
    purge_now = datetime(2026, 11, 20, 12, 0)
    with Database(path) as db:
        ingest(db, _people(datetime(2026, 5, 4, 9), "may"), batch=1)
        ingest(db, _people(datetime(2026, 10, 4, 9), "oct"), batch=1)
        assert min(extra_rows(db).values()) > 0  # every table holds keys in several rows
        assert differences(db) == []
        where = locations(path)
        assert run_purge(db, where, RetentionPolicy(), ADMIN, now=purge_now).deleted == 12
        assert differences(db) == []
        assert restore(db, where, ADMIN, datetime(2026, 5, 1), datetime(2026, 6, 1)).restored == 12
        assert differences(db) == []
        for hold in list_holds(db):  # the restore's hold ends before the erasure
            release_hold(db, hold.id, ADMIN, "closed")
        erase(db, where, ADMIN, "u2", "DSR-7")
        assert differences(db) == []
        with db.raw() as con:
            assert con.execute("SELECT count(*) FROM text_actors WHERE actor_name = 'Agent u2'").fetchone() == (0,)
        rollups.forget_checks()
        with db.connect() as conn:
            assert rollups.in_step(conn)
            view = View.of(Filters(preset=None, start=datetime(2026, 5, 1), end=datetime(2026, 11, 20)), purge_now)
            assert A.headline(conn, view).events == 24


def test_postgres_sums_a_key_s_staged_rows_before_adding_them(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the writer's upkeep runs on a staging DuckDB; when it holds a key in several
    rows (here: the batch counted in one event at a time), they are summed before the upsert."""
    original = rollups.add_rows

    def one_at_a_time(con: Any, rows_sql: str, params: Any = None) -> None:
        for seq in range(params["a"], params["b"] + 1):
            original(con, "SELECT * FROM events WHERE seq = $s", {"s": seq})

    monkeypatch.setattr(writer.rollups, "add_rows", one_at_a_time)
    db = Database(pg_database(request))
    try:
        at = datetime(2026, 11, 20, 11, 0)
        docs = [event(id=f"p{i}", occurred_at=(at + timedelta(seconds=i)).isoformat() + "Z") for i in range(6)]
        ingest(db, docs[:3], batch=3)
        ingest(db, docs[3:], batch=3)
        assert differences(db) == []
        assert set(extra_rows(db).values()) == {0}
        with db.reading(("rollup_activity_15m", "text_actors")) as con:
            assert con.execute("SELECT n FROM rollup_activity_15m").fetchall() == [(6,)]
            assert con.execute("SELECT n FROM text_actors").fetchall() == [(6,)]
    finally:
        db.close()

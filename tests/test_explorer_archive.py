"""The explorer with archived months included, on a real DuckDB file after a real purge.

Events from May to November 2026 are stored and purged at a fixed instant: May, June and July
move to Parquet files. What the explorer should list is computed independently: the hot rows
read with plain SQL, the archived rows read with pyarrow from the files the manifests name,
merged in Python (the hot copy wins, expired rows dropped) and sorted in the documented order.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import flask
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.evidence.locations import Locations
from dashboard.filters import Filters
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store import archive as retention
from dashboard.store import explorer as X
from dashboard.store.archive import read_manifests
from dashboard.store.db import Database
from dashboard.store.schema import events as events_table
from dashboard.web.access import VIEWER_KEY, Viewer
from dashboard.web.components import explorer_views
from tests.test_integrity import locations, make_events, store

NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01: May, June and July are archived
AT = NOW.replace(tzinfo=UTC)
ADMIN = Actor("ana.admin", "admin")
BOUNDARY = datetime(2026, 8, 1)
#: the listing: from mid-May (inside the archive) to mid-November (hot)
VIEW = Filters(preset=None, start=datetime(2026, 5, 15), end=datetime(2026, 11, 15))
SORTS = [X.Sort("occurred_at", True), X.Sort("occurred_at", False), X.Sort("actor_name", False), X.Sort("action", True)]


def _docs(n: int = 360) -> list[dict[str, Any]]:
    docs = make_events(n, datetime(2026, 5, 1), datetime(2026, 11, 1))
    for d in docs:
        d["session_id"] = f"s-{int(d['id'][1:]) // 4}"  # four neighbours in time share a session
    return docs


def _purged(path: Path) -> Locations:
    with Database(path) as db:
        store(db, _docs(), batch=36)
        result = run_purge(db, locations(path), RetentionPolicy(), ADMIN, now=NOW)
        assert result.written == ["2026-05", "2026-06", "2026-07"]
    return locations(path)


@pytest.fixture(scope="module")
def purged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Locations]]:
    path = tmp_path_factory.mktemp("explorer-archive") / "audit.duckdb"
    where = _purged(path)
    db = Database(path)
    yield db, where
    db.close()


@pytest.fixture
def as_viewer() -> Iterator[Callable[[Viewer], None]]:
    """Run code inside a Flask request whose viewer the test chooses (as the login layer sets it)."""
    app = flask.Flask(__name__)
    contexts: list[Any] = []

    def enter(who: Viewer) -> None:
        ctx = app.test_request_context("/_dash-update-component", method="POST")
        ctx.push()
        flask.g.setdefault(VIEWER_KEY, who)
        contexts.append(ctx)

    yield enter
    for ctx in reversed(contexts):
        ctx.pop()


# -- what the listing should hold, computed without the explorer ---------------------------------------
def hot_rows(db: Database, max_seq: int) -> list[dict[str, Any]]:
    with db.raw() as con:
        table = con.sql("SELECT * FROM events WHERE seq <= $m", params={"m": max_seq}).to_arrow_table()
    return table.to_pylist()


def archived_rows(where: Locations) -> list[dict[str, Any]]:
    manifests, problems = read_manifests(where.archive_dir)
    assert not problems
    out: list[dict[str, Any]] = []
    for m in manifests.values():
        out += pq.read_table(where.archive_dir / m.file).to_pylist()
    return out


def expected(db: Database, where: Locations | None, snap: X.Snapshot) -> list[dict[str, Any]]:
    """The rows of the listing: hot (up to its max seq) plus archived (not hot, not expired), in range."""
    start, end = snap.range()
    hot = hot_rows(db, snap.max_seq)
    seen = {r["seq"] for r in hot}
    archived = [r for r in archived_rows(where) if r["seq"] not in seen and r["event_id"]] if where else []
    return [r for r in hot + archived if start <= r["occurred_at"] < end]


def ordered(rows: list[dict[str, Any]], sort: X.Sort) -> list[int]:
    """The documented order: the column (empty values last), then newest first, then seq."""
    if sort.column == "occurred_at":
        return [r["seq"] for r in sorted(rows, key=lambda r: (r["occurred_at"], r["seq"]), reverse=sort.descending)]
    newest_first = sorted(rows, key=lambda r: (r["occurred_at"], r["seq"]), reverse=True)
    filled = sorted(
        (r for r in newest_first if r[sort.column] is not None), key=lambda r: r[sort.column], reverse=sort.descending
    )
    return [r["seq"] for r in filled] + [r["seq"] for r in newest_first if r[sort.column] is None]


def seqs(page: X.Page) -> list[int]:
    return [r["seq"] for r in page.rows]


def compiled(stmt: Any) -> str:
    return str(stmt.compile())


def text_of(node: Any) -> str:
    """Every string in a component tree."""
    return json.dumps(node, default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o))


# -- the listing ---------------------------------------------------------------------------------------------
def test_switched_off_the_listing_holds_only_hot_events(purged: tuple[Database, Locations]) -> None:
    db, _ = purged
    snap = X.snapshot(db, VIEW, AT)
    assert snap.archive == ()
    rows = expected(db, None, snap)
    assert snap.total == len(rows) and all(r["occurred_at"] >= BOUNDARY for r in rows if r["source"] == "test")
    # a hot-only listing runs its statements as they are: no union, no Parquet
    stmt = X.statement(snap, X.Sort(), X.Plan("top", 0, 50))
    assert X.over(snap, stmt) is stmt and "read_parquet" not in compiled(stmt)
    assert seqs(X.page(db, snap, 0, 500)) == ordered(rows, X.Sort())


def test_switched_on_the_total_counts_hot_and_archived_events(purged: tuple[Database, Locations]) -> None:
    db, where = purged
    snap = X.snapshot(db, VIEW, AT, archive=where)
    assert snap.archive_months() == ["2026-05", "2026-06", "2026-07"]
    assert all(Path(f).parent == where.archive_dir for f in snap.archive)
    rows = expected(db, where, snap)
    assert snap.total == len(rows) > X.snapshot(db, VIEW, AT).total
    assert min(r["occurred_at"] for r in rows) < BOUNDARY <= max(r["occurred_at"] for r in rows)
    # only the months the range overlaps: from August on, nothing is archived
    later = X.snapshot(db, VIEW.with_(start=datetime(2026, 8, 2)), AT, archive=where)
    assert later.archive == () and later.total == X.snapshot(db, VIEW.with_(start=datetime(2026, 8, 2)), AT).total
    july = X.snapshot(db, VIEW.with_(start=datetime(2026, 7, 20)), AT, archive=where)
    assert july.archive_months() == ["2026-07"]


def test_the_statements_read_the_union_not_events(purged: tuple[Database, Locations]) -> None:
    db, where = purged
    snap = X.snapshot(db, VIEW, AT, archive=where)
    for sort in SORTS:
        for p in (X.Plan("top", 30, 50), X.Plan("after", 0, 50, 1)):
            sql = compiled(X.statement(snap, sort, p, [None, BOUNDARY, 1] if p.seq else None))
            outer = sql.rsplit(") AS events_all", 1)[1]
            # events only inside the union: its hot branch and the "is it hot again" test
            assert sql.count("FROM events") == 2 and "read_parquet" in sql and "events." not in outer


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: s.key())
def test_pages_equal_the_plain_order_over_hot_and_archive(purged: tuple[Database, Locations], sort: X.Sort) -> None:
    db, where = purged
    snap = X.snapshot(db, VIEW, AT, archive=where)
    want = ordered(expected(db, where, snap), sort)
    # forward with the anchors the browser keeps (keyset / per-value), every row once
    got: list[int] = []
    anchors: list[X.Anchor] = []
    for start in range(0, snap.total, 25):
        page = X.page(db, snap, start, 25, sort, anchors)
        got += seqs(page)
        anchors = X.remember(anchors, page.anchor)
    assert got == want
    # pages anywhere without anchors (from the top, the bottom, OFFSET), including those that
    # cross from the hot store into the archive
    times = {r["seq"]: r["occurred_at"] for r in expected(db, where, snap)}
    crossing = next(i for i, s in enumerate(want) if (times[s] < BOUNDARY) != (times[want[0]] < BOUNDARY))
    for start in (0, 1, crossing - 10, crossing - 1, snap.total // 2, snap.total - 30, snap.total - 1):
        assert seqs(X.page(db, snap, start, 25, sort)) == want[start : start + 25], start
        plain = X.statement(snap, sort, X.Plan("top", start, min(25, snap.total - start)))
        with db.connect() as conn:
            assert [int(r.seq) for r in conn.execute(plain)] == want[start : start + 25]
    # backward from the last page, next to the page after
    last = (snap.total - 1) // 40 * 40
    anchors = []
    for start in range(last, -1, -40):
        page = X.page(db, snap, start, 40, sort, anchors)
        assert seqs(page) == want[start : start + 40], start
        anchors = X.remember(anchors, page.anchor)


def test_the_histogram_counts_the_archived_rows(purged: tuple[Database, Locations]) -> None:
    db, where = purged
    snap = X.snapshot(db, VIEW, AT, archive=where)
    with db.connect() as conn:
        hist = X.histogram(conn, snap, "actor_name")
    rows = expected(db, where, snap)
    assert hist is not None and hist.total == snap.total
    assert {g.value: g.rows for g in hist.filled} == {
        name: sum(1 for r in rows if r["actor_name"] == name) for name in {r["actor_name"] for r in rows} - {None}
    }


def test_an_archived_event_opens_with_its_changes_and_context(purged: tuple[Database, Locations]) -> None:
    db, where = purged
    snap = X.snapshot(db, VIEW, AT, archive=where)
    archived = [r for r in archived_rows(where) if r["changes"] and datetime(2026, 7, 5) < r["occurred_at"]]
    row = archived[0]
    assert X.event(db, row["seq"]) is None  # not in the hot store
    ev = X.event(db, row["seq"], archive=snap.archive)
    assert ev is not None and ev.archived and ev.row["event_id"] == row["event_id"]
    assert [(c.field, c.before, c.after) for c in ev.changes] == [("status", "open", "resolved")]
    session = [
        r["seq"]
        for r in expected(db, where, snap)
        if r["session_id"] == row["session_id"] and r["seq"] != row["seq"]
        if abs(r["occurred_at"] - row["occurred_at"]) <= X.CONTEXT_WINDOW
    ]
    groups = {g.kind: g for g in X.related(db, row["seq"], archive=snap.archive)}
    assert session and groups["session"].total == len(session)
    assert sorted(r["seq"] for r in groups["session"].rows) == sorted(session)
    assert X.related(db, row["seq"]) == []  # hot only: the event is not there


# -- restores and expiry ------------------------------------------------------------------------------------
def test_a_restored_month_is_listed_once(db_path: Path) -> None:
    where = _purged(db_path)
    with Database(db_path) as db:
        result = restore(db, where, ADMIN, datetime(2026, 6, 1), datetime(2026, 7, 1))
        assert result.restored > 0  # June is now both hot and archived
        snap = X.snapshot(db, VIEW, AT, archive=where)
        rows = expected(db, where, snap)
        assert snap.total == len(rows) == len({r["seq"] for r in rows})
        for sort in (X.Sort(), X.Sort("actor_name", False)):
            got: list[int] = []
            anchors: list[X.Anchor] = []
            for start in range(0, snap.total, 50):
                page = X.page(db, snap, start, 50, sort, anchors)
                got += seqs(page)
                anchors = X.remember(anchors, page.anchor)
            assert got == ordered(rows, sort) and len(set(got)) == len(got)


def test_expired_archived_events_are_left_out(db_path: Path) -> None:
    where = _purged(db_path)
    short = RetentionPolicy(hot_days=90, archive_months=1)  # archive cutoff 2026-07-01: May and June expire
    with Database(db_path) as db:
        assert run_purge(db, where, short, ADMIN, now=NOW).expired > 0
        snap = X.snapshot(db, VIEW, AT, archive=where)
        assert snap.archive_months() == ["2026-07"]  # the expired months hold nothing to show
        rows = expected(db, where, snap)
        assert snap.total == len(rows) and min(r["occurred_at"] for r in rows) >= datetime(2026, 7, 1)
        # even when the expired files are read, their rows (contents dropped) are not listed
        every = tuple(str(where.archive_dir / m.file) for m in read_manifests(where.archive_dir)[0].values())
        with db.connect() as conn:
            count = sa.select(sa.func.count()).select_from(events_table).where(snap.where())
            assert conn.execute(X.over(dataclasses.replace(snap, archive=every), count)).scalar() == snap.total


# -- the page's callbacks -----------------------------------------------------------------------------------
def test_the_switch_makes_a_new_listing_and_records_it(
    purged: tuple[Database, Locations], as_viewer: Callable[[Viewer], None]
) -> None:
    db, where = purged
    as_viewer(Viewer("cora", "compliance"))
    hot = explorer_views.open_listing(db, VIEW.to_store(), None, now=AT)
    assert hot is not None and hot.archive == ()
    both = explorer_views.open_listing(db, VIEW.to_store(), hot.to_store(), reload=True, now=AT, archive=where)
    assert both is not None and both.total > hot.total and both.token() != hot.token()
    assert X.Snapshot.from_store(json.loads(json.dumps(both.to_store()))) == both
    assert "with archived 2026-05 to 2026-07" in explorer_views.listing_texts(both)[1]
    # switched off again: a hot-only listing, even without a reload
    off = explorer_views.open_listing(db, VIEW.to_store(), both.to_store(), now=AT)
    assert off is not None and off.archive == ()
    with db.connect() as conn:
        logged = conn.execute(
            sa.select(events_table.c.metadata)
            .where(events_table.c.action == "audit.view", events_table.c.actor_id == "cora")
            .order_by(events_table.c.seq)
        ).scalars()
        metadata = [json.loads(m) for m in logged][-3:]
    assert [m["include_archive"] for m in metadata] == [False, True, False]
    assert metadata[1]["archive_months"] == ["2026-05", "2026-06", "2026-07"]
    assert metadata[1]["events"] == both.total


def test_grid_rows_and_the_detail_panel_read_the_archive(
    purged: tuple[Database, Locations], as_viewer: Callable[[Viewer], None]
) -> None:
    db, where = purged
    as_viewer(Viewer("ada", "admin"))
    snap = X.snapshot(db, VIEW, AT, archive=where)
    request = {"startRow": snap.total - 50, "endRow": snap.total, "sortModel": []}
    response, _ = explorer_views.rows(db, request, snap.to_store(), None, archive=where)
    oldest = ordered(expected(db, where, snap), X.Sort())[-50:]
    assert [r["seq"] for r in response["rowData"]] == oldest and response["rowCount"] == snap.total
    title, body = explorer_views.open_event(db, oldest[-1], snap.to_store(), archive=where)
    shown = text_of(body)
    event_id = next(r["event_id"] for r in archived_rows(where) if r["seq"] == oldest[-1])
    assert title == f"Event #{oldest[-1]}" and event_id in shown and "no longer in the log" not in shown
    # a listing naming files that are not the archive's is not read
    forged = dataclasses.replace(snap, archive=(*snap.archive, "/etc/secret.parquet"))
    with pytest.raises(LookupError):
        explorer_views.rows(db, request, forged.to_store(), None, archive=where)
    with pytest.raises(LookupError):
        explorer_views.rows(db, request, snap.to_store(), None, archive=None)


def test_the_switch_says_which_months_are_archived(purged: tuple[Database, Locations], tmp_path: Path) -> None:
    _, where = purged
    note, disabled = explorer_views.archive_switch(where)
    assert not disabled and "2026-05 to 2026-07 (3 months" in note
    empty = dataclasses.replace(where, archive_dir=tmp_path / "no-archive")
    note, disabled = explorer_views.archive_switch(empty)
    assert disabled and "Nothing is archived" in note
    assert retention.archive_files(empty) == []

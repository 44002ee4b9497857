"""The explorer and the wall on a real DuckDB file, checked against lists computed in Python.

The events are written straight into the `events` table with known values (ties in time, empty
names and addresses, requests and sessions, changes with e-mail addresses), so every expected
page, count and order below is computed from the inserted list, never by asking the database.
The callback bodies run inside a Flask request with the viewer set, as the login layer sets it.
"""

from __future__ import annotations

import gc
import json
import random
import tracemalloc
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import plotly.graph_objects as go
import pytest
import sqlalchemy as sa

from dashboard.filters import Filters
from dashboard.privacy import mask_ip, shorten_name
from dashboard.store import explorer as X
from dashboard.store import wall
from dashboard.store.analytics import View
from dashboard.store.db import Database
from dashboard.store.schema import chain_batches
from dashboard.store.schema import events as events_table
from dashboard.web.access import VIEWER_KEY, Viewer
from dashboard.web.components import detail, explorer_views, wall_views
from tests.pg import pg_database

NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
NAIVE_NOW = NOW.replace(tzinfo=None)
USERS = {f"u{i}": f"Agent{i} Lastname{i % 4}" for i in range(1, 9)}
IPS = ["91.32.96.240", "91.32.96.241", "85.243.196.156", "73.53.2.133", "5.188.163.192", "10.0.0.5", None]
PLACES = {
    "91.32.96.240": ("DE", "Berlin"),
    "91.32.96.241": ("DE", "Berlin"),
    "85.243.196.156": ("PT", "Lisbon"),
    "73.53.2.133": ("US", "Seattle"),
    "5.188.163.192": ("RU", "St Petersburg"),
}
ACTIONS = ["auth.login", "auth.logout", "conversation.view", "message.create", "label.assign", "agent.role_change"]
CATEGORY = {
    "auth.login": "authentication",
    "auth.logout": "authentication",
    "conversation.view": "conversation",
    "message.create": "conversation",
    "label.assign": "labels",
    "agent.role_change": "agent_management",
}


@dataclass(frozen=True)
class Ev:
    seq: int
    at: datetime  # naive UTC
    actor_id: str | None
    action: str
    outcome: str
    ip: str | None
    session: str | None
    request: str | None
    changes: str | None

    @property
    def name(self) -> str | None:
        return USERS.get(self.actor_id) if self.actor_id else None


def _make_events() -> list[Ev]:
    rnd = random.Random(11)
    out: list[Ev] = []
    t = NAIVE_NOW - timedelta(days=9)
    seq = 0
    while t < NAIVE_NOW - timedelta(minutes=1):
        # several events in the same millisecond now and then: the order must still be total
        burst = 3 if rnd.random() < 0.08 else 1
        request = f"req-{seq}" if rnd.random() < 0.3 else None
        session = f"sess-{int((t - NAIVE_NOW).total_seconds() // 7200)}"
        for _ in range(burst):
            seq += 1
            action = rnd.choice(ACTIONS)
            actor = rnd.choice([*USERS, None]) if action != "agent.role_change" else "u1"
            changes = None
            if action == "agent.role_change":
                changes = json.dumps(
                    {"role": ["agent", "supervisor"], "email": ["old@acme.example", "new@acme.example"]}
                )
            out.append(
                Ev(
                    seq=seq,
                    at=t,
                    actor_id=actor,
                    action=action,
                    outcome="failure" if action == "auth.login" and rnd.random() < 0.3 else "success",
                    ip=rnd.choice(IPS),
                    session=session if actor else None,
                    request=request,
                    changes=changes,
                )
            )
        t += timedelta(seconds=rnd.randint(60, 1500))
    return out


def insert(db: Database, evs: list[Ev]) -> None:
    rows = []
    for e in evs:
        country, city = PLACES.get(e.ip or "", (None, None))
        rows.append(
            {
                "seq": e.seq,
                "event_id": f"t-{e.seq}",
                "occurred_at": e.at,
                "received_at": e.at,
                "account_id": "acme",
                "action": e.action,
                "category": CATEGORY[e.action],
                "outcome": e.outcome,
                "reason": "bad_password" if e.outcome == "failure" else None,
                "actor_id": e.actor_id,
                "actor_name": e.name,
                "actor_email": f"{e.actor_id}@acme.example" if e.actor_id else None,
                "actor_role": "agent" if e.actor_id else None,
                "actor_type": "user" if e.actor_id else "system",
                "target_type": "agent" if e.changes else None,
                "target_id": "u2" if e.changes else None,
                "target_name": USERS["u2"] if e.changes else None,
                "ip": e.ip,
                "ip_scope": "public" if country else ("internal" if e.ip else "none"),
                "geo_country": country,
                "geo_city": city,
                "geo_lat": None,
                "geo_lon": None,
                "user_agent": "Mozilla/5.0 test",
                "session_id": e.session,
                "request_id": e.request,
                "changes": e.changes,
                "metadata": json.dumps({"agent_name": USERS["u3"], "note": "kept"}) if e.changes else None,
                "source": "test",
                "batch_id": 1,
                "hash": "",
            }
        )
    with db.connect() as conn, conn.begin():
        conn.execute(events_table.insert(), rows)
        # a chain link for these rows, so events written later (the audit of views) number after them
        batch = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(chain_batches.c.batch_id), 0))).scalar() or 0)
        conn.execute(
            chain_batches.insert().values(
                batch_id=batch + 1,
                first_seq=min(e.seq for e in evs),
                last_seq=max(e.seq for e in evs),
                event_count=len(evs),
                received_at=NAIVE_NOW,
                source="test",
                events_digest="",
                prev_hash="",
                hash="",
            )
        )


@pytest.fixture(scope="module")
def evs() -> list[Ev]:
    return _make_events()


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, evs: list[Ev]) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("explorer") / "audit.duckdb"
    database = Database(
        path if request.param == "duckdb" else pg_database(request, {e.at.strftime("%Y-%m") for e in evs})
    )
    insert(database, evs)
    yield database
    database.close()


@pytest.fixture
def as_viewer() -> Iterator[Any]:
    """Run code inside a Flask request whose viewer the test chooses (as the login layer sets it)."""
    app = flask.Flask(__name__)

    def enter(who: Viewer) -> Any:
        ctx = app.test_request_context("/_dash-update-component", method="POST")
        ctx.push()
        flask.g.setdefault(VIEWER_KEY, who)
        contexts.append(ctx)
        return ctx

    contexts: list[Any] = []
    yield enter
    for ctx in reversed(contexts):
        ctx.pop()


# -- what the explorer should show, computed in Python -----------------------------------------------
def in_view(evs: list[Ev], f: Filters) -> list[Ev]:
    start, end = f.resolve_range(NOW)
    out = [e for e in evs if start <= e.at < end]
    if f.actions:
        out = [e for e in out if e.action in f.actions]
    if f.outcome:
        out = [e for e in out if e.outcome == f.outcome]
    return out


def ordered(rows: list[Ev], sort: X.Sort) -> list[Ev]:
    """The documented order: the column (empty values last), then newest first, then seq."""
    if sort.column == "occurred_at":
        return sorted(rows, key=lambda e: (e.at, e.seq), reverse=sort.descending)
    value = {
        "actor_name": lambda e: e.name,
        "ip": lambda e: e.ip,
        "action": lambda e: e.action,
        "target_name": lambda e: USERS["u2"] if e.changes else None,
    }[sort.column]
    newest_first = sorted(rows, key=lambda e: (e.at, e.seq), reverse=True)
    filled = sorted((e for e in newest_first if value(e) is not None), key=value, reverse=sort.descending)
    return filled + [e for e in newest_first if value(e) is None]


SORTS = [
    X.Sort("occurred_at", True),
    X.Sort("occurred_at", False),
    X.Sort("actor_name", False),
    X.Sort("actor_name", True),
    X.Sort("ip", False),
    X.Sort("action", True),
    X.Sort("target_name", False),  # mostly empty
]


def seqs(page: X.Page) -> list[int]:
    return [r["seq"] for r in page.rows]


# -- the listing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(preset="24h"),
        Filters(actions=("agent.role_change",)),
        Filters(outcome="failure", preset="30d"),
    ],
    ids=["7d", "24h", "role changes", "failures 30d"],
)
def test_the_total_counts_the_view(db: Database, evs: list[Ev], filters: Filters) -> None:
    snap = X.snapshot(db, filters, NOW)
    assert snap.total == len(in_view(evs, filters))
    assert snap.max_seq == max(e.seq for e in evs)


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: s.key())
def test_paging_forward_with_anchors_reads_every_row_once_in_order(db: Database, evs: list[Ev], sort: X.Sort) -> None:
    snap = X.snapshot(db, Filters(), NOW)
    expected = [e.seq for e in ordered(in_view(evs, Filters()), sort)]
    got: list[int] = []
    anchors: list[X.Anchor] = []
    for start in range(0, snap.total, 40):
        page = X.page(db, snap, start, 40, sort, anchors)
        if start:  # next to the page before (or, in other orders, from the start of a value): nothing skipped
            assert page.plan.how in ("after", "bottom", "top") and (page.plan.how == "bottom" or page.plan.skip == 0)
        got += seqs(page)
        anchors = X.remember(anchors, page.anchor)
    assert got == expected
    assert len(anchors) <= X.MAX_ANCHORS


@pytest.mark.parametrize("sort", SORTS, ids=lambda s: s.key())
def test_paging_backward_from_the_last_page(db: Database, evs: list[Ev], sort: X.Sort) -> None:
    snap = X.snapshot(db, Filters(), NOW)
    expected = [e.seq for e in ordered(in_view(evs, Filters()), sort)]
    last = (snap.total - 1) // 40 * 40
    anchors: list[X.Anchor] = []
    for start in range(last, -1, -40):
        page = X.page(db, snap, start, 40, sort, anchors)
        assert seqs(page) == expected[start : start + 40]
        if start != last:
            assert page.plan.how in ("before", "top", "bottom") and page.plan.skip == 0
        anchors = X.remember(anchors, page.anchor)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(preset="30d", tz="UTC"),
        Filters(preset="30d", tz="UTC", actions=("agent.role_change",)),
        # the range goes on for weeks after the last event: the first slices at its end hold nothing
        Filters(start=NAIVE_NOW - timedelta(days=8), end=NAIVE_NOW + timedelta(days=40), tz="UTC"),
        Filters(preset="30d", tz="UTC", outcome="failure"),
    ],
    ids=["30d", "rare action", "empty end", "failures"],
)
@pytest.mark.parametrize("sort", [X.Sort("occurred_at", True), X.Sort("occurred_at", False)], ids=lambda s: s.key())
def test_a_page_in_time_order_read_from_slices_of_the_range_is_the_whole_ranges(
    db: Database, evs: list[Ev], filters: Filters, sort: X.Sort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page in time order is looked for in a slice of the range at the end it is read from, a
    longer one when the slice holds too few rows: the rows are those of the whole range, first
    page, a page further in without anchors, and the last page (read from the other end)."""
    windows: list[bool] = []
    statement = X.statement

    def spied(*args: Any, **kwargs: Any) -> Any:
        windows.append(kwargs.get("window") is not None or (len(args) > 4 and args[4] is not None))
        return statement(*args, **kwargs)

    monkeypatch.setattr(X, "statement", spied)
    snap = X.snapshot(db, filters, NOW)
    expected = [e.seq for e in ordered(in_view(evs, filters), sort)]
    assert snap.total == len(expected) > 40
    last = (snap.total - 1) // 20 * 20
    for start in (0, 37, last):
        page = X.page(db, snap, start, 20, sort)
        assert seqs(page) == expected[start : start + 20], (start, page.plan)
    assert any(windows)  # the slices were used, not only the whole range


@pytest.mark.parametrize("start", [0, 1, 37, 120, 333])
def test_a_page_anywhere_without_anchors(db: Database, evs: list[Ev], start: int) -> None:
    snap = X.snapshot(db, Filters(), NOW)
    for sort in SORTS:
        expected = [e.seq for e in ordered(in_view(evs, Filters()), sort)]
        assert seqs(X.page(db, snap, start, 25, sort)) == expected[start : start + 25], sort


@pytest.mark.parametrize("histograms", [True, False])
@pytest.mark.parametrize("sort", SORTS, ids=lambda s: s.key())
def test_long_pages_cross_many_values(
    db: Database, evs: list[Ev], sort: X.Sort, histograms: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not histograms:  # every column has "too many values": one sorted scan per page
        monkeypatch.setattr(X, "HISTOGRAM_MAX_VALUES", 0)
        monkeypatch.setattr(X, "_histograms", weakref.WeakKeyDictionary())
        monkeypatch.setattr(X, "_too_many", weakref.WeakKeyDictionary())
    snap = X.snapshot(db, Filters(preset="30d"), NOW)
    expected = [e.seq for e in ordered(in_view(evs, Filters(preset="30d")), sort)]
    anchors: list[X.Anchor] = []
    for start in (0, 200, 400):
        page = X.page(db, snap, start, X.MAX_PAGE_SIZE, sort, anchors)
        assert seqs(page) == expected[start : start + X.MAX_PAGE_SIZE]
        anchors = X.remember(anchors, page.anchor)
    last = (snap.total - 1) // 200 * 200
    page = X.page(db, snap, last - 200, X.MAX_PAGE_SIZE, sort, [X.Anchor(last, 1, *[expected[last]] * 2)])
    assert seqs(page) == expected[last - 200 : last]


def _plain_page(db: Database, snap: X.Snapshot, sort: X.Sort, start: int, limit: int) -> list[int]:
    """The page as the plain `ORDER BY <total order> LIMIT/OFFSET` over the whole listing gives it."""
    if start >= snap.total:
        return []
    stmt = X.statement(snap, sort, X.Plan("top", start, min(limit, snap.total - start)))
    with db.connect() as conn:
        return [int(r.seq) for r in conn.execute(stmt)]


VALUE_SORTS = [
    X.Sort(column, descending)
    for column in ("actor_name", "ip", "action", "target_name", "geo_country", "outcome")
    for descending in (False, True)
]


@pytest.mark.parametrize("sort", VALUE_SORTS, ids=lambda s: s.key())
def test_pages_found_by_the_histogram_equal_the_plain_sorted_query(db: Database, evs: list[Ev], sort: X.Sort) -> None:
    snap = X.snapshot(db, Filters(preset="30d"), NOW)
    with db.connect() as conn:
        hist = X.histogram(conn, snap, sort.column)
    assert hist is not None and hist.total == snap.total
    starts = [0, 1, 7, 49, 50, 333, snap.total // 2, snap.total - 60, snap.total - 50, snap.total - 1]
    for start in starts:
        plain = _plain_page(db, snap, sort, start, 50)
        assert seqs(X.page(db, snap, start, 50, sort)) == plain, start
        # with the anchors the browser would hold: the page before it and the page after it
        before = X.Anchor(start - 50, 50, *_plain_page(db, snap, sort, start - 50, 50)[::49]) if start >= 50 else None
        after_rows = _plain_page(db, snap, sort, start + 50, 50)
        after = X.Anchor(start + 50, len(after_rows), after_rows[0], after_rows[-1]) if after_rows else None
        for anchors in ([before], [after], [before, after]):
            held = [a for a in anchors if a is not None]
            assert seqs(X.page(db, snap, start, 50, sort, held)) == plain, (start, held)


@pytest.mark.parametrize("margin", [0.05, 1.0])
def test_time_windows_that_are_too_narrow_are_widened(
    db: Database, evs: list[Ev], margin: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(X, "WINDOW_MARGIN", margin)  # first guesses that hold too few rows
    snap = X.snapshot(db, Filters(preset="30d"), NOW)
    for sort in (X.Sort("actor_name", False), X.Sort("action", True), X.Sort("outcome", False)):
        for start in (0, 10, 60, snap.total // 3, snap.total - 20):
            plain = _plain_page(db, snap, sort, start, 20)
            assert seqs(X.page(db, snap, start, 20, sort)) == plain, (sort, start)
            previous = _plain_page(db, snap, sort, start - 20, 20) if start >= 20 else []
            if previous:
                held = [X.Anchor(start - 20, 20, previous[0], previous[-1])]
                assert seqs(X.page(db, snap, start, 20, sort, held)) == plain, (sort, start)


def test_a_stale_anchor_is_not_trusted(db: Database, evs: list[Ev]) -> None:
    sort = X.Sort("actor_name", False)
    snap = X.snapshot(db, Filters(preset="30d"), NOW)
    plain = _plain_page(db, snap, sort, 100, 50)
    wrong = X.Anchor(50, 50, evs[0].seq, evs[-1].seq)  # rows that are not where the browser says
    assert seqs(X.page(db, snap, 100, 50, sort, [wrong])) == plain


@pytest.mark.parametrize("sort", VALUE_SORTS[:6], ids=lambda s: s.key())
def test_columns_with_too_many_values_are_read_with_sorted_scans(
    db: Database, evs: list[Ev], sort: X.Sort, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(X, "HISTOGRAM_MAX_VALUES", 2)
    monkeypatch.setattr(X, "_histograms", weakref.WeakKeyDictionary())
    monkeypatch.setattr(X, "_too_many", weakref.WeakKeyDictionary())
    snap = X.snapshot(db, Filters(preset="30d"), NOW)
    with db.connect() as conn:
        assert (X.histogram(conn, snap, sort.column) is None) == (sort.column not in ("outcome",))
    for start in (0, 37, snap.total // 2, snap.total - 50):
        assert seqs(X.page(db, snap, start, 50, sort)) == _plain_page(db, snap, sort, start, 50)
    if sort.column != "outcome":  # a listing as large is not tried again; a smaller one is
        assert X._too_many[db.engine][sort.column] == snap.total
        with db.connect() as conn:
            assert X.histogram(conn, X.snapshot(db, Filters(preset="90d"), NOW), sort.column) is None
            assert len(X._histograms[db.engine]) == 1  # the larger listing was not even counted
            X.histogram(conn, X.snapshot(db, Filters(preset="24h"), NOW), sort.column)
            assert len(X._histograms[db.engine]) == 2


def test_the_plan_skips_the_fewest_rows() -> None:
    assert X.plan(0, 50, 10_000) == X.Plan("top", 0, 50)
    assert X.plan(9_950, 50, 10_000) == X.Plan("bottom", 0, 50)
    assert X.plan(9_990, 50, 10_000) == X.Plan("bottom", 0, 10)  # the short last page
    anchor = X.Anchor(5_000, 50, 11, 22)
    assert X.plan(5_050, 50, 10_000, [anchor]) == X.Plan("after", 0, 50, 22)
    assert X.plan(4_950, 50, 10_000, [anchor]) == X.Plan("before", 0, 50, 11)
    assert X.plan(5_150, 50, 10_000, [anchor]) == X.Plan("after", 100, 50, 22)
    assert X.plan(10_000, 50, 10_000).limit == 0


def test_a_listing_is_a_snapshot_new_events_do_not_move_its_pages(
    tmp_path: Path, evs: list[Ev], as_viewer: Any
) -> None:
    database = Database(tmp_path / "snap.duckdb")
    try:
        insert(database, evs[:400])
        at = evs[399].at.replace(tzinfo=UTC) + timedelta(minutes=1)
        snap = X.snapshot(database, Filters(preset="30d"), at)
        before = seqs(X.page(database, snap, 0, 30))
        as_viewer(Viewer("ada", "admin"))
        explorer_views.open_listing(database, Filters(preset="30d").to_store(), None)  # writes an audit event now
        insert(database, [Ev(10_000, evs[399].at, "u1", "auth.login", "success", None, None, None, None)])
        assert seqs(X.page(database, snap, 0, 30)) == before
        assert X.snapshot(database, Filters(preset="30d"), at).total == snap.total + 1  # the late event
    finally:
        database.close()


def test_the_snapshot_round_trips_through_the_store() -> None:
    snap = X.Snapshot(Filters(actions=("auth.login",), tz="Europe/Berlin"), NAIVE_NOW, 99, 12)
    assert X.Snapshot.from_store(json.loads(json.dumps(snap.to_store()))) == snap
    assert X.Snapshot.from_store({"now": "garbage"}) is None
    assert X.Snapshot.from_store(None) is None


@pytest.mark.parametrize(
    "model",
    [
        [{"colId": "occurred_at; DROP TABLE events", "sort": "asc"}],
        [{"colId": "hash", "sort": "asc"}],
        [{"colId": "actor_name", "sort": "sideways"}],
        "not a list",
        [],
    ],
)
def test_only_allow_listed_columns_are_sorted_on(model: Any) -> None:
    assert X.Sort.from_grid(model) == X.Sort("occurred_at", True)


def test_grid_sorts_map_to_columns() -> None:
    assert X.Sort.from_grid([{"colId": "ip", "sort": "asc"}]) == X.Sort("ip", False)
    for col in explorer_views.column_defs("UTC"):
        assert col["colId"] in X.SORT_COLUMNS
    assert explorer_views.column_defs("Europe/Berlin")[0]["headerName"] == "Time (Europe/Berlin)"


# -- masking and the callbacks ---------------------------------------------------------------------------
def _text(node: Any) -> str:
    """Every string in a component tree (or figure), for "is it on screen" checks."""
    if hasattr(node, "to_plotly_json"):
        node = node.to_plotly_json()
    if isinstance(node, go.Figure):
        node = node.to_dict()
    return json.dumps(
        node, ensure_ascii=False, default=lambda o: o.to_plotly_json() if hasattr(o, "to_plotly_json") else str(o)
    )


def test_grid_rows_are_masked_on_the_server_for_managers(db: Database, evs: list[Ev], as_viewer: Any) -> None:
    snap = X.snapshot(db, Filters(), NOW)
    request = {"startRow": 0, "endRow": 50, "sortModel": [{"colId": "occurred_at", "sort": "desc"}]}
    as_viewer(Viewer("m", "manager"))
    response, anchors = explorer_views.rows(db, request, snap.to_store(), None)
    expected = ordered(in_view(evs, Filters()), X.Sort())[:50]
    assert [r["seq"] for r in response["rowData"]] == [e.seq for e in expected]
    assert response["rowCount"] == snap.total
    for row, e in zip(response["rowData"], expected, strict=True):
        assert row["ip"] == (mask_ip(e.ip) or "")
        assert row["actor"] == (shorten_name(e.name) or e.actor_id or "system")
    text = _text(response)
    for ip in PLACES:
        assert ip not in text
    for name in USERS.values():
        assert name not in text
    assert anchors["key"].endswith("|occurred_at:desc") and len(anchors["anchors"]) == 1


def test_admins_see_addresses_and_names(db: Database, evs: list[Ev], as_viewer: Any) -> None:
    snap = X.snapshot(db, Filters(), NOW)
    as_viewer(Viewer("ada", "admin"))
    response, _ = explorer_views.rows(db, {"startRow": 0, "endRow": 20}, snap.to_store(), None)
    expected = ordered(in_view(evs, Filters()), X.Sort())[:20]
    assert [r["ip"] for r in response["rowData"]] == [e.ip or "" for e in expected]


def test_the_detail_panel_shows_before_and_after(db: Database, evs: list[Ev], as_viewer: Any) -> None:
    change = next(e for e in reversed(evs) if e.changes)
    listing = X.snapshot(db, Filters(tz="Europe/Berlin"), NOW).to_store()
    as_viewer(Viewer("cora", "compliance"))
    title, body = explorer_views.open_event(db, str(change.seq), listing)
    text = _text(body)
    assert title == f"Event #{change.seq}"
    assert '"agent"' in text and '"supervisor"' in text
    assert "old@acme.example" in text  # compliance is not masked
    local = change.at.replace(tzinfo=UTC).astimezone(Filters(tz="Europe/Berlin").zone)
    assert f"{local:%Y-%m-%d %H:%M:%S}" in text and "Europe/Berlin" in text
    assert f"{change.at:%Y-%m-%d %H:%M:%S}" in text  # and in UTC
    assert "explorer-raw" in text  # the raw record, for compliance


def test_the_detail_panel_is_masked_for_managers(db: Database, evs: list[Ev], as_viewer: Any) -> None:
    change = next(e for e in reversed(evs) if e.changes and e.ip and e.ip in PLACES)
    as_viewer(Viewer("m", "manager"))
    _, body = explorer_views.open_event(db, change.seq, None)
    text = _text(body)
    assert change.ip not in text and str(mask_ip(change.ip)) in text
    assert "old@acme.example" not in text and "o…@acme.example" in text
    assert USERS["u1"] not in text and str(shorten_name(USERS["u1"])) in text
    assert USERS["u2"] not in text  # the target, a person
    assert USERS["u3"] not in text  # a name inside metadata
    assert 'explorer-raw"' not in text and detail.RAW_JSON_NOTE in text


def test_views_and_opened_events_are_recorded(db: Database, evs: list[Ev], as_viewer: Any) -> None:
    as_viewer(Viewer("cora", "compliance"))
    f = Filters(actions=("agent.role_change",), preset="30d")
    snap = explorer_views.open_listing(db, f.to_store(), None, now=NOW)
    assert snap is not None and snap.total == len(in_view(evs, f))
    assert explorer_views.open_listing(db, f.to_store(), snap.to_store()) is None  # same view: nothing new
    reloaded = explorer_views.open_listing(db, f.to_store(), snap.to_store(), reload=True, now=NOW)
    assert reloaded is not None and reloaded.max_seq > snap.max_seq  # "Reload": the audit event since
    change = next(e for e in evs if e.changes)
    explorer_views.open_event(db, change.seq, snap.to_store())
    with db.connect() as conn:
        logged = conn.execute(
            sa.select(events_table.c.actor_id, events_table.c.target_id, events_table.c.metadata)
            .where(events_table.c.action == "audit.view", events_table.c.actor_id == "cora")
            .order_by(events_table.c.seq)
        ).fetchall()
    listing, opened = logged[-3], logged[-1]
    assert json.loads(listing.metadata)["filters"] == f.to_query()
    assert json.loads(listing.metadata)["events"] == snap.total
    assert opened.target_id == f"t-{change.seq}"
    assert json.loads(opened.metadata)["seq"] == change.seq


def test_related_events_of_the_same_request_and_session(db: Database, evs: list[Ev]) -> None:
    e = next(x for x in evs if x.request and sum(1 for y in evs if y.request == x.request) > 1 and x.session)
    groups = {g.kind: g for g in X.related(db, e.seq)}
    same_request = [y.seq for y in evs if y.request == e.request and y.seq != e.seq]
    assert [r["seq"] for r in groups["request"].rows] == same_request
    window = X.CONTEXT_WINDOW
    same_session = [y for y in evs if y.session == e.session and y.seq != e.seq and abs(y.at - e.at) <= window]
    assert groups["session"].total == len(same_session)
    nearest = sorted(same_session, key=lambda y: abs(y.at - e.at))[: X.CONTEXT_LIMIT]
    assert {r["seq"] for r in groups["session"].rows} == {y.seq for y in nearest}
    assert [r["seq"] for r in groups["session"].rows] == sorted(r["seq"] for r in groups["session"].rows)


def test_changes_read_as_before_and_after() -> None:
    got = X.changes_of({"role": ["agent", "supervisor"], "mfa_enabled": [True, False], "email": [None, "a@b.c"]})
    assert got == [
        X.Change("role", "agent", "supervisor"),
        X.Change("mfa_enabled", "yes", "no"),
        X.Change("email", None, "a@b.c"),
    ]
    assert [c.kind for c in got] == ["changed", "changed", "added"]
    assert "(none)" in _text(detail.changes_table(got))


def test_an_event_that_is_gone_says_so(db: Database, as_viewer: Any) -> None:
    as_viewer(Viewer("ada", "admin"))
    _title, body = explorer_views.open_event(db, 987_654_321, None)
    assert "no longer in the log" in _text(body)


# -- the wall ---------------------------------------------------------------------------------------------
def test_wall_numbers_match_the_last_24_hours(db: Database, evs: list[Ev]) -> None:
    day = [e for e in evs if NAIVE_NOW - timedelta(hours=24) <= e.at < NAIVE_NOW]
    failed = [e for e in day if e.outcome == "failure" and e.action == "auth.login"]
    view = View.of(wall_views.WALL_FILTERS, NOW)
    with db.connect() as conn:
        nums = wall.numbers(conn, view)
        act = wall.activity(conn, view)
        sources = wall.failing_sources(conn, view)
    assert nums.events == len(day)
    assert nums.failed_logins == len(failed)
    assert nums.failing_sources == len({e.ip for e in failed if e.ip})
    assert int(act["events"].sum()) == len(day) and int(act["failed_logins"].sum()) == len(failed)
    assert len(act) in (144, 145)  # every 10-minute bucket, empty ones included
    by_net: dict[str, int] = {}
    for e in failed:
        if e.ip:
            key = str(mask_ip(e.ip))
            by_net[key] = by_net.get(key, 0) + 1
    assert dict(zip(sources["ip"], sources["failures"], strict=True)) == by_net


def test_failed_logins_only_from_unplaced_addresses_still_draw_the_wall(tmp_path: Path, as_viewer: Any) -> None:
    """A network none of whose addresses has a country (an internal address, our own login page's
    127.0.0.1) is listed with no country; before, the frame's NaN broke the wall's refresh."""
    database = Database(tmp_path / "unplaced.duckdb")
    at = NAIVE_NOW - timedelta(hours=1)
    insert(database, [Ev(1, at, "u1", "auth.login", "failure", "10.0.0.5", None, None, None)])
    with database.connect() as conn:
        sources = wall.failing_sources(conn, View.of(wall_views.WALL_FILTERS, NOW))
    assert list(sources["ip"]) == [str(mask_ip("10.0.0.5"))] and sources["country"].tolist() == [None]
    as_viewer(Viewer("kiosk", "wall"))
    text = _text(wall_views.refresh(database, NOW).failing)
    assert str(mask_ip("10.0.0.5")) in text and "—" in text


def test_the_wall_shows_no_personal_data_whoever_looks(db: Database, evs: list[Ev], as_viewer: Any) -> None:
    as_viewer(Viewer("ada", "admin"))  # even for an administrator
    v = wall_views.refresh(db, NOW)
    text = " ".join(
        _text(part) for part in (v.activity.to_dict(), v.map.to_dict(), v.failing, v.alerts, v.rate, v.events)
    )
    for ip in PLACES:
        assert ip not in text
    for name in USERS.values():
        assert name not in text
    assert "5.188.163.x" in text  # failed logins from there, masked
    for fig in (v.activity, v.map):
        go.Figure(fig.to_dict())  # valid for plotly
    assert v.map.layout.geo.center.lon == 0 and v.map.layout.geo.projection.rotation.lon == 0


def test_wall_alerts_say_when_detection_is_not_set_up(tmp_path: Path) -> None:
    database = Database(tmp_path / "noalerts.duckdb")
    try:
        with database.connect() as conn, conn.begin():
            conn.execute(sa.text("DROP TABLE IF EXISTS alerts"))
        with database.connect() as conn:
            found = wall.open_alerts(conn)
        assert found.count is None
        assert wall_views.NO_DETECTION in _text(wall_views.alerts_list(found))
    finally:
        database.close()


def test_wall_alerts_list_open_ones_most_severe_first(tmp_path: Path) -> None:
    from dashboard.store.schema import alerts

    database = Database(tmp_path / "alerts.duckdb")
    try:
        base = {
            "rule_id": "r",
            "alert_key": "k",
            "first_seen": NAIVE_NOW,
            "event_count": 3,
            "measures": "{}",
            "detail": "{}",
            "summary": "Agent1 Lastname1 from 91.32.96.240",
            "created_at": NAIVE_NOW,
            "updated_at": NAIVE_NOW,
        }
        rows = [
            {**base, "id": 1, "title": "Medium one", "severity": "medium", "status": "open", "last_seen": NAIVE_NOW,
             "key_json": json.dumps({"ip": "91.32.96.240"})},
            {**base, "id": 2, "title": "Critical one", "severity": "critical", "status": "acknowledged",
             "last_seen": NAIVE_NOW - timedelta(hours=1), "key_json": json.dumps({"user": "u1"})},
            {**base, "id": 3, "title": "Done", "severity": "critical", "status": "resolved", "last_seen": NAIVE_NOW,
             "key_json": "{}"},
        ]  # fmt: skip
        with database.connect() as conn, conn.begin():
            conn.execute(alerts.insert(), rows)
        with database.connect() as conn:
            found = wall.open_alerts(conn)
        assert found.count == 2 and found.by_severity == {"critical": 1, "medium": 1}
        assert [a["title"] for a in found.top] == ["Critical one", "Medium one"]
        text = _text(wall_views.alerts_list(found))
        assert "91.32.96.240" not in text and "91.32.96.x" in text and "Done" not in text
        assert "Agent1 Lastname1" not in text  # summaries may name people: the wall does not show them
    finally:
        database.close()


def test_refreshing_the_wall_keeps_no_memory_on_the_server(db: Database) -> None:
    for _ in range(2):  # warm-up: plotly's validators, SQLAlchemy's statement cache
        wall_views.refresh(db, NOW)
    gc.collect()
    tracemalloc.start()
    try:
        kept = []
        for _ in range(4):
            for _ in range(2):
                wall_views.refresh(db, NOW)
            gc.collect()
            kept.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    # What the refreshes left behind does not grow with their number: one figure kept per refresh
    # would add about 100 KB each time. (Bounded caches of the libraries fill once, up to ~150 KB.)
    assert kept[-1] - kept[0] < 400_000, kept
    assert kept[-1] - kept[-2] < 50_000, kept

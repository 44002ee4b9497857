"""The dashboard's aggregate queries on a real DuckDB file, checked against counts made in Python.

The events are written straight into the `events` table (the queries only read it), with known
places, so every expected number below is computed independently from the list of inserted
events, never by asking the database.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import sqlalchemy as sa

from dashboard import figures
from dashboard.events.taxonomy import ACTION_CATEGORY, LOCKOUT_ACTIONS
from dashboard.filters import Filters, zone_segments
from dashboard.privacy import mask_ip
from dashboard.store import analytics as A
from dashboard.store.db import Database
from dashboard.store.schema import events as events_table
from tests.pg import pg_database

#: the instant the views are resolved at; the data spans the 10 days before, across the end of
#: daylight saving time in Europe (25 Oct) and in New York (1 Nov).
NOW = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
NY = "America/New_York"

#: ip -> (country, city, lat, lon); None city/coordinates: only the country is known.
PLACES: dict[str, tuple[str | None, str | None, float | None, float | None]] = {
    "91.32.96.240": ("DE", "Berlin", 52.5244, 13.4105),
    "91.32.96.241": ("DE", "Berlin", 52.5244, 13.4105),
    "90.59.34.187": ("FR", "Paris", 48.8575, 2.3514),
    "85.243.196.156": ("PT", "Lisbon", 38.7314, -9.1457),
    "73.53.2.133": ("US", "Seattle", 47.6062, -122.332),
    "5.188.163.192": ("RU", "St Petersburg", 59.9311, 30.3609),
    "41.217.206.173": ("NG", "Abuja", 9.0578, 7.4951),
    "2001:4860:4860::8888": ("US", None, None, None),
    "45.12.1.9": ("BR", None, None, None),
    "10.0.0.5": (None, None, None, None),
}
USERS = {f"u{i}": f"Agent {i} Example" for i in range(1, 13)}
ACTIONS = [
    "auth.login",
    "auth.login",
    "auth.login",
    "auth.logout",
    "auth.mfa_challenge",
    "conversation.view",
    "conversation.view",
    "message.create",
    "message.create",
    "label.assign",
    "macro.execute",
    "settings.update",
    "auth.account_locked",
]


@dataclass(frozen=True)
class Ev:
    """One inserted event, as Python sees it."""

    seq: int
    at: datetime  # naive UTC
    action: str
    outcome: str
    reason: str | None
    actor_id: str | None
    actor_type: str
    ip: str | None
    changes: str | None = None
    target_name: str | None = None

    @property
    def category(self) -> str:
        return ACTION_CATEGORY[self.action]

    @property
    def place(self) -> tuple[str | None, str | None, float | None, float | None]:
        return PLACES.get(self.ip or "", (None, None, None, None))

    @property
    def failed_login(self) -> bool:
        return self.outcome == "failure" and self.action in A.FAILED_LOGIN_ACTIONS


def _make_events() -> list[Ev]:
    rnd = random.Random(20261105)
    out: list[Ev] = []
    start = datetime(2026, 10, 22, 0, 0)
    ips = list(PLACES)
    for i in range(1500):
        at = start + timedelta(seconds=rnd.randrange(0, 14 * 86400))
        action = rnd.choice(ACTIONS)
        system = rnd.random() < 0.06
        failed = (
            action in ("auth.login", "auth.mfa_challenge") and rnd.random() < 0.25
        ) or action == "auth.account_locked"
        reason = None
        if failed:
            reason = "locked" if action == "auth.account_locked" else rnd.choice(["bad_password", "mfa_failed"])
        user = None if system else f"u{rnd.randint(1, 12)}"
        ip = None if system else rnd.choice(ips)
        out.append(
            Ev(
                seq=i + 1,
                at=at.replace(microsecond=0),
                action=action,
                outcome="failure" if failed else "success",
                reason=reason,
                actor_id=user,
                actor_type="system" if system else "user",
                ip=ip,
            )
        )
    # role and permission changes with before -> after
    out.append(
        Ev(
            1601,
            datetime(2026, 11, 3, 9, 15),
            "agent.role_change",
            "success",
            None,
            "u1",
            "user",
            "91.32.96.240",
            json.dumps({"role": ["agent", "supervisor"]}),
            "Agent 7 Example",
        )
    )
    out.append(
        Ev(
            1602,
            datetime(2026, 11, 4, 16, 40),
            "agent.permission_change",
            "success",
            None,
            "u2",
            "user",
            "90.59.34.187",
            json.dumps({"permissions": [["reports"], ["reports", "billing"]], "custom_role": [None, "VIP lead"]}),
            "Agent 8 Example",
        )
    )
    # countries new to a person: u20 (DE before the view) appears from PT inside it -> new;
    # u21 first seen inside the view from FR, then RU -> only RU is new; u22 was in PT before -> nothing new
    out += [
        Ev(1701, datetime(2026, 10, 1, 9, 0), "auth.login", "success", None, "u20", "user", "91.32.96.240"),
        Ev(1702, datetime(2026, 11, 2, 9, 0), "auth.login", "success", None, "u20", "user", "85.243.196.156"),
        Ev(1703, datetime(2026, 11, 2, 9, 5), "conversation.view", "success", None, "u20", "user", "85.243.196.156"),
        Ev(1704, datetime(2026, 11, 1, 8, 0), "auth.login", "success", None, "u21", "user", "90.59.34.187"),
        Ev(1705, datetime(2026, 11, 3, 22, 0), "auth.login", "failure", "bad_password", "u21", "user", "5.188.163.192"),
        Ev(1706, datetime(2026, 10, 2, 9, 0), "auth.login", "success", None, "u22", "user", "85.243.196.156"),
        Ev(1707, datetime(2026, 11, 4, 9, 0), "auth.login", "success", None, "u22", "user", "85.243.196.156"),
    ]
    return sorted(out, key=lambda e: (e.at, e.seq))


def _name(actor_id: str | None) -> str | None:
    if actor_id is None:
        return "Automation"
    return USERS.get(actor_id, f"Person {actor_id}")


def insert(db: Database, evs: list[Ev]) -> None:
    """Write the events into the events table of a real DuckDB file."""
    rows = []
    for e in evs:
        country, city, lat, lon = e.place
        rows.append(
            {
                "seq": e.seq,
                "event_id": f"t-{e.seq}",
                "occurred_at": e.at,
                "received_at": e.at,
                "account_id": "acme",
                "action": e.action,
                "category": e.category,
                "outcome": e.outcome,
                "reason": e.reason,
                "actor_id": e.actor_id,
                "actor_name": _name(e.actor_id),
                "actor_email": f"{e.actor_id}@acme.example" if e.actor_id else None,
                "actor_role": "agent" if e.actor_id else None,
                "actor_type": e.actor_type,
                "target_type": "agent" if e.changes else None,
                "target_id": None,
                "target_name": e.target_name,
                "ip": e.ip,
                "ip_scope": "public" if country else ("internal" if e.ip else "none"),
                "geo_country": country,
                "geo_city": city,
                "geo_lat": lat,
                "geo_lon": lon,
                "user_agent": None,
                "session_id": None,
                "request_id": None,
                "changes": e.changes,
                "metadata": None,
                "source": "test",
                "batch_id": 1,
                "hash": "",
            }
        )
    with db.connect() as conn, conn.begin():
        conn.execute(events_table.insert(), rows)


@pytest.fixture(scope="module")
def evs() -> list[Ev]:
    return _make_events()


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, evs: list[Ev]) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("analytics") / "audit.duckdb"
    database = Database(
        path if request.param == "duckdb" else pg_database(request, {e.at.strftime("%Y-%m") for e in evs})
    )
    insert(database, evs)
    yield database
    database.close()


@pytest.fixture
def conn(db: Database) -> Iterator[sa.Connection]:
    with db.connect() as c:
        yield c


def in_view(evs: list[Ev], view: A.View) -> list[Ev]:
    return [e for e in evs if view.start <= e.at < view.end]


def local(e: Ev, tz: str) -> datetime:
    return e.at.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


# -- time ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("span", "label"),
    [
        (timedelta(hours=1), "1 minute"),
        (timedelta(hours=6), "5 minutes"),
        (timedelta(hours=24), "15 minutes"),
        (timedelta(days=3), "30 minutes"),
        (timedelta(days=7), "1 hour"),
        (timedelta(days=14), "3 hours"),
        (timedelta(days=30), "6 hours"),
        (timedelta(days=90), "1 day"),
        (timedelta(days=400), "1 week"),
    ],
)
def test_bar_width_follows_the_range(span: timedelta, label: str) -> None:
    start = datetime(2026, 1, 1)
    bucket = A.choose_bucket(start, start + span)
    assert bucket.label == label
    assert span.total_seconds() / bucket.seconds <= A.MAX_BARS or label == "1 week"


@pytest.mark.parametrize(
    ("tz", "changes"),
    [
        ("Europe/Berlin", [(datetime(2026, 3, 29, 1, 0), 2), (datetime(2026, 10, 25, 1, 0), 1)]),
        ("America/New_York", [(datetime(2026, 3, 8, 7, 0), -4), (datetime(2026, 11, 1, 6, 0), -5)]),
        ("Asia/Kolkata", []),
        ("UTC", []),
    ],
)
def test_zone_offsets_change_exactly_at_the_transitions(tz: str, changes: list[tuple[datetime, int]]) -> None:
    segments = zone_segments(ZoneInfo(tz), datetime(2026, 1, 1), datetime(2027, 1, 1))
    assert [(at, off.total_seconds() / 3600) for at, off in segments[1:]] == [(at, float(h)) for at, h in changes]


# -- Overview ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "filters",
    [
        Filters(preset="7d", tz="Europe/Berlin"),
        Filters(preset="24h"),
        Filters(preset="30d", tz=NY, outcome="failure"),
        Filters(preset="30d", users=("u3", "u4")),
    ],
)
def test_headline_figures(conn: sa.Connection, evs: list[Ev], filters: Filters) -> None:
    view = A.View.of(filters, NOW)
    rows = [
        e
        for e in in_view(evs, view)
        if (not filters.outcome or e.outcome == filters.outcome) and (not filters.users or e.actor_id in filters.users)
    ]
    h = A.headline(conn, view)
    assert h.events == len(rows)
    assert h.failed_logins == sum(e.failed_login for e in rows)
    assert h.users == len({e.actor_id for e in rows if e.actor_type == "user" and e.actor_id})
    assert h.ips == len({e.ip for e in rows if e.ip})


def test_open_alerts_count_what_is_not_resolved(db: Database) -> None:
    view = A.View.of(Filters(), NOW)
    with db.connect() as conn:
        if not sa.inspect(conn).has_table("alerts"):
            assert A.headline(conn, view).open_alerts is None
            return
    from dashboard.store.schema import alerts

    base = {
        "rule_id": "r",
        "title": "t",
        "severity": "high",
        "alert_key": "k",
        "key_json": "{}",
        "first_seen": NOW.replace(tzinfo=None),
        "last_seen": NOW.replace(tzinfo=None),
        "event_count": 1,
        "measures": "{}",
        "detail": "{}",
        "summary": "s",
        "created_at": NOW.replace(tzinfo=None),
        "updated_at": NOW.replace(tzinfo=None),
    }
    with db.connect() as conn, conn.begin():
        conn.execute(
            alerts.insert(),
            [
                {**base, "id": 9001, "status": "open", "key_user": "u1", "alert_key": "a"},
                {**base, "id": 9002, "status": "acknowledged", "key_user": "u2", "alert_key": "b"},
                {**base, "id": 9003, "status": "resolved", "key_user": "u1", "alert_key": "c"},
            ],
        )
    try:
        with db.connect() as conn:
            assert A.open_alerts(conn, view) == 2
            assert A.open_alerts(conn, A.View.of(Filters(users=("u1",)), NOW)) == 1
            # the headline asks in the same statement as its other figures
            assert A.headline(conn, view).open_alerts == 2
            assert A.headline(conn, A.View.of(Filters(users=("u1",)), NOW)).open_alerts == 1
            assert A.headline(conn, A.View.of(Filters(users=("u9",)), NOW)).open_alerts == 0
    finally:
        with db.connect() as conn, conn.begin():
            conn.execute(alerts.delete().where(alerts.c.id.in_([9001, 9002, 9003])))


@pytest.mark.parametrize(
    ("preset", "tz"), [("24h", "UTC"), ("7d", "Europe/Berlin"), ("30d", NY), ("7d", "Asia/Kathmandu")]
)
def test_timeline_counts_each_event_once_in_its_local_bucket(
    conn: sa.Connection, evs: list[Ev], preset: str, tz: str
) -> None:
    view = A.View.of(Filters(preset=preset, tz=tz), NOW)
    tl = A.timeline(conn, view)
    expected: Counter[tuple[datetime, str]] = Counter()
    for e in in_view(evs, view):
        t = local(e, tz)
        if tl.bucket.seconds < 86400:
            midnight = t.replace(hour=0, minute=0, second=0, microsecond=0)
            offset = int((t - midnight).total_seconds()) // tl.bucket.seconds * tl.bucket.seconds
            b = midnight + timedelta(seconds=offset)
        else:
            b = t.replace(hour=0, minute=0, second=0, microsecond=0)
        expected[(b, e.category)] += 1
    got = {(row.bucket.to_pydatetime(), row.category): int(row.events) for row in tl.frame.itertuples()}
    assert got == dict(expected)
    assert tl.tz == tz
    assert tl.start == view.local_start and tl.end == view.local_end


def test_rankings(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    rows = in_view(evs, view)
    by_user = Counter(e.actor_id for e in rows if e.actor_type == "user" and e.actor_id)
    users = A.top_users(conn, view, limit=5)
    expected_users = sorted(by_user.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    assert list(zip(users["actor_id"], users["events"], strict=True)) == expected_users
    assert list(users["actor_name"]) == [USERS.get(a, f"Person {a}") for a, _ in expected_users]

    by_action = Counter(e.action for e in rows)
    actions = A.top_actions(conn, view, limit=4)
    assert (
        list(zip(actions["action"], actions["events"], strict=True))
        == sorted(by_action.items(), key=lambda kv: (-kv[1], kv[0]))[:4]
    )

    categories = A.by_category(conn, view)
    everything = A.action_counts(conn, view)
    assert list(zip(everything["action"], everything["events"], strict=True)) == sorted(
        by_action.items(), key=lambda kv: (-kv[1], kv[0])
    )
    pd.testing.assert_frame_equal(A.categories_of(everything), categories, check_dtype=False)
    by_cat = Counter(e.category for e in rows)
    assert dict(zip(categories["category"], categories["events"], strict=True)) == dict(by_cat)
    fails = Counter(e.category for e in rows if e.outcome == "failure")
    assert dict(zip(categories["category"], categories["failures"], strict=True)) == {
        c: fails.get(c, 0) for c in by_cat
    }


# -- Security --------------------------------------------------------------------------------------------------
def test_failed_logins_by_weekday_and_hour_in_the_chosen_zone(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d", tz=NY), NOW)
    grid = A.failed_logins_by_weekday_hour(conn, view)
    expected = [[0] * 24 for _ in range(7)]
    for e in in_view(evs, view):
        if e.failed_login:
            t = local(e, NY)
            expected[t.weekday()][t.hour] += 1
    assert grid.to_numpy().tolist() == expected
    assert list(grid.index) == list(A.WEEKDAYS)
    assert int(grid.to_numpy().sum()) > 20


@pytest.mark.parametrize("tz", [NY, "Europe/Berlin"])
def test_a_heatmap_cell_is_the_view_narrowed_to_its_weekday_and_hour(
    conn: sa.Connection, evs: list[Ev], tz: str
) -> None:
    """What a click on a cell asks for (failed logins on that local weekday and hour) counts that cell."""
    base = Filters(preset="30d", tz=tz)
    grid = A.failed_logins_by_weekday_hour(conn, A.View.of(base, NOW)).to_numpy()
    spec = figures.weekday_hour_spec(grid.tolist(), tz)
    trace = spec["data"][0]
    for i, day in enumerate(trace["y"]):
        for j, hour in enumerate(trace["x"]):
            cell = figures.weekday_hour_of(hour, day)  # what the page reads from Plotly's click
            assert cell == (i + 1, j)
            narrowed = base.with_(
                outcome="failure", actions=A.FAILED_LOGIN_ACTIONS, weekdays=[cell[0]], hours=[cell[1]]
            )
            view = A.View.of(narrowed, NOW)
            assert A.security_summary(conn, view).failed_logins == grid[i][j]
            if grid[i][j]:
                after = A.failed_logins_by_weekday_hour(conn, view).to_numpy()
                assert after[i][j] == grid[i][j] and int(after.sum()) == grid[i][j]
    assert figures.weekday_hour_of("24:00", "Tue") is None
    assert figures.weekday_hour_of("14:00", "Tuesday") is None
    assert figures.weekday_hour_of(None, None) is None


def test_failed_logins_by_user_and_day(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d", tz="Europe/Berlin"), NOW)
    frame = A.failed_logins_by_user_day(conn, view, limit=5)
    per_user: Counter[str] = Counter()
    per_cell: Counter[tuple[str, date]] = Counter()
    for e in in_view(evs, view):
        if e.failed_login and e.actor_id:
            per_user[e.actor_id] += 1
            per_cell[(e.actor_id, local(e, "Europe/Berlin").date())] += 1
    top = [u for u, _ in sorted(per_user.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
    assert list(dict.fromkeys(frame["actor_id"])) == top
    got = {(r.actor_id, pd.Timestamp(r.day).date()): int(r.failures) for r in frame.itertuples()}
    assert got == {k: v for k, v in per_cell.items() if k[0] in top}


def test_security_summary_and_reasons(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    rows = in_view(evs, view)
    failed = [e for e in rows if e.failed_login]
    s = A.security_summary(conn, view)
    assert s.failed_logins == len(failed)
    assert s.lockouts == sum(e.action in LOCKOUT_ACTIONS for e in rows)
    assert s.failing_users == len({e.actor_id for e in failed if e.actor_id})
    assert s.failing_ips == len({e.ip for e in failed if e.ip})

    reasons = A.failures_by_reason(conn, view)
    expected = Counter((e.reason or "unspecified", e.action) for e in rows if e.outcome == "failure")
    assert {(r.reason, r.action): int(r.failures) for r in reasons.itertuples()} == dict(expected)


def test_top_addresses_with_failure_ratio_and_country(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    rows = [e for e in in_view(evs, view) if e.ip]
    stats: dict[str, list[Any]] = defaultdict(lambda: [0, 0, set()])
    for e in rows:
        s = stats[e.ip or ""]
        s[0] += 1
        s[1] += e.outcome == "failure"
        s[2].add(e.actor_id)
    top = A.top_addresses(conn, view, limit=len(stats))
    assert len(top) == len(stats)
    for r in top.itertuples():
        events, failures, users = stats[r.ip]
        assert (r.events, r.failures, r.users) == (events, failures, len(users))
        assert r.failure_ratio == pytest.approx(failures / events)
        assert r.country == PLACES[r.ip][0]
    order = [(-int(r.failures), -int(r.events)) for r in top.itertuples()]
    assert order == sorted(order)


def test_masked_addresses_are_grouped_by_network(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    expected: Counter[str] = Counter()
    for e in in_view(evs, view):
        if e.ip:
            key = mask_ip(e.ip) if "." in e.ip else e.ip  # IPv6 is masked by the caller
            expected[key or ""] += 1
    top = A.top_addresses(conn, view, limit=50, masked=True)
    assert dict(zip(top["ip"], top["events"], strict=True)) == dict(expected)
    assert "91.32.96.x" in set(top["ip"])  # .240 and .241 became one row


def test_permission_changes_read_before_and_after(conn: sa.Connection) -> None:
    view = A.View.of(Filters(preset="7d", tz="Europe/Berlin"), NOW)
    frame = A.permission_changes(conn, view)
    rows = [(r.actor_id, r.field, r.before, r.after) for r in frame.itertuples()]
    assert rows == [
        ("u2", "permissions", "reports", "reports, billing"),
        ("u2", "custom_role", "(none)", "VIP lead"),
        ("u1", "role", "agent", "supervisor"),
    ]
    assert frame["occurred_at"].iloc[-1] == datetime(2026, 11, 3, 10, 15)  # 09:15 UTC in Berlin (CET)
    assert set(frame["target_name"]) == {"Agent 7 Example", "Agent 8 Example"}


def test_map_points_per_city(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    per_place: dict[tuple[float, float], dict[str, Any]] = {}
    for e in in_view(evs, view):
        _, city, lat, lon = e.place
        if lat is None or lon is None:
            continue
        p = per_place.setdefault(
            (lat, lon), {"city": city, "events": 0, "failures": 0, "ips": Counter(), "users": set()}
        )
        p["events"] += 1
        p["failures"] += e.outcome == "failure"
        p["ips"][e.ip] += 1
        p["users"].add(e.actor_id)
    points = A.map_points(conn, view)
    assert len(points) == len(per_place)
    for r in points.itertuples():
        p = next(v for (lat, lon), v in per_place.items() if abs(lat - r.lat) < 1e-4 and abs(lon - r.lon) < 1e-4)
        assert (r.city, r.events, r.failures, r.ips, r.users) == (
            p["city"],
            p["events"],
            p["failures"],
            len(p["ips"]),
            len(p["users"]),
        )
        busiest = max(p["ips"].values())
        assert r.top_ip == min(ip for ip, n in p["ips"].items() if n == busiest)
        assert r.failure_share == pytest.approx(p["failures"] / p["events"])


def test_country_shading_counts_events_without_coordinates(conn: sa.Connection, evs: list[Ev]) -> None:
    view = A.View.of(Filters(preset="30d"), NOW)
    expected = Counter(e.place[0] for e in in_view(evs, view) if e.place[0] and e.place[2] is None)
    frame = A.country_totals(conn, view)
    assert dict(zip(frame["country"], frame["events"], strict=True)) == dict(expected)
    assert set(expected) == {"US", "BR"}


def test_countries_new_to_a_user(conn: sa.Connection) -> None:
    view = A.View.of(Filters(preset="7d", users=("u20", "u21", "u22"), tz="Europe/Berlin"), NOW)
    frame = A.new_countries(conn, view)
    assert [(r.actor_id, r.country, r.ip) for r in frame.itertuples()] == [
        ("u21", "RU", "5.188.163.192"),
        ("u20", "PT", "85.243.196.156"),
    ]
    assert frame["first_seen"].iloc[1] == datetime(2026, 11, 2, 10, 0)  # 09:00 UTC in Berlin
    assert frame["events"].iloc[1] == 2


def test_filters_reach_every_query(conn: sa.Connection, evs: list[Ev]) -> None:
    f = Filters(preset="30d", users=("u5",), categories=("authentication",))
    view = A.View.of(f, NOW)
    rows = [e for e in in_view(evs, view) if e.actor_id == "u5" and e.category == "authentication"]
    assert A.headline(conn, view).events == len(rows)
    assert int(A.timeline(conn, view).frame["events"].sum()) == len(rows)
    assert set(A.top_users(conn, view)["actor_id"]) == {"u5"}
    assert int(A.map_points(conn, view)["events"].sum()) == sum(1 for e in rows if e.place[2] is not None)


def test_sidebar_choices(conn: sa.Connection, evs: list[Ev]) -> None:
    assert A.distinct_values(conn, "geo_country") == sorted({e.place[0] for e in evs if e.place[0]})
    assert A.distinct_values(conn, "actor_role") == ["agent"]
    with pytest.raises(ValueError, match="not one of"):
        A.distinct_values(conn, "actor_email")
    directory = A.actor_directory(conn)
    counts = Counter(e.actor_id for e in evs if e.actor_type == "user" and e.actor_id)
    assert dict(zip(directory["actor_id"], directory["events"], strict=True)) == dict(counts)


def test_an_empty_view_gives_empty_results(conn: sa.Connection) -> None:
    view = A.View.of(Filters(preset=None, start=datetime(2020, 1, 1), end=datetime(2020, 1, 2)), NOW)
    assert A.headline(conn, view).events == 0
    assert A.timeline(conn, view).frame.empty
    assert A.top_users(conn, view).empty
    assert int(A.failed_logins_by_weekday_hour(conn, view).to_numpy().sum()) == 0
    assert A.map_points(conn, view).empty
    assert A.new_countries(conn, view).empty
    assert A.permission_changes(conn, view).empty

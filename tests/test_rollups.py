"""Rollups: every figure is the same read from the rollups as from the raw events, and the rollups
stay in step with the events across ingest, purge and restore (docs/architecture.md, "Rollups")."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.access.users import Actor
from dashboard.events.validate import validate_batch
from dashboard.filters import Filters, View
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store import analytics as A
from dashboard.store import rollups
from dashboard.store.db import Database
from dashboard.store.writer import store_batch
from tests.conftest import event
from tests.pg import pg_database
from tests.test_detect_helpers import geo
from tests.test_integrity import locations, tamper

#: the data spans the 100 days before, across daylight-saving changes in Europe, America and Australia
NOW = datetime(2026, 11, 20, 12, 7, 31, tzinfo=UTC)
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "Australia/Lord_Howe")
USERS = ("u1", "u2", "u3", "u4", "u5")
COUNTRIES_BY_IP = {"91.32.96.240": "DE", "90.59.34.187": "FR", "73.53.2.133": "US", "5.188.163.192": "RU"}
IPS = (*COUNTRIES_BY_IP, "2001:4860:4860::8888", "10.0.0.5", None)
ACTIONS = (
    "auth.login",
    "auth.login",
    "auth.logout",
    "auth.account_locked",
    "message.create",
    "conversation.view",
    "label.assign",
    "agent.role_change",
    "audit.login",
)
ACCOUNTS = ("acme", "globex")


def make_docs(n: int, seed: int, start: datetime, end: datetime, prefix: str) -> list[dict[str, Any]]:
    """`n` varied events at random instants (to the millisecond) in [start, end)."""
    rnd = random.Random(seed)
    span_ms = int((end - start).total_seconds() * 1000)
    docs = []
    for i in range(n):
        when = start + timedelta(milliseconds=rnd.randrange(span_ms))
        action = rnd.choice(ACTIONS)
        failed = (action in ("auth.login", "audit.login") and rnd.random() < 0.3) or action == "auth.account_locked"
        user = rnd.choice((*USERS, None))
        ip = rnd.choice(IPS)
        docs.append(
            event(
                id=f"{prefix}{i}",
                occurred_at=when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                account_id=rnd.choice(ACCOUNTS),
                action=action,
                outcome="failure" if failed else "success",
                reason="bad_password" if failed and rnd.random() < 0.7 else None,
                actor={"id": user, "name": f"Agent {user}", "role": rnd.choice(("agent", "supervisor"))}
                if user
                else {"type": "system", "name": "Automation"},
                ip=ip,
                target={"type": "agent", "id": "u9", "name": "Agent u9"} if action == "agent.role_change" else None,
                changes={"role": ["agent", "supervisor"]} if action == "agent.role_change" else None,
            )
        )
    return docs


def ingest(db: Database, docs: list[dict[str, Any]], batch: int = 97) -> None:
    """Store through the writer, in batches (the path every event takes), addresses placed (the
    figures by country and the new countries compare real places)."""
    now = NOW.replace(tzinfo=None)
    for k in range(0, len(docs), batch):
        with db.raw() as con:
            records = [(i, json.dumps(d)) for i, d in enumerate(docs[k : k + batch])]
            checked = validate_batch(con, records, geo=geo(), now=now)
        assert not checked.rejected, checked.rejected[:1]
        store_batch(db, checked.accepted, [], "test")


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The same events stored through the writer on each engine (on PostgreSQL the writer's rollup
    changes reach its tables in the batch's transaction)."""
    path: Path = tmp_path_factory.mktemp("rollups") / "rollups.duckdb"
    database = Database(path if request.param == "duckdb" else pg_database(request))
    ingest(database, make_docs(900, 7, datetime(2026, 8, 12), datetime(2026, 11, 20, 12, 7), "r"), batch=300)
    rollups.forget_checks()
    with database.connect() as conn:
        assert rollups.in_step(conn)  # the comparisons below read the rollups
    yield database
    database.close()


#: the tables `rollups.differences` reads
DERIVED = (
    "events",
    *(r.table.name for r in rollups.ROLLUPS),
    rollups.NOTABLE.name,
    *(t.name for t, _ in rollups.TEXT_VALUES),
)


def differences(db: Database) -> list[str]:
    """Where the rollups disagree with the events (on PostgreSQL: read in one consistent snapshot)."""
    with db.reading(DERIVED) as con:
        return rollups.differences(con)


#: every function of `analytics` a page, the wall or a pack reads
FIGURES = (
    A.headline,
    A.timeline,
    A.top_users_rows,
    A.action_counts_rows,
    A.by_category,
    A.security_summary,
    A.weekday_hour_counts,
    A.failed_logins_by_user_day_rows,
    A.failures_by_reason_rows,
    A.top_address_rows,
    lambda conn, view: A.top_address_rows(conn, view, masked=True),
    A.permission_change_rows,
    A.map_point_rows,
    lambda conn, view: A.map_point_rows(conn, view, masked=True),
    A.country_total_rows,
    lambda conn, view: A.country_total_rows(conn, view, unplaced_only=False),
    A.new_country_rows,
)


def both_ways(db: Database, view: View) -> list[tuple[Any, Any]]:
    with db.connect() as conn:
        fast = [fn(conn, view) for fn in FIGURES]
        with rollups.raw_only():
            raw = [fn(conn, view) for fn in FIGURES]
    return list(zip(fast, raw, strict=True))


def same(a: Any, b: Any) -> bool:
    if isinstance(a, A.Timeline):
        return a.rows == b.rows and a.bucket == b.bucket
    if hasattr(a, "equals"):
        return bool(a.equals(b))
    return bool(a == b)


_start = datetime(2026, 8, 5)
instants = st.integers(0, 110 * 86400 * 4).map(lambda q: _start + timedelta(seconds=q * 15 + q % 7))
filters = st.builds(
    lambda rng, custom, tz, users, roles, cats, actions, outcome, ip, countries, accounts, days, hours, text, own: (
        Filters(
            preset=rng if custom is None else None,
            start=min(custom) if custom else None,
            end=max(custom) + timedelta(minutes=1) if custom else None,
            tz=tz,
            users=users,
            roles=roles,
            categories=cats,
            actions=actions,
            outcome=outcome,
            ip=ip,
            countries=countries,
            accounts=accounts,
            weekdays=days,
            hours=hours,
            text=text,
            dashboard_activity=own,
        )
    ),
    st.sampled_from(("24h", "7d", "30d", "90d")),
    st.none() | st.tuples(instants, instants),
    st.sampled_from(ZONES),
    st.sampled_from(((), ("u1",), ("u2", "u5"))),
    st.sampled_from(((), ("supervisor",))),
    st.sampled_from(((), ("authentication",), ("audit",), ("conversation", "labels"))),
    st.sampled_from(((), ("auth.login",), ("auth.account_locked", "agent.role_change"))),
    st.sampled_from((None, "failure", "success")),
    st.sampled_from((None, "91.32.0.0/16", "73.53.2.133", "2001:4860::/32")),
    st.sampled_from(((), ("DE",), ("FR", "US"))),
    st.sampled_from(((), ("globex",))),
    st.sampled_from(((), (1, 2, 3), (6, 7))),
    st.sampled_from(((), (9,), (0, 1, 2, 22, 23))),
    st.sampled_from((None, None, None, "agent u3", "supervisor")),
    st.booleans(),
)


def test_the_writer_kept_the_rollups_in_step(db: Database) -> None:
    assert differences(db) == []
    with db.connect() as conn:
        assert rollups.in_step(conn)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(f=filters)
def test_every_figure_is_the_same_from_rollups_and_from_raw_events(db: Database, f: Filters) -> None:
    view = View.of(f, NOW)
    for fast, raw in both_ways(db, view):
        assert same(fast, raw), (f, fast, raw)


def test_the_rollups_answer_the_common_views() -> None:
    """Presets and the sidebar's filters read the rollups for whole buckets, raw events only at the edges."""
    for f, columns, clock in (
        (Filters(preset="90d", tz="Europe/Berlin"), ("category",), 3600),
        (Filters(preset="7d", tz="Asia/Kathmandu", outcome="failure"), ("category",), 900),
        (Filters(preset="30d", users=("u1",)), ("actor_id", "actor_name"), None),
        (Filters(preset="24h", countries=("DE",), actions=("auth.login",)), ("action",), None),
    ):
        view = View.of(f, NOW)
        parts = rollups.plan(view, columns, clock)
        assert any(r is not None for r, _, _ in parts), f
        raw = sum(((b - a) for r, a, b in parts if r is None), timedelta())
        assert raw < timedelta(days=2), (f, parts)  # less than a bucket at each edge
        # the parts tile the range exactly
        assert parts[0][1] == view.start and parts[-1][2] == view.end
        assert all(p[2] == q[1] for p, q in itertools.pairwise(parts))
    # free text reads the events; an hour filter in a :45 zone reads quarter-hours
    assert all(r is None for r, _, _ in rollups.plan(View.of(Filters(text="agent"), NOW), ()))
    kathmandu = rollups.plan(View.of(Filters(preset="7d", tz="Asia/Kathmandu", hours=(9,)), NOW), ("category",))
    assert {r.grain for r, _, _ in kathmandu if r is not None} == {900}


def test_rollups_stay_in_step_across_ingest_purge_and_restore(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.duckdb"
    purge_now = datetime(2026, 11, 20, 12, 0)
    with Database(path) as db:
        old = make_docs(300, 11, datetime(2026, 5, 1), datetime(2026, 11, 1), "o")
        ingest(db, old, batch=50)
        assert differences(db) == []
        # repeats: exact duplicates and one event at a time
        ingest(db, old[:40], batch=40)
        ingest(db, make_docs(5, 12, datetime(2026, 10, 1), datetime(2026, 10, 2), "one"), batch=1)
        assert differences(db) == []
        where = locations(path)
        result = run_purge(db, where, RetentionPolicy(), Actor("ana.admin", "admin"), now=purge_now)
        assert result.deleted > 0
        assert differences(db) == []
        back = restore(db, where, Actor("ana.admin", "admin"), datetime(2026, 6, 1), datetime(2026, 7, 1))
        assert back.restored > 0
        assert differences(db) == []
        copy = restore(
            db,
            where,
            Actor("ana.admin", "admin"),
            datetime(2026, 5, 1),
            datetime(2026, 6, 1),
            into=tmp_path / "c.duckdb",
        )
        assert copy.restored > 0
        rollups.forget_checks()
        view = View.of(Filters(preset=None, start=datetime(2026, 5, 1), end=datetime(2026, 11, 20)), purge_now)
        with db.connect() as conn:
            assert rollups.in_step(conn)
            assert (
                A.headline(conn, view).events
                == conn.execute(sa.text("SELECT count(*) FROM events WHERE category <> 'audit'")).scalar()
            )
    with Database(tmp_path / "c.duckdb") as investigation:
        assert differences(investigation) == []


def test_rows_written_behind_auditdash_s_back_send_the_figures_to_the_raw_events(tmp_path: Path) -> None:
    """A row inserted outside auditdash (which `verify` reports) is counted all the same."""
    path = tmp_path / "forged.duckdb"
    with Database(path) as db:
        ingest(db, make_docs(60, 3, datetime(2026, 11, 10), datetime(2026, 11, 20), "f"))
    tamper(
        path,
        "INSERT INTO events SELECT * REPLACE (seq + 1000 AS seq, 'forged-' || event_id AS event_id) "
        "FROM events WHERE seq = 1",
    )
    rollups.forget_checks()
    with Database(path) as db, db.connect() as conn:
        assert not rollups.in_step(conn)
        view = View.of(Filters(preset="30d", dashboard_activity=True), NOW)
        assert A.headline(conn, view).events == 61
        with db.raw() as con:
            con.execute("BEGIN TRANSACTION")
            rollups.rebuild(con)
            con.execute("COMMIT")
        rollups.forget_checks()
        conn.rollback()  # a new transaction sees the rebuild
        assert rollups.in_step(conn)
        assert A.headline(conn, view).events == 61

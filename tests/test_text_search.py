"""Free-text search: found by equality on the distinct actors and targets, it selects exactly the rows
a plain case-insensitive substring scan selects, on every page's path (figures from the rollups,
notable events, the explorer's listing), and its tables stay right across ingest, purge, restore
and erasure (docs/architecture.md, "Free-text search")."""

from __future__ import annotations

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
from dashboard.filters import Filters, View
from dashboard.retention.erasure import erase
from dashboard.retention.holds import list_holds, release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store import analytics, explorer, rollups, schema
from dashboard.store.db import Database
from tests.conftest import event
from tests.pg import pg_database
from tests.test_integrity import locations
from tests.test_rollups import ingest
from tests.test_rollups import make_docs as rollup_docs

NOW = datetime(2026, 11, 20, 12, 7, 31, tzinfo=UTC)
E = schema.events.c
ADMIN = Actor("ana.admin", "admin")
#: names with LIKE's special characters, the escape character, case and unicode
NAMES = (
    "Zoë Quill",
    "ZOË quill",
    "Ann_Lee",
    "50% Bob",
    "back\\slash Carl",
    "İpek Şahin",
    "Straße Maß",
    "Agent 5",
    "Agent 50",
    "a/b Ode",
)
TARGET_WORDS = ("Ticket", "50%_off", "straße", "ZOË", "c\\d", "Agent 5 notes")


def make_docs(n: int, seed: int, start: datetime, end: datetime, prefix: str) -> list[dict[str, Any]]:
    """Events whose actors, targets and changes carry the names above (some without any)."""
    rnd = random.Random(seed)
    span_ms = int((end - start).total_seconds() * 1000)
    docs = []
    for i in range(n):
        when = start + timedelta(milliseconds=rnd.randrange(span_ms))
        k = rnd.randrange(len(NAMES) + 1)
        if k == len(NAMES):
            actor: dict[str, Any] = {"type": "system", "name": "Automation"}
        else:
            # v1 has a second e-mail now and then: its text is then matched by scanning the actor columns
            mail = f"p{k}@Example.org" if k != 1 or rnd.random() < 0.8 else "quill.z@exämple.org"
            actor = {"id": f"v{k}", "name": NAMES[k], "email": mail, "role": "agent"}
        target = None
        if rnd.random() < 0.6:
            t = rnd.randrange(30)
            target = {"type": "conversation", "id": f"c{t}", "name": f"#{t} {rnd.choice(TARGET_WORDS)}"}
        changes = {"title": [rnd.choice(NAMES), rnd.choice(TARGET_WORDS)]} if rnd.random() < 0.1 else None
        failed = rnd.random() < 0.2
        docs.append(
            event(
                id=f"{prefix}{i}",
                occurred_at=when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                action="auth.login" if failed or rnd.random() < 0.5 else "conversation.view",
                outcome="failure" if failed else "success",
                actor=actor,
                target=target,
                changes=changes,
            )
        )
    return docs


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("text") / "text.duckdb"
    database = Database(path if request.param == "duckdb" else pg_database(request))
    ingest(database, make_docs(500, 3, datetime(2026, 9, 1), datetime(2026, 11, 20, 12), "t"), batch=125)
    # events with addresses and countries, people "Agent u1" to "Agent u5" (tests/test_rollups.py)
    ingest(database, rollup_docs(200, 4, datetime(2026, 9, 1), datetime(2026, 11, 20, 12), "g"), batch=100)
    rollups.forget_checks()
    yield database
    database.close()


def answers(db: Database, f: Filters) -> dict[str, Any]:
    """What the pages read for `f`: the rows, the counts from the rollups, the notable rows, the listing."""
    view = View.of(f, NOW)
    notable = schema.events_notable
    with db.connect() as conn:
        rows = [r[0] for r in conn.execute(sa.select(E.seq).where(view.where(schema.events)).order_by(E.seq))]
        src = rollups.source(conn, view, ("category", "outcome"))
        counts = conn.execute(
            sa.select(src.c.category, src.c.outcome, sa.func.sum(src.c.n))
            .group_by(src.c.category, src.c.outcome)
            .order_by(src.c.category, src.c.outcome)
        ).all()
        notables = [
            r[0] for r in conn.execute(sa.select(notable.c.seq).where(view.where(notable)).order_by(notable.c.seq))
        ]
    snap = explorer.snapshot(db, f, now=NOW)
    listing = [r["id"] for r in explorer.page(db, snap, 0, limit=40).rows]
    return {"rows": rows, "counts": counts, "notable": notables, "total": snap.total, "listing": listing}


def both_ways(db: Database, f: Filters) -> tuple[dict[str, Any], dict[str, Any]]:
    rollups.forget_text_matches()
    fast = answers(db, f)
    again = answers(db, f)  # from the kept matches
    assert again == fast
    with rollups.raw_only():  # the plain scan: ILIKE over the six columns, raw events
        plain = answers(db, f)
    return fast, plain


_pieces = st.sampled_from(
    (*NAMES, *TARGET_WORDS, "p3@example.org", "quill.z@exämple.org", "v1", "c2", "#1", "title", "Automation")
)
substrings = st.builds(
    lambda s, a, b, case: (lambda t: {"up": t.upper(), "low": t.lower(), "swap": t.swapcase(), "same": t}[case])(
        s[min(a, b) : max(a, b) + 1]
    ),
    _pieces,
    st.integers(0, 20),
    st.integers(0, 20),
    st.sampled_from(("up", "low", "swap", "same")),
)
texts = substrings | st.text(alphabet="aAbB5%_\\/#ëËßİi̇ @.", min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=texts,
    preset=st.sampled_from(("24h", "7d", "90d")),
    extra=st.sampled_from(({}, {"users": ("v1", "v7")}, {"outcome": "failure"}, {"tz": "Asia/Kolkata"})),
)
def test_text_search_selects_what_a_plain_scan_selects(db: Database, text: str, preset: str, extra: dict) -> None:
    fast, plain = both_ways(db, Filters(preset=preset, text=text, **extra))
    assert fast == plain, text


def test_the_matches_are_found_by_equality_where_they_can(db: Database) -> None:
    with db.connect() as conn:
        assert rollups.in_step(conn)
        agent = rollups.resolve_text(conn, "agent 5")
        assert agent is not None and agent.actor_ids == ("v7", "v8")
        assert agent.seqs  # "#… Agent 5 notes" targets, by other people too
        # v1's two e-mails: "zoë" matches v0 and v1 by name and the other e-mail too
        assert rollups.resolve_text(conn, "exämple").actor_ids is None  # only some of v1's events: scan
        nothing = rollups.resolve_text(conn, "no such text")
        assert nothing is not None and nothing.actor_ids == () and nothing.seqs == ()
    fast, plain = both_ways(db, Filters(preset="90d", text="no such text"))
    assert fast == plain and fast["rows"] == []


def test_a_text_that_matches_people_only_reads_new_countries_as_a_person_filter(db: Database) -> None:
    with db.connect() as conn:
        match = rollups.resolve_text(conn, "agent u4")
        assert match is not None and match.actor_ids == ("u4",) and match.seqs == ()
        for text in ("agent u4", "AGENT U", "u9"):
            view = View.of(Filters(preset="90d", text=text), NOW)
            fast = analytics.new_country_rows(conn, view)
            with rollups.raw_only():
                plain = analytics.new_country_rows(conn, view)
            assert fast == plain, text


def search(db: Database, text: str) -> list[int]:
    fast, plain = both_ways(db, Filters(preset=None, start=datetime(2026, 1, 1), end=datetime(2026, 12, 1), text=text))
    assert fast == plain, text
    return fast["rows"]


def actors(db: Database) -> set[tuple[Any, ...]]:
    with db.raw() as con:
        return {tuple(r) for r in con.execute("SELECT actor_id, actor_name, actor_email FROM text_actors").fetchall()}


def test_the_distinct_values_stay_right_across_ingest_purge_restore_and_erasure(tmp_path: Path) -> None:
    path = tmp_path / "upkeep.duckdb"
    purge_now = datetime(2026, 11, 20, 12, 0)
    with Database(path) as db:
        ingest(db, make_docs(200, 5, datetime(2026, 5, 1), datetime(2026, 11, 1), "o"), batch=50)
        assert differences(db) == []
        before = search(db, "zoë")
        assert before
        # new events: the kept matches are topped up, the new ones found
        ingest(db, make_docs(30, 6, datetime(2026, 11, 10), datetime(2026, 11, 11), "n"), batch=10)
        assert differences(db) == []
        after = search(db, "zoë")
        assert set(before) < set(after)
        where = locations(path)
        assert run_purge(db, where, RetentionPolicy(), ADMIN, now=purge_now).deleted > 0
        assert differences(db) == []
        assert len(search(db, "zoë")) < len(after)
        assert restore(db, where, ADMIN, datetime(2026, 5, 1), datetime(2026, 7, 1)).restored > 0
        assert differences(db) == []
        search(db, "zoë")
        # erasure: the person's name and e-mail leave the events and the distinct values alike
        assert any(a[1] == "Straße Maß" for a in actors(db))
        found = search(db, "straße maß")
        assert found
        for hold in list_holds(db):  # the restore's hold (an investigation) ends before the erasure
            release_hold(db, hold.id, ADMIN, "closed")
        erase(db, where, ADMIN, "v6", "DSR-1")
        assert differences(db) == []
        assert not any("Straße Maß" in str(a[1]) or a[2] == "p6@Example.org" for a in actors(db))
        assert search(db, "straße maß") == []
        assert search(db, "p6@example") == []
        pseudonyms = [a[1] for a in actors(db) if a[0] == "v6"]
        assert pseudonyms and search(db, pseudonyms[0][-6:])


def differences(db: Database) -> list[str]:
    with db.raw() as con:
        return rollups.differences(con)

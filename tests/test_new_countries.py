"""Countries new to a person, under filters that leave the first sighting out of the view.

The Security page's "new countries" table lists a person's country first seen inside the period
(after the person was seen from another), with the first sighting's address and place and the
view's events from there. The filters choose which countries are listed (those of which the view
keeps an event) and what is counted, not what "first seen" means: under a sign-in filter a country
first seen through a message is new since that message, shown with its address. The rollup path
and the raw read must give the same answer on both engines, also when a filter leaves the first
sighting out (the rollup path reads it by its sequence number, not through the filters).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.filters import Filters, View
from dashboard.store import analytics as A
from dashboard.store import rollups
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import event
from tests.test_rollups import ingest, make_docs

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DE, FR, US = "91.32.96.240", "90.59.34.187", "73.53.2.133"


def _ev(i: int, when: str, user: str, ip: str, action: str, outcome: str = "success") -> dict[str, Any]:
    return event(
        id=f"n{i}",
        occurred_at=when,
        action=action,
        outcome=outcome,
        actor={"id": user, "name": f"Agent {user}", "role": "agent"},
        ip=ip,
    )


DOCS = [
    # u1: Germany long before, then France first seen at 10:00:00 by a label change and, at the same
    # instant, a failed sign-in from another French address; later more from France
    _ev(1, "2026-08-01T09:00:00Z", "u1", DE, "auth.login"),
    _ev(2, "2026-11-10T10:00:00Z", "u1", FR, "label.assign"),
    _ev(3, "2026-11-10T10:00:00Z", "u1", "90.59.34.188", "auth.login", "failure"),
    _ev(4, "2026-11-12T10:00:00Z", "u1", FR, "auth.login"),
    # u2: Germany before, then the US first seen by a message only; sign-ins from the US come later
    _ev(5, "2026-08-02T09:00:00Z", "u2", DE, "auth.login"),
    _ev(6, "2026-11-11T08:00:00Z", "u2", US, "message.create"),
    _ev(7, "2026-11-13T08:00:00Z", "u2", US, "auth.login"),
    # u3: a newcomer (one country only) is never "new"
    _ev(8, "2026-11-11T09:00:00Z", "u3", US, "auth.login"),
]


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    from tests.pg import pg_database

    path: Path = tmp_path_factory.mktemp("newc") / "newc.duckdb"
    database = Database(path if request.param == "duckdb" else pg_database(request))
    ingest(database, DOCS, batch=1)  # addresses placed; sequence numbers in the list's order
    rollups.forget_checks()
    yield database
    database.close()


def rows(db: Database, **filters: Any) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """(person, country, first seen, address, events) by the rollup path and by the raw read."""
    view = View.of(Filters(preset="30d", tz="UTC", **filters), NOW)
    with db.connect() as conn:
        assert rollups.in_step(conn)
        fast = A.new_country_rows(conn, view).data
        with rollups.raw_only():
            raw = A.new_country_rows(conn, view).data
    pick = [(r[0], r[2], r[3], r[4], r[8]) for r in fast]
    return pick, [(r[0], r[2], r[3], r[4], r[8]) for r in raw]


def test_unfiltered_the_first_sighting_is_the_first_event(db: Database) -> None:
    fast, raw = rows(db)
    assert (
        fast
        == raw
        == [
            ("u2", "US", datetime(2026, 11, 11, 8, 0), US, 2),
            ("u1", "FR", datetime(2026, 11, 10, 10, 0), FR, 3),
        ]
    )


def test_a_filter_leaving_the_first_sighting_out_still_shows_it(db: Database) -> None:
    # u1's first sighting from France is a label change from FR at 10:00; a failed sign-in from
    # another French address at the same instant; under sign-in filters the country is listed with
    # the first sighting's address, and the sign-ins counted
    for filters, n in (
        ({"actions": ("auth.login",)}, 2),
        ({"categories": ("authentication",)}, 2),
        ({"outcome": "failure"}, 1),
    ):
        fast, raw = rows(db, **filters)
        assert fast == raw, filters
        assert ("u1", "FR", datetime(2026, 11, 10, 10, 0), FR, n) in fast, filters


def test_a_first_sighting_by_another_kind_of_event_is_still_the_first(db: Database) -> None:
    # u2's first sighting from the US (11 Nov) is a message: in a view of sign-ins the US is still
    # new to u2 since 11 Nov (the sign-in of 13 Nov counted), not new since 13 Nov
    fast, raw = rows(db, actions=("auth.login",))
    assert fast == raw
    assert ("u2", "US", datetime(2026, 11, 11, 8, 0), US, 1) in fast
    fast, raw = rows(db, outcome="success", actions=("auth.login",))
    assert (
        fast
        == raw
        == [
            ("u2", "US", datetime(2026, 11, 11, 8, 0), US, 1),
            ("u1", "FR", datetime(2026, 11, 10, 10, 0), FR, 1),
        ]
    )


def test_a_filter_keeping_none_of_a_pair_s_events_leaves_it_out(db: Database) -> None:
    fast, raw = rows(db, outcome="failure")
    assert fast == raw == [("u1", "FR", datetime(2026, 11, 10, 10, 0), FR, 1)]
    fast, raw = rows(db, categories=("conversation",))  # u2's message only
    assert fast == raw == [("u2", "US", datetime(2026, 11, 11, 8, 0), US, 1)]


def test_the_first_seen_index_built_from_the_rollups_equals_the_one_from_the_events(
    db: Database, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # more people and places, across days and months, in batches of several sizes (small ones are
    # appended to the rollups, then folded)
    ingest(db, make_docs(700, 11, datetime(2026, 7, 1), datetime(2026, 11, 20), "f"), batch=150)
    ingest(db, make_docs(40, 12, datetime(2026, 6, 1), datetime(2026, 11, 20), "g"), batch=3)
    rollups.forget_checks()
    with db.connect() as conn:
        assert rollups.in_step(conn)
        built, scanned = A.FirstSeen(), A.FirstSeen()
        built.build(conn)
        scanned.extend(conn)
    assert len(built.pairs) > 10
    assert built.pairs == scanned.pairs
    assert built.people == scanned.people
    assert built.last_seq == scanned.last_seq
    # the first events themselves: the same instants (a tie may name another event of that instant)
    with db.connect() as conn:
        at = dict(conn.execute(sa.select(events.c.seq, events.c.occurred_at)).fetchall())
    assert {k: at[q] for k, q in built.first_seqs.items()} == built.pairs


def test_a_stale_index_is_rebuilt_while_callers_keep_reading_the_current_one(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with db.connect() as conn:
        current = A.first_seen(conn)
    monkeypatch.setattr(A.FirstSeen, "REBUILD_S", 0.0)
    with db.connect() as conn:
        assert A.first_seen(conn) is current  # the page view did not wait for the rebuild
    deadline = time.monotonic() + 60
    while A._first_seen.get(db.engine) is current and time.monotonic() < deadline:
        time.sleep(0.05)
    monkeypatch.setattr(A.FirstSeen, "REBUILD_S", 3600.0)
    while db.engine in A._rebuilding and time.monotonic() < deadline:
        time.sleep(0.05)
    fresh = A._first_seen.get(db.engine)
    assert fresh is not None and fresh is not current
    scanned = A.FirstSeen()
    with db.connect() as conn:
        scanned.extend(conn)
    assert fresh.pairs == scanned.pairs and fresh.people == scanned.people  # every event stored so far


def test_only_the_rows_shown_are_read_and_a_gone_first_sighting_reads_its_person_raw(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a dozen people seen from Germany in June, then from France inside the view (two a day) and
    # some from the US days later; first sightings are read a few at a time (the list is cut at `limit`)
    docs = []
    for i in range(12):
        docs.append(_ev(100 + 3 * i, "2026-06-01T09:00:00Z", f"k{i}", DE, "auth.login"))
        docs.append(_ev(101 + 3 * i, f"2026-11-{1 + i // 2:02d}T10:00:00Z", f"k{i}", FR, "auth.login"))
        if i % 3 == 0:
            docs.append(_ev(102 + 3 * i, f"2026-11-{8 + i // 2:02d}T10:00:00Z", f"k{i}", US, "label.assign"))
    ingest(db, docs, batch=7)
    rollups.forget_checks()
    A._first_seen.pop(db.engine, None)  # an index that knows every event: the rollup path answers
    monkeypatch.setattr(A, "SIGHTINGS_AT_ONCE", 1)
    view = View.of(Filters(preset="90d", tz="UTC"), NOW)
    with db.connect() as conn:
        assert rollups.in_step(conn)
        with rollups.raw_only():
            everything = A.new_country_rows(conn, view, 1000).data
        assert len(everything) >= 6
        read = A._first_sightings
        asked: list[int] = []

        def counted(c: Any, firsts: Any) -> dict[int, tuple[Any, ...]]:
            wanted = list(firsts)
            asked.extend(wanted)
            return read(c, wanted)

        monkeypatch.setattr(A, "_first_sightings", counted)
        for limit in (1, 2, 3, len(everything)):
            asked.clear()
            assert A.new_country_rows(conn, view, limit).data == everything[:limit], limit
            assert len(asked) <= max(2 * limit, len(everything) // 4) or limit == len(everything), (limit, asked)
        monkeypatch.setattr(A, "_first_sightings", read)
        # a person's first sighting from France gone (purged or erased since), listed after their row
        # for the US (read first): that person is read from the raw events, every row of theirs,
        # whatever the cut
        person = "k0"
        gone = {A.first_seen(conn).first_seqs[(person, "FR")]}
        monkeypatch.setattr(
            A, "_first_sightings", lambda c, firsts: {q: v for q, v in read(c, firsts).items() if q not in gone}
        )
        with rollups.raw_only():
            expected = A.new_country_rows(conn, view, 1000).data
        assert [r[2] for r in expected if r[0] == person] == ["US", "FR"]
        for limit in (1, 2, 3, len(expected) // 2 + 1, len(expected)):
            assert A.new_country_rows(conn, view, limit).data == expected[:limit], limit

"""The filter model: URL round trip, untrusted input, SQL conditions on a real DuckDB file."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from dashboard.filters import Filters
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import event
from tests.test_store import store

NOW = datetime(2026, 5, 3, 12, 0)


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(preset="24h"),
        Filters(preset=None, start=datetime(2026, 8, 1), end=datetime(2026, 11, 1), tz="Europe/Berlin"),
        Filters(users=("u1", "u2"), roles=("agent",), categories=("authentication",), outcome="failure"),
        Filters(actions=("auth.login",), ip="10.0.0.0/8", countries=("DE", "PT"), text="50% off, a_b"),
        Filters(preset=None, start=datetime(2026, 8, 1, 9, 30), end=None, accounts=("acme",)),
    ],
)
def test_url_and_store_round_trip(filters: Filters) -> None:
    assert Filters.from_query(filters.to_query()) == filters
    assert Filters.from_store(filters.to_store()) == filters


def test_untrusted_values_are_dropped_with_a_note() -> None:
    f = Filters.from_query("range=1y&outcome=maybe&ip=1.2.3.999&tz=Mars/Base&categories=authentication,nope&from=x")
    assert f == Filters(categories=("authentication",))
    assert len(f.problems) == 6


def test_dates_are_local_to_the_chosen_zone() -> None:
    f = Filters.from_query("from=2026-08-01&to=2026-08-31&tz=Europe/Berlin")
    start, end = f.resolve_range(NOW)
    assert start == datetime(2026, 7, 31, 22, 0)  # midnight in Berlin (CEST) is 22:00 UTC
    assert end == datetime(2026, 8, 31, 22, 0)  # the end date is inclusive: up to the next midnight
    assert f.describe().startswith("2026-08-01 to 2026-08-31, Europe/Berlin, all users")


def test_conditions_select_what_they_say(db_path) -> None:
    docs = [
        event(id="a", occurred_at="2026-05-03T10:00:00Z", ip="10.1.2.3", outcome="failure", reason="bad_password"),
        event(id="b", occurred_at="2026-05-03T11:00:00Z", ip="10.2.0.1", actor={"id": "u2", "role": "administrator"}),
        event(
            id="c",
            occurred_at="2026-05-01T11:00:00Z",
            ip="81.2.69.142",
            action="label.create",
            target={"type": "label", "id": "l1", "name": "50% refund_now"},
        ),
        event(
            id="d",
            occurred_at="2026-05-03T11:30:00Z",
            ip="10.3.255.1",
            action="agent.role_change",
            changes={"role": ["agent", "administrator"]},
        ),
    ]
    with Database(db_path) as db:
        store(db, docs)

        def ids(f: Filters) -> set[str]:
            with db.connect() as conn:
                rows = conn.execute(sa.select(events.c.event_id).where(f.where(events, NOW))).fetchall()
            return {r[0] for r in rows}

        assert ids(Filters()) == {"a", "b", "c", "d"}
        assert ids(Filters(preset="24h")) == {"a", "b", "d"}
        assert ids(Filters(outcome="failure")) == {"a"}
        assert ids(Filters(users=("u2",))) == {"b"}
        assert ids(Filters(roles=("administrator",))) == {"b"}
        assert ids(Filters(categories=("labels",))) == {"c"}
        assert ids(Filters(ip="10.0.0.0/14")) == {"a", "b", "d"}
        assert ids(Filters(ip="10.2.0.0/15")) == {"b", "d"}
        assert ids(Filters(ip="81.2.69.142")) == {"c"}
        assert ids(Filters(text="50% refund_")) == {"c"}  # % and _ are literal, not wildcards
        assert ids(Filters(text="ADMINISTRATOR")) == {"d"}  # inside changed values, any case
        assert ids(Filters(preset=None, start=datetime(2026, 5, 3), end=datetime(2026, 5, 3, 11))) == {"a"}

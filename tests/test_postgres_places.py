"""A place is one place on PostgreSQL too: the rollups and notable events hold latitude and longitude
in the events' 32-bit floats (schema version 17), so the map counts a city's events in one point
whether they are read from the rollups, from the raw events at a range's edges, or both."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from dashboard.filters import Filters, View
from dashboard.store import analytics as A
from dashboard.store import rollups
from dashboard.store.db import CURRENT_VERSION, Database
from tests.conftest import event
from tests.test_rollups import ingest

NOW = datetime(2026, 11, 20, 12, 7, 31, tzinfo=UTC)
BERLIN, SEATTLE = "91.32.96.240", "73.53.2.133"
PLACED = ("rollup_address_1d", "rollup_address_7d", "events_notable")


def _docs() -> list[dict[str, object]]:
    """Sign-ins from Berlin and Seattle over the last ten days, some failed (notable), at odd minutes
    (a 7-day range's edges fall inside days: read from the raw events)."""
    docs = []
    for i in range(40):
        when = datetime(2026, 11, 10, 8, 3 + i % 50, tzinfo=UTC).replace(day=10 + i % 10, hour=(i * 7) % 24)
        docs.append(
            event(
                id=f"p{i}",
                occurred_at=when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                outcome="failure" if i % 3 == 0 else "success",
                actor={"id": f"u{i % 4}", "name": f"Agent {i % 4}", "role": "agent"},
                ip=BERLIN if i % 2 else SEATTLE,
            )
        )
    return docs


def _types(url: str) -> set[tuple[str, str, str]]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE column_name IN ('geo_lat', 'geo_lon') AND table_schema = current_schema()"
        ).fetchall()
    return {(str(t), str(c), str(d)) for t, c, d in rows}


def _points(db: Database) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    view = View.of(Filters(preset="7d", tz="UTC"), NOW)
    rollups.forget_checks()
    with db.connect() as conn:
        assert rollups.in_step(conn)
        fast = A.map_point_rows(conn, view).data
        with rollups.raw_only():
            raw = A.map_point_rows(conn, view).data
    return fast, raw


@pytest.mark.parametrize("made_before", [False, True], ids=["new store", "store of version 16, upgraded"])
def test_a_city_is_one_point_from_rollups_and_raw_events(pg_url: str, made_before: bool) -> None:
    with Database(pg_url) as db:
        if made_before:  # as version 16 made them: 64-bit places beside the events' 32-bit ones
            with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
                for table in PLACED:
                    conn.execute(
                        f"ALTER TABLE {table} ALTER COLUMN geo_lat TYPE double precision, "
                        "ALTER COLUMN geo_lon TYPE double precision"
                    )
                conn.execute("DELETE FROM schema_version WHERE version = 17")
        ingest(db, _docs(), batch=7)
    with Database(pg_url, upgrade=made_before) as db:
        assert db.version() == CURRENT_VERSION
        assert {d for t, _, d in _types(pg_url) if t in (*PLACED, "events")} == {"real"}
        fast, raw = _points(db)
    assert fast == raw
    cities = sorted((str(r[2]), int(r[4])) for r in fast)  # (city, events)
    assert [c for c, _ in cities] == sorted({c for c, _ in cities}), cities  # each city once
    assert sum(n for _, n in cities) == len([d for d in _docs() if str(d["occurred_at"]) >= "2026-11-13T12:07:31Z"])

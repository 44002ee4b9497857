"""Rollup families added to existing stores: the address rollups name the person's type and name
(schema version 18), so a view narrowed to an address block counts its people and ranks its busiest
users from them; the rollups per person and action (version 19) answer the people of an action and
the actions of a person; the weekly rollup per address, person and action (version 20) the places
and addresses of an action.

On both engines: a store made now and a store of the version before, upgraded; either way the
rollups agree with the events, the figures equal the raw events' answer, and the queries read the
family meant for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.filters import Filters, View
from dashboard.store import analytics as A
from dashboard.store import rollups, schema
from dashboard.store.db import CURRENT_VERSION, Database
from tests.pg import pg_database
from tests.test_rollups import NOW, differences, ingest, make_docs

ADDRESS = (schema.rollup_address_1d, schema.rollup_address_7d)
PERSON = (schema.rollup_person_1d, schema.rollup_person_7d)
ADDRESS_ACTION = schema.rollup_address_action_7d
PEOPLE = ("actor_type", "actor_name")


def _columns(conn: sa.Connection, table: str) -> set[str]:
    query = sa.text(
        "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND table_schema = current_schema()"
    )
    return {str(r[0]) for r in conn.execute(query, {"t": table})}


def _store(
    engine: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    seed: int,
    older: Callable[[sa.Connection], None] | None,
) -> tuple[str | Path, list[dict[str, Any]]]:
    """A store on `engine` holding 400 events stored through the writer; `older` (when given) then
    makes it as the version before left it, its migration not applied. Reopen it with
    `Database(target, upgrade=...)` to see the migration."""
    target: str | Path = tmp_path / "s.duckdb" if engine == "duckdb" else pg_database(request)
    docs = make_docs(400, seed, datetime(2026, 9, 1), datetime(2026, 11, 20, 12, 7), f"s{seed}-")
    with Database(target) as db:
        ingest(db, docs, batch=150)
        if older is not None:
            with db.engine.begin() as conn:
                older(conn)
    return target, docs


def _as_version_17(conn: sa.Connection) -> None:
    """The address rollups as version 17 kept them (no person's type or name), version 18 not applied."""
    for table in ADDRESS:
        for column in PEOPLE:
            conn.execute(sa.text(f"ALTER TABLE {table.name} DROP COLUMN {column}"))
        assert not set(PEOPLE) & _columns(conn, table.name)
    conn.execute(sa.text("DELETE FROM schema_version WHERE version = 18"))


def _as_version_18(conn: sa.Connection) -> None:
    """As version 18 left a store: no rollups per person and action."""
    for table in PERSON:
        conn.execute(sa.text(f"DROP TABLE {table.name}"))
    conn.execute(sa.text("DELETE FROM schema_version WHERE version = 19"))


def _as_version_19(conn: sa.Connection) -> None:
    """As version 19 left a store: no weekly rollup per address, person and action."""
    conn.execute(sa.text(f"DROP TABLE {ADDRESS_ACTION.name}"))
    conn.execute(sa.text("DELETE FROM schema_version WHERE version = 20"))


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
@pytest.mark.parametrize("made_before", [False, True], ids=["new store", "store of version 17, upgraded"])
def test_an_address_blocks_people_come_from_the_address_rollups(
    engine: str, made_before: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    target, docs = _store(engine, tmp_path, request, 18, _as_version_17 if made_before else None)
    with Database(target, upgrade=made_before) as db:
        assert db.version() == CURRENT_VERSION
        for table in ADDRESS:
            with db.connect() as conn:
                assert set(PEOPLE) <= _columns(conn, table.name), table.name
        assert differences(db) == []
        # a 40-day custom range inside hours: address rollups by week and day, raw events at the edges
        blocks = {".".join(str(d["ip"]).split(".")[:2]) + ".0.0/16" for d in docs if "." in str(d.get("ip") or "")}
        assert blocks
        rollups.forget_checks()
        with db.connect() as conn:
            assert rollups.in_step(conn)
            for block in sorted(blocks)[:4]:
                f = Filters(
                    preset=None,
                    start=datetime(2026, 10, 1, 7, 52),
                    end=datetime(2026, 11, 10, 16, 3),
                    ip=block,
                    tz="UTC",
                )
                view = View.of(f, NOW)
                for columns in (("actor_id", "actor_type"), ("actor_id", "actor_name", "actor_role", "actor_type")):
                    tables = {r.table.name for r, _, _ in rollups.plan(view, columns) if r is not None}
                    assert tables and tables <= {t.name for t in ADDRESS}, (columns, tables)
                fast = (A.headline(conn, view), A.top_users_rows(conn, view, 10).data)
                with rollups.raw_only():
                    raw = (A.headline(conn, view), A.top_users_rows(conn, view, 10).data)
                assert fast == raw, block
                assert fast[0].users > 0 and fast[1], block


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
@pytest.mark.parametrize("made_before", [False, True], ids=["new store", "store of version 18, upgraded"])
def test_the_people_of_an_action_and_the_actions_of_a_person_come_from_the_person_rollups(
    engine: str, made_before: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The rollups per person and action (schema version 19): a view narrowed to actions counts its
    people and ranks its busiest users from them, a view narrowed to people ranks its actions."""
    target, docs = _store(engine, tmp_path, request, 19, _as_version_18 if made_before else None)
    with Database(target, upgrade=made_before) as db:
        assert db.version() == CURRENT_VERSION
        assert differences(db) == []
        actions = sorted({str(d["action"]) for d in docs if not str(d["action"]).startswith("audit.")})
        people = sorted({str(d["actor"]["id"]) for d in docs if d["actor"].get("id")})  # type: ignore[index, union-attr]
        rollups.forget_checks()
        with db.connect() as conn:
            assert rollups.in_step(conn)
            start, end = datetime(2026, 10, 1, 7, 52), datetime(2026, 11, 10, 16, 3)
            views = [Filters(preset=None, start=start, end=end, actions=(a,), tz="UTC") for a in actions[:3]]
            views += [Filters(preset=None, start=start, end=end, users=(u,), tz="UTC") for u in people[:3]]
            for f in views:
                view = View.of(f, NOW)
                asked = ("action", "category", "outcome") if f.users else ("actor_id", "actor_type")
                tables = {r.table.name for r, _, _ in rollups.plan(view, asked) if r is not None}
                assert tables and tables <= {t.name for t in PERSON}, (f, tables)
                fast = (
                    A.headline(conn, view),
                    A.top_users_rows(conn, view, 10).data,
                    A.action_counts_rows(conn, view).data,
                )
                with rollups.raw_only():
                    raw = (
                        A.headline(conn, view),
                        A.top_users_rows(conn, view, 10).data,
                        A.action_counts_rows(conn, view).data,
                    )
                assert fast == raw, f
                assert fast[0].events > 0, f


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
@pytest.mark.parametrize("made_before", [False, True], ids=["new store", "store of version 19, upgraded"])
def test_the_places_and_addresses_of_an_action_come_from_the_weekly_address_rollup(
    engine: str, made_before: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The weekly rollup per address, person and action (schema version 20): a view narrowed to
    actions reads its map, busiest addresses and number of addresses from it for whole weeks and
    the raw events for the days at its edges; views without an action keep the address rollups."""
    target, docs = _store(engine, tmp_path, request, 20, _as_version_19 if made_before else None)
    with Database(target, upgrade=made_before) as db:
        assert db.version() == CURRENT_VERSION
        assert differences(db) == []
        actions = sorted({str(d["action"]) for d in docs if not str(d["action"]).startswith("audit.")})
        place = ("geo_lat", "geo_lon", "ip", "actor_id", "geo_city", "geo_country", "outcome")
        rollups.forget_checks()
        with db.connect() as conn:
            assert rollups.in_step(conn)
            start, end = datetime(2026, 9, 10, 7, 52), datetime(2026, 11, 10, 16, 3)
            unfiltered = View.of(Filters(preset=None, start=start, end=end, tz="UTC"), NOW)
            plain = {r.table.name for r, _, _ in rollups.plan(unfiltered, place) if r is not None}
            assert plain == {t.name for t in ADDRESS}, plain
            for action in actions[:3]:
                view = View.of(Filters(preset=None, start=start, end=end, actions=(action,), tz="UTC"), NOW)
                tables = {r.table.name for r, _, _ in rollups.plan(view, place) if r is not None}
                assert tables == {ADDRESS_ACTION.name}, (action, tables)

                def figures(v: View = view) -> tuple[object, ...]:
                    return (A.headline(conn, v), A.map_point_rows(conn, v).data, A.top_address_rows(conn, v).data)

                fast = figures()
                with rollups.raw_only():
                    raw = figures()
                assert fast == raw, action
                assert fast[0].events > 0, action  # type: ignore[attr-defined]

"""The status strip above every page, for every role: rendered by the app (Flask's test client).

It says "Integrity: not yet verified since start" until a verification after the start passed,
turns red when the recorded one failed, and warns when geolocation is below city level or the
reports folder cannot be written; it says nothing when all is well.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dash
import flask
import pytest

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.web.components import status
from tests.conftest import GEO_DIR, sign_in

PASSWORD = "status-strip-password"
USERS = {"admin": "ada", "compliance": "cora", "manager": "manny", "wall": "kiosk"}
META_KEY = "integrity_status"


@dataclass
class Site:
    app: dash.Dash
    db: Database
    clients: dict[str, Any]


def _login(app: flask.Flask, username: str) -> Any:
    return sign_in(app, username, PASSWORD)


def _site(tmp: Path, **settings: Any) -> Site:
    from dashboard.web.app import create_app

    db = Database(tmp / "strip.duckdb")
    for role, name in USERS.items():
        create_user(db, name, role, PASSWORD)
    app = create_app(Settings(db_path=db.path, **{"geo_dir": GEO_DIR, "reports_dir": tmp / "reports", **settings}), db)
    app.server.test_client().get("/healthz")
    return Site(app, db, {role: _login(app.server, name) for role, name in USERS.items()})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    running = _site(tmp_path_factory.mktemp("strip"))
    try:
        yield running
    finally:
        running.db.close()


def _texts(tree: Any) -> list[str]:
    """Every text a layout's JSON shows (its components' children), in order."""
    found: list[str] = []
    if isinstance(tree, str):
        found.append(tree)
    elif isinstance(tree, list):
        for item in tree:
            found += _texts(item)
    elif isinstance(tree, dict) and isinstance(tree.get("props"), dict):
        found += _texts(tree["props"].get("children"))
    return found


def _forget(db: Database) -> None:
    """No verification recorded at all."""
    import sqlalchemy as sa

    from dashboard.store.schema import meta

    with db.engine.begin() as conn:
        conn.execute(sa.delete(meta).where(meta.c.key == META_KEY))


def _find(tree: Any, component_id: str) -> Any:
    if isinstance(tree, list):
        for item in tree:
            hit = _find(item, component_id)
            if hit is not None:
                return hit
    elif isinstance(tree, dict):
        props = tree.get("props") if isinstance(tree.get("props"), dict) else None
        if props is not None and props.get("id") == component_id:
            return tree
        for value in tree.values():
            hit = _find(value, component_id)
            if hit is not None:
                return hit
    return None


def strip_of(site: Site, role: str) -> list[str]:
    """The strip's lines as the role's page shows them (the shell's layout)."""
    reply = site.clients[role].get("/_dash-layout")
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    layout = reply.get_json()
    found = _find(layout, status.WALL_STRIP if role == "wall" else status.STRIP)
    assert found is not None, f"no status strip on the {role}'s page"
    return [t for t in _texts(found.get("props", {}).get("children")) if t.strip()]


def refreshed(site: Site, role: str) -> list[str]:
    """The strip's lines as its timer's callback answers them."""
    client = site.clients[role]
    payload = {
        "output": f"..{status.STRIP}.children...{status.FAULT}.children..",
        "outputs": [{"id": status.STRIP, "property": "children"}, {"id": status.FAULT, "property": "children"}],
        "inputs": [{"id": status.TICK, "property": "n_intervals", "value": 1}],
        "changedPropIds": [f"{status.TICK}.n_intervals"],
        "state": [],
    }
    reply = client.post(
        "/_dash-update-component", json=payload, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    body = reply.get_json()["response"][status.STRIP]["children"]
    return [t for t in _texts(body) if t.strip()]


def _record(db: Database, ok: bool, when: datetime, problem: str | None = None) -> None:
    doc = {"checked_at": when.isoformat(timespec="seconds") + "Z", "ok": ok, "scope": "tail", "events": 12}
    db.set_meta(META_KEY, json.dumps({**doc, "problem": problem}))


def test_the_strip_follows_the_recorded_integrity_state_for_every_role(site: Site) -> None:
    _forget(site.db)  # nothing recorded
    for role in USERS:
        assert strip_of(site, role) == ["Integrity: not yet verified since start."], role

    # a verification from before this start does not count
    _record(site.db, True, datetime.now(UTC).replace(tzinfo=None) - timedelta(days=2))
    assert strip_of(site, "admin") == ["Integrity: not yet verified since start."]

    failed_at = datetime(2026, 12, 7, 5, 30)
    _record(site.db, False, failed_at, "altered at seq 17 (hot store)")
    expected = "Integrity check failed at 2026-12-07 05:30 UTC: altered at seq 17 (hot store) — see Retention."
    for role in USERS:
        assert strip_of(site, role) == [expected], role
    wall = _find(site.clients["wall"].get("/_dash-layout").get_json(), "status-integrity")
    assert "alert-danger" in json.dumps(wall) or wall["props"].get("color") == "danger"
    assert "fs-4" in wall["props"]["className"]  # big on the wall
    assert refreshed(site, "compliance") == [expected]  # the timer re-reads it

    _record(site.db, True, datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1))
    for role in USERS:
        assert strip_of(site, role) == [], role  # all well: nothing shown
    assert refreshed(site, "manager") == []


def test_missing_geolocation_and_an_unwritable_reports_folder_are_said(tmp_path: Path) -> None:
    no_geo = tmp_path / "no-geo"
    no_geo.mkdir()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    running = _site(tmp_path, geo_dir=no_geo, reports_dir=blocker / "reports")
    try:
        _record(running.db, True, datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1))
        for role in USERS:
            lines = strip_of(running, role)
            assert len(lines) == 2, (role, lines)
            assert lines[0].startswith(f"Geolocation: no city geolocation database in {no_geo}")
            assert "impossible-travel detection cannot work" in lines[0]
            assert lines[1].startswith(f"Reports: reports folder {blocker / 'reports'} cannot be created")
    finally:
        running.db.close()

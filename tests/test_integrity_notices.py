"""Where a person sees the integrity state, through the app (Flask's test client, real DuckDB):

* the wall screen's own refresh timer re-reads the status strip above it, so a failed integrity
  check shows on the wall within one refresh interval (the wall role may run wall callbacks only);
* the Retention page's "Verify integrity" button shows the result and, when the verification
  could not be recorded, says so and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard.store.db import Database
from dashboard.web.components import status
from dashboard.web.ids import WALL_INTERVAL
from tests.test_status_strip import META_KEY, Site, _site, _texts

VERIFY = "retention-verify"
VERIFY_RESULT = "retention-verify-result"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    running = _site(tmp_path)
    try:
        yield running
    finally:
        running.db.close()


def _post(site: Site, role: str, payload: dict[str, Any]) -> Any:
    client = site.clients[role]
    reply = client.post(
        "/_dash-update-component", json=payload, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value}
    )
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    return reply.get_json()["response"]


def wall_refresh(site: Site, tick: int) -> tuple[list[str], Any]:
    """The wall's strip as the wall screen's timer answers it, in the wall role's session."""
    payload = {
        "output": f"..{status.WALL_STRIP}.children...{status.WALL_FAULT}.children..",
        "outputs": [
            {"id": status.WALL_STRIP, "property": "children"},
            {"id": status.WALL_FAULT, "property": "children"},
        ],
        "inputs": [{"id": WALL_INTERVAL, "property": "n_intervals", "value": tick}],
        "changedPropIds": [f"{WALL_INTERVAL}.n_intervals"],
        "state": [],
    }
    response = _post(site, "wall", payload)
    lines = [t for t in _texts(response[status.WALL_STRIP]["children"]) if t.strip()]
    return lines, response[status.WALL_FAULT]["children"]


def _record(db: Database, ok: bool, problem: str | None = None) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    doc = {"checked_at": now.isoformat(timespec="milliseconds") + "Z", "ok": ok, "scope": "full", "events": 3}
    db.set_meta(META_KEY, json.dumps({**doc, "problem": problem}))


def test_the_wall_timer_refreshes_the_strip(site: Site) -> None:
    _record(site.db, True)
    lines, fault = wall_refresh(site, 1)
    assert lines == [] and fault is None  # all is well: the strip says nothing

    # a verification fails while the wall is on screen: the next tick shows it, big
    _record(site.db, False, "inserted at seq 101 (hot store): no batch accounts for this event")
    lines, fault = wall_refresh(site, 2)
    assert len(lines) == 1 and lines[0].startswith("Integrity check failed at "), lines
    assert "inserted at seq 101 (hot store)" in lines[0] and fault is None

    # a full verification finds the chain intact again: the line goes away on the next tick
    _record(site.db, True)
    assert wall_refresh(site, 3) == ([], None)


def test_the_wall_role_may_run_no_other_strip_callback(site: Site) -> None:
    client = site.clients["wall"]
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
    assert reply.status_code == 403


def _verify_button(site: Site) -> list[str]:
    payload = {
        "output": f"{VERIFY_RESULT}.children",
        "outputs": {"id": VERIFY_RESULT, "property": "children"},
        "inputs": [{"id": VERIFY, "property": "n_clicks", "value": 1}],
        "changedPropIds": [f"{VERIFY}.n_clicks"],
        "state": [],
    }
    return [t for t in _texts(_post(site, "admin", payload)[VERIFY_RESULT]["children"]) if t.strip()]


def test_verify_button_says_when_the_verification_was_not_recorded(site: Site) -> None:
    shown = " ".join(_verify_button(site))
    assert "Integrity OK." in shown and "Not recorded" not in shown

    # the status cannot be kept: the table that holds it is gone (a damaged or edited file)
    with site.db.raw() as con:
        con.execute("ALTER TABLE meta RENAME TO meta_elsewhere")
    try:
        shown = " ".join(_verify_button(site))
    finally:
        with site.db.raw() as con:
            con.execute("ALTER TABLE meta_elsewhere RENAME TO meta")
    assert "Integrity OK." in shown, shown  # the result itself still stands
    assert "Not recorded:" in shown and "the verification's status was not stored in" in shown, shown
    assert str(site.db.path) in shown

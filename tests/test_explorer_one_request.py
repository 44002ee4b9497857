"""A filter change on the Explorer is one request: the shell's answer carries the new listing.

The app runs in-process (Flask's test client) over a small demo database, signed in as an
administrator and as a manager. Each test posts the request the browser sends when a sidebar
control changes on /explorer (the shell's callback, built from the app's own dependency list) and
reads what the answer sets with `set_props`: the listing (its count), its first page (the rows the
grid shows first), the count line, the page's `shown` store. The expected counts and rows come
from plain SQL over the same database file, never from the code under test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import flask
import pytest
import sqlalchemy as sa

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.filters import Filters
from dashboard.privacy import mask_ip
from dashboard.store.db import Database
from dashboard.store.schema import events
from dashboard.web import ids
from dashboard.web.components.filter_controls import CONTROLS, Controls
from dashboard.web.components.filter_sync import link_query, store_data
from tests.conftest import GEO_DIR, cli, sign_in

PASSWORD = "explorer-one-request-password"
USERS = {"admin": "ada", "manager": "manny"}
SHOWN_ID = {"type": "page-shown", "page": "explorer"}
BEFORE = Filters(preset="30d", tz="UTC")


@dataclass
class Site:
    db: Database
    clients: dict[str, Any]
    shell: dict[str, Any]


def _login(app: flask.Flask, username: str) -> Any:
    return sign_in(app, username, PASSWORD)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("explorer-one")
    db_path = tmp / "one.duckdb"
    cli("demo", "--days", "7", "--events", "2000", "--db", str(db_path))
    db = Database(db_path)
    for role, name in USERS.items():
        create_user(db, name, role, PASSWORD)
    from dashboard.web.app import create_app

    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    app.server.test_client().get("/healthz")
    try:
        clients = {role: _login(app.server, name) for role, name in USERS.items()}
        deps = clients["admin"].get("/_dash-dependencies").get_json()
        shell = next(d for d in deps if "..filters.data..." in d["output"] and "url-target.data" in d["output"])
        yield Site(db, clients, shell)
    finally:
        db.close()


def _change(
    site: Site, role: str, trigger: str, after: Controls, shown: Any, fragment: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Post the shell's callback as the browser does when control `trigger` now shows `after` on
    /explorer (which lists `BEFORE`, as `shown` says); returns (outputs, set_props) of the answer."""
    values: dict[tuple[str, str], Any] = {
        (ids.URL, "search"): "?" + link_query(BEFORE),
        (ids.TZ, "data"): "UTC",
        (ids.FILTERS_PATCH, "data"): None,
        (ids.F_CLEAR, "n_clicks"): 0,
        (ids.FILTERS, "data"): store_data(BEFORE),
        (ids.URL, "pathname"): "/explorer",
        (ids.URL, "hash"): fragment,
    }
    for c in CONTROLS:
        value = getattr(after, c.field)
        values[(c.id, c.prop)] = list(value) if isinstance(value, tuple) else value

    def item(dep: dict[str, Any]) -> Any:
        if isinstance(dep["id"], dict) or str(dep["id"]).startswith("{"):
            wanted = json.loads(dep["id"]) if isinstance(dep["id"], str) else dep["id"]
            if wanted.get("type") == "page-shown" and shown is not None:
                return [{"id": SHOWN_ID, "property": "data", "value": shown}]
            return []
        return {"id": dep["id"], "property": dep["property"], "value": values[(dep["id"], dep["property"])]}

    outputs = []
    for part in site.shell["output"][2:-2].split("..."):
        raw, _, prop = part.rpartition(".")
        outputs.append({"id": raw, "property": prop.split("@")[0]})
    client = site.clients[role]
    token = client.get_cookie("_csrf_token")
    payload = {
        "output": site.shell["output"],
        "outputs": outputs,
        "inputs": [item(d) for d in site.shell["inputs"]],
        "state": [item(d) for d in site.shell["state"]],
        "changedPropIds": [f"{trigger}.value"],
    }
    reply = client.post("/_dash-update-component", json=payload, headers={"X-CSRFToken": token.value if token else ""})
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    body = reply.get_json()
    side: dict[str, Any] = {}
    for key, props in (body.get("sideUpdate") or {}).items():
        side[key] = props
    return body["response"], side


def _listed(site: Site, **where: str) -> int:
    """Events of the last 30 days with these column values, by a plain count."""
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    query = sa.select(sa.func.count()).select_from(events).where(events.c.occurred_at >= since)
    for column, value in where.items():
        query = query.where(events.c[column] == value)
    with site.db.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _shown_before() -> dict[str, Any]:
    return {"view": link_query(BEFORE), "tz": "UTC", "archive": False}


def test_the_shells_answer_carries_the_new_listing_and_its_first_page(site: Site) -> None:
    failures = _listed(site, outcome="failure")
    assert failures > 0
    views_before = _listed(site, action="audit.view")
    out, side = _change(
        site, "admin", ids.F_OUTCOME, Controls(preset="30d", tz="UTC", outcome="failure"), _shown_before()
    )
    store = out[ids.FILTERS]["data"]
    assert store["outcome"] == "failure"
    # the listing of the new view, counted, in the same answer
    listing = side[ids.EX_LISTING]["data"]
    assert listing["filters"]["outcome"] == "failure" and listing["total"] == failures
    assert side[ids.EX_TOTAL]["children"] == f"{failures:,} event{'s' if failures != 1 else ''}"
    first = side["explorer-first-page"]["data"]
    assert first["token"] == listing["token"]
    rows = first["response"]["rowData"]
    assert rows and len(rows) == min(failures, 50) and {r["outcome"] for r in rows} == {"failure"}
    assert first["response"]["rowCount"] == failures
    # the newest first, as the grid's default order
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), key=int, reverse=True)
    # the page's `shown` store names the view listed: the gate keeps the page's own callback silent
    assert side[json.dumps(SHOWN_ID, separators=(",", ":"), sort_keys=True)]["data"]["view"] == store["view"]
    # the same zone: the grid and its columns stay; no event named in the link: the panel is left alone
    assert ids.EX_GRID not in side and ids.EX_GRID_HOLDER not in side and ids.EX_PANEL not in side
    # the view is recorded as any listing is
    assert _listed(site, action="audit.view") == views_before + 1


def test_the_first_page_follows_the_order_the_link_names_and_a_new_zone_changes_the_columns(site: Site) -> None:
    after = Controls(preset="30d", tz="Asia/Tokyo")
    out, side = _change(site, "admin", ids.F_TZ, after, _shown_before(), fragment="#sort=action.asc&event=5")
    assert out[ids.FILTERS]["data"]["tz"] == "Asia/Tokyo"
    first = side["explorer-first-page"]["data"]
    assert first["sort"] == {"colId": "action", "sort": "asc"}
    actions = [r["action"] for r in first["response"]["rowData"]]
    assert actions == sorted(actions)
    # the grid is kept: only its columns change (the time column names the zone), in the link's order
    columns = side[ids.EX_GRID]["columnDefs"]
    assert columns[0]["headerName"] == "Time (Asia/Tokyo)"
    assert next(c for c in columns if c["colId"] == "action")["sort"] == "asc"
    assert ids.EX_GRID_HOLDER not in side
    # a new view closes the panel the link named
    assert side[ids.EX_PANEL]["is_open"] is False


def test_a_manager_gets_masked_rows_in_the_shells_answer(site: Site) -> None:
    after = Controls(preset="30d", tz="UTC", outcome="success")
    _, admin = _change(site, "admin", ids.F_OUTCOME, after, _shown_before())
    _, manager = _change(site, "manager", ids.F_OUTCOME, after, _shown_before())
    full = {r["id"]: r for r in admin["explorer-first-page"]["data"]["response"]["rowData"]}
    seen = manager["explorer-first-page"]["data"]["response"]["rowData"]
    with_ip = [r for r in seen if full[r["id"]].get("ip")]
    assert with_ip
    for row in with_ip:
        assert row["ip"] == mask_ip(full[row["id"]]["ip"]) != full[row["id"]]["ip"]


def test_before_the_first_listing_the_page_lists_the_change_itself(site: Site) -> None:
    """No listing shown yet (its first is still on its way): the shell leaves the change to the
    page's own callback, which makes the grid with its first listing."""
    _, side = _change(site, "admin", ids.F_OUTCOME, Controls(preset="30d", tz="UTC", outcome="failure"), None)
    assert ids.EX_LISTING not in side and "explorer-first-page" not in side

"""Forged callback requests: a role gets nothing of a page it may not open, however the body is made.

Dash hands a callback its arguments by position, from the request's `inputs` and `state` lists,
so a request with those lists reordered, swapped, duplicated or missing the pathname must not
reach a callback of a refused page, nor make the pages router or the shell render one. The
app runs in-process (Flask's test client) over a small demo database; the callbacks come from
the app's own callback map, so a callback added later is covered without editing this file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dash
import flask
import pytest

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.filters import Filters
from dashboard.store.db import Database
from dashboard.web import auth, auth_rules
from dashboard.web.access import VIEWER_KEY, Viewer
from tests.conftest import GEO_DIR, cli, sign_in

CALLBACK = "/_dash-update-component"
USERS = {"admin": "ada", "manager": "manny", "wall": "kiosk"}
PASSWORD = "forged-callbacks-password"


@dataclass
class App:
    """The app under test, its callbacks, and a signed-in test client per role."""

    dash_app: dash.Dash
    routes: dict[str, auth_rules.CallbackRoute]
    clients: dict[str, Any]
    registry: list[dict[str, Any]]


def _login(flask_app: flask.Flask, username: str) -> Any:
    return sign_in(flask_app, username, PASSWORD)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("forged")
    db_path = tmp / "forged.duckdb"
    cli("demo", "--days", "7", "--events", "3000", "--db", str(db_path))
    db = Database(db_path)
    for role, name in USERS.items():
        create_user(db, name, role, PASSWORD)
    from dashboard.web.app import create_app

    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    app.server.test_client().get("/healthz")  # Dash fills its callback map on the first request
    try:
        clients = {role: _login(app.server, name) for role, name in USERS.items()}
        routes = auth.callback_routes(app)
        yield App(app, routes, clients, [dict(p) for p in dash.page_registry.values()])
    finally:
        db.close()


# -- request bodies -----------------------------------------------------------------------------------------
def component_props(tree: Any, found: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The props of every component with a string id in a rendered layout (Dash's JSON form)."""
    found = {} if found is None else found
    if isinstance(tree, list):
        for item in tree:
            component_props(item, found)
    elif isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict):
            if isinstance(props.get("id"), str):
                found[props["id"]] = props
            for value in props.values():
                component_props(value, found)
        else:
            for value in tree.values():
                component_props(value, found)
    return found


def _value(dep: dict[str, Any], pathname: str | None, props: dict[str, dict[str, Any]]) -> Any:
    if (dep["id"], dep["property"]) in auth_rules.PATHNAME_SOURCES:
        return pathname
    if dep["id"] == "filters" and dep["property"] == "data":
        return Filters(preset="30d").to_store()
    return props.get(dep["id"], {}).get(dep["property"])


def _items(deps: tuple[Any, ...], pathname: str | None, props: dict[str, dict[str, Any]]) -> list[Any]:
    out: list[Any] = []
    for dep in deps:
        if str(dep["id"]).startswith("{"):
            out.append([])  # a pattern-matching dependency with no component on the page
        else:
            out.append({"id": dep["id"], "property": dep["property"], "value": _value(dep, pathname, props)})
    return out


def _outputs(key: str) -> Any:
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outs = []
    for part in parts:
        raw, _, prop = part.rpartition(".")
        outs.append({"id": json.loads(raw) if raw.startswith("{") else raw, "property": prop.split("@")[0]})
    return outs if key.startswith("..") else outs[0]


def body(
    route: auth_rules.CallbackRoute, pathname: str | None = None, props: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The request Dash's renderer sends for the callback (the 30-day view as filters, the
    other values from the page's rendered layout when given)."""
    inputs = _items(route.inputs, pathname, props or {})
    changed = [f"{i['id']}.{i['property']}" for i in inputs if isinstance(i, dict)][:1]
    return {
        "output": route.key,
        "outputs": _outputs(route.key),
        "inputs": inputs,
        "state": _items(route.state, pathname, props or {}),
        "changedPropIds": changed,
    }


def _lie(pathname: str) -> dict[str, Any]:
    return {"id": auth_rules.PAGES_LOCATION_ID, "property": "pathname", "value": pathname}


def forgeries(route: auth_rules.CallbackRoute, target: str, cover: str) -> list[tuple[str, dict[str, Any]]]:
    """Bodies for `route` aimed at the page `target`, dressed up as the page `cover`."""
    base = body(route, target)
    out = [("as sent by Dash", base)]
    if len(base["inputs"]) > 1:
        out.append(("inputs reversed", {**base, "inputs": list(reversed(base["inputs"]))}))
    out.append(("inputs and state swapped", {**base, "inputs": base["state"], "state": base["inputs"]}))
    out.append(("first input duplicated", {**base, "inputs": base["inputs"][:1] + base["inputs"]}))
    out.append(("a lying pathname first", {**base, "inputs": [_lie(cover), *base["inputs"]]}))
    out.append(("a lying pathname in the state", {**base, "state": [_lie(cover), *base["state"]]}))
    cover_body = body(route, cover)
    if cover_body != base:
        # the permitted pathname where the guard looked before, the target where Dash reads
        out.append(("pathname moved", {**cover_body, "inputs": [*base["inputs"], *cover_body["inputs"]]}))
        out.append(("pathname omitted", {**base, "inputs": [i for i in base["inputs"] if i != base["inputs"][0]]}))
    search_lie = copy.deepcopy(base)
    for item in search_lie["inputs"]:
        if isinstance(item, dict) and item["property"] == "search":
            item["property"], item["value"] = "pathname", target
    for item in search_lie["inputs"]:
        if isinstance(item, dict) and item["property"] == "pathname" and item["value"] == target:
            item["property"], item["value"] = "search", ""
            break
    out.append(("pathname and search swapped", search_lie))
    return out


def _may_open(role: str, path: str, registry: list[dict[str, Any]]) -> bool:
    return auth_rules.decide_page(role, path, registry).allowed


def _post(client: Any, payload: dict[str, Any]) -> Any:
    return client.post(CALLBACK, json=payload, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value})


def _assert_refused(reply: Any, what: str) -> None:
    assert reply.status_code in (400, 403), f"{what}: {reply.status_code} {reply.get_data(as_text=True)[:300]}"
    answer = reply.get_json()
    assert set(answer) == {"error"}, f"{what}: {answer}"


# -- the tests ----------------------------------------------------------------------------------------------
def test_the_callback_map_is_complete(site: App) -> None:
    kinds = {r.kind for r in site.routes.values()}
    assert {"router", "page", "shell", "clientside"} <= kinds
    assert "unassigned" not in kinds, [r.key for r in site.routes.values() if r.kind == "unassigned"]
    pages_with_callbacks = {r.page["path"] for r in site.routes.values() if r.kind == "page" and r.page}
    assert {"/admin", "/retention", "/alerts", "/explorer", "/wall"} <= pages_with_callbacks


@pytest.mark.parametrize("role", ["wall", "manager"])
def test_every_callback_of_a_refused_page_is_refused_however_forged(site: App, role: str) -> None:
    client = site.clients[role]
    cover = "/wall" if role == "wall" else "/explorer"
    refused_pages = [p["path"] for p in site.registry if not _may_open(role, p["path"], site.registry)]
    assert refused_pages
    checked = 0
    for route in site.routes.values():
        if route.kind == "page" and route.page and route.page["path"] in refused_pages:
            targets = [route.page["path"]]
        elif route.kind in ("router", "shell") and route.pathname_slots():
            targets = refused_pages
        elif route.kind == "shell" and role == "wall":
            targets = ["/wall"]  # the wall's shell runs no callback of the shell
        else:
            continue
        for target in targets:
            for how, payload in forgeries(route, target, cover):
                if route.kind == "shell" and role == "wall" and how != "as sent by Dash":
                    continue
                reply = _post(client, payload)
                if route.kind == "router" and role != "wall" and how == "as sent by Dash":
                    # navigating there in the app: the refusal in words, never the page's content
                    assert reply.status_code == 200, (target, reply.status_code)
                    shown = json.dumps(reply.get_json()["response"]["_pages_content"])
                    assert "page-refused" in shown and "You cannot open this page" in shown, target
                    assert "admin-users-table" not in shown and "retention-" not in shown, target
                elif route.kind == "shell" and role != "wall":
                    # the shell on a refusal page keeps the filters in step (no console error) and
                    # answers only its own outputs, however the request is made: nothing of the page
                    if how == "as sent by Dash":
                        assert reply.status_code in (200, 204), (target, how, reply.status_code)
                    assert reply.status_code in (200, 204, 400, 403), (target, how, reply.status_code)
                    if reply.status_code == 200:
                        got = reply.get_json()
                        assert "sideUpdate" not in got, (target, "a page drawn into the shell's answer")
                        shown = json.dumps(got)
                        assert "admin-users-table" not in shown and "retention-" not in shown, target
                        assert "page-refused" not in shown and "_pages_content" not in shown, target
                else:
                    _assert_refused(reply, f"{role}: {route.key} for {target}, {how}")
                checked += 1
    assert checked > 50


@pytest.mark.parametrize("role", ["wall", "manager"])
def test_permitted_pages_still_work(site: App, role: str) -> None:
    client = site.clients[role]
    router = next(r for r in site.routes.values() if r.kind == "router")
    permitted = [p for p in site.registry if _may_open(role, p["path"], site.registry) and "<" not in p["path"]]
    assert permitted
    for page in permitted:
        reply = _post(client, body(router, page["path"]))
        assert reply.status_code == 200, (page["path"], reply.get_data(as_text=True)[:300])
        layout = reply.get_json()["response"]["_pages_content"]
        assert "page-refused" not in json.dumps(layout)
        props = component_props(layout)
        answered = []
        for route in site.routes.values():
            if route.kind == "page" and route.page and route.page["path"] == page["path"]:
                got = _post(client, body(route, page["path"], props))
                assert got.status_code in (200, 204), (route.key, got.status_code, got.get_data(as_text=True)[:300])
                if got.status_code == 200:
                    answered.append(route.key)
        has_callbacks = any(
            r.kind == "page" and r.page and r.page["path"] == page["path"] for r in site.routes.values()
        )
        # a page drawn with its layout (Overview, Security: components/page_view.py) answered in the
        # router's reply; its callbacks then have nothing to draw for the layout's own view
        drawn = '"page-shown"' in json.dumps(layout)
        assert answered or drawn or not has_callbacks, f"no callback of {page['path']} answered {role}"
    if role == "manager":
        shell = next(r for r in site.routes.values() if r.kind == "shell" and r.pathname_slots())
        reply = _post(client, body(shell, "/explorer"))
        assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
        assert "filter-summary" in reply.get_json()["response"]


def test_unknown_and_browser_only_callbacks_are_refused(site: App) -> None:
    client = site.clients["admin"]
    made_up = {"output": "made-up.children", "outputs": {"id": "made-up", "property": "children"}, "inputs": []}
    reply = _post(client, made_up)
    assert reply.status_code == 403
    assert reply.get_json() == {"error": "no such callback"}
    clientside = next(r for r in site.routes.values() if r.kind == "clientside")
    reply = _post(client, body(clientside, "/"))
    assert reply.status_code == 403
    assert "browser" in reply.get_json()["error"]


def test_a_refused_pages_layout_is_never_built(site: App) -> None:
    pages = {p["path"]: p for p in dash.page_registry.values()}
    with site.dash_app.server.test_request_context("/"):
        flask.g.setdefault(VIEWER_KEY, Viewer("manny", "manager"))
        for path in ("/admin", "/retention"):
            tree = json.dumps(pages[path]["layout"](), default=lambda c: c.to_plotly_json())
            assert "page-refused" in tree and "admin-users-table" not in tree
    with site.dash_app.server.test_request_context("/"):
        flask.g.setdefault(VIEWER_KEY, Viewer("kiosk", "wall"))
        for path in ("/alerts", "/explorer", "/"):
            tree = json.dumps(pages[path]["layout"](), default=lambda c: c.to_plotly_json())
            assert "page-refused" in tree, path
        wall = json.dumps(pages["/wall"]["layout"](), default=lambda c: c.to_plotly_json())
        assert "page-refused" not in wall

"""Hostile links to the dashboard pages: every page loads, says what it ignored, and its callbacks run.

The app runs in-process (Flask's test client) over a small demo database, signed in as an
administrator (who may open every page). Each hostile query string goes where a browser takes
it: the page's HTML, Dash's pages router (which hands the query to the page's layout), the
shell's callback that turns the URL into the view (its problems are shown under the summary),
and the page's callbacks fed with the view the shell made.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dash
import flask
import pytest

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.web import auth, auth_rules
from tests.conftest import GEO_DIR, cli

CALLBACK = "/_dash-update-component"
PASSWORD = "hostile-params-password"
#: pages whose layout reads the query string (the others take it and ignore it)
QUERY_PAGES = ("/", "/report", "/alerts", "/review", "/explorer")
#: views already drawn by every page callback (many hostile links end in the same view)
_DRAWN: set[str] = set()

#: (query string as the browser sends it, words the problem note must hold; None: no note needed)
HOSTILE: list[tuple[str, str | None]] = [
    ("tz=" + "A" * 5_000, "unknown time zone"),
    ("tz=../../etc/passwd", "unknown time zone"),
    ("tz=Europe/Berlin%00", "unknown time zone"),
    ("tz=%FF%FE", "not UTF-8"),
    ("from=9999-12-31", "from="),
    ("to=9999-12-31", "to="),
    ("from=0001-01-01&tz=Asia/Tokyo", "from="),
    ("to=0001-01-01&tz=America/New_York", "to="),
    ("from=2026-13-45&to=" + "9" * 3_000, "from="),
    ("from=2026-08-10&to=2026-08-01", "ends before it starts"),
    ("from=2000-01-01&to=2999-12-31", None),
    ("range=forever", "range="),
    ("range=" + "x" * 3_000, "range="),
    ("range=7d&range=30d&range=24h", "given 3 times"),
    ("tz=UTC&tz=Europe/Paris", "given 2 times"),
    ("q=" + "x" * 10_000, "only the first 200"),
    ("q=%00%01%1Bescape", "control characters"),
    ("q=%C3%28%A0%A1", "not UTF-8"),
    ("%FF%FE=%FF", "not UTF-8"),
    ("users=" + ",".join(f"u{i}" for i in range(3_000)), "the first 200"),
    ("users=" + "u" * 5_000, "longer than"),
    ("hours=" + "9" * 5_000 + "&weekdays=0,8,-1", "hours:"),
    ("ip=" + "1" * 5_000, "ip="),
    ("ip=fe80::1%25eth0", "ip="),
    ("countries=Germany,%FF", "country code"),
    ("categories=" + ",".join(f"c{i}" for i in range(500)), "more unknown categories"),
    ("outcome=maybe&outcome=" + "y" * 4_000, "outcome="),
    ("alert=" + "9" * 5_000 + "&start=0001-01-01&end=9999-12-31", None),
    ("alert=%C2%B2&alert=1&start=x&start=y&page=999999999999999999999999", None),
]


@dataclass
class Site:
    dash_app: dash.Dash
    client: Any
    routes: dict[str, auth_rules.CallbackRoute]
    pages: list[str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("hostile-params")
    db_path = tmp / "hostile.duckdb"
    cli("demo", "--days", "7", "--events", "3000", "--db", str(db_path))
    db = Database(db_path)
    create_user(db, "ada", "admin", PASSWORD)
    from dashboard.web.app import create_app

    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    client = app.server.test_client()
    client.get("/healthz")  # Dash fills its callback map on the first request
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token
    form = {"csrf_token": html.unescape(token.group(1)), "username": "ada", "password": PASSWORD, "next": "/"}
    assert client.post("/login", data=form).status_code == 302
    client.get("/_dash-layout")
    paths = [
        str(p["path"])
        for p in dash.page_registry.values()
        if "<" not in str(p["path"]) and p["path"] not in ("/wall", "/not-found")  # the 404 page answers 404
    ]
    try:
        yield Site(app, client, auth.callback_routes(app), paths)
    finally:
        db.close()


def _post(site: Site, payload: dict[str, Any]) -> Any:
    token = site.client.get_cookie("_csrf_token").value
    return site.client.post(CALLBACK, json=payload, headers={"X-CSRFToken": token})


def _items(deps: tuple[Any, ...], values: dict[tuple[str, str], Any]) -> list[Any]:
    return [[] if str(d["id"]).startswith("{") else {**d, "value": values.get((d["id"], d["property"]))} for d in deps]


def _request(route: auth_rules.CallbackRoute, values: dict[tuple[str, str], Any], changed: str) -> dict[str, Any]:
    """A callback request as Dash's renderer makes it, with the given component values."""
    parts = route.key[2:-2].split("...") if route.key.startswith("..") else [route.key]
    outputs = [
        {"id": json.loads(raw) if raw.startswith("{") else raw, "property": prop.split("@")[0]}
        for raw, _, prop in (p.rpartition(".") for p in parts)
    ]
    return {
        "output": route.key,
        "outputs": outputs if route.key.startswith("..") else outputs[0],
        "inputs": _items(route.inputs, values),
        "state": _items(route.state, values),
        "changedPropIds": [changed],
    }


def _text(tree: Any) -> str:
    return json.dumps(tree, ensure_ascii=False)


def _shell(site: Site) -> auth_rules.CallbackRoute:
    return next(r for r in site.routes.values() if r.kind == "shell" and r.pathname_slots())


@pytest.mark.parametrize(("query", "note"), HOSTILE, ids=[q[:40] for q, _ in HOSTILE])
def test_a_hostile_link_loads_every_page_with_a_note(site: Site, query: str, note: str | None) -> None:
    router = next(r for r in site.routes.values() if r.kind == "router")
    shell = _shell(site)
    for path in site.pages:
        # the page itself (the browser's first request)
        reply = site.client.get(f"{path}?{query}")
        assert reply.status_code == 200, (path, reply.status_code)
    for path in QUERY_PAGES:
        # Dash's router renders the page, handing the query to its layout
        # the same text as the link's fragment too (the router hands it to the layouts: the Explorer's order)
        where = {
            ("_pages_location", "pathname"): path,
            ("_pages_location", "search"): "?" + query,
            ("_pages_location", "hash"): "#" + query,
        }
        reply = _post(site, _request(router, where, "_pages_location.pathname"))
        assert reply.status_code == 200, (path, reply.get_data(as_text=True)[:500])
        layout = reply.get_json()["response"]["_pages_content"]["children"]
        assert "page-refused" not in _text(layout)
    # the shell reads the URL: the view it makes, the summary, and what it ignored
    url = {("url", "search"): "?" + query, ("url", "pathname"): "/", ("tz", "data"): "Europe/Berlin"}
    reply = _post(site, _request(shell, url, "url.search"))
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    answer = reply.get_json()["response"]
    summary = _text(answer["filter-summary"]["children"])
    assert "Showing" in summary
    problems = _text(answer["filter-problems"]["children"])
    if note is not None:
        assert "not understood" in problems and note in problems, problems[:500]
        assert len(problems) < 3_000, "the note quotes values cut short, not whole"
    # the canonical URL the shell writes back holds only what was understood
    target = answer.get("url-target", {}).get("data")
    if target:
        assert len(target["search"]) < 1_500
    # every page's callbacks draw the view the shell made
    view = answer["filters"]["data"]
    if json.dumps(view, sort_keys=True) in _DRAWN:
        return
    _DRAWN.add(json.dumps(view, sort_keys=True))
    for route in site.routes.values():
        if route.kind == "page" and any(d["id"] == "filters" for d in route.inputs):
            got = _post(site, _request(route, {("filters", "data"): view}, "filters.data"))
            assert got.status_code in (200, 204), (route.key, got.get_data(as_text=True)[:500])


def test_raw_bytes_that_are_not_utf8_in_the_url(site: Site) -> None:
    """A client sending raw (not percent-encoded) bytes gets the page, not an error."""
    for path in site.pages:
        reply = site.client.get(path, environ_overrides={"QUERY_STRING": "q=\xff\xfe&tz=\xc3("})
        assert reply.status_code == 200, path


def test_the_layouts_take_repeated_and_odd_parameters(site: Site) -> None:
    """Dash hands a repeated parameter to a layout as a list: no layout may fail on it."""
    odd: list[dict[str, Any]] = [
        {"alert": ["1", "2"], "start": ["2026-01-01", "x"], "end": ["a", "b"], "tz": ["UTC", "x"]},
        {"alert": "²", "start": "0001-01-01", "end": "0001-01-07"},
        {"alert": "9" * 5_000, "start": "9999-12-31", "end": "9999-12-31", "range": "x" * 5_000},
    ]
    with site.dash_app.server.test_request_context("/"):
        flask.g.setdefault(auth.SESSION_INFO_KEY, None)
        for page in dash.page_registry.values():
            for kwargs in odd:
                page["layout"](**kwargs)

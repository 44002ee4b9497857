"""The Explorer's first listing is drawn with the page: the pages router's answer carries it.

The app runs in-process (Flask's test client) over a small demo database. Each test posts the
request the browser sends to Dash's pages router when a link is opened (`conftest.page_payload`:
pathname, query and the link's fragment) and reads the layout it answers: the
count line, the listing and its first page, the grid's order, the event panel the fragment opens,
and the page's `shown` store. Expected counts and rows come from plain SQL over the same file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.web import ids
from tests.conftest import InProcess, in_process, page_payload


@dataclass
class Site:
    app: InProcess
    client: Any

    @property
    def db(self) -> Any:
        return self.app.db


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with in_process(tmp_path_factory.mktemp("explorer-first"), {"ada": "admin"}) as app:
        yield Site(app, app.client("ada"))


def _open(site: Site, path: str, search: str, fragment: str) -> dict[str, Any]:
    """Post the router's request for a link, as the browser sends it on a first load; the layout answered."""
    reply = site.app.post(site.client, page_payload(path, search, fragment))
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    return reply.get_json()["response"]["_pages_content"]["children"]


def _by_id(tree: Any) -> dict[str, dict[str, Any]]:
    """Every component of a layout (as JSON) with an id: its props, by id (a dict id as JSON)."""
    found: dict[str, dict[str, Any]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict) and "props" in node:
            props = node["props"]
            if "id" in props:
                key = props["id"] if isinstance(props["id"], str) else json.dumps(props["id"], sort_keys=True)
                found[key] = props
            for value in props.values():
                walk(value)

    walk(tree)
    return found


def _scalar(site: Site, sql: str, **params: Any) -> Any:
    with site.db.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _views(site: Site) -> int:
    return int(_scalar(site, "SELECT count(*) FROM events WHERE action = 'audit.view'"))


def test_a_link_opens_with_its_listing_order_and_event(site: Site) -> None:
    failures = int(
        _scalar(
            site,
            "SELECT count(*) FROM events WHERE outcome = 'failure' AND occurred_at >= "
            "(SELECT max(occurred_at) FROM events WHERE account_id <> 'auditdash') - INTERVAL 30 DAY",
        )
    )
    assert failures > 3
    event = int(_scalar(site, "SELECT min(seq) FROM events WHERE outcome = 'failure'"))
    before = _views(site)
    page = _by_id(_open(site, "/explorer", "?range=30d&tz=UTC&outcome=failure", f"#sort=action.asc&event={event}"))

    # the count line and the listing
    listing = page[ids.EX_LISTING]["data"]
    assert listing["total"] == failures
    assert page[ids.EX_TOTAL]["children"] == f"{failures:,} events"
    assert "UTC" in page[ids.EX_ASOF]["children"]
    # the grid, in the fragment's order, and its first page in that order (answered in the browser)
    columns = {c["field"]: c for c in page[ids.EX_GRID]["columnDefs"] if "field" in c}
    assert columns["action"].get("sort") == "asc"
    first = page["explorer-first-page"]["data"]
    assert first["token"] == listing["token"]
    rows = first["response"]["rowData"]
    assert rows and {r["outcome"] for r in rows} == {"failure"}
    assert [r["action"] for r in rows] == sorted(r["action"] for r in rows)
    # the event the fragment names, open in the panel
    assert page[ids.EX_PANEL]["is_open"] is True
    assert page["explorer-shown"]["data"] == event
    assert str(event) in json.dumps(page[ids.EX_PANEL_BODY])
    # the page says which view it lists: the shell's answer and the gate leave it be
    shown = page[json.dumps({"page": "explorer", "type": "page-shown"}, sort_keys=True)]["data"]
    assert "outcome=failure" in shown["view"] and shown["tz"] == "UTC"
    # the listing and the opened event are each recorded once
    assert _views(site) == before + 2


def test_a_fragment_not_understood_is_said_and_the_rest_listed(site: Site) -> None:
    page = _by_id(_open(site, "/explorer", "?range=7d&tz=UTC", "#sort=nothing.up&event=x1"))
    note = json.dumps(page["explorer-link-note"].get("children"))
    assert "sort=nothing.up" in note and "event=x1" in note
    assert page[ids.EX_LISTING]["data"]["total"] > 0
    assert page[ids.EX_PANEL]["is_open"] is False


def test_other_pages_do_not_read_the_fragment_as_part_of_the_query(site: Site) -> None:
    page = json.dumps(_open(site, "/", "?range=7d&tz=UTC", "#sort=action.asc"))
    assert "link_fragment" not in page
    assert "not understood" not in page


def test_a_link_without_zone_waits_for_the_browsers_zone(site: Site) -> None:
    """Without `tz` the view is in the browser's zone: with its cookie the layout lists in it; without
    (a browser that blocks it) the page lists after the shell resolves the zone, so the layout makes
    and records nothing (a listing in UTC would be replaced, closing the event the link opens)."""
    before = _views(site)
    page = _by_id(_open(site, "/explorer", "?range=7d", "#event=1"))
    assert page[ids.EX_LISTING].get("data") is None and page[ids.EX_PANEL]["is_open"] is False
    assert page[ids.EX_TOTAL]["children"] == "…"
    assert _views(site) == before
    site.client.set_cookie("auditdash_tz", "Asia/Tokyo")
    try:
        page = _by_id(_open(site, "/explorer", "?range=7d", ""))
    finally:
        site.client.delete_cookie("auditdash_tz")
    assert page[ids.EX_LISTING]["data"]["filters"]["tz"] == "Asia/Tokyo"
    assert "Asia/Tokyo" in page[ids.EX_ASOF]["children"]
    assert _views(site) == before + 1

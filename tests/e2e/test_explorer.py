"""The Explorer in a real browser against a real server with demo data.

One server for the module (30 days, 30,000 demo events), signed in as people of three roles.
The browser may load nothing from outside 127.0.0.1: every request is checked.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Response, expect

from tests.e2e.conftest import Site, demo_site, login, screenshot_path

pytestmark = pytest.mark.browser

ROWS = ".ex-grid .ag-center-cols-container .ag-row"
PAGE_SIZE = 50


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with demo_site(demo_30d, tmp_path_factory.mktemp("explorer"), {"cora": "compliance", "mia": "manager"}) as s:
        yield s


@dataclass
class Watch:
    """What the page did: console errors, requests that left 127.0.0.1, rows each grid response carried."""

    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    page_sizes: list[int] = field(default_factory=list)


def watch(page: Page) -> Watch:
    w = Watch()
    page.on("console", lambda msg: w.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: w.errors.append(str(exc)))

    def on_request(request: Any) -> None:
        host = urlparse(request.url).hostname
        if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host != "127.0.0.1":
            w.outside.append(request.url)

    def on_response(response: Response) -> None:
        if "_dash-update-component" not in response.url or response.status != 200:
            return
        body = response.request.post_data or ""
        if "getRowsResponse" in body:
            data = json.loads(response.text())
            rows = data["response"]["explorer-grid"]["getRowsResponse"]["rowData"]
            w.page_sizes.append(len(rows))

    page.on("request", on_request)
    page.on("response", on_response)
    return w


def sign_in(page: Page, site: Site, user: str) -> None:
    login(page, site.server.url, user, site.passwords[user])


def open_explorer(page: Page, site: Site, query: str = "") -> None:
    page.goto(site.server.url + "/explorer" + query)
    page.locator(f"{ROWS} .ex-outcome-cell").first.wait_for(timeout=60_000)


def total(page: Page) -> int:
    text = page.locator("#explorer-total").inner_text()
    return int(re.sub(r"[^0-9]", "", text))


def shown_rows(page: Page) -> list[dict[str, Any]]:
    """The rows of the page the grid shows, as the server sent them (the DOM holds only the visible ones)."""
    rows: list[dict[str, Any]] = page.evaluate(
        """() => {
            const api = window.dash_ag_grid.getApi("explorer-grid");
            const size = api.paginationGetPageSize();
            const first = size * api.paginationGetCurrentPage();
            const out = [];
            for (let i = first; i < Math.min(first + size, api.paginationGetRowCount()); i++) {
                const node = api.getDisplayedRowAtIndex(i);
                if (node && node.data) { out.push(node.data); }
            }
            return out;
        }"""
    )
    return rows


def column(page: Page, field: str) -> list[str]:
    """One field of the shown page's rows, top to bottom."""
    return [str(r[field]) for r in shown_rows(page)]


def times(page: Page) -> list[datetime]:
    return [datetime.fromisoformat(t) for t in column(page, "time")]


def summary(page: Page) -> tuple[int, int, int]:
    """AG Grid's "first to last of count" under the table."""
    panel = page.locator(".ag-paging-row-summary-panel")
    first = int(panel.locator('[data-ref="lbFirstRowOnPage"]').inner_text().replace(",", ""))
    last = int(panel.locator('[data-ref="lbLastRowOnPage"]').inner_text().replace(",", ""))
    count = int(panel.locator('[data-ref="lbRecordCount"]').inner_text().replace(",", ""))
    return first, last, count


def turn(page: Page, label: str, expect_first: int) -> None:
    page.locator(f'.ag-paging-button[aria-label="{label}"]').click()
    expect(page.locator('.ag-paging-row-summary-panel [data-ref="lbFirstRowOnPage"]')).to_have_text(
        f"{expect_first:,}", timeout=30_000
    )
    page.locator(f'{ROWS}[row-index="{expect_first - 1}"] .ex-outcome-cell').wait_for(timeout=30_000)


def test_explorer_loads_pages_and_sends_one_page_at_a_time(site: Site, page: Page) -> None:
    w = watch(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, site, "cora")
    open_explorer(page, site, "?range=30d&tz=UTC")
    expect(page.get_by_role("heading", name="Explorer")).to_be_visible()
    expect(page.locator(".ad-breadcrumb")).to_contain_text("Audit Logs")
    n = total(page)
    assert n > 20_000
    assert summary(page) == (1, PAGE_SIZE, n)
    first_page = times(page)
    assert first_page == sorted(first_page, reverse=True) and len(first_page) == PAGE_SIZE
    page.screenshot(path=screenshot_path("explorer"), full_page=True)

    turn(page, "Next Page", PAGE_SIZE + 1)
    second = times(page)
    assert second[0] <= first_page[-1] and second == sorted(second, reverse=True)
    turn(page, "Last Page", (n - 1) // PAGE_SIZE * PAGE_SIZE + 1)
    last = times(page)
    assert summary(page)[1:] == (n, n) and last == sorted(last, reverse=True)
    turn(page, "Previous Page", (n - 1) // PAGE_SIZE * PAGE_SIZE + 1 - PAGE_SIZE)
    assert times(page)[-1] >= last[0]
    turn(page, "First Page", 1)
    assert times(page) == first_page

    # never more than one page of rows in a response, never more than a few pages in the DOM
    assert w.page_sizes and max(w.page_sizes) <= PAGE_SIZE
    assert page.locator(ROWS).count() <= PAGE_SIZE
    assert w.errors == []
    assert w.outside == []


def test_sorting_by_user_happens_on_the_server(site: Site, page: Page) -> None:
    w = watch(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, site, "cora")
    open_explorer(page, site, "?range=30d&tz=UTC&categories=authentication")
    sorted_rows = page.expect_response(
        lambda r: (
            "_dash-update-component" in r.url
            and "getRowsResponse" in (r.request.post_data or "")
            and '"sortModel":[{' in (r.request.post_data or "").replace(" ", "")
            and r.status == 200
        ),
        timeout=120_000,
    )
    with sorted_rows:  # the server's answer for the sorted order, not the rows shown before it
        page.locator('.ag-header-cell[col-id="actor_name"] .ag-header-cell-label').click()
    expect(page.locator('.ag-header-cell[col-id="actor_name"]')).to_have_attribute("aria-sort", "ascending")
    page.locator(f"{ROWS} .ex-outcome-cell").first.wait_for()
    names = column(page, "actor")
    assert names == sorted(names, key=str.casefold) or names == sorted(names)
    turn(page, "Next Page", PAGE_SIZE + 1)
    more = column(page, "actor")
    assert more[0] >= names[-1] and more == sorted(more)
    assert w.errors == [] and w.outside == []


def test_the_detail_panel_shows_the_before_and_after_of_a_role_change(site: Site, page: Page) -> None:
    w = watch(page)
    page.set_viewport_size({"width": 1600, "height": 1100})
    sign_in(page, site, "cora")
    open_explorer(page, site, "?range=30d&actions=agent.role_change&tz=Europe/Berlin")
    assert 0 < total(page) < 100
    assert set(column(page, "action")) == {"agent.role_change"}
    page.locator(f"{ROWS} [col-id='actor_name']").first.click()
    panel = page.locator("#explorer-detail")
    expect(panel).to_be_visible()
    expect(panel.locator(".ex-action")).to_have_text("agent.role_change")
    changes = panel.locator("#explorer-changes")
    expect(changes).to_contain_text("role")
    before = changes.locator("del.ex-before").first.inner_text()
    after = changes.locator("ins.ex-after").first.inner_text()
    roles = {"agent", "supervisor", "administrator"}
    assert before in roles and after in roles and before != after
    expect(panel).to_contain_text("Europe/Berlin")
    expect(panel).to_contain_text(" UTC")
    expect(panel.locator(".ex-related")).not_to_have_count(0)
    panel.locator("details.ex-raw-box summary").click()
    raw = json.loads(panel.locator("#explorer-raw").inner_text())
    assert raw["action"] == "agent.role_change" and "role" in raw["changes"]
    page.screenshot(path=screenshot_path("explorer-detail-role-change"))

    # the other events of the same session open in the same panel
    first_related = panel.locator(".ex-rel").first
    action = first_related.locator(".ex-rel-action").inner_text()
    first_related.click()
    expect(panel.locator(".ex-action")).to_have_text(action)
    assert w.errors == [] and w.outside == []


def test_a_manager_sees_masked_addresses_and_no_raw_json(site: Site, page: Page) -> None:
    w = watch(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, site, "mia")
    open_explorer(page, site, "?range=30d&actions=auth.login&tz=UTC")
    ips = [ip for ip in column(page, "ip") if ip]
    assert ips and all(ip.endswith(".x") or ip.endswith("::x") for ip in ips)
    page.locator(f"{ROWS} [col-id='ip']").first.click()
    panel = page.locator("#explorer-detail")
    expect(panel.locator("#explorer-raw-note")).to_be_visible()
    assert panel.locator("#explorer-raw").count() == 0
    expect(panel).to_contain_text("Address masked for your role.")
    page.screenshot(path=screenshot_path("explorer-detail-manager"))
    assert w.errors == [] and w.outside == []


def test_narrowing_from_the_panel_filters_the_list(site: Site, page: Page) -> None:
    w = watch(page)
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, site, "cora")
    open_explorer(page, site, "?range=30d&tz=UTC")
    everything = total(page)
    page.locator(f"{ROWS} [col-id='action']").nth(3).click()
    panel = page.locator("#explorer-detail")
    action = panel.locator(".ex-action").inner_text()
    panel.get_by_role("button", name="Show only this action").click()
    expect(page).to_have_url(re.compile(r"actions=" + re.escape(action).replace(r"\.", r"(\.|%2E)")), timeout=30_000)
    expect(panel).to_be_hidden()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and total(page) == everything:
        page.wait_for_timeout(200)
    assert 0 < total(page) < everything
    page.locator(f"{ROWS} .ex-outcome-cell").first.wait_for()
    assert set(column(page, "action")) == {action}
    assert w.errors == [] and w.outside == []


def test_a_panel_closed_by_a_new_view_does_not_go_back_to_the_old_one(site: Site, page: Page) -> None:
    """The race behind a narrowing that lost its filter: a new view closes the panel in the same
    answer that names the view's link, and the panel's "back to the entry it was opened from" ran
    before the link was pushed, so the history went back to the old view while the page showed the
    new one. Closed by a new view, the panel only drops the event from the link; closed on its own
    view (its close button), it still goes back."""
    page.set_viewport_size({"width": 1600, "height": 1000})
    sign_in(page, site, "cora")
    open_explorer(page, site, "?range=30d&tz=UTC")
    here = "() => navigation.currentEntry.index"  # where in the tab's history the page is
    start = page.evaluate(here)
    panel = page.locator("#explorer-detail")
    # on its own view, a closed panel goes back to the entry it was opened from
    page.locator(f"{ROWS} [col-id='action']").nth(2).click()
    expect(page).to_have_url(re.compile(r"#event=\d+$"))
    assert page.evaluate(here) == start + 1
    panel.get_by_role("button", name="Close").click()
    expect(page).not_to_have_url(re.compile(r"event="))
    assert page.evaluate(here) == start
    # the order of the race, made certain: the panel's close is handled before the shell's new link
    page.locator(f"{ROWS} [col-id='action']").nth(3).click()
    expect(page).to_have_url(re.compile(r"#event=\d+$"))
    page.evaluate(
        """() => window.dash_clientside.explorer.panelClosed(false, {view: "range=30d&actions=x.y&tz=UTC"})"""
    )
    # replaced where it is, at once: a push of the new view's link now follows the old view's entries
    assert urlparse(page.url).query == "range=30d&tz=UTC" and urlparse(page.url).fragment == "", page.url
    # a traversal of our own runs after any the close queued (the old code's history.go): one step
    # back from where the close left the page lands on the entry before the event's
    after = page.evaluate("async () => { await navigation.back().finished; return navigation.currentEntry.index; }")
    assert after == start, (start, after)
    # the page hands the callback the shell's view: the State is wired (Dash's own dependency list)
    deps = page.evaluate("async () => (await fetch('/_dash-dependencies')).json()")
    closed = [d for d in deps if (d.get("clientside_function") or {}).get("function_name") == "panelClosed"]
    assert closed and {"id": "filters", "property": "data"} in closed[0]["state"], closed

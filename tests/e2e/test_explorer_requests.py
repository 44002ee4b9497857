"""An Explorer filter change in a real browser: one callback request, the grid kept, paging after.

One server over the shared 30-day demo copy, signed in as a compliance officer. What is checked is
what the page shows after each change and how many callback requests the change made (the shell's
answer carries the listing and its first page), never how long anything took.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.conftest import Site, demo_site, login

pytestmark = pytest.mark.browser

ROWS = ".ex-grid .ag-center-cols-container .ag-row"


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with demo_site(demo_30d, tmp_path_factory.mktemp("explorer-requests"), {"cora": "compliance"}) as s:
        yield s


#: the rows of the grid's current page, as the server sent them
FIRST_PAGE = """() => {
    const api = window.dash_ag_grid.getApi("explorer-grid");
    const out = [];
    for (let i = 0; i < Math.min(api.paginationGetPageSize(), api.paginationGetRowCount()); i++) {
        const node = api.getDisplayedRowAtIndex(i);
        if (node && node.data) { out.push(node.data); }
    }
    return out;
}"""


def settle(page: Page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function("() => document.querySelectorAll('[data-dash-is-loading]').length === 0", timeout=30_000)


def total(page: Page) -> int:
    return int(re.sub(r"[^0-9]", "", page.locator("#explorer-total").inner_text()))


def column(page: Page, field: str) -> set[str]:
    cells = page.locator(f"{ROWS} [col-id='{field}']").all_inner_texts()
    return {c.strip() for c in cells}


def test_a_change_is_one_request_and_the_grid_stays(site: Site, page: Page) -> None:
    errors: list[str] = []
    bodies: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def seen(request: Request) -> None:
        if "_dash-update-component" in request.url:
            bodies.append(request.post_data or "")

    page.on("request", seen)
    login(page, site.server.url, "cora", site.passwords["cora"])
    page.goto(site.server.url + "/explorer?range=30d&tz=UTC")
    page.locator(f"{ROWS} .ex-outcome-cell").first.wait_for(timeout=60_000)
    settle(page)
    everything = total(page)
    # a mark on the grid's element: a grid drawn anew would not carry it
    page.evaluate("() => { document.getElementById('explorer-grid').dataset.kept = 'yes'; }")

    bodies.clear()
    page.locator("#f-outcome label", has_text="Failure").click()
    expect(page).to_have_url(re.compile(r"outcome=failure"))
    expect(page.locator("#explorer-total")).not_to_have_text(f"{everything:,} events")
    expect(page.locator(f"{ROWS} .ex-outcome-cell").first).to_have_text("failure")
    settle(page)
    failures = total(page)
    assert 0 < failures < everything
    assert column(page, "outcome") == {"failure"}
    # the shell's answer carried the listing and its first page: no second request, no request for rows
    assert len(bodies) == 1 and "filters.data" in bodies[0], [b[:120] for b in bodies]
    summary = page.locator('.ag-paging-row-summary-panel [data-ref="lbRecordCount"]')
    expect(summary).to_have_text(f"{failures:,}")

    # a new zone: one request again, the same grid with the zone in its time column's header
    bodies.clear()
    page.click("#f-tz")
    page.fill(".dash-dropdown-content .dash-dropdown-search", "Tokyo")
    page.locator(".dash-dropdown-options >> text=Asia/Tokyo").first.click()
    expect(page).to_have_url(re.compile(r"tz=Asia(/|%2F)Tokyo"))
    expect(page.locator(".ex-grid .ag-header-cell[col-id='occurred_at']")).to_contain_text("Asia/Tokyo")
    expect(page.locator("#explorer-asof")).to_contain_text("Asia/Tokyo")
    settle(page)
    assert page.evaluate("() => document.getElementById('explorer-grid').dataset.kept") == "yes"
    assert total(page) == failures  # the zone moves no event in or out of the last 30 days' failures here
    assert len(bodies) == 1 and "filters.data" in bodies[0], [b[:120] for b in bodies]

    # a sort chosen on the new listing goes to the server and shows its order
    bodies.clear()
    page.locator(".ex-grid .ag-header-cell[col-id='action'] .ag-header-cell-label").click()
    expect(page).to_have_url(re.compile(r"#sort=action\.asc"))
    expect(page.locator(".ex-grid .ag-header-cell[col-id='action']")).to_have_attribute("aria-sort", "ascending")
    settle(page)
    actions = [r["action"] for r in page.evaluate(FIRST_PAGE)]
    assert actions and actions == sorted(actions)
    assert any("explorer-rows-request" in b for b in bodies)

    # paging the new listing goes to the server as before
    if failures > 50:
        bodies.clear()
        page.locator('.ag-paging-button[aria-label="Next Page"]').click()
        expect(page.locator('.ag-paging-row-summary-panel [data-ref="lbFirstRowOnPage"]')).to_have_text("51")
        page.locator(f'{ROWS}[row-index="50"] .ex-outcome-cell').wait_for()
        assert column(page, "outcome") == {"failure"}
        assert any("explorer-rows-request" in b for b in bodies)
    assert errors == []


def test_a_first_listing_arrives_with_the_page_whether_opened_by_link_or_from_another_page(
    site: Site, page: Page
) -> None:
    """The page's first listing is drawn with the page (the pages router's answer, which hands the
    layout the link's query and fragment): no request of the page's own, no request for the first
    rows, and no other answer makes a listing (it is made, and recorded as a view, once)."""
    errors: list[str] = []
    answers: list[tuple[str, str]] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def answered(r: Request) -> None:
        if "_dash-update-component" in r.url:
            response = r.response()
            answers.append((r.post_data or "", response.text() if response is not None else ""))

    page.on("requestfinished", answered)
    login(page, site.server.url, "cora", site.passwords["cora"])

    def listed() -> list[str]:
        """The requests whose answer makes a listing (its count and token)."""
        return [b[:120] for b, text in answers if '"explorer-listing"' in text and '"token"' in text]

    def asked() -> list[str]:
        return [b[:120] for b, _ in answers if "explorer-listing.data" in b or "explorer-rows-request" in b]

    # a link opened, with an order in its fragment: the router's answer lists in that order
    answers.clear()
    page.goto(site.server.url + "/explorer?range=30d&tz=UTC&outcome=failure#sort=action.asc")
    expect(page.locator(f"{ROWS} .ex-outcome-cell").first).to_have_text("failure")
    settle(page)
    failures = total(page)
    assert failures > 0 and column(page, "outcome") == {"failure"}
    expect(page.locator(".ex-grid .ag-header-cell[col-id='action']")).to_have_attribute("aria-sort", "ascending")
    actions = [r["action"] for r in page.evaluate(FIRST_PAGE)]
    assert actions and actions == sorted(actions)
    assert len(listed()) == 1 and "_pages_content" in listed()[0], listed()
    assert asked() == [], asked()

    # from the Overview by its menu: the router's answer lists the view the shell holds
    page.goto(site.server.url + "/?range=30d&tz=UTC&outcome=failure")
    page.locator("#_pages_content h1").wait_for()
    settle(page)
    answers.clear()
    page.locator("a.nav-link", has_text="Explorer").click()
    expect(page).to_have_url(re.compile(r"/explorer\?"))
    expect(page.locator(f"{ROWS} .ex-outcome-cell").first).to_have_text("failure")
    settle(page)
    assert total(page) == failures
    assert column(page, "outcome") == {"failure"}
    assert len(listed()) == 1 and "_pages_content" in listed()[0], listed()
    assert asked() == [], asked()

    # a sort chosen on a listing the page was drawn with is followed (the grid knows its listing)
    answers.clear()
    page.locator(".ex-grid .ag-header-cell[col-id='action'] .ag-header-cell-label").click()
    expect(page).to_have_url(re.compile(r"#sort=action\.asc"))
    settle(page)
    actions = [r["action"] for r in page.evaluate(FIRST_PAGE)]
    assert actions and actions == sorted(actions)
    assert errors == []


def test_rows_come_when_the_grids_code_first_fails_to_load(site: Site, page: Page) -> None:
    """Opened at /explorer, the page fetches AG Grid's code at once; if that fetch fails, the grid's
    own loader fetches it again (a failed early fetch is not left for it to wait on)."""
    login(page, site.server.url, "cora", site.passwords["cora"])
    failed: list[str] = []

    def fail_once(route: Any) -> None:
        if not failed:
            failed.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route(re.compile(r"/dash_ag_grid/async-community\.js"), fail_once)
    page.goto(site.server.url + "/explorer?range=30d&tz=UTC&outcome=failure")
    expect(page.locator(f"{ROWS} .ex-outcome-cell").first).to_have_text("failure", timeout=20_000)
    assert len(failed) == 1

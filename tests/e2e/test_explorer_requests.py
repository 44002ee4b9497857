"""An Explorer filter change in a real browser: one callback request, the grid kept, paging after.

One server over the shared 30-day demo copy, signed in as a compliance officer. What is checked is
what the page shows after each change and how many callback requests the change made (the shell's
answer carries the listing and its first page), never how long anything took.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

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


def test_a_first_listing_is_one_request_whether_opened_by_link_or_from_another_page(site: Site, page: Page) -> None:
    """The page's first listing comes through the gate (as the page mounts, or after the shell's
    answer on a first load): no request of the page's own that answers nothing, one listing made."""
    errors: list[str] = []
    bodies: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda r: bodies.append(r.post_data or "") if "_dash-update-component" in r.url else None)
    login(page, site.server.url, "cora", site.passwords["cora"])

    def listings() -> list[str]:
        return [b for b in bodies if "explorer-listing.data" in b and "explorer-rows-request" not in b]

    # a link opened: the pages router's answer, the shell's, then the listing (made once)
    bodies.clear()
    page.goto(site.server.url + "/explorer?range=30d&tz=UTC&outcome=failure")
    expect(page.locator(f"{ROWS} .ex-outcome-cell").first).to_have_text("failure")
    settle(page)
    failures = total(page)
    assert failures > 0 and column(page, "outcome") == {"failure"}
    assert len(listings()) == 1, [b[:120] for b in bodies]

    # from the Overview by its menu: the view the shell holds is listed as the page mounts
    page.goto(site.server.url + "/?range=30d&tz=UTC&outcome=failure")
    page.locator("#_pages_content h1").wait_for()
    settle(page)
    bodies.clear()
    page.locator("a.nav-link", has_text="Explorer").click()
    expect(page).to_have_url(re.compile(r"/explorer\?"))
    expect(page.locator(f"{ROWS} .ex-outcome-cell").first).to_have_text("failure")
    settle(page)
    assert total(page) == failures
    assert column(page, "outcome") == {"failure"}
    assert len(listings()) == 1, [b[:120] for b in bodies]
    assert errors == []

"""The Explorer's grid as people use it at 1440 x 900, and the Retention page's hold dates.

One server for the module (the 30-day demo data), signed in as a compliance officer, a manager
and an administrator: every column fits at 1440 px; Enter on a focused row opens its event and
Back closes it; a link with an order and an event opens both, masked for a manager; legal-hold
dates are typed and shown as YYYY-MM-DD in a browser whose locale writes mm/dd/yyyy. Four
browser tests, about 40 s with the server start.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Site, demo_site, login, screenshot_path

pytestmark = pytest.mark.browser

ROWS = ".ex-grid .ag-center-cols-container .ag-row"
PANEL = "#explorer-detail"


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    users = {"cora": "compliance", "mia": "manager", "ada": "admin"}
    with demo_site(demo_30d, tmp_path_factory.mktemp("explorer-grid"), users) as s:
        yield s


def _open(page: Page, site: Site, user: str, path: str, width: int = 1440, height: int = 900) -> None:
    page.set_viewport_size({"width": width, "height": height})
    login(page, site.server.url, user, site.passwords[user])
    page.goto(site.server.url + path)


def _loaded(page: Page) -> None:
    page.locator(f"{ROWS} .ex-outcome-cell").first.wait_for(timeout=60_000)


def _fit(page: Page) -> dict[str, Any]:
    """Where each column header is against the grid's box, and whether the grid scrolls sideways."""
    fit: dict[str, Any] = page.evaluate(
        """() => {
            const grid = document.querySelector('.ex-grid').getBoundingClientRect();
            const body = document.querySelector('.ex-grid .ag-center-cols-viewport');
            const cols = [...document.querySelectorAll('.ex-grid .ag-header-cell')].map(h => {
                const r = h.getBoundingClientRect();
                return {id: h.getAttribute('col-id'), left: r.left, right: r.right, width: r.width};
            });
            return {left: grid.left, right: grid.right, cols: cols,
                    scrolls: body.scrollWidth > body.clientWidth + 1,
                    page_scrolls: document.documentElement.scrollWidth > window.innerWidth + 1};
        }"""
    )
    return fit


# every header inside the grid's box: the state the grid settles in after its last fit
_SETTLED = """() => {
    const grid = document.querySelector('.ex-grid').getBoundingClientRect();
    const cols = [...document.querySelectorAll('.ex-grid .ag-header-cell')];
    return cols.length > 0 && cols.every(h => {
        const r = h.getBoundingClientRect();
        return r.left >= grid.left - 1 && r.right <= grid.right + 1;
    });
}"""


def _check_fit(page: Page, width: int) -> None:
    fit = _fit(page)
    shown = [c["id"] for c in fit["cols"]]
    assert shown == [
        "occurred_at",
        "actor_name",
        "actor_role",
        "action",
        "outcome",
        "ip",
        "geo_country",
        "target_name",
        "account_id",
    ]
    for col in fit["cols"]:
        assert col["width"] >= 70, col
        assert fit["left"] - 1 <= col["left"] and col["right"] <= fit["right"] + 1, (width, col, fit["right"])
    assert not fit["scrolls"] and not fit["page_scrolls"], width
    # the time and the address are never cut, nor the outcome's badge; a cut name shows whole on hover
    for col_id in ("occurred_at", "ip"):
        cut = page.evaluate(
            f"""() => [...document.querySelectorAll('.ex-grid .ag-cell[col-id="{col_id}"]')]
                   .filter(c => c.scrollWidth > c.clientWidth + 1).length"""
        )
        assert cut == 0, (width, col_id)
    badges_cut = page.evaluate(
        """() => [...document.querySelectorAll('.ex-grid .ag-cell[col-id="outcome"] .ex-outcome-cell')]
               .filter(b => b.getBoundingClientRect().right > b.closest('.ag-cell').getBoundingClientRect().right)
               .length"""
    )
    assert badges_cut == 0, width
    # (the newest rows may have no target: take the first that names one)
    target = page.locator(f"{ROWS} [col-id='target_name']").filter(has_text=re.compile(r"\S")).first
    assert target.get_attribute("title") == target.inner_text()


def test_every_column_is_visible_without_scrolling_sideways(site: Site, page: Page) -> None:
    _open(page, site, "cora", "/explorer?range=30d&tz=Europe/Berlin")
    _loaded(page)
    # the grid fits its columns again when the page's scrollbar comes or goes as the rest of the page
    # draws (about 15 px): wait for that last fit, as the 1920 check below does, then judge it
    page.wait_for_function(_SETTLED)
    _check_fit(page, 1440)
    page.screenshot(path=screenshot_path("explorer-grid-1440"))
    page.set_viewport_size({"width": 1920, "height": 1080})
    # the columns share the wider grid once it has laid itself out again
    page.wait_for_function(
        """() => {
            const grid = document.querySelector('.ex-grid').getBoundingClientRect();
            const last = document.querySelector('.ex-grid .ag-header-cell[col-id="account_id"]');
            return grid.width > 1400 && last && last.getBoundingClientRect().right > grid.right - 40;
        }"""
    )
    page.wait_for_function(_SETTLED)
    _check_fit(page, 1920)
    page.screenshot(path=screenshot_path("explorer-grid-1920"))


def test_enter_on_a_focused_row_opens_it_and_back_closes_it(site: Site, page: Page) -> None:
    _open(page, site, "cora", "/explorer?range=30d&tz=UTC")
    _loaded(page)
    # focus a cell the way the keyboard does (Tab into the grid lands on its first cell)
    page.evaluate("""() => window.dash_ag_grid.getApi("explorer-grid").setFocusedCell(0, "action")""")
    page.keyboard.press("ArrowDown")
    seq = page.locator(f"{ROWS}[row-index='1']").get_attribute("row-id")
    assert seq and seq.isdigit()
    page.keyboard.press("Enter")
    panel = page.locator(PANEL)
    expect(panel).to_be_visible()
    expect(panel.locator(".offcanvas-title")).to_have_text(f"Event #{seq}")
    expect(page).to_have_url(re.compile(rf"/explorer\?.*#event={seq}$"))
    page.go_back()
    expect(panel).to_be_hidden()
    expect(page).not_to_have_url(re.compile(r"event="))
    page.go_forward()
    expect(panel.locator(".offcanvas-title")).to_have_text(f"Event #{seq}")
    # Escape closes it, and the link no longer names it; Space opens the next row
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page).not_to_have_url(re.compile(r"event="))
    page.evaluate("""() => window.dash_ag_grid.getApi("explorer-grid").setFocusedCell(2, "actor_name")""")
    seq2 = page.locator(f"{ROWS}[row-index='2']").get_attribute("row-id")
    page.keyboard.press(" ")
    expect(panel.locator(".offcanvas-title")).to_have_text(f"Event #{seq2}")


def test_a_link_with_an_order_and_an_event_reproduces_the_view_masked_for_a_manager(
    site: Site, page: Page, browser: Browser
) -> None:
    _open(page, site, "cora", "/explorer?range=30d&tz=UTC&actions=auth.login")
    _loaded(page)
    page.locator('.ag-header-cell[col-id="actor_name"] .ag-header-cell-label').click()
    expect(page).to_have_url(re.compile(r"#sort=user\.asc$"))
    expect(page.locator('.ag-header-cell[col-id="actor_name"]')).to_have_attribute("aria-sort", "ascending")
    page.locator(f"{ROWS}[row-index='0'] .ex-outcome-cell").wait_for()
    first = page.locator(f"{ROWS}[row-index='0']")
    seq = first.get_attribute("row-id")
    name = first.locator("[col-id='actor_name']").inner_text()
    first.locator("[col-id='action']").click()
    expect(page).to_have_url(re.compile(rf"#sort=user\.asc&event={seq}$"))
    link = page.url

    # the same link, pasted by a manager: the same order and event, masked on the server
    other = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        mia = other.new_page()
        login(mia, site.server.url, "mia", site.passwords["mia"])
        mia.goto(link)
        panel = mia.locator(PANEL)
        expect(panel.locator(".offcanvas-title")).to_have_text(f"Event #{seq}", timeout=60_000)
        expect(panel).to_contain_text("Address masked for your role.")
        expect(panel.locator("#explorer-raw-note")).to_be_visible()
        expect(mia.locator('.ag-header-cell[col-id="actor_name"]')).to_have_attribute("aria-sort", "ascending")
        assert name.split()[0] in panel.inner_text()  # the first name; the family name is shortened
        mia.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        expect(mia).to_have_url(re.compile(r"#sort=user\.asc$"))
        # a link that names no column says so, and keeps the list
        mia.goto(site.server.url + "/explorer?range=30d&tz=UTC#sort=password.asc")
        expect(mia.locator("#explorer-link-problem")).to_contain_text("sort=password.asc is not a column")
    finally:
        other.close()


def test_legal_hold_dates_are_typed_and_shown_as_iso(site: Site, browser: Browser) -> None:
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        login(page, site.server.url, "ada", site.passwords["ada"])
        page.goto(site.server.url + "/retention")
        first, last = page.locator("#retention-hold-from"), page.locator("#retention-hold-to")
        expect(first).to_have_attribute("placeholder", "YYYY-MM-DD")
        first.click()
        first.fill("2026-03-02")
        page.keyboard.press("Tab")
        last.click()
        last.fill("2026-03-05")
        page.keyboard.press("Tab")
        page.fill("#retention-hold-reason", "matter 42")
        page.click("#retention-hold-add")
        notice = page.locator("#retention-hold-notice")
        expect(notice).to_contain_text("events of 2026-03-02 to 2026-03-05 (UTC days, the last one included)")
        expect(page.locator("#retention-holds")).to_contain_text("2026-03-02 to 2026-03-05")
        assert first.input_value() == "2026-03-02" and last.input_value() == "2026-03-05"
        text = page.locator("#retention-legal-holds").inner_text() + page.locator("#retention-runs").inner_text()
        assert not re.search(r"\b\d{1,2}/\d{1,2}/\d{4}\b", text)
        # a hold with no days and no user says what it needs, in the page's words
        first.fill("")
        page.keyboard.press("Tab")
        page.click("#retention-hold-add")
        expect(notice).to_contain_text("A hold needs its first and last day (YYYY-MM-DD), or a user id")
        page.locator("#retention-legal-holds").screenshot(path=screenshot_path("retention-holds"))
    finally:
        context.close()

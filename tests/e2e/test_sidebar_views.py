"""The sidebar as managers and compliance officers use it, in a real browser.

Calendar presets in the chosen zone and the calendar seen whole; a view saved under a name and
found again by someone else; the zone picker; "page not found" and a refused page inside the
app's shell. One server over a copy of the 30-day demo store for the module, a handful of page
loads each (about 40 s on a loaded 2-core machine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, demo_site, login, screenshot_path

pytestmark = pytest.mark.browser

USERS = {"cleo": "compliance", "mona": "manager"}


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with demo_site(demo_30d, tmp_path_factory.mktemp("sidebar"), USERS) as running:
        yield running


def _sign_in(page: Page, site: Site, name: str) -> None:
    login(page, site.server.url, name, site.passwords[name])


def test_calendar_presets_in_the_chosen_zone(site: Site, page: Page) -> None:
    _sign_in(page, site, "mona")
    page.goto(site.server.url + "/?tz=Europe/Berlin")
    expect(page.locator("#filter-summary")).to_contain_text("Last 7 days")
    page.locator("#f-preset").get_by_text("Last month", exact=True).click()
    # the summary says the month by its days, in Berlin; the link carries the preset and the zone
    expect(page.locator("#filter-summary")).to_contain_text(
        re.compile(r"Last month \(\d{4}-\d\d-01 to \d{4}-\d\d-\d\d\)")
    )
    expect(page.locator("#filter-summary")).to_contain_text("Europe/Berlin")
    expect(page).to_have_url(re.compile(r"range=last-month"))
    # a link with a calendar preset opens that view
    page.goto(site.server.url + "/?range=yesterday&tz=America/New_York")
    expect(page.locator("#filter-summary")).to_contain_text(
        re.compile(r"Yesterday \(\d{4}-\d\d-\d\d\), America/New_York")
    )
    expect(page.locator("#f-preset input[value=yesterday]")).to_be_checked()
    # the calendar opens over the page (not inside the sidebar) with both its months in full view
    page.locator("#f-dates").click()
    calendar = page.locator(".dash-datepicker-calendar-wrapper")
    expect(calendar).to_be_visible()
    box = calendar.bounding_box()
    viewport = page.viewport_size
    assert box is not None and viewport is not None
    assert box["width"] >= 500, box  # two months side by side
    assert box["x"] >= 0 and box["y"] >= 0
    assert box["x"] + box["width"] <= viewport["width"] and box["y"] + box["height"] <= viewport["height"], box
    # and nothing covers it: the element at its centre is the calendar itself
    inside = page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y).closest('.dash-datepicker-calendar-wrapper')",
        [box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2],
    )
    assert inside
    page.screenshot(path=screenshot_path("sidebar-calendar"))
    page.keyboard.press("Escape")


def test_a_saved_view_is_found_again_and_shared(site: Site, page: Page, browser) -> None:  # type: ignore[no-untyped-def]
    _sign_in(page, site, "cleo")
    page.goto(site.server.url + "/explorer?countries=DE&outcome=failure&categories=authentication&tz=Europe/Berlin")
    expect(page.locator("#filter-summary")).to_contain_text("countries DE")
    page.fill("#f-view-name", "EU admins, failed logins")
    page.check("#f-view-shared")
    page.click("#f-view-save")
    expect(page.locator("#f-view-status")).to_contain_text("Saved as “EU admins, failed logins”")
    # elsewhere, with other filters, the view is one choice away
    page.goto(site.server.url + "/?tz=UTC")
    expect(page.locator("#filter-summary")).to_contain_text("all users")
    page.locator("#f-views").click()
    page.get_by_text("EU admins, failed logins (shared)").click()
    expect(page.locator("#filter-summary")).to_contain_text("countries DE")
    expect(page.locator("#filter-summary")).to_contain_text("Europe/Berlin")
    expect(page).to_have_url(re.compile(r"countries=DE"))
    page.screenshot(path=screenshot_path("sidebar-saved-view"))

    # a manager finds the shared view in their own sidebar and the Report page builds packs from it
    other = browser.new_context()
    manager = other.new_page()
    manager.set_default_timeout(60_000)
    _sign_in(manager, site, "mona")
    manager.goto(site.server.url + "/report")
    manager.locator("#report-view").click()
    manager.get_by_text("EU admins, failed logins (by cleo)").last.click()
    expect(manager.locator("#report-summary")).to_contain_text("countries DE")
    expect(manager.locator("#report-view-line")).to_contain_text("view=")
    zip_label = manager.locator("#report-formats").get_by_text(re.compile("^ZIP"))
    expect(zip_label).not_to_contain_text("JSON and")
    other.close()


def test_utc_off_returns_to_the_chosen_zone(site: Site, page: Page) -> None:
    _sign_in(page, site, "cleo")
    page.goto(site.server.url + "/?tz=Asia/Tokyo")
    expect(page.locator("#filter-summary")).to_contain_text("Asia/Tokyo")
    page.locator("#f-utc").check()
    expect(page.locator("#filter-summary")).to_contain_text("UTC")
    expect(page).to_have_url(re.compile(r"tz=UTC"))
    page.locator("#f-utc").uncheck()
    expect(page.locator("#filter-summary")).to_contain_text("Asia/Tokyo")
    expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo|tz=Asia/Tokyo"))
    # typing in the picker finds a zone by its city at once; the label is the URL's spelling
    # (typed into the list's search box itself: keys typed before the opened list has moved the
    # focus there went elsewhere, and the list never filtered)
    page.locator("#f-tz").click()
    page.fill(".dash-dropdown-content .dash-dropdown-search", "new york")
    page.locator(".dash-dropdown-options").get_by_text("America/New_York", exact=True).click()
    expect(page.locator("#filter-summary")).to_contain_text("America/New_York")
    # the sidebar only where it acts: Retention shows no events
    page.get_by_role("link", name="Retention").click()
    expect(page.locator("#retention-verify")).to_be_attached()
    expect(page.locator("#sidebar")).to_be_hidden()


def test_unknown_and_refused_pages_inside_the_shell(site: Site, page: Page) -> None:
    _sign_in(page, site, "mona")
    response = page.goto(site.server.url + "/no-such-page")
    assert response is not None and response.status == 404
    expect(page.locator("#page-not-found")).to_contain_text("Page not found")
    expect(page.locator("#navbar")).to_be_visible()
    expect(page.locator("#sidebar")).to_be_hidden()
    response = page.goto(site.server.url + "/retention")
    assert response is not None and response.status == 403
    expect(page.locator("#page-refused")).to_contain_text("You tried to open Retention.")
    expect(page.locator("#page-refused")).to_contain_text("Your role is manager")
    expect(page.locator("#page-refused")).to_contain_text("ask an administrator")
    expect(page.locator("#navbar")).to_be_visible()
    # navigating there in the app shows the same refusal, not a page that silently stays put
    page.goto(site.server.url + "/")
    expect(page.locator("#fig-events")).to_be_visible()
    page.evaluate("window.history.pushState({}, '', '/admin'); window.dispatchEvent(new PopStateEvent('popstate'))")
    expect(page.locator("#page-refused")).to_contain_text("You tried to open Users & tokens.")
    page.screenshot(path=screenshot_path("refused-in-shell"))
    page.goto(site.server.url + "/account")
    expect(page.locator("#navbar")).to_contain_text("Explorer")

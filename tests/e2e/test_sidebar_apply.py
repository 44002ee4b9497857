"""How a multi-select of the sidebar applies, in a real browser: ticked values apply when the list
closes, whether by a click beside it or by Escape, and the view then follows the URL it wrote.

One server over a copy of the 30-day demo store for the module, two page loads (about 20 s on a
loaded 2-core machine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Site, demo_site, login

pytestmark = pytest.mark.browser

USERS = {"mona": "manager"}


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with demo_site(demo_30d, tmp_path_factory.mktemp("sidebar-apply"), USERS) as running:
        yield running


def _tick(page: Page, control: str, text: str) -> None:
    page.click(f"#{control}")
    page.fill(".dash-dropdown-content .dash-dropdown-search", text)
    page.locator(".dash-dropdown-options").get_by_text(text, exact=True).first.click()


def test_a_multi_select_applies_when_its_list_closes(site: Site, page: Page) -> None:
    login(page, site.server.url, "mona", site.passwords["mona"])
    page.goto(site.server.url + "/?tz=UTC")
    expect(page.locator("#filter-summary")).to_contain_text("Last 7 days")
    # closed by Escape: the ticked action applies, the link names it, the summary says it
    _tick(page, "f-actions", "auth.login")
    page.keyboard.press("Escape")
    expect(page.locator(".dash-dropdown-content")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]actions=auth\.login"))
    expect(page.locator("#filter-summary")).to_contain_text("auth.login")
    # closed by a click beside it: likewise
    _tick(page, "f-actions", "auth.logout")
    page.click("#sidebar h2")
    expect(page.locator(".dash-dropdown-content")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"[?&]actions=auth\.login(,|%2C)auth\.logout"))
    expect(page.locator("#filter-summary")).to_contain_text("auth.logout")
    # the link opens the same view
    page.reload()
    expect(page.locator("#filter-summary")).to_contain_text("auth.logout")

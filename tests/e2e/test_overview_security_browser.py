"""Overview and Security in a real browser: one callback per page, partial updates, what they say.

One server (module scope) over the shared 30-day demo copy; each test signs in as a compliance
officer and changes filters in the sidebar the way a person does. What is checked is what the
page shows after each change (and how many requests the page makes), never how long it took.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import Server
from tests.e2e.conftest import demo_site, login

pytestmark = pytest.mark.browser

OFFICER = ("officer", "compliance")
ZONE = "Europe/Berlin"


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_site(demo_30d, tmp_path_factory.mktemp("pages"), dict([OFFICER])) as s:
        yield s.server


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "timezone_id": ZONE, "viewport": {"width": 1440, "height": 1000}}


def sign_in(page: Page, server: Server) -> tuple[list[str], list[str]]:
    """Sign in; returns the page's errors and the bodies of its callback requests (both fill as it runs)."""
    errors: list[str] = []
    bodies: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def seen(request: Request) -> None:
        if "_dash-update-component" in request.url:
            bodies.append(request.post_data or "")

    page.on("request", seen)
    name, role = OFFICER
    login(page, server.url, name, f"{name}-{role}-password")
    return errors, bodies


def settle(page: Page) -> None:
    page.wait_for_timeout(300)
    page.wait_for_function("() => document.querySelectorAll('[data-dash-is-loading]').length === 0", timeout=30_000)


def number(page: Page, selector: str) -> int:
    return int(page.locator(selector).inner_text().replace(",", ""))


def test_overview_one_answer_per_change_says_what_it_shows(site: Server, page: Page) -> None:
    errors, bodies = sign_in(page, site)
    page.goto(site.url + "/?range=7d")
    expect(page.locator("#fig-events")).not_to_have_text("…")
    expect(page.locator("#ov-timeline .main-svg").first).to_be_visible()
    settle(page)
    lead = page.locator("#ov-lead")
    expect(lead).to_contain_text("of all activity")
    expect(lead).to_contain_text("Last 7 days")
    expect(lead).to_contain_text(f"times in {ZONE}")
    everything = number(page, "#fig-events")

    bodies.clear()
    page.locator("#f-outcome label", has_text="Failure").click()
    expect(page).to_have_url(re.compile(r"outcome=failure"))
    expect(page.locator("#fig-events")).not_to_have_text(f"{everything:,}")
    settle(page)
    failures = number(page, "#fig-events")
    assert 0 < failures < everything
    expect(lead).to_contain_text("of the filtered activity")
    # the whole page came in one answer, the shell's (cards, charts, table, subtitle): the page's own
    # callback stayed silent
    assert sum("page-shown" in b for b in bodies) == 1
    assert not any("ov-want" in b for b in bodies)
    # shares of a few events among many are never "0.0%"
    shares = page.locator("#category-table tbody td:nth-child(3)").all_inner_texts()
    assert shares and "0.0%" not in shares

    # a timeline bar narrows the view to its own period, in the browser (no server round trip for it)
    bar = page.locator("#ov-timeline .bars .point path").first
    bar.click(force=True)
    expect(page).to_have_url(re.compile(r"from=.*&to="))
    period = parse_qs(urlparse(page.url).query)
    start, end = datetime.fromisoformat(period["from"][0]), datetime.fromisoformat(period["to"][0])
    assert end - start == timedelta(hours=1)  # a 7-day view has hourly bars
    expect(page.locator("#f-preset input[value='custom']")).to_be_checked()
    expect(page.locator("#fig-events")).not_to_have_text(f"{failures:,}")
    settle(page)
    assert number(page, "#fig-events") <= failures
    assert errors == []


def test_security_patches_back_and_forth_and_the_map_reads(site: Server, page: Page) -> None:
    errors, bodies = sign_in(page, site)
    page.goto(site.url + "/security?range=30d")
    expect(page.locator("#sec-failed")).not_to_have_text("…")
    expect(page.locator("#sec-map .scattergeo .point").first).to_be_attached()
    settle(page)
    month = page.locator("#sec-failed").inner_text()
    week_title = page.locator("#sec-heatmap-week .gtitle").text_content() or ""
    assert f"({ZONE})" in week_title
    points = page.evaluate(
        "() => document.querySelector('#sec-map .js-plotly-plot').data.map(t => t.lat && t.lat.length)"
    )

    bodies.clear()
    page.locator("#f-preset label", has_text="7 d").click()
    expect(page.locator("#sec-failed")).not_to_have_text(month)
    settle(page)
    assert sum("page-shown" in b for b in bodies) == 1
    assert not any("sec-want" in b for b in bodies)
    # back to 30 days: everything as it was (what was patched, what was left alone)
    page.locator("#f-preset label", has_text="30 d").click()
    expect(page.locator("#sec-failed")).to_have_text(month)
    settle(page)
    assert (
        page.evaluate("() => document.querySelector('#sec-map .js-plotly-plot').data.map(t => t.lat && t.lat.length)")
        == points
    )
    heat_total = page.evaluate(
        "() => document.querySelector('#sec-heatmap-week .js-plotly-plot').data[0].z.flat()"
        ".reduce((a, b) => a + (b || 0), 0)"
    )
    assert heat_total == int(month.replace(",", ""))

    # the zone alone: the charts say the new zone
    page.click("#f-tz")
    page.fill(".dash-dropdown-content .dash-dropdown-search", "Kolkata")
    page.locator(".dash-dropdown-options >> text=Asia/Kolkata").first.click()
    expect(page.locator("#sec-heatmap-week .gtitle")).to_contain_text("(Asia/Kolkata)")
    settle(page)

    # the map: the page's width, failure colours spread over the shares it shows
    box = page.locator("#sec-map").bounding_box()
    assert box is not None and box["width"] > 1000
    traces = page.evaluate("() => document.querySelector('#sec-map .js-plotly-plot').data")
    cities = next(t for t in traces if t["name"] == "Cities")
    assert cities["marker"]["colorbar"]["ticktext"] == ["0%", "1%", "5%", "20%", "50%", "100%"], cities["marker"]
    assert errors == []


#: counts each chart's draws (plotly's `plotly_afterplot`), by the id of the chart's dcc.Graph
COUNT_DRAWS = """() => {
    window.__draws = {};
    for (const g of document.querySelectorAll('.js-plotly-plot')) {
        const id = g.closest('[id]').id;
        if (g.__counted) { continue; }
        g.__counted = true;
        g.on('plotly_afterplot', () => { window.__draws[id] = (window.__draws[id] || 0) + 1; });
    }
}"""


def test_a_chart_that_changed_its_own_height_is_drawn_once_and_a_narrower_window_refits_it(
    site: Server, page: Page
) -> None:
    # the failed logins by user and day grow with the people they list: a country keeps fewer
    errors, _ = sign_in(page, site)
    page.goto(site.url + "/security?range=30d")
    expect(page.locator("#sec-heatmap-users .heatmaplayer, #sec-heatmap-users .hm").first).to_be_attached()
    settle(page)

    # a narrower window first: the charts fit it again (a resize to another size reaches plotly.js)
    wide = page.evaluate("() => document.querySelector('#sec-map .js-plotly-plot')._fullLayout.width")
    page.set_viewport_size({"width": 1100, "height": 1000})
    page.wait_for_function(
        f"() => document.querySelector('#sec-map .js-plotly-plot')._fullLayout.width < {wide} - 100", timeout=30_000
    )
    fitted = page.evaluate(
        "() => { const g = document.querySelector('#sec-map .js-plotly-plot');"
        " return [g._fullLayout.width, g.getBoundingClientRect().width]; }"
    )
    assert abs(fitted[0] - fitted[1]) <= 2, fitted
    settle(page)
    page.wait_for_timeout(400)  # the resize's drawing is over

    # then a filter: the chart whose height changed with its figure is drawn once, not again for
    # its new size (also after the resize above)
    height = page.evaluate("() => document.querySelector('#sec-heatmap-users .js-plotly-plot')._fullLayout.height")
    page.evaluate(COUNT_DRAWS)
    page.click("#f-countries")
    page.locator(".dash-dropdown-options .dash-options-list-option").first.click()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"countries="))
    page.wait_for_function(
        f"() => document.querySelector('#sec-heatmap-users .js-plotly-plot')._fullLayout.height !== {height}",
        timeout=30_000,
    )
    settle(page)
    page.wait_for_timeout(400)  # dcc.Graph asks for a resize about 100 ms after its element changed size
    draws = page.evaluate("() => window.__draws")
    assert draws.get("sec-heatmap-users") == 1, draws  # drawn for the new figure, not again for its new size
    assert errors == []

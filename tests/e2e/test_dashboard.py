"""The dashboard in a real browser: Overview and Security against a real server with demo data.

One server (module scope) over `auditdash demo --days 30 --events 30000`; each test signs in
(pages are behind the login) and drives Chromium the way a compliance officer would.
Screenshots of every page go to test-results/screenshots/ for review.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, Route, expect

from dashboard.filters import WEEKDAY_NAMES
from dashboard.store.analytics import WEEKDAYS
from tests.conftest import Server
from tests.e2e.conftest import demo_site, login, screenshot_path

pytestmark = pytest.mark.browser

OFFICER = ("officer", "compliance")
MANAGER = ("manager1", "manager")
ZONE = "Europe/Berlin"


@pytest.fixture(scope="module")
def dash_server(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server on 127.0.0.1 over 30 days of demo data, with a compliance officer and a manager."""
    with demo_site(demo_30d, tmp_path_factory.mktemp("dashboard"), dict((OFFICER, MANAGER))) as site:
        yield site.server


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    """A browser in Berlin (its zone is the dashboard's default), with room for the sidebar."""
    return {**browser_context_args, "timezone_id": ZONE, "viewport": {"width": 1440, "height": 1000}}


def sign_in(page: Page, server: Server, who: tuple[str, str] = OFFICER) -> list[str]:
    """Sign in and start collecting console errors (returned list fills as the test runs)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    name, role = who
    login(page, server.url, name, f"{name}-{role}-password")
    return errors


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def settle(page: Page) -> None:
    """Wait until every callback the last change started has answered (Dash marks what is loading)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => document.querySelectorAll('[data-dash-is-loading]').length === 0", timeout=30_000)


def wait_overview(page: Page) -> None:
    expect(page.locator("#fig-events")).not_to_have_text("…", timeout=30_000)
    expect(page.locator("#ov-timeline .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#category-table")).to_be_visible()
    settle(page)


def wait_security(page: Page) -> None:
    expect(page.locator("#sec-failed")).not_to_have_text("…", timeout=30_000)
    expect(page.locator("#sec-heatmap-users .main-svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#top-ips-table")).to_be_visible(timeout=30_000)
    settle(page)


def events_shown(page: Page) -> int:
    return int(page.locator("#fig-events").inner_text().replace(",", ""))


def test_overview_loads_in_the_browser_zone_without_errors(dash_server: Server, page: Page) -> None:
    errors = sign_in(page, dash_server)
    page.goto(dash_server.url + "/")
    wait_overview(page)
    # a newcomer sees where they are
    expect(page.get_by_role("heading", name="Audit Logs")).to_be_visible()
    expect(page.locator(".ad-breadcrumb")).to_contain_text("Overview")
    # no zone in the link: the browser's zone is used, and written into the link
    expect(page).to_have_url(re.compile(r"tz=Europe%2FBerlin"))
    expect(page.locator("#filter-summary")).to_contain_text("Last 7 days")
    expect(page.locator("#filter-summary")).to_contain_text(ZONE)
    expect(page.locator("#ov-timeline")).to_contain_text(f"({ZONE})")
    assert events_shown(page) > 1000
    expect(page.locator("#category-table")).to_contain_text("Authentication Events")
    page.screenshot(path=screenshot_path("dashboard-overview"), full_page=True)
    assert errors == []


def test_security_loads_without_errors(dash_server: Server, page: Page) -> None:
    errors = sign_in(page, dash_server)
    page.goto(dash_server.url + "/security")
    wait_security(page)
    expect(page.locator(".ad-breadcrumb")).to_contain_text("Security")
    expect(page.locator("#sec-heatmap-week")).to_contain_text(f"({ZONE})")
    expect(page.locator("#changes-table")).to_contain_text("→")
    expect(page.locator("#geo-credit")).to_contain_text("IP Geolocation by DB-IP")
    expect(page.locator("#geo-credit a")).to_have_attribute("href", re.compile(r"^https://db-ip\.com"))
    page.screenshot(path=screenshot_path("dashboard-security"), full_page=True)
    assert errors == []


def past_days() -> tuple[str, str]:
    """A range of whole days inside the demo data that has ended (its counts no longer move)."""
    today = datetime.now(ZoneInfo(ZONE)).date()
    return (today - timedelta(days=20)).isoformat(), (today - timedelta(days=8)).isoformat()


def test_a_filter_changes_the_charts_and_the_url_and_back_undoes_it(dash_server: Server, page: Page) -> None:
    errors = sign_in(page, dash_server)
    page.goto(dash_server.url + "/")
    wait_overview(page)
    week = events_shown(page)
    title = page.locator("#ov-timeline .gtitle").text_content() or ""
    page.locator("#f-preset label", has_text="30 d").click()
    expect(page).to_have_url(re.compile(r"range=30d"))
    expect(page.locator("#filter-summary")).to_contain_text("Last 30 days")
    expect(page.locator("#ov-timeline .gtitle")).not_to_have_text(title)  # hourly bars became 6-hourly
    # the headline figures come from another callback: wait until it has answered for 30 days too
    expect(page.locator("#fig-events")).not_to_have_text(f"{week:,}")
    assert events_shown(page) > week

    first, last = past_days()
    page.goto(f"{dash_server.url}/?from={first}&to={last}")
    wait_overview(page)
    expect(page.locator("#f-preset input[value='custom']")).to_be_checked()
    expect(page.locator("#filter-summary")).to_contain_text(f"{first} to {last}")
    everything = events_shown(page)
    page.locator("#f-outcome label", has_text="Failure").click()
    expect(page).to_have_url(re.compile(r"outcome=failure"))
    expect(page.locator("#fig-events")).not_to_have_text(f"{everything:,}")
    failures = events_shown(page)
    assert 0 < failures < everything
    assert page.locator("#fig-failed-logins").inner_text() != "0"

    page.go_back()
    expect(page).not_to_have_url(re.compile(r"outcome="))
    expect(page.locator("#fig-events")).to_have_text(f"{everything:,}")
    expect(page.locator("#f-outcome input[value='']")).to_be_checked()
    page.go_forward()
    expect(page.locator("#fig-events")).to_have_text(f"{failures:,}")
    assert errors == []


def test_a_copied_link_reproduces_the_view(dash_server: Server, page: Page) -> None:
    sign_in(page, dash_server)
    first, last = past_days()
    page.goto(f"{dash_server.url}/security?from={first}&to={last}")
    wait_security(page)
    page.check("#f-utc")
    expect(page).to_have_url(re.compile(r"tz=UTC"))
    page.locator("#f-text").fill("Okafor")
    page.locator("#f-text").press("Enter")
    expect(page).to_have_url(re.compile(r"q=Okafor"))
    expect(page.locator("#sec-heatmap-week")).to_contain_text("(UTC)")
    expect(page.locator("#filter-summary")).to_contain_text('text "Okafor"')
    settle(page)
    link = page.url
    failed = page.locator("#sec-failed").inner_text()
    summary = page.locator("#filter-summary").inner_text()

    other = page.context.new_page()
    other.goto(link)
    wait_security(other)
    settle(other)
    assert query(other) == query(page)
    expect(other.locator("#sec-failed")).to_have_text(failed)
    expect(other.locator("#filter-summary")).to_have_text(summary)
    expect(other.locator("#f-utc")).to_be_checked()
    expect(other.locator("#f-text")).to_have_value("Okafor")
    expect(other.locator("#f-preset input[value='custom']")).to_be_checked()
    expect(other.locator("#f-dates")).to_have_value(first)  # the start-date field
    # the filters survive moving to another page: the nav link keeps the query string
    other.locator("#navbar a", has_text="Overview").click()
    wait_overview(other)
    assert urlparse(other.url).path == "/"
    assert query(other) == query(page)
    expect(other.locator("#ov-timeline")).to_contain_text("(UTC)")


def test_cross_filter_from_the_heatmap(dash_server: Server, page: Page) -> None:
    errors = sign_in(page, dash_server)
    page.goto(dash_server.url + "/security?range=30d")
    wait_security(page)
    cell = page.evaluate(
        """() => {
            const gd = document.querySelector('#sec-heatmap-users .js-plotly-plot');
            const t = gd.data[0];
            let best = [0, 0, -1];
            // not the first day: the 30 days start in its middle, and a click selects the whole day
            t.z.forEach((row, i) => row.forEach((v, j) => { if (j > 0 && v > best[2]) best = [i, j, v]; }));
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            return {label: t.y[best[0]], day: t.x[best[1]], failed: best[2],
                    x: box.left + xa._offset + xa.d2p(t.x[best[1]]), y: box.top + ya._offset + ya.d2p(t.y[best[0]])};
        }"""
    )
    actor = re.search(r"\(([^()]+)\)$", cell["label"])
    assert actor and cell["failed"] > 0
    page.mouse.click(cell["x"], cell["y"])
    expect(page).to_have_url(re.compile(rf"users={re.escape(actor.group(1))}"))
    assert query(page)["from"] == [cell["day"]] and query(page)["to"] == [cell["day"]]
    expect(page.locator("#filter-summary")).to_contain_text(f"users {actor.group(1)}")
    # the page now shows that person on that day: the heatmap has one row, one busy cell
    expect(page.locator("#sec-failed")).to_have_text(f"{cell['failed']:,}")
    expect(page.locator("#f-users")).to_contain_text(actor.group(1))
    expect(page.locator("#f-preset input[value='custom']")).to_be_checked()
    settle(page)
    page.screenshot(path=screenshot_path("dashboard-security-cross-filtered"), full_page=True)
    assert errors == []


def test_cross_filter_from_the_weekday_hour_heatmap(dash_server: Server, page: Page) -> None:
    errors = sign_in(page, dash_server)
    first, last = past_days()  # whole local days that have ended: the counts do not move
    page.goto(f"{dash_server.url}/security?from={first}&to={last}")
    wait_security(page)
    cell = page.evaluate(
        """() => {
            const gd = document.querySelector('#sec-heatmap-week .js-plotly-plot');
            const t = gd.data[0];
            let best = [0, 0, -1];
            t.z.forEach((row, i) => row.forEach((v, j) => { if (v > best[2]) best = [i, j, v]; }));
            const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
            return {day: t.y[best[0]], hour: t.x[best[1]], row: best[0], col: best[1], failed: best[2],
                    x: box.left + xa._offset + xa.d2p(t.x[best[1]]), y: box.top + ya._offset + ya.d2p(t.y[best[0]])};
        }"""
    )
    assert cell["failed"] > 0 and cell["day"] in WEEKDAYS
    weekday, hour = WEEKDAYS.index(cell["day"]) + 1, int(cell["hour"].split(":")[0])
    assert (cell["row"], cell["col"]) == (weekday - 1, hour)
    page.mouse.click(cell["x"], cell["y"])
    expect(page).to_have_url(re.compile(r"weekdays="))
    assert query(page)["weekdays"] == [str(weekday)] and query(page)["hours"] == [str(hour)]
    assert query(page)["outcome"] == ["failure"] and query(page)["from"] == [first] and query(page)["to"] == [last]
    words = f"{WEEKDAY_NAMES[weekday - 1]}s, {hour:02d}:00-{hour + 1:02d}:00"
    expect(page.locator("#filter-summary")).to_contain_text(f"{ZONE}, {words}")
    expect(page.locator("#filter-summary")).to_contain_text("failure only")
    expect(page.locator("#sec-failed")).to_have_text(f"{cell['failed']:,}")
    # the heatmap answers in the same callback: only the clicked cell is left, with that count
    page.wait_for_function(
        """([row, col]) => {
            const gd = document.querySelector('#sec-heatmap-week .js-plotly-plot');
            const z = gd && gd.data && gd.data[0] && gd.data[0].z;
            return !!z && z.flat().filter((v) => v > 0).length === 1 && z[row][col] > 0;
        }""",
        arg=[cell["row"], cell["col"]],
    )
    after = page.evaluate("() => document.querySelector('#sec-heatmap-week .js-plotly-plot').data[0].z")
    assert after[cell["row"]][cell["col"]] == int(page.locator("#sec-failed").inner_text().replace(",", ""))
    assert sum(map(sum, after)) == cell["failed"]
    settle(page)
    page.screenshot(path=screenshot_path("dashboard-security-weekday-hour"), full_page=True)
    # "Clear all" lifts the time of day with the rest
    page.locator("#f-clear").click()
    expect(page).not_to_have_url(re.compile(r"weekdays=|hours="))
    expect(page.locator("#filter-summary")).not_to_contain_text(words)
    assert errors == []


def test_the_map_draws_with_the_internet_closed(dash_server: Server, page: Page) -> None:
    blocked: list[str] = []
    topojson: list[str] = []

    def only_local(route: Route) -> None:
        url = route.request.url
        if urlparse(url).hostname == "127.0.0.1":
            if "/topojson/" in url:
                topojson.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_local)
    sign_in(page, dash_server)
    page.goto(dash_server.url + "/security")
    wait_security(page)
    geo = page.locator("#sec-map .geo")
    expect(geo).to_be_visible(timeout=30_000)
    # the geo layer really drew: land and country borders from the shipped topojson
    expect(page.locator("#sec-map .layer.countries path").first).to_be_attached(timeout=30_000)
    country_path = page.locator("#sec-map .layer.countries path").first.get_attribute("d") or ""
    assert len(country_path) > 1000
    expect(page.locator("#sec-map .layer.land path").first).to_be_attached()
    assert page.locator("#sec-map .scattergeo .point").count() > 5  # one point per city
    assert any(u.endswith("/assets/topojson/world_110m.json") for u in topojson)
    assert blocked == [], blocked
    page.locator("#sec-map").screenshot(path=screenshot_path("dashboard-map-offline"))


def test_a_manager_sees_addresses_and_names_masked(dash_server: Server, page: Page) -> None:
    errors = sign_in(page, dash_server, MANAGER)
    page.goto(dash_server.url + "/security?range=30d")
    wait_security(page)
    table = page.locator("#top-ips-table").inner_text()
    assert re.search(r"\b\d+\.\d+\.\d+\.x\b", table)
    assert not re.search(r"\b\d+\.\d+\.\d+\.\d+\b", table)
    changes = page.locator("#changes-table").inner_text()
    assert re.search(r"\b[A-Z][a-z]+ [A-Z]\. \(", changes)  # "Lena C. (1036)"
    # nor does the map's hover text carry them
    hover = page.evaluate("() => JSON.stringify(document.querySelector('#sec-map .js-plotly-plot').data)")
    assert re.search(r"\d+\.\d+\.\d+\.x", hover)
    assert not re.search(r"\b\d+\.\d+\.\d+\.\d+\b", hover)
    page.screenshot(path=screenshot_path("dashboard-security-manager"), full_page=True)
    assert errors == []

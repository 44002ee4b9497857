"""The wall screen in a real browser: it refreshes itself in place and does not grow.

The server refreshes the wall every second (AUDITDASH_WALL_REFRESH_S=1), so a few dozen refresh
cycles take under a minute. Between cycles the test forces a garbage collection through the
Chrome DevTools Protocol and reads the JS heap and the DOM node count: after the warm-up they
must stay flat. The wall must show no address or name in the clear, whoever is signed in, and
load nothing from outside 127.0.0.1 (the map draws from the topojson shipped in assets/).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Response, expect

from tests.conftest import Server
from tests.e2e.conftest import Site, demo_site, login, screenshot_path

pytestmark = pytest.mark.browser

FULL_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    users = {"kiosk": "wall", "ada": "admin"}
    with demo_site(demo_30d, tmp_path_factory.mktemp("wall"), users, {"AUDITDASH_WALL_REFRESH_S": "1"}) as s:
        yield s


class Refreshes:
    """Counts the wall's refresh callbacks the browser completed, and what went wrong."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.topojson: list[str] = []
        page.on("console", lambda msg: self.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        url = request.url
        if url.startswith(("http:", "https:", "ws:", "wss:")) and urlparse(url).hostname != "127.0.0.1":
            self.outside.append(url)
        if "/assets/topojson/" in url:
            self.topojson.append(url)

    def _response(self, response: Response) -> None:
        if "_dash-update-component" in response.url and "wall-clock" in (response.request.post_data or ""):
            if response.status == 200:
                self.count += 1
            else:
                self.errors.append(f"refresh answered {response.status}")

    def wait_for(self, n: int, page: Page, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.count < n:
            assert time.monotonic() < deadline, f"only {self.count} refreshes in {timeout} s"
            page.wait_for_timeout(100)


def server_rss(server: Server) -> int:
    """The server process's resident memory, in bytes (Linux)."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def measure(page: Page, cdp: Any, server: Server) -> dict[str, float]:
    """Heap and DOM after a forced garbage collection, and the server's memory."""
    cdp.send("HeapProfiler.collectGarbage")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {
        "heap": metrics["JSHeapUsedSize"],
        "nodes": metrics["Nodes"],
        "listeners": metrics["JSEventListeners"],
        "elements": page.evaluate("document.getElementsByTagName('*').length"),
        "server_rss": server_rss(server),
    }


def wall_text(page: Page) -> str:
    """What the wall says, including the charts' hover texts."""
    hover = page.evaluate(
        """() => Array.from(document.querySelectorAll('.js-plotly-plot'))
            .map(g => JSON.stringify((g.data || []).map(t => [t.text, t.hovertext, t.customdata])))
            .join(' ')"""
    )
    return page.locator("#wall-root").inner_text() + " " + str(hover)


def test_the_wall_refreshes_in_place_and_does_not_grow(site: Site, page: Page) -> None:
    page.set_viewport_size({"width": 1920, "height": 1080})
    watch = Refreshes(page)
    login(page, site.server.url, "kiosk", site.passwords["kiosk"])
    expect(page).to_have_url(re.compile(r"/wall$"))
    expect(page.get_by_role("heading", name="Security wall")).to_be_visible()
    page.evaluate("window.__wallLoadedOnce = true")  # gone if the page ever reloads
    watch.wait_for(3, page)
    expect(page.locator("#wall-events")).not_to_have_text("…")
    expect(page.locator("#wall-map .geo .countries path").first).to_be_attached(timeout=30_000)
    assert watch.topojson and all(urlparse(u).hostname == "127.0.0.1" for u in watch.topojson)
    page.screenshot(path=screenshot_path("wall"))

    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    watch.wait_for(8, page)  # warm-up: the first cycles fill caches and pools
    samples = [measure(page, cdp, site.server)]
    clocks = {page.locator("#wall-status").inner_text()}
    for target in (18, 28, 38):
        watch.wait_for(target, page)
        samples.append(measure(page, cdp, site.server))
        clocks.add(page.locator("#wall-status").inner_text())
    first, last = samples[0], samples[-1]
    # the same screen after 30 more refreshes: the DOM neither grows nor leaks listeners...
    assert last["elements"] <= first["elements"] + 25, samples
    assert last["nodes"] <= first["nodes"] * 1.1 + 200, samples
    assert last["listeners"] <= first["listeners"] * 1.1 + 20, samples
    # ...and the heap does not keep growing (a leak of one figure per refresh would add megabytes)
    assert last["heap"] <= first["heap"] * 1.15 + 2_000_000, samples
    assert max(s["heap"] for s in samples[1:]) <= first["heap"] * 1.25 + 3_000_000, samples
    # the server holds no per-refresh state either (tests/test_explorer.py traces its allocations);
    # its resident size moves with DuckDB's buffers and background jobs, so only a gross leak shows here
    assert last["server_rss"] <= first["server_rss"] + 64 * 2**20, samples

    assert len(clocks) >= 3, clocks  # the status line moved with every sample
    assert page.evaluate("window.__wallLoadedOnce === true")  # refreshed without reloading
    assert FULL_IPV4.search(wall_text(page)) is None
    assert watch.errors == []
    assert watch.outside == []


def test_an_administrator_gets_the_bare_masked_wall_too(site: Site, page: Page) -> None:
    page.set_viewport_size({"width": 1600, "height": 1000})
    watch = Refreshes(page)
    login(page, site.server.url, "ada", site.passwords["ada"])
    page.goto(site.server.url + "/wall")
    watch.wait_for(2, page)
    expect(page.locator("#wall-root")).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.locator("#navbar")).to_be_hidden()
    expect(page.locator("#wall-failing")).not_to_have_text("Loading…")
    text = wall_text(page)
    assert FULL_IPV4.search(text) is None, FULL_IPV4.search(text)
    assert "Failed logins by network" in text
    assert watch.errors == [] and watch.outside == []


def test_the_wall_role_may_open_nothing_else(site: Site, page: Page) -> None:
    login(page, site.server.url, "kiosk", site.passwords["kiosk"])
    response = page.goto(site.server.url + "/explorer")
    assert response is not None and response.status == 403

"""The Streams page in a real browser: an administrator adds a destination pointing at a real HTTP
receiver on 127.0.0.1, sees it listed, and the events arrive there; a manager gets the refusal.

One small DuckDB store (a dozen events), one server and the session's Chromium for the module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from tests.conftest import Server, add_user, cli, event, start_server, stop_server
from tests.e2e.conftest import ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, login, screenshot_path
from tests.test_stream import Receiver, free_port, wait_for

pytestmark = pytest.mark.browser

USERS = {"ada": "admin", "mona": "manager"}
#: events stored before the destination exists (a destination that starts at the beginning sends them)
BEFORE = [event(id=f"before-{i:02d}", occurred_at=f"2026-05-01T09:{i:02d}:00Z") for i in range(6)]
#: events sent through the API once the destination runs
AFTER = [event(id=f"after-{i:02d}", occurred_at=f"2026-05-01T10:{i:02d}:00Z", outcome="failure") for i in range(4)]


@dataclass
class Site:
    server: Server
    passwords: dict[str, str]
    ingest_token: str


@dataclass
class Seen:
    """What went wrong in the browser: console errors, uncaught exceptions, failed requests."""

    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("streams-browser")
    db_path = tmp / "streams.duckdb"
    source = tmp / "before.ndjson"
    source.write_text("".join(json.dumps(e) + "\n" for e in BEFORE))
    cli("ingest", str(source), "--db", str(db_path))
    token = cli("tokens", "create", "sender", "--db", str(db_path)).stdout.strip()
    passwords = {name: add_user(db_path, name, role) for name, role in USERS.items()}
    server = start_server(db_path, tmp, tmp / "server.log", {"AUDITDASH_HOME": str(tmp)})
    try:
        yield Site(server, passwords, token)
    finally:
        stop_server(server)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    return context


def _watch(page: Page, expected: tuple[int, ...] = ()) -> Seen:
    seen = Seen()
    page.on("console", lambda msg: seen.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.status not in expected:
            seen.failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)
    return seen


def _events_at(receiver: Receiver) -> list[str]:
    """The ids of the events the receiver acknowledged, leaving out auditdash's own activity
    (such as "stream added"), which is streamed too."""
    return [d["id"] for d in receiver.lines(acked_only=True) if d["stored"]["category"] != "audit"]


def _fill(page: Page, key: str, value: str) -> None:
    page.fill(f"#admin-stream-f-{key}", value)


def test_an_administrator_adds_a_stream_and_events_arrive(site: Site, receiver: Receiver, browser: Browser) -> None:
    context = _context(browser)
    try:
        page = context.new_page()
        seen = _watch(page)
        login(page, site.server.url, "ada", site.passwords["ada"])
        page.goto(site.server.url + "/streams")
        expect(page.get_by_role("heading", name="Streams", exact=True)).to_be_visible()
        expect(page).to_have_title("Streams · auditdash")
        expect(page.locator("#admin-streams-none")).to_contain_text("The log is not streamed anywhere.")

        address = f"http://127.0.0.1:{receiver.port}/in"
        _fill(page, "name", "siem")
        page.select_option("#admin-stream-f-kind", "http")
        _fill(page, "url", address)
        page.select_option("#admin-stream-f-envelope", "ndjson")
        page.select_option("#admin-stream-f-format", "json")
        _fill(page, "start", "beginning")
        page.click("#admin-streams-save")
        expect(page.locator("#admin-streams-done")).to_contain_text(
            f"Stream siem added: delivery to {address} runs now."
        )
        row = page.locator("#admin-streams-rows tbody tr", has_text="siem")
        expect(row).to_have_count(1)
        expect(row).to_contain_text(address + " (not encrypted)")
        expect(row).to_contain_text("http ndjson json")
        expect(row).to_contain_text("every event")
        expect(row).to_contain_text("made here")
        expect(row.get_by_role("button", name="Pause")).to_be_visible()

        # the events stored before arrive (the destination starts at the beginning), then new ones
        wait_for("the stored events at the receiver", lambda: len(_events_at(receiver)) >= len(BEFORE), 120)
        assert _events_at(receiver) == [e["id"] for e in BEFORE]
        status, reply = site.server.request(
            "POST",
            "/api/v1/events",
            json.dumps(AFTER).encode(),
            {"Authorization": f"Bearer {site.ingest_token}", "Content-Type": "application/json"},
        )
        assert status == 200 and isinstance(reply, dict) and reply["accepted"] == len(AFTER), reply
        wait_for("the new events at the receiver", lambda: len(_events_at(receiver)) >= len(BEFORE) + len(AFTER), 120)
        assert _events_at(receiver) == [e["id"] for e in BEFORE + AFTER]

        # the page, opened again, counts what was delivered and, once the lag is measured again
        # (every few seconds), shows nothing waiting
        row = page.locator("#admin-streams-rows tbody tr", has_text="siem")
        cells = row.locator("td")
        deadline = time.monotonic() + 120
        while True:
            page.reload()
            expect(row).to_have_count(1)
            if cells.nth(5).inner_text() == "0" or time.monotonic() > deadline:
                break
            page.wait_for_timeout(1000)
        expect(cells.nth(5)).to_have_text("0")  # lag in events
        expect(cells.nth(6)).to_have_text("-")  # lag in time
        delivered = int(cells.nth(7).inner_text().replace(",", ""))  # the log's own lines are counted too
        assert delivered >= len(BEFORE) + len(AFTER), delivered
        expect(cells.nth(10)).to_have_text("")  # no last error
        page.screenshot(path=screenshot_path("streams-added"), full_page=True)

        # paused from the page: it says so
        row.get_by_role("button", name="Pause").click()
        expect(page.locator("#admin-streams-done")).to_contain_text("Stream siem paused")
        expect(page.locator("#admin-streams-rows tbody tr", has_text="siem")).to_contain_text("paused")
        assert seen.errors == [] and seen.failed == [], (seen.errors, seen.failed)
    finally:
        context.close()


def test_a_manager_cannot_open_the_streams_page(site: Site, browser: Browser) -> None:
    context = _context(browser)
    try:
        page = context.new_page()
        seen = _watch(page, expected=(403,))  # a refused page is answered with 403, and says why
        login(page, site.server.url, "mona", site.passwords["mona"])
        reply = page.goto(site.server.url + "/streams")
        assert reply is not None and reply.status == 403
        refusal = page.locator("#page-refused")
        expect(refusal).to_contain_text("You cannot open this page")
        expect(refusal).to_contain_text("You tried to open Streams.")
        expect(refusal).to_contain_text("Your role is manager; this page is for: administrator (admin).")
        expect(page.get_by_role("heading", name="Streams", exact=True)).to_have_count(0)
        expect(page.locator("#admin-streams-rows")).to_have_count(0)
        expect(page.locator("#admin-streams-save")).to_have_count(0)
        assert "127.0.0.1" not in page.locator("body").inner_text()
        assert [e for e in seen.errors if "403" not in e] == [] and seen.failed == [], (seen.errors, seen.failed)
    finally:
        context.close()

"""Signing in and out in a real browser: the dashboard behind the form, nothing left after sign-out.

The browser also proves that the Content-Security-Policy is one the app satisfies (a violation
is a console error) and that Dash's callbacks carry the CSRF token (the admin page's buttons
work only if they do).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server, add_user, cli, start_server, stop_server
from tests.e2e.conftest import login, screenshot_path

pytestmark = pytest.mark.browser

#: The module's idle timeout. The server notes activity in steps of a quarter of it, so a session
#: may end after 3/4 of it without a request: the other tests, which pause for screenshots and
#: slow callbacks on a loaded machine, need room below it; the last test waits it out.
IDLE_S = 12


@dataclass
class Site:
    server: Server
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("login")
    db_path = tmp / "login.duckdb"
    cli("demo", "--days", "7", "--events", "3000", "--db", str(db_path))
    passwords = {
        "ada": add_user(db_path, "ada", "admin"),
        "cora": add_user(db_path, "cora", "compliance"),
        "kiosk": add_user(db_path, "kiosk", "wall"),
    }
    server = start_server(db_path, tmp, tmp / "login.log", {"AUDITDASH_SESSION_IDLE_TIMEOUT_S": str(IDLE_S)})
    try:
        yield Site(server, passwords)
    finally:
        stop_server(server)


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def test_sign_in_see_the_dashboard_sign_out_and_back_shows_nothing(site: Site, page: Page) -> None:
    errors = _console_errors(page)
    page.goto(site.server.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.fill("#username", "cora")
    page.fill("#password", "not her password")
    page.click("#login-submit")
    expect(page.locator("#login-message")).to_have_text("Wrong user name or password.")
    page.fill("#password", site.passwords["cora"])
    page.click("#login-submit")
    expect(page.get_by_role("heading", name="Audit Logs")).to_be_visible()
    events = page.locator("#fig-events")
    expect(events).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=30_000)  # a figure, once computed
    shown = events.inner_text()
    assert int(shown.replace(",", "")) > 2_000
    expect(page.locator("#auditdash-userbar")).to_contain_text("cora (compliance)")
    expect(page.locator("#admin-link")).to_have_count(0)  # not an administrator
    page.screenshot(path=screenshot_path("login-dashboard"), full_page=True)

    page.click("#logout-button")
    expect(page.locator("#login-message")).to_have_text("You have signed out.")
    page.go_back()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#fig-events")).to_have_count(0)
    assert shown not in page.content()
    page.screenshot(path=screenshot_path("login-after-back"), full_page=True)
    # a 401 from the failed-password attempt is not an error of the page; nothing else may be
    assert [e for e in errors if "401" not in e] == []


def test_admin_page_creates_and_revokes_a_token_in_the_browser(site: Site, page: Page) -> None:
    errors = _console_errors(page)
    login(page, site.server.url, "ada", site.passwords["ada"])
    page.click("#admin-link")
    expect(page.get_by_role("heading", name="Users & tokens")).to_be_visible()
    page.fill("#admin-token-name", "browser-made")
    page.click("#admin-token-create")
    secret = page.locator("#admin-token-notice-secret")
    expect(secret).to_contain_text("adt_")
    token = secret.inner_text()
    expect(page.locator("#admin-tokens-grid")).to_contain_text("browser-made")
    token_id = token.split("_")[1]
    page.select_option("#admin-token", token_id)
    page.click("#admin-token-revoke")
    expect(page.locator("#admin-token-notice-alert")).to_contain_text("revoked")
    expect(page.locator("#admin-tokens-grid")).to_contain_text("revoked")
    page.screenshot(path=screenshot_path("admin-users-tokens"), full_page=True)
    status, _ = site.server.request(
        "POST", "/api/v1/events", b"[]", {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    assert status == 401
    assert errors == []


def test_an_open_page_reloads_itself_once_when_the_servers_callbacks_change(site: Site, page: Page) -> None:
    """A page made for the callbacks of an earlier version (an upgrade since) reloads itself: the
    server names its callbacks' build on every answer to Dash's routes (X-Auditdash-Build)."""
    login(page, site.server.url, "ada", site.passwords["ada"])
    expect(page.locator("#fig-events")).to_be_visible()
    build = page.evaluate("""async () => (await fetch("/_dash-dependencies")).headers.get("X-Auditdash-Build")""")
    assert build and re.fullmatch(r"[0-9a-f]{16}", build)
    page.evaluate("() => { window.madeBefore = true; }")

    def upgraded(route: Any) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, headers={**answer.headers, "x-auditdash-build": "0123456789abcdef"})

    # from now on the server answers as another build: the next answer reloads the page
    page.route(re.compile(r"/_dash-update-component"), upgraded)
    page.evaluate("""() => {
        window.history.pushState({}, "", "/security");
        window.dispatchEvent(new PopStateEvent("popstate"));
    }""")
    page.wait_for_function("() => window.madeBefore === undefined", timeout=20_000)
    expect(page.locator("#_pages_content h1")).to_have_text(re.compile("Security"))
    # reloaded once for that build: its next answers do not reload it again
    page.evaluate("() => { window.madeBefore = true; }")
    page.evaluate("""() => {
        window.history.pushState({}, "", "/");
        window.dispatchEvent(new PopStateEvent("popstate"));
    }""")
    expect(page.locator("#fig-events")).to_be_visible()
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.madeBefore") is True
    assert page.evaluate("() => sessionStorage.getItem('auditdash-reloaded-for-build')") == "0123456789abcdef"
    page.unroute(re.compile(r"/_dash-update-component"))


def test_an_open_page_goes_to_the_sign_in_form_when_the_session_ends(site: Site, page: Page) -> None:
    last_request = [time.monotonic()]

    def active(_request: Any) -> None:
        last_request[0] = time.monotonic()

    # a request counts as activity when it is sent and, if it is slow, again when it is answered
    for event in ("request", "requestfinished", "requestfailed"):
        page.on(event, active)
    login(page, site.server.url, "ada", site.passwords["ada"])
    expect(page.locator("#fig-events")).to_be_visible()
    # the page's own requests are activity too: wait until it has been quiet past the timeout
    while time.monotonic() - last_request[0] < IDLE_S + 1:
        page.wait_for_timeout(250)
    # move inside the open page (as Back/Forward do): Dash asks the server for the page, gets
    # 401, and assets/auth-session.js takes the browser to the form
    page.evaluate("""() => {
        window.history.pushState({}, "", "/admin");
        window.dispatchEvent(new PopStateEvent("popstate"));
    }""")
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#login-message")).to_have_text("Your session ended. Sign in again.")
    assert "next=%2Fadmin" in page.url
    page.fill("#username", "ada")
    page.fill("#password", site.passwords["ada"])
    page.click("#login-submit")
    expect(page.get_by_role("heading", name="Users & tokens")).to_be_visible()


def test_wall_kiosk_lands_on_the_wall_only(site: Site, page: Page) -> None:
    errors = _console_errors(page)
    login(page, site.server.url, "kiosk", site.passwords["kiosk"])
    expect(page).to_have_url(re.compile(r"/wall$"))
    expect(page.locator("#auditdash-userbar")).to_have_count(0)  # the wall takes the whole screen
    # the wall's own callbacks run for the kiosk (and nothing it may not run is even tried)
    expect(page.locator("#wall-events")).to_have_text(re.compile(r"\d"), timeout=30_000)
    assert errors == []
    page.goto(site.server.url + "/admin")
    expect(page.locator("#refusal-message")).to_contain_text("wall")

"""The account page in a real browser: reached from the bar above the dashboard, the QR code of a
new second factor drawn under the app's Content-Security-Policy (a violation is a console
error), a password changed through the form and used at the next sign-in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from dashboard.access.users import totp_code, totp_step
from tests.conftest import Server, add_user, start_server, stop_server
from tests.e2e.conftest import login, screenshot_path

pytestmark = pytest.mark.browser

PASSWORD = "browser-account-password"
NEW_PASSWORD = "browser-account-new-password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("account-browser")
    db_path = tmp / "account.duckdb"
    add_user(db_path, "rhea", "compliance", PASSWORD)
    running = start_server(db_path, tmp, tmp / "server.log")
    try:
        yield running
    finally:
        stop_server(running)


def test_account_page_from_the_dashboard(server: Server, page: Page) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    login(page, server.url, "rhea", PASSWORD)
    page.click("#account-link")
    expect(page).to_have_url(server.url + "/account")
    expect(page.locator("#account-username")).to_have_text("rhea")
    expect(page.locator("#account-totp-state")).to_have_text("off")

    page.fill("#totp_current_password", PASSWORD)
    page.click("#totp-start")
    qr = page.locator("#totp-qr svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box and box["width"] > 100 and box["height"] > 100  # drawn, not an empty element
    page.screenshot(path=screenshot_path("account-totp"), full_page=True)
    secret = page.locator("#totp-secret").inner_text()
    page.fill("#code", totp_code(secret, totp_step()))
    page.click("#totp-confirm")
    expect(page.locator("#account-totp-state")).to_have_text("on")

    page.fill("#current_password", PASSWORD)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password_again", NEW_PASSWORD)
    page.click("#password-submit")
    expect(page.locator("#login-message")).to_have_text("Your password is changed.")
    page.screenshot(path=screenshot_path("account"), full_page=True)
    assert not errors, errors

    # the next sign-in takes the new password, then a code
    page.context.clear_cookies()
    page.goto(server.url + "/login")
    page.fill("#username", "rhea")
    page.fill("#password", NEW_PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#totp-form")).to_be_visible()

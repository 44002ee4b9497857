"""Single sign-on in a real browser: the dashboard's button, the provider's sign-in form, back signed in.

The provider is panva's certified oidc-provider on 127.0.0.1 (tests/oidc/provider.js); the
dashboard is served on 127.0.0.1 by a real HTTP server in this process. The server's socket is
opened first, so the provider can be told the exact callback address before it starts.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import BaseWSGIServer, make_server

from dashboard.access import users
from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.web.app import create_app
from tests.conftest import GEO_DIR
from tests.e2e.conftest import screenshot_path
from tests.oidc.process import CLIENT_ID, CLIENT_SECRET, start_provider, stop_provider

pytestmark = pytest.mark.browser

PEOPLE = {
    "carol": {"password": "carol-pw", "groups": ["Auditors", "Everyone"], "email": "carol@example.test"},
    "dan": {"password": "dan-pw", "groups": ["Everyone"], "email": "dan@example.test"},
}


class _Later:
    """A WSGI app that hands requests to the real app once it exists."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@dataclass
class Site:
    url: str
    db: Database


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("sso")
    later = _Later()
    httpd: BaseWSGIServer = make_server("127.0.0.1", 0, later, threaded=True)
    url = f"http://127.0.0.1:{httpd.server_port}"
    provider = start_provider(tmp, [url + "/login/sso/callback"], PEOPLE)
    db = Database(tmp / "sso.duckdb")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    try:
        users.create_user(db, "admin", "admin", "break-glass-password-1")
        settings = Settings(
            db_path=db.path,
            geo_dir=GEO_DIR,
            oidc_issuer=provider.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,
            oidc_provider_name="Example SSO",
            oidc_scopes="openid email profile groups",
            oidc_username_claim="email",
            oidc_role_map="Auditors=compliance; Admins=admin",
            oidc_access_contact="the IT service desk",
            local_login=False,
        )
        later.app = create_app(settings, db).server
        thread.start()
        yield Site(url, db)
    finally:
        if thread.is_alive():
            httpd.shutdown()
            thread.join(timeout=10)
        httpd.server_close()
        stop_provider(provider)
        db.close()


def _through_provider(page: Page, site: Site, login: str, password: str) -> None:
    page.goto(site.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    expect(page.locator("#break-glass")).not_to_have_attribute("open", "")  # passwords are folded away
    page.click("#sso-login")
    expect(page.locator("#op-login-form")).to_be_visible()  # the provider's own form
    assert page.url.startswith(site.url) is False
    page.fill("#op-login", login)
    page.fill("#op-password", password)
    page.click("#op-submit")


def test_sign_in_through_the_provider_lands_on_the_dashboard_with_the_mapped_role(site: Site, page: Page) -> None:
    _through_provider(page, site, "carol", "carol-pw")
    expect(page.get_by_role("heading", name="Audit Logs")).to_be_visible()
    # the dashboard's root; the shell may already have written the browser's zone into the query
    assert page.url.split("?", 1)[0] == site.url + "/", page.url
    expect(page.locator("#auditdash-userbar")).to_contain_text("carol@example.test (compliance)")
    expect(page.locator("#admin-link")).to_have_count(0)
    page.screenshot(path=screenshot_path("sso-dashboard"), full_page=True)
    user = users.get_user(site.db, "carol@example.test")
    assert user is not None and user.sso and user.role == "compliance"
    page.click("#logout-button")
    expect(page.locator("#login-message")).to_have_text("You have signed out.")


def test_a_person_without_a_mapped_group_sees_whom_to_ask(site: Site, page: Page) -> None:
    _through_provider(page, site, "dan", "dan-pw")
    refusal = page.locator("#sso-refusal")
    expect(refusal).to_contain_text("You signed in at Example SSO as dan@example.test")
    expect(refusal).to_contain_text("Ask the IT service desk to give you access")
    page.screenshot(path=screenshot_path("sso-refused"), full_page=True)
    page.click("#sso-back")
    expect(page.locator("#sso-login")).to_have_text("Sign in with Example SSO")
    assert users.get_user(site.db, "dan@example.test") is None

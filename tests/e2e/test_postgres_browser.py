"""The main pages in a real browser against a PostgreSQL store.

One database on the session's throwaway PostgreSQL server, filled once with a week of demo events
(`auditdash demo --out`, then `auditdash ingest` and `auditdash detect`), one `auditdash serve`
over it and the session's Chromium for the module. An administrator opens every main page; what
the pages show (counts, rows, alerts) is checked against what the test computed from the events
it sent. A manager meets the refusal on the pages of higher roles. No page may log a console
error, throw, or get a failed answer from the server.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Response, expect

from dashboard.events.taxonomy import FAILED_LOGIN_ACTIONS, FAILED_LOGIN_OUTCOME, LOCKOUT_ACTIONS
from tests.conftest import Server, add_user, cli, start_server, stop_server
from tests.e2e.conftest import ACTION_TIMEOUT_MS, NAVIGATION_TIMEOUT_MS, login, screenshot_path
from tests.pg import PgServer

pytestmark = [pytest.mark.browser, pytest.mark.postgres]

USERS = {"ada": "admin", "mona": "manager"}
#: every event sent, whenever it happened, with times in UTC
EVERYTHING = "from=2000-01-01&to=2099-12-31&tz=UTC"
ROWS = ".ex-grid .ag-center-cols-container .ag-row"
#: alerts on one page of the Alerts list
PER_PAGE = 25


@dataclass
class Sent:
    """The events the test sent and the alerts detection raised over them."""

    events: list[dict[str, Any]]
    alerts: list[dict[str, Any]]

    def failures(self, user: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["outcome"] == "failure" and (user is None or str(e["actor"]["id"]) == user)]

    def failed_logins(self) -> int:
        return sum(
            1 for e in self.events if e["action"] in FAILED_LOGIN_ACTIONS and e["outcome"] == FAILED_LOGIN_OUTCOME
        )

    def lockouts(self) -> int:
        return sum(1 for e in self.events if e["action"] in LOCKOUT_ACTIONS)


@dataclass
class Site:
    server: Server
    passwords: dict[str, str]
    sent: Sent


@dataclass
class Seen:
    """What went wrong in the browser: console errors, uncaught exceptions, failed requests."""

    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def clean(self) -> bool:
        return self.errors == [] and self.failed == []


@pytest.fixture(scope="module")
def site(pg_server: PgServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("pg-browser")
    demo = tmp / "demo.ndjson"
    cli("demo", "--days", "7", "--events", "1000", "--out", str(demo))
    sent = [json.loads(line) for line in demo.read_text().splitlines() if line.strip()]
    url = pg_server.create_database(f"browser_{os.getpid()}")
    stored = json.loads(cli("ingest", str(demo), "--db", url, "--json").stdout)
    assert stored["accepted"] == len(sent) and stored["rejected"] == 0, stored
    cli("detect", "--no-notify", "--db", url)
    alerts = json.loads(cli("alerts", "list", "--db", url, "--json").stdout)
    passwords = {name: add_user(url, name, role) for name, role in USERS.items()}  # type: ignore[arg-type]
    server = start_server(url, tmp, tmp / "server.log", {"AUDITDASH_HOME": str(tmp)})
    try:
        yield Site(server, passwords, Sent(sent, alerts))
    finally:
        stop_server(server)


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1600, "height": 1400}, accept_downloads=True)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    return context


@pytest.fixture(scope="module")
def admin(site: Site, browser: Browser) -> Iterator[BrowserContext]:
    """The administrator's browser, signed in once for the module."""
    context = _context(browser)
    page = context.new_page()
    login(page, site.server.url, "ada", site.passwords["ada"])
    page.close()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def tab(admin: BrowserContext) -> Iterator[Page]:
    page = admin.new_page()
    try:
        yield page
    finally:
        page.close()


def watch(page: Page, expected: tuple[int, ...] = ()) -> Seen:
    seen = Seen()
    page.on("console", lambda msg: seen.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))

    def on_response(response: Response) -> None:
        if response.status >= 400 and response.status not in expected:
            seen.failed.append(f"{response.status} {response.request.method} {response.url}")

    page.on("response", on_response)
    return seen


def settle(page: Page) -> None:
    """Wait until every callback the last change started has answered (Dash marks what is loading)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => document.querySelectorAll('[data-dash-is-loading]').length === 0", timeout=60_000)


def no_error_shown(page: Page) -> None:
    """Nothing on the page says something went wrong: no storage fault, no red alert, no refusal."""
    expect(page.locator("#status-fault")).to_have_text("")
    expect(page.locator("#page-refused")).to_have_count(0)
    body = page.locator("body").inner_text()
    for words in (
        "Traceback",
        "Internal Server Error",
        "cannot be read",
        "could not",
        "Error loading",
        "Callback error",
    ):
        assert words not in body, f"{page.url} shows {words!r}"
    for alert in page.locator(".alert-danger").all():  # a red notice says something about the data, not a fault
        said = alert.inner_text()
        assert not re.search(r"error|exception|cannot|could not|failed", said, re.IGNORECASE), f"{page.url}: {said}"


def test_overview_and_security_count_what_was_sent(site: Site, tab: Page) -> None:
    seen = watch(tab)
    tab.goto(f"{site.server.url}/?{EVERYTHING}")
    expect(tab).to_have_title("Overview · Audit Logs · auditdash")
    expect(tab.locator(".ad-breadcrumb")).to_contain_text("Overview")
    expect(tab.locator("#fig-events")).to_have_text(f"{len(site.sent.events):,}")
    expect(tab.locator("#fig-failed-logins")).to_have_text(f"{site.sent.failed_logins():,}")
    expect(tab.locator("#category-table")).to_contain_text("Authentication")
    expect(tab.locator("#ov-timeline .main-svg").first).to_be_visible()
    settle(tab)
    no_error_shown(tab)
    tab.screenshot(path=screenshot_path("postgres-overview"), full_page=True)

    tab.locator("#navbar a", has_text="Security").click()
    expect(tab).to_have_title("Security · Audit Logs · auditdash")
    expect(tab.locator("#sec-failed")).to_have_text(f"{site.sent.failed_logins():,}")
    expect(tab.locator("#sec-locked")).to_have_text(f"{site.sent.lockouts():,}")
    expect(tab.locator("#sec-heatmap-users .main-svg").first).to_be_visible()
    expect(tab.locator("#top-ips-table")).to_be_visible()
    settle(tab)
    no_error_shown(tab)
    tab.screenshot(path=screenshot_path("postgres-security"), full_page=True)
    assert seen.clean(), (seen.errors, seen.failed)


def _pick_user(page: Page, name: str) -> None:
    page.click("#f-users")
    page.fill(".dash-dropdown-content .dash-dropdown-search", name)
    page.locator(".dash-dropdown-options").get_by_text(name, exact=False).first.click()
    page.keyboard.press("Escape")
    expect(page.locator(".dash-dropdown-content")).to_have_count(0)


def _grid_rows(page: Page) -> list[tuple[str, str, str, str]]:
    """(time, user, action, outcome) of each row the grid shows, top to bottom, as the cells read."""
    out = []
    for i in range(page.locator(ROWS).count()):
        row = page.locator(f'{ROWS}[row-index="{i}"]')
        pinned = page.locator(f'.ex-grid .ag-pinned-left-cols-container .ag-row[row-index="{i}"]')
        out.append(
            (
                pinned.locator('[col-id="occurred_at"]').inner_text().strip(),
                row.locator('[col-id="actor_name"]').inner_text().strip(),
                row.locator('[col-id="action"]').inner_text().strip(),
                row.locator('[col-id="outcome"]').inner_text().strip(),
            )
        )
    return out


def test_explorer_filtered_from_the_sidebar_shows_the_events_sent(site: Site, tab: Page) -> None:
    seen = watch(tab)
    tab.goto(f"{site.server.url}/explorer?{EVERYTHING}")
    expect(tab).to_have_title("Explorer · auditdash")
    expect(tab.locator("#explorer-total")).to_contain_text(f"{len(site.sent.events):,}")
    tab.locator(f"{ROWS} .ex-outcome-cell").first.wait_for()

    failures = site.sent.failures()
    tab.locator("#f-outcome label", has_text="Failure").click()
    expect(tab).to_have_url(re.compile(r"outcome=failure"))
    expect(tab.locator("#explorer-total")).to_contain_text(f"{len(failures):,}")
    expect(tab.locator(".ag-paging-row-summary-panel [data-ref='lbRecordCount']")).to_have_text(f"{len(failures):,}")

    # the person with the most failures (the planted brute force), picked in the sidebar by name
    by_user: dict[str, int] = {}
    for e in failures:
        by_user[str(e["actor"]["id"])] = by_user.get(str(e["actor"]["id"]), 0) + 1
    user = max(by_user, key=lambda u: by_user[u])
    theirs = site.sent.failures(user)
    name = str(theirs[0]["actor"]["name"])
    assert 1 < len(theirs) <= 50  # one page of the grid
    _pick_user(tab, name)
    expect(tab).to_have_url(re.compile(rf"users={user}"))
    expect(tab.locator("#filter-summary")).to_contain_text("failure only")
    expect(tab.locator("#explorer-total")).to_contain_text(f"{len(theirs):,}")
    expect(tab.locator(ROWS)).to_have_count(len(theirs))
    settle(tab)
    newest_first = sorted(theirs, key=lambda e: str(e["occurred_at"]), reverse=True)
    expected = [(e["occurred_at"][:19].replace("T", " "), name, e["action"], e["outcome"]) for e in newest_first]
    shown = _grid_rows(tab)
    assert [(t[:19], u, a, o.lower()) for t, u, a, o in shown] == expected, shown
    no_error_shown(tab)
    tab.screenshot(path=screenshot_path("postgres-explorer-filtered"), full_page=True)
    assert seen.clean(), (seen.errors, seen.failed)


def test_alerts_lists_what_detection_raised(site: Site, tab: Page) -> None:
    assert site.sent.alerts, "detection raised no alert over the demo week (its incidents are planted)"
    seen = watch(tab)
    tab.goto(f"{site.server.url}/alerts?{EVERYTHING}")
    expect(tab).to_have_title("Alerts · auditdash")
    expect(tab.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    listed = tab.locator("#alerts-list")
    alerts = site.sent.alerts
    for severity in ("critical", "high", "medium", "low"):  # every alert is open: none was worked yet
        expect(tab.locator(f"#alerts-open-{severity}")).to_have_text(
            str(sum(1 for a in alerts if a["severity"] == severity))
        )
    # the list shows the critical, high and medium ones unless asked for more, the most severe first
    listable = [a for a in alerts if a["severity"] in ("critical", "high", "medium")]
    shown = min(len(listable), PER_PAGE)
    pages = (len(listable) + PER_PAGE - 1) // PER_PAGE
    expect(tab.locator("#alerts-pager")).to_have_text(f"1–{shown} of {len(listable)} · page 1 of {pages}")
    expect(listed.locator("tbody tr")).to_have_count(shown)
    first = [a for a in listable if a["severity"] in ("critical", "high")]
    assert any(a["rule"] == "R6" for a in first), "the planted brute force raised no R6 alert"
    for alert in first[:shown]:  # each on the first page, by its number, under its rule's name
        row = listed.locator("tbody tr", has=tab.get_by_text(f"#{alert['id']} ·"))
        expect(row.get_by_role("button", name=f"{alert['rule']} {alert['title']}")).to_be_visible()
    settle(tab)
    no_error_shown(tab)
    tab.screenshot(path=screenshot_path("postgres-alerts"), full_page=True)
    assert seen.clean(), (seen.errors, seen.failed)


@pytest.mark.parametrize(
    ("path", "title", "heading"),
    [
        ("/review", "Daily review · auditdash", "Daily review"),
        ("/admin", "Users & tokens · auditdash", "Users & tokens"),
        ("/retention", "Retention · auditdash", "Retention & integrity"),
        ("/streams", "Streams · auditdash", "Streams"),
    ],
)
def test_the_other_pages_open(site: Site, tab: Page, path: str, title: str, heading: str) -> None:
    seen = watch(tab)
    tab.goto(site.server.url + path)
    expect(tab).to_have_title(title)
    expect(tab.get_by_role("heading", name=heading, exact=True)).to_be_visible()
    settle(tab)
    no_error_shown(tab)
    if path == "/admin":  # the store's users are listed with their roles
        users = tab.locator("#admin-users-table tbody tr")
        expect(users).to_have_count(len(USERS))
        for name, role in USERS.items():
            expect(users.filter(has_text=name)).to_contain_text(role)
    tab.screenshot(path=screenshot_path(f"postgres{path.replace('/', '-')}"), full_page=True)
    assert seen.clean(), (seen.errors, seen.failed)


def test_a_pack_is_built_and_downloaded(site: Site, tab: Page, tmp_path: Path) -> None:
    seen = watch(tab)
    failures = site.sent.failures()
    tab.goto(f"{site.server.url}/report?{EVERYTHING}&outcome=failure")
    expect(tab).to_have_title("Compliance pack · auditdash")
    expect(tab.locator("#report-count")).to_have_text(f"{len(failures):,}")
    for box in tab.locator("#report-formats input[type=checkbox]").all():
        if box.is_enabled() and box.is_checked() != (box.get_attribute("value") == "csv"):
            box.click()
    tab.click("#report-generate")
    done = tab.locator("#report-done")
    failed = tab.locator("#report-result .alert")
    expect(done.or_(failed)).to_be_visible(timeout=120_000)
    assert done.count() == 1, (
        "a pack of a PostgreSQL store did not finish (packs on PostgreSQL are known to be in progress); "
        f"the page says: {failed.inner_text()!r}"
    )
    link = tab.locator("#report-result a.report-file").first
    with tab.expect_download() as download:
        link.click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    assert len(rows) == len(failures), "the pack's CSV holds another number of events than the view"
    assert {r["outcome"] for r in rows} == {"failure"}
    expect(tab.locator("#report-history")).to_contain_text("done")
    no_error_shown(tab)
    assert seen.clean(), (seen.errors, seen.failed)


def test_a_manager_is_refused_the_pages_of_higher_roles(site: Site, browser: Browser) -> None:
    context = _context(browser)
    try:
        page = context.new_page()
        seen = watch(page, expected=(403,))  # a refused page is answered with 403, and says why
        login(page, site.server.url, "mona", site.passwords["mona"])
        for path, name, heading, allowed in [
            (
                "/retention",
                "Retention",
                "Retention & integrity",
                "administrator (admin), compliance officer (compliance)",
            ),
            ("/admin", "Users & tokens", "Users & tokens", "administrator (admin)"),
        ]:
            reply = page.goto(f"{site.server.url}{path}?{EVERYTHING}")
            assert reply is not None and reply.status == 403, path
            refusal = page.locator("#page-refused")
            expect(refusal).to_contain_text("You cannot open this page")
            expect(refusal).to_contain_text(f"You tried to open {name}.")
            expect(refusal).to_contain_text(f"Your role is manager; this page is for: {allowed}.")
            expect(refusal).to_contain_text("ask an administrator (ada)")
            expect(page.get_by_role("heading", name=heading, exact=True)).to_have_count(0)
            body = page.locator("body").inner_text()
            assert f"{len(site.sent.events):,}" not in body, f"{path} shows the store's event count to a manager"
        page.screenshot(path=screenshot_path("postgres-manager-refused"), full_page=True)
        # the pages the role may open still open
        page.goto(f"{site.server.url}/?{EVERYTHING}")
        expect(page.locator("#fig-events")).to_have_text(f"{len(site.sent.events):,}")
        assert [e for e in seen.errors if "403" not in e] == [] and seen.failed == [], (seen.errors, seen.failed)
    finally:
        context.close()

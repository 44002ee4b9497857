"""The report page in a real browser: a pack is generated as a job, downloaded, and opens.

A compliance officer builds a PDF+CSV pack of a filtered view, downloads both files and checks
them (the PDF's text, the CSV's row count); a manager's pack is masked and cannot be fetched by
anyone else; a signed-out browser gets nothing.
"""

from __future__ import annotations

import csv
import io
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser, Page, Response, expect

from dashboard.filters import Filters
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import Server
from tests.e2e.conftest import demo_site, login, screenshot_path

pytestmark = pytest.mark.browser

QUERY = {"range": "30d", "categories": "authentication", "tz": "Europe/Berlin"}


SETTINGS_QUERY = {"from": "2000-01-01", "to": "2099-12-31", "categories": "settings", "tz": "Europe/Berlin"}


@dataclass
class Site:
    server: Server
    passwords: dict[str, str]
    reports: Path
    settings_events: int


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with Database(demo_30d, read_only=True) as db, db.connect() as conn:  # counted before a server owns a copy
        where = Filters.from_query(SETTINGS_QUERY).where(events)
        settings_events = int(conn.execute(sa.select(sa.func.count()).where(where)).scalar_one())
    tmp = tmp_path_factory.mktemp("report")
    reports = tmp / "reports"  # the default reports folder (relative `reports`) under the home folder
    env = {"AUDITDASH_HOME": str(tmp), "AUDITDASH_ORGANISATION": "Acme Support GmbH"}
    with demo_site(demo_30d, tmp, {"cora": "compliance", "mia": "manager"}, env) as running:
        yield Site(running.server, running.passwords, reports, settings_events)


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _start(page: Page, formats: list[str]) -> None:
    for box in page.locator("#report-formats input[type=checkbox]").all():
        value = box.get_attribute("value")
        if box.is_enabled() and (box.is_checked() != (value in formats)):
            box.click()
    page.click("#report-generate")


def _generate(page: Page, formats: list[str]) -> None:
    _start(page, formats)
    expect(page.locator("#report-done")).to_be_visible(timeout=120_000)


def _described(response: Response) -> bool:
    """The answer of the callback that says what the pack will hold (and the moment it is resolved at)."""
    return (
        "/_dash-update-component" in response.url
        and "report-anchor.data" in (response.request.post_data or "")
        and response.status == 200
    )


def test_a_pack_from_the_report_page_downloads_and_opens(site: Site, page: Page, tmp_path: Path) -> None:
    errors = _console_errors(page)
    login(page, site.server.url, "cora", site.passwords["cora"])
    # The page first shows the view as the layout resolved it, then as the shell's filters resolve
    # it, at a later moment (for "last 30 days", a later minute can count an event fewer). The pack
    # holds what the page says when the button is pressed: read the page once that answer is shown.
    with page.expect_response(_described, timeout=120_000) as described:
        page.goto(site.server.url + "/report?" + "&".join(f"{k}={v}" for k, v in QUERY.items()))
    shown = described.value.json()["response"]
    count_text, period = shown["report-count"]["children"], shown["report-period"]["children"]
    expect(page.locator("#report-count")).to_have_text(count_text)
    expect(page.locator("#report-period")).to_have_text(period)
    expect(page.locator("#report-summary")).to_contain_text("Europe/Berlin, authentication events, all users")
    count = int(page.locator("#report-count").inner_text().replace(",", ""))
    assert count > 1_000

    _generate(page, ["pdf", "csv"])
    expect(page.locator("#report-progress")).to_contain_text("100")
    page.screenshot(path=screenshot_path("report-done"), full_page=True)

    links = page.locator("#report-result a.report-file")
    names = [links.nth(i).inner_text() for i in range(links.count())]
    assert [Path(n).suffix for n in names] == [".pdf", ".csv", ".json"]

    with page.expect_download() as pdf_download:
        links.nth(0).click()
    pdf_path = tmp_path / pdf_download.value.suggested_filename
    pdf_download.value.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF")
    text = " ".join(
        subprocess.run(
            ["pdftotext", "-layout", str(pdf_path), "-"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert f"Events in this pack {count:,}" in text
    assert "authentication events, all users" in text and "Acme Support GmbH" in text
    assert period.split(" (")[0] in text
    assert "Failed-login analysis" in text and "Appendix: compliance mapping" in text

    with page.expect_download() as csv_download:
        links.nth(1).click()
    csv_path = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8-sig"), newline="")))
    assert len(rows) == count
    assert {r["category"] for r in rows} == {"authentication"}

    expect(page.locator("#report-history")).to_contain_text("done")
    assert errors == []


def test_a_managers_pack_is_masked_and_private(site: Site, page: Page, browser: Browser, tmp_path: Path) -> None:
    login(page, site.server.url, "mia", site.passwords["mia"])
    page.goto(site.server.url + "/report?range=7d")
    json_box = page.locator("#report-formats input[value=json]")
    expect(json_box).to_be_disabled()
    _generate(page, ["csv"])
    link = page.locator("#report-result a.report-file").first
    href = link.get_attribute("href") or ""
    with page.expect_download() as download:
        link.click()
    path = tmp_path / "mia.csv"
    download.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"), newline="")))
    assert rows and "changes" not in rows[0]
    assert all(r["ip"].endswith((".x", "::x")) for r in rows if r["ip"])

    # a compliance officer may not fetch the manager's pack; a signed-out browser is sent to the login
    other = browser.new_context(accept_downloads=True)
    try:
        cora = other.new_page()
        login(cora, site.server.url, "cora", site.passwords["cora"])
        assert cora.request.get(site.server.url + href).status == 403
    finally:
        other.close()
    anonymous = browser.new_context()
    try:
        reply = anonymous.request.get(site.server.url + href, max_redirects=0)
        assert reply.status in (302, 303, 401)
    finally:
        anonymous.close()


def test_the_page_counts_what_the_database_counts(site: Site, page: Page) -> None:
    login(page, site.server.url, "cora", site.passwords["cora"])
    page.goto(site.server.url + "/report?" + "&".join(f"{k}={v}" for k, v in SETTINGS_QUERY.items()))
    expect(page.locator("#report-summary")).to_contain_text("2000-01-01 to 2099-12-31, Europe/Berlin, settings changes")
    expect(page.locator("#report-count")).to_have_text(f"{site.settings_events:,}")


def test_a_pack_can_be_cancelled_and_leaves_nothing(site: Site, page: Page) -> None:
    login(page, site.server.url, "cora", site.passwords["cora"])
    page.goto(site.server.url + "/report?range=90d")
    before = set(site.reports.iterdir()) if site.reports.exists() else set()
    _start(page, ["pdf", "csv", "json"])
    cancel = page.locator("#report-cancel")
    expect(cancel).to_be_enabled(timeout=60_000)
    cancel.click()
    expect(page.locator("#report-result")).to_contain_text("cancelled; no files were kept", timeout=60_000)
    expect(page.locator("#report-generate")).to_be_enabled()
    assert (set(site.reports.iterdir()) if site.reports.exists() else set()) == before

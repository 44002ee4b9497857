"""First start: `auditdash serve` creates the default database with demo data and shows it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server, cli, first_admin_password, start_server, stop_server
from tests.e2e.conftest import login, screenshot_path

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    cwd = tmp_path_factory.mktemp("fresh")
    env = {"AUDITDASH_DEMO_EVENTS": "20000", "AUDITDASH_HOME": str(cwd)}  # the default file, under this home
    srv = start_server(None, cwd, cwd / "serve.log", env, args=())
    try:
        yield srv
    finally:
        stop_server(srv)


def test_first_start_seeds_demo_data_into_the_default_file(first_start: Server) -> None:
    assert first_start.db_path.exists()
    assert first_start.db_path == first_start.db_path.parent.parent / "data" / "auditdash.duckdb"
    assert "seeding" in first_start.log.read_text()


def test_overview_shows_the_data_and_marks_it_as_demo(first_start: Server, page: Page) -> None:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    # the first start printed the administrator's password once; nothing is readable without it
    login(page, first_start.url, "admin", first_admin_password(first_start))
    page.goto(first_start.url + "/?range=90d")  # the whole demo period (the default view is the last 7 days)
    expect(page.get_by_role("heading", name="Audit Logs")).to_be_visible()
    expect(page.locator("#demo-badge")).to_have_text("Demo data")
    events = page.locator("#fig-events")
    expect(events).to_have_text(re.compile(r"^\d[\d,]*$"), timeout=30_000)  # once the figures are computed
    assert int(events.inner_text().replace(",", "")) > 15_000
    expect(page.locator("#category-table")).to_contain_text("Authentication Events")
    page.screenshot(path=screenshot_path("first-start-overview"), full_page=True)
    assert errors == []


def test_no_demo_when_the_file_is_not_the_default(tmp_path: Path) -> None:
    db_path = tmp_path / "custom.duckdb"
    srv = start_server(db_path, tmp_path, tmp_path / "s.log", args=())
    stop_server(srv)
    stats = json.loads(cli("stats", "--db", str(db_path), "--json").stdout)
    # only auditdash's own record of creating the first administrator
    assert stats["by_category"] == {"audit": 1}
    assert stats["demo"] is False

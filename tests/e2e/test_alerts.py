"""Alerts and the daily review in a real browser: a compliance officer opens the planted brute
force, acknowledges, assigns, comments and resolves it, and signs the week off; a manager reads
with addresses masked and cannot act. Every action ends up in the audit log."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.conftest import Server, add_user, cli, start_server, stop_server
from tests.e2e.conftest import login, screenshot_path

pytestmark = pytest.mark.browser

#: callbacks query the database; on a loaded test machine that can take a few seconds
WAIT = 30_000


@dataclass
class Prepared:
    db_path: Path
    truth: dict  # type: ignore[type-arg]
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def prepared(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """The session's demo data (detection already run over it), copied: the planted incidents."""
    tmp = tmp_path_factory.mktemp("alerts")
    db_path = tmp / "alerts.duckdb"
    shutil.copyfile(demo_30d, db_path)
    wal = demo_30d.with_name(demo_30d.name + ".wal")
    if wal.exists():
        shutil.copyfile(wal, db_path.with_name(db_path.name + ".wal"))
    truth = json.loads(demo_30d.with_name(demo_30d.stem + ".truth.json").read_text())
    passwords = {"cora": add_user(db_path, "cora", "compliance"), "mona": add_user(db_path, "mona", "manager")}
    return Prepared(db_path, truth, passwords)


@pytest.fixture
def site(prepared: Prepared, tmp_path: Path) -> Iterator[Server]:
    db_path = tmp_path / "site.duckdb"
    shutil.copyfile(prepared.db_path, db_path)
    for suffix in (".secret",):
        extra = prepared.db_path.with_name(prepared.db_path.name + suffix)
        if extra.exists():
            shutil.copyfile(extra, db_path.with_name(db_path.name + suffix))
    server = start_server(db_path, tmp_path, tmp_path / "site.log", {"AUDITDASH_SILENCE_CHECK_S": "0"})
    try:
        yield server
    finally:
        stop_server(server)


def _errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


def _choose(page: Page, dropdown: str, label: str) -> None:
    page.locator(f"#{dropdown}").click()
    page.get_by_role("option", name=label).click()


def test_compliance_works_an_alert_through_to_resolved(prepared: Prepared, site: Server, page: Page) -> None:
    errors = _errors(page)
    login(page, site.url, "cora", prepared.passwords["cora"])
    page.goto(site.url + "/alerts?range=30d")  # the list follows the sidebar's period
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible(timeout=WAIT)
    assert int(page.locator("#alerts-open-critical").inner_text()) >= 2  # R6 and R10 self-grant
    page.get_by_role("button", name="R6 Failed sign-ins followed by a success").click()
    detail = page.locator("#alerts-detail-body")
    expect(detail).to_contain_text("What it means:", timeout=WAIT)
    expect(detail).to_contain_text("What to check:", timeout=WAIT)
    expect(page.locator("#alerts-detail-status")).to_have_text("open", timeout=WAIT)
    brute = next(i for i in prepared.truth["incidents"] if i["kind"] == "brute_force")
    expect(page.locator("#alerts-facts")).to_contain_text(f"({brute['user']})", timeout=WAIT)  # by name
    expect(page.locator("#alerts-evidence tbody tr")).to_have_count(21, timeout=WAIT)  # 20 failures and the success
    expect(page.locator("#alerts-timeline .main-svg").first).to_be_visible(timeout=WAIT)
    expect(page.locator("#alerts-map .main-svg").first).to_be_visible(timeout=WAIT)
    link = page.locator("#alerts-explorer-link").get_attribute("href") or ""
    assert link.startswith("/explorer?") and f"users={brute['user']}" in link
    alert_id = page.locator("#alerts-detail-title").inner_text().split("#")[1].split(" ")[0]

    page.click("#alerts-ack")
    expect(page.locator("#alerts-action-msg")).to_contain_text("Acknowledged.", timeout=WAIT)
    expect(page.locator("#alerts-detail-status")).to_have_text("acknowledged", timeout=WAIT)
    page.fill("#alerts-assignee", "dave")
    page.click("#alerts-assign")
    expect(page.locator("#alerts-action-msg")).to_contain_text("Assigned to dave.", timeout=WAIT)
    page.fill("#alerts-note", "The address belongs to a hosting provider; blocked at the edge.")
    page.click("#alerts-comment")
    expect(page.locator("#alerts-action-msg")).to_contain_text("Comment added.", timeout=WAIT)
    page.click("#alerts-resolve")
    expect(page.locator("#alerts-action-msg")).to_contain_text("a resolution needs a reason", timeout=WAIT)
    _choose(page, "alerts-resolution", "True positive")
    page.fill("#alerts-note", "Password reset, sessions ended.")
    page.click("#alerts-resolve")
    expect(page.locator("#alerts-action-msg")).to_contain_text("Resolved as True positive.", timeout=WAIT)
    expect(page.locator("#alerts-detail-status")).to_have_text("resolved", timeout=WAIT)
    history = page.locator("#alerts-activity")
    for action in ("acknowledge", "assign", "comment", "resolve"):
        expect(history).to_contain_text(f"cora · {action}", timeout=WAIT)
    page.screenshot(path=screenshot_path("alerts-resolved"), full_page=True)
    assert errors == []

    stop_server(site)
    listed = json.loads(cli("alerts", "list", "--db", str(site.db_path), "--json").stdout)
    mine = next(a for a in listed if str(a["id"]) == alert_id)
    assert (mine["status"], mine["resolution"], mine["assignee"]) == ("resolved", "true_positive", "dave")
    db = Database(site.db_path)
    try:
        with db.connect() as conn:
            audited = conn.execute(
                sa.select(events.c.action, events.c.actor_id, events.c.target_id)
                .where(events.c.action.startswith("alert."))
                .order_by(events.c.seq)
            ).fetchall()
    finally:
        db.close()
    assert [tuple(r) for r in audited] == [
        ("alert.acknowledge", "cora", alert_id),
        ("alert.assign", "cora", alert_id),
        ("alert.comment", "cora", alert_id),
        ("alert.resolve", "cora", alert_id),
    ]


def test_a_manager_reads_masked_and_cannot_act(prepared: Prepared, site: Server, page: Page) -> None:
    errors = _errors(page)
    login(page, site.url, "mona", prepared.passwords["mona"])
    page.goto(site.url + "/alerts?range=30d")
    spray = next(i for i in prepared.truth["incidents"] if i["kind"] == "password_spray")
    masked = ".".join(spray["ip"].split(".")[:3]) + ".x"
    table = page.locator("#alerts-list")
    expect(table).to_contain_text(f"ip {masked}", timeout=WAIT)
    assert spray["ip"] not in table.inner_text()
    page.get_by_role("button", name="R3 Password spray from one address").click()
    expect(page.locator("#alerts-detail-body")).to_contain_text("What it means:", timeout=WAIT)
    assert spray["ip"] not in page.locator("#alerts-detail-body").inner_text()
    assert spray["ip"] not in (page.locator("#alerts-explorer-link").get_attribute("href") or "")
    expect(page.locator("#alerts-actions-wrap")).to_be_hidden(timeout=WAIT)
    page.goto(site.url + "/review")
    expect(page.locator("#review-days-table")).to_be_visible(timeout=WAIT)
    expect(page.locator("#review-signoff")).to_have_count(0, timeout=WAIT)
    assert errors == []


def test_compliance_signs_the_week_off(prepared: Prepared, site: Server, page: Page) -> None:
    errors = _errors(page)
    login(page, site.url, "cora", prepared.passwords["cora"])
    page.goto(site.url + "/review")
    expect(page.locator("#review-missing")).to_contain_text("7 of 7 day(s) not reviewed", timeout=WAIT)
    expect(page.locator(".review-unreviewed")).to_have_count(7, timeout=WAIT)
    expect(page.locator("#review-period")).to_contain_text("Failed sign-ins", timeout=WAIT)
    page.click("#review-sign")
    expect(page.locator("#review-msg")).to_contain_text("needs a note", timeout=WAIT)
    page.fill("#review-note", "Reviewed every alert of the week; the brute force is resolved.")
    page.click("#review-sign")
    expect(page.locator("#review-msg")).to_contain_text("Signed off", timeout=WAIT)
    expect(page.locator("#review-complete")).to_be_visible(timeout=WAIT)
    expect(page.locator(".review-reviewed")).to_have_count(7, timeout=WAIT)
    expect(page.locator("#review-signoff-table")).to_contain_text("cora (compliance)", timeout=WAIT)
    page.screenshot(path=screenshot_path("review-signed"), full_page=True)
    assert errors == []

"""Browser tests: Playwright driving Debian's /usr/bin/chromium, headless."""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ROOT, Server, add_user, cli, start_server, stop_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = ROOT / "test-results" / "screenshots"

#: How long `expect(...)` keeps retrying when a test gives no timeout of its own. Playwright's 5 s
#: default is shorter than a callback that queries the database takes on a CI machine at load 10;
#: an assertion that holds returns as soon as it holds, so a longer wait never hides a failure.
EXPECT_TIMEOUT_MS = 30_000
#: The same for actions (click, fill, wait_for) and for navigations (goto, wait_for_url).
ACTION_TIMEOUT_MS = 60_000
NAVIGATION_TIMEOUT_MS = 90_000

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture
def page(page: Page) -> Page:
    """pytest-playwright's page, with timeouts that suit a shared, heavily loaded machine (set on its
    context, so pages a test opens next to it get them too)."""
    page.context.set_default_timeout(ACTION_TIMEOUT_MS)
    page.context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
    return page


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Use the Debian browser (nothing may download one) with flags that suit a closed network."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Sign in through the login form, the way a person does, and wait to leave it."""
    page.goto(base_url + "/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot_path(name: str) -> Path:
    """Where a test saves a screenshot of what it saw, for review."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


@pytest.fixture(scope="session")
def demo_30d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 days of demo data (30,000 events), generated once; each module serves a copy.

    Detection runs over it here, once: a server then starts with its alerts in place instead of
    running every rule over the whole file in the background while a test measures or waits.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        path = tmp_path_factory.mktemp("demo-template") / "demo30.duckdb"
        _make_demo_30d(path)
        return path
    # Under pytest-xdist the workers of one run share its base folder: the first worker to need
    # the store builds it there, under a lock, and the others wait for it and read the same file.
    folder = tmp_path_factory.getbasetemp().parent / "demo-template"
    folder.mkdir(exist_ok=True)
    path = folder / "demo30.duckdb"
    done = folder / "demo30.done"
    with (folder / "demo30.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not done.exists():  # (what a worker that failed half-way left is made again)
                for leftover in (path, path.with_name(path.name + ".wal")):
                    leftover.unlink(missing_ok=True)
                _make_demo_30d(path)
                done.write_text("built\n")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return path


def _make_demo_30d(path: Path) -> None:
    cli("demo", "--days", "30", "--events", "30000", "--db", str(path))
    cli("detect", "--no-notify", "--db", str(path))


@dataclass
class Site:
    """A running server over a copy of the demo data, with the users a module signs in as."""

    server: Server
    passwords: dict[str, str]
    db_path: Path


@contextmanager
def demo_site(
    template: Path, tmp: Path, users: Mapping[str, str], env: Mapping[str, str] | None = None
) -> Iterator[Site]:
    """Copy the demo database, add `users` ({name: role}), serve it, stop the server after."""
    db_path = tmp / "site.duckdb"
    shutil.copyfile(template, db_path)
    wal = template.with_name(template.name + ".wal")
    if wal.exists():  # a file closed cleanly has none; copy it anyway rather than lose events
        shutil.copyfile(wal, db_path.with_name(db_path.name + ".wal"))
    passwords = {name: add_user(db_path, name, role) for name, role in users.items()}
    server = start_server(db_path, tmp, tmp / "server.log", dict(env or {}))
    try:
        yield Site(server, passwords, db_path)
    finally:
        stop_server(server)

"""The wall screen in a real browser: it fits the screens it hangs on, and a new alert shows.

One server over a copy of the 30-day demo (its alerts in place), refreshing every 2 seconds. The
kiosk's wall is measured at 1440x900, 1440x1000, 1920x1080 and 3840x2160: nothing scrolls,
nothing is cut (the panels hold their contents, the "and N more" line inside its panel, no alert
line shortened). Then events arrive through the ingest API: a self-granted administrator role
(critical) and an administrator granting another (medium); at a following refresh, without a
reload, both are listed (the wall's documented rule), the critical one first, marked new and red.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import Server, add_user, event, run_cli, start_server, stop_server
from tests.e2e.conftest import login, screenshot_path

pytestmark = pytest.mark.browser

SIZES = ((1440, 900), (1440, 1000), (1920, 1080), (3840, 2160))
PASSWORD = "kiosk-wall-password"


@pytest.fixture(scope="module")
def site(demo_30d: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    tmp = tmp_path_factory.mktemp("wall-fit")
    db_path = tmp / "wall.duckdb"
    shutil.copyfile(demo_30d, db_path)
    add_user(db_path, "kiosk", "wall", PASSWORD)
    token = run_cli("tokens", "create", "feeder", "--db", str(db_path)).stdout.strip()
    server = start_server(db_path, tmp, tmp / "server.log", {"AUDITDASH_WALL_REFRESH_S": "2"})
    try:
        yield server, token
    finally:
        stop_server(server)


MEASURE = """() => {
    const wall = document.querySelector('#wall-root');
    const box = (el) => el.getBoundingClientRect();
    const cut = (el) => el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1;
    const more = document.querySelector('.wall-alert-more');
    const panelOf = (el) => el.closest('.wall-panel');
    return {
        wall: [wall.scrollWidth, wall.clientWidth, wall.scrollHeight, wall.clientHeight],
        page: [document.documentElement.scrollWidth, document.documentElement.scrollHeight, innerWidth, innerHeight],
        outside: Array.from(wall.querySelectorAll('.wall-panel, .wall-tile, .wall-header, .wall-footer'))
            .filter((el) => box(el).bottom > innerHeight + 1 || box(el).right > innerWidth + 1).length,
        cut_panels: Array.from(document.querySelectorAll('.wall-panel')).filter(cut).length,
        cut_lines: Array.from(document.querySelectorAll('.wall-alert-title, .wall-alert-meta, .wall-alert-more'))
            .filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.innerText),
        more: more ? [box(more).bottom, box(panelOf(more)).bottom] : null,
        alerts: document.querySelectorAll('.wall-alert:not(.wall-alert-more)').length,
    };
}"""


def test_the_wall_fits_every_screen_it_is_made_for(site: tuple[Server, str], page: Page) -> None:
    server, _token = site
    page.set_viewport_size({"width": SIZES[0][0], "height": SIZES[0][1]})
    login(page, server.url, "kiosk", PASSWORD)
    expect(page.locator(".wall-alert-more")).to_contain_text("more", timeout=60_000)
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)  # the charts follow the window's size
        m = page.evaluate(MEASURE)
        where = f"{width}x{height}: {m}"
        assert m["wall"][0] <= m["wall"][1] and m["wall"][2] <= m["wall"][3], where  # nothing scrolls
        assert m["page"][0] <= width and m["page"][1] <= height, where
        assert m["outside"] == 0 and m["cut_panels"] == 0 and m["cut_lines"] == [], where
        assert m["more"] is not None and m["more"][0] <= m["more"][1], where  # "and N more" inside its panel
        assert m["alerts"] == 5, where
        if (width, height) in ((1440, 900), (3840, 2160)):
            page.screenshot(path=screenshot_path(f"wall-{width}x{height}"))


def _grant(n: int, actor: str, actor_name: str, target: str, target_name: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event(
        id=f"wall-fit-grant-{n}",
        occurred_at=now,
        account_id="acme-support",
        action="agent.role_change",
        actor={"id": actor, "name": actor_name, "role": "administrator" if actor != target else "agent"},
        target={"type": "agent", "id": target, "name": target_name},
        changes={"role": ["agent", "administrator"]},
        ip="203.0.113.77",
    )


def test_new_alerts_show_at_the_next_refresh_by_the_documented_rule(site: tuple[Server, str], page: Page) -> None:
    server, token = site
    page.set_viewport_size({"width": 1920, "height": 1080})
    login(page, server.url, "kiosk", PASSWORD)
    expect(page.locator(".wall-alert").first).to_be_visible(timeout=60_000)
    page.evaluate("window.__wallLoadedOnce = true")  # gone if the page ever reloads
    before = page.locator("#wall-alerts").inner_text()
    assert "today" not in before  # the demo's alerts are older: each carries its date
    assert re.search(r"last (yesterday|\d{4}-\d{2}-\d{2}) \d{2}:\d{2} UTC", before), before

    docs = [
        _grant(1, "9001", "Mallory Stone", "9001", "Mallory Stone"),  # herself: critical
        _grant(2, "9002", "Ada Admin", "9003", "Ben Grant"),  # another: medium
    ]
    status, reply = server.request(
        "POST",
        "/api/v1/events",
        json.dumps(docs).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    assert status == 200 and reply["accepted"] == 2, reply  # type: ignore[index]

    first = page.locator(".wall-alert").first
    expect(first).to_contain_text("Privilege granted", timeout=90_000)
    expect(first).to_contain_text("Mallory S. (9001)")
    expect(first).to_contain_text("NEW")
    expect(first).to_have_class(re.compile(r"wall-alert--critical.*wall-alert--new"))
    assert re.search(r"last today \d{2}:\d{2} UTC", first.inner_text())
    medium = page.locator(".wall-alert--medium", has_text="Ben G. (9003)")
    expect(medium).to_be_visible()  # a medium alert of the last 24 hours is listed, above older ones
    expect(page.locator("#wall-alert-count")).to_have_class(re.compile("wall-tile-value--critical"))
    assert "Mallory Stone" not in page.locator("#wall-root").inner_text()  # names shortened on the wall
    assert page.evaluate("window.__wallLoadedOnce === true")  # shown by a refresh, not a reload
    page.screenshot(path=screenshot_path("wall-new-critical"))

"""The daily review page, in-process (the app over a small real store, a signed-in test client).

What a reviewer sees: the days the page shows and why (the sidebar's period, widened to whole UTC
days, or the link's own days), and the privilege changes written as words ("role: administrator
→ agent", as on Security), masked for managers. One app for the module; each test is a request or
two (about 2 s for the module).
"""

from __future__ import annotations

import html as html_text
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database, utcnow
from tests.conftest import GEO_DIR, page_payload

#: the events, one day before the test runs (the page is relative to now)
NOW = utcnow().replace(microsecond=0)
WHEN = NOW - timedelta(hours=20)


def _event(n: int, action: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": f"review-page-{n}",
        "occurred_at": (WHEN + timedelta(minutes=n)).isoformat() + "Z",
        "account_id": "acme",
        "action": action,
        "outcome": "success",
        "actor": {"id": "1003", "name": "Hugo Weber", "role": "administrator"},
        "ip": "81.2.69.142",
    }
    doc.update(extra)
    return doc


LENA = {"id": "1053", "name": "Lena Jansen"}
EVENTS = [
    _event(
        1,
        "agent.role_change",
        target={"type": "agent", "id": "1018", "name": "Tara Morgan"},
        changes={"role": ["administrator", "agent"]},
    ),
    _event(
        2,
        "agent.create",
        target={"type": "agent", "id": "1077", "name": "Bilal Okafor"},
        changes={"email": [None, "bilal.okafor@acme.example"], "role": [None, "agent"]},
    ),
    _event(
        3,
        "agent.permission_change",
        target={"type": "agent", "id": "1018", "name": "Tara Morgan"},
        changes={"permissions": [["conversation_manage"], ["conversation_manage", "report_view"]]},
    ),
    _event(4, "team.member_add", target={"type": "team", "id": "t2", "name": "Tier 2"}),
    *(_event(10 + i, "auth.login", outcome="failure", reason="bad_password", actor=LENA) for i in range(3)),
]


@dataclass
class Site:
    app: Any
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from dashboard.web.app import create_app

    db = Database(tmp_path_factory.mktemp("review-page") / "review.duckdb")
    result = Ingestor(db, None, 1_000).ingest_batch([(i, json.dumps(e)) for i, e in enumerate(EVENTS)], "test")
    assert result.accepted == len(EVENTS), result
    passwords = {"ada": "review-admin-password", "mia": "review-manager-password"}
    create_user(db, "ada", "admin", passwords["ada"])
    create_user(db, "mia", "manager", passwords["mia"])
    app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR), db)
    app.server.test_client().get("/healthz")  # Dash fills its callback map on the first request
    try:
        yield Site(app, passwords)
    finally:
        db.close()


def _client(site: Site, user: str) -> Any:
    client = site.app.server.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert token
    form = {"csrf_token": html_text.unescape(token.group(1)), "username": user, "password": site.passwords[user]}
    assert client.post("/login", data={**form, "next": "/"}).status_code == 302
    client.get("/_dash-layout")  # the guard sets the CSRF cookie Dash sends back
    return client


def _post(client: Any, payload: dict[str, Any]) -> dict[str, Any]:
    headers = {"X-CSRFToken": client.get_cookie("_csrf_token").value}
    reply = client.post("/_dash-update-component", json=payload, headers=headers)
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    data: dict[str, Any] = reply.get_json()
    return data


def _strings(node: Any) -> list[str]:
    """Every text of a rendered component tree, in order (what the page shows)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return [str(node)]
    if isinstance(node, list):
        return [s for child in node for s in _strings(child)]
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict):
            return _strings(props.get("children"))
    return []


def _find(node: Any, component_id: str) -> Any:
    if isinstance(node, list):
        for child in node:
            found = _find(child, component_id)
            if found is not None:
                return found
    elif isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict):
            if props.get("id") == component_id:
                return node
            return _find(props.get("children"), component_id)
    return None


def _page(client: Any, search: str) -> Any:
    return _post(client, page_payload("/review", search))["response"]["_pages_content"]["children"]


def _show(site: Site, client: Any, start: str, end: str) -> dict[str, Any]:
    """The page's callback that draws the days and the period's detail, for these days."""
    from dashboard.web import auth

    routes = auth.callback_routes(site.app).values()
    (route,) = [r for r in routes if any(d["id"] == "review-refresh" for d in r.inputs)]
    values = {("review-dates", "start_date"): start, ("review-dates", "end_date"): end, ("review-refresh", "data"): 0}
    payload = {
        "output": route.key,
        "outputs": [
            {"id": i, "property": "children"}
            for i in ("review-days", "review-status", "review-detail", "review-signoffs")
        ],
        "inputs": [{**d, "value": values[(d["id"], d["property"])]} for d in route.inputs],
        "state": [],
        "changedPropIds": ["review-dates.start_date"],
    }
    response: dict[str, Any] = _post(client, payload)["response"]
    return response


def test_the_review_opens_on_the_whole_utc_days_of_the_sidebars_period_and_says_so(site: Site) -> None:
    client = _client(site, "ada")
    before = utcnow()
    page = _page(client, "?range=24h&tz=Europe/Berlin")
    after = utcnow()
    note = " ".join(_strings(_find(page, "review-days-note")))
    # the last 24 hours touch yesterday and today; today is shown once it has ended. The clock is read
    # around the request (not at import): a suite that runs across midnight UTC moves "yesterday".
    days = {(before - timedelta(hours=24)).date(), (after - timedelta(hours=24)).date()}
    shown = [day for day in days if f"Showing {day} (1 UTC day)." in note]
    assert shown, (days, note)
    first = last = shown[0]
    assert "period chosen in the sidebar" in note and "Last 24 hours" in note and "Europe/Berlin" in note
    assert "whole days in UTC" in note and "do not apply here" in note
    picker = _find(page, "review-dates")["props"]
    assert (picker["start_date"], picker["end_date"]) == (first.isoformat(), last.isoformat())
    assert picker["display_format"] == "YYYY-MM-DD"

    # the default period of the sidebar (7 days) touches 8 UTC days: the 7 that have ended; a link's own days win
    assert "(7 UTC days)" in " ".join(_strings(_find(_page(client, ""), "review-days-note")))
    own = " ".join(_strings(_find(_page(client, "?start=2026-05-01&end=2026-05-03&range=24h"), "review-days-note")))
    assert "Showing 2026-05-01 to 2026-05-03 (3 UTC days)" in own and "chosen by the link" in own


def test_privilege_changes_read_as_words_as_on_security(site: Site) -> None:
    client = _client(site, "ada")
    day = WHEN.date().isoformat()
    detail = _show(site, client, day, NOW.date().isoformat())["review-detail"]["children"]
    table = _find(detail, "review-privilege-table")
    rows = [" ".join("".join(_strings(cell)) for cell in row["props"]["children"]) for row in _rows(table)]
    text = "\n".join(rows)
    assert "role: administrator → agent" in text, text
    assert "permissions: conversation_manage → conversation_manage, report_view" in text
    assert "email: (none) → bilal.okafor@acme.example" in text
    assert '{"' not in text and "[[" not in text  # no raw JSON
    # each time opens its event in the Explorer, by a link that names it
    links = [n["props"]["href"] for n in _links(table)]
    assert links and all(re.fullmatch(r"/explorer\?tz=UTC#event=\d+", href) for href in links), links
    # failed sign-ins name the person
    assert "Lena Jansen (1053)" in " ".join(_strings(detail))


def test_a_manager_reads_the_changes_masked(site: Site) -> None:
    client = _client(site, "mia")
    detail = _show(site, client, WHEN.date().isoformat(), NOW.date().isoformat())["review-detail"]["children"]
    text = "|".join(_strings(detail))
    assert "role: |administrator| → |agent" in text
    assert "bilal.okafor@acme.example" not in text and "Hugo Weber" not in text and "Lena Jansen" not in text
    assert "b…@acme.example" in text and "Hugo W." in text
    assert "Tier 2" in text  # a team is not a person: its name stays whole


def _rows(table: Any) -> list[Any]:
    body = next(c for c in table["props"]["children"] if c["type"] == "Tbody")
    rows: list[Any] = body["props"]["children"]
    return rows


def _links(node: Any) -> list[Any]:
    out: list[Any] = []
    if isinstance(node, list):
        for child in node:
            out += _links(child)
    elif isinstance(node, dict):
        if node.get("type") == "Link":
            out.append(node)
        props = node.get("props")
        if isinstance(props, dict):
            out += _links(props.get("children"))
    return out

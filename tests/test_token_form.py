"""The admin page's token form binds a new ingest token to accounts ("Accounts (optional)"),
as `auditdash tokens create NAME --accounts a,b` does: through the app (Flask's test client),
then the token used on the ingest API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.access.tokens import list_tokens
from tests.conftest import event, page_payload
from tests.test_status_strip import Site, _site, _texts


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    running = _site(tmp_path)
    try:
        yield running
    finally:
        running.db.close()


def create(site: Site, name: str, accounts: Any, scopes: list[str] | None = None) -> tuple[int, str]:
    """Press "Create token" as the administrator; the reply's status and the notice's text."""
    client = site.clients["admin"]
    payload = {
        "output": "..admin-token-notice.children...admin-tokens-table.children...admin-token.options..",
        "outputs": [
            {"id": "admin-token-notice", "property": "children"},
            {"id": "admin-tokens-table", "property": "children"},
            {"id": "admin-token", "property": "options"},
        ],
        "inputs": [
            {"id": "admin-token-create", "property": "n_clicks", "value": 1},
            {"id": "admin-token-revoke", "property": "n_clicks", "value": 0},
        ],
        "state": [
            {"id": "admin-token-name", "property": "value", "value": name},
            {"id": "admin-token-scopes", "property": "value", "value": scopes or ["ingest"]},
            {"id": "admin-token", "property": "value", "value": None},
            {"id": "admin-token-accounts", "property": "value", "value": accounts},
        ],
        "changedPropIds": ["admin-token-create.n_clicks"],
    }
    reply = client.post(
        "/_dash-update-component", json=payload, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value}
    )
    if reply.status_code != 200:
        return reply.status_code, reply.get_data(as_text=True)
    notice = reply.get_json()["response"]["admin-token-notice"]["children"]
    return 200, " ".join(t for t in _texts(notice) if t.strip())


def test_the_form_shows_the_accounts_field(site: Site) -> None:
    client = site.clients["admin"]
    payload = page_payload("/admin")
    reply = client.post(
        "/_dash-update-component", json=payload, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value}
    )
    assert reply.status_code == 200
    text = reply.get_data(as_text=True)
    assert '"id":"admin-token-accounts"' in text.replace(" ", "") and "Accounts (optional)" in text


def test_token_bound_to_accounts_on_the_admin_page(site: Site) -> None:
    status, notice = create(site, "bound-by-page", "acme, globex")
    assert status == 200, notice
    assert "It may ingest events of acme, globex only." in notice, notice
    secret = re.search(r"adt_[0-9a-f]{12}_[A-Za-z0-9_-]+", notice)
    assert secret, notice
    token = next(t for t in list_tokens(site.db) if t.name == "bound-by-page")
    assert token.accounts == ("acme", "globex")

    api = site.app.server.test_client()
    docs = [event(id="bound-1", account_id="acme"), event(id="bound-2", account_id="initech")]
    reply = api.post("/api/v1/events", json=docs, headers={"Authorization": f"Bearer {secret.group(0)}"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    body = reply.get_json()
    assert body["accepted"] == 1 and body["rejected_total"] == 1
    assert body["rejected"][0]["index"] == 1 and "initech" in body["rejected"][0]["reason"]

    # empty: any account, as before
    status, notice = create(site, "any-account", "")
    assert status == 200 and "only" not in notice and "created" in notice, notice
    assert next(t for t in list_tokens(site.db) if t.name == "any-account").accounts is None


def test_bad_accounts_are_refused_in_words(site: Site) -> None:
    status, notice = create(site, "bad-accounts", " ,x" + "y" * 200)
    assert status == 200 and "is not an account id" in notice, notice
    status, notice = create(site, "read-bound", "acme", scopes=["read"])
    assert status == 200 and "give the token scope ingest" in notice, notice
    assert {t.name for t in list_tokens(site.db)}.isdisjoint({"bad-accounts", "read-bound"})

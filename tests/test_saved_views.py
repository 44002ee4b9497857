"""Saved views, the app shell's pages for people, and the first start on an empty store.

In-process: one module-scoped app (Flask's test client) over a real DuckDB file that starts with
no events, signed in as a compliance officer, a second compliance officer and a manager. About
15 s on a loaded 2-core machine, most of it the app's start.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dash
import pytest
import sqlalchemy as sa

from dashboard.access import saved_views
from dashboard.access.users import Actor, create_user
from dashboard.config import Settings
from dashboard.filters import Filters
from dashboard.packs.mail import SmtpConfig
from dashboard.packs.model import PackRequest
from dashboard.packs.schedule import ScheduleRunner, parse_schedules
from dashboard.store.db import Database
from dashboard.store.schema import events
from dashboard.web import ids
from tests.conftest import GEO_DIR, event, sign_in
from tests.test_store import store

CALLBACK = "/_dash-update-component"
PASSWORD = "saved-views-password"
USERS = {"cora": "compliance", "carl": "compliance", "manny": "manager", "ada": "admin"}


@dataclass
class Site:
    db: Database
    app: dash.Dash
    clients: dict[str, Any]


def _login(app: dash.Dash, username: str) -> Any:
    return sign_in(app.server, username, PASSWORD)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db_path = tmp_path_factory.mktemp("views") / "views.duckdb"
    db = Database(db_path)
    for name, role in USERS.items():
        create_user(db, name, role, PASSWORD)
    from dashboard.web.app import create_app

    app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
    app.server.test_client().get("/healthz")
    try:
        yield Site(db, app, {name: _login(app, name) for name in USERS})
    finally:
        db.close()


def _actor(name: str) -> Actor:
    return Actor(name, USERS[name], "192.0.2.1")


def _audit_rows(db: Database, view_id: str) -> list[Any]:
    with db.connect() as conn:
        return list(
            conn.execute(
                sa.select(events.c.action, events.c.actor_id, events.c.category, events.c.changes, events.c.metadata)
                .where(events.c.target_type == "saved_view", events.c.target_id == view_id)
                .order_by(events.c.seq)
            )
        )


def _callback(site: Site, client: Any, function: Any, inputs: list[Any], state: list[Any], changed: int = 0) -> Any:
    """Send the request Dash sends for the callback `function` with these values (input `changed` changed)."""
    key, entry = next(
        (k, e) for k, e in site.app.callback_map.items() if getattr(e.get("callback"), "__wrapped__", None) is function
    )
    body = {
        "output": key,
        "outputs": [
            {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
            for part in (key[2:-2].split("...") if key.startswith("..") else [key])
        ],
        "inputs": [{**dep, "value": value} for dep, value in zip(entry["inputs"], inputs, strict=True)],
        "state": [{**dep, "value": value} for dep, value in zip(entry["state"], state, strict=True)],
        "changedPropIds": [f"{entry['inputs'][changed]['id']}.{entry['inputs'][changed]['property']}"],
    }
    return client.post(CALLBACK, json=body, headers={"X-CSRFToken": client.get_cookie("_csrf_token").value})


# -- the service -----------------------------------------------------------------------------------------------
def test_a_view_is_saved_found_shared_and_deleted_by_its_owner_only(site: Site) -> None:
    db = site.db
    eu_admins = Filters.from_query("countries=DE,FR&roles=administrator&categories=authentication&outcome=failure")
    view = saved_views.save(db, _actor("cora"), "  EU admins,   failed logins ", eu_admins)
    assert view.name == "EU admins, failed logins" and not view.shared
    assert view.filters == Filters.from_query(view.query) and view.filters.countries == ("DE", "FR")
    assert [v.id for v in saved_views.visible(db, "cora")] == [view.id]
    assert view.id not in [v.id for v in saved_views.visible(db, "carl")]  # private until shared
    with pytest.raises(saved_views.SavedViewError, match="not shared"):
        saved_views.get(db, view.id, "carl")

    shared = saved_views.set_shared(db, _actor("cora"), view.id, True)
    assert shared.shared and saved_views.get(db, view.id, "carl").name == view.name
    with pytest.raises(saved_views.SavedViewError, match="only they may"):
        saved_views.delete(db, _actor("carl"), view.id)
    with pytest.raises(saved_views.SavedViewError, match="only they may"):
        saved_views.set_shared(db, _actor("carl"), view.id, False)

    # the same name again replaces the owner's view (case aside); another person's name is theirs
    again = saved_views.save(db, _actor("cora"), "eu admins, FAILED logins", eu_admins.with_(countries=("DE",)), True)
    assert again.id == view.id and again.filters.countries == ("DE",)
    theirs = saved_views.save(db, _actor("carl"), "EU admins, failed logins", eu_admins)
    assert theirs.id != view.id
    assert [v.owner for v in saved_views.visible(db, "carl")] == ["carl", "cora"]  # own first

    saved_views.delete(db, _actor("cora"), view.id)
    with pytest.raises(saved_views.SavedViewError):
        saved_views.get(db, view.id, "cora")
    # every change is in the audit log, category audit, with who, what and before/after
    rows = _audit_rows(db, view.id)
    assert [json.loads(r.metadata)["change"] for r in rows] == [
        "view saved",
        "view shared",
        "view replaced",
        "view deleted",
    ]
    assert {r.action for r in rows} == {"audit.settings_change"} and {r.category for r in rows} == {"audit"}
    assert {r.actor_id for r in rows} == {"cora"}
    assert json.loads(rows[-1].changes)["saved_view"][1] is None


@pytest.mark.parametrize(("name", "why"), [("", "give the view a name"), ("x" * 81, "at most 80"), ("tab\there", "")])
def test_bad_names_are_refused_with_a_reason(site: Site, name: str, why: str) -> None:
    if name == "tab\there":  # whitespace runs become one space: a tab is not refused
        assert saved_views.clean_name(name) == "tab here"
        return
    with pytest.raises(saved_views.SavedViewError, match=why):
        saved_views.save(site.db, _actor("cora"), name, Filters())


def test_a_schedule_builds_the_pack_of_a_saved_view(site: Site, tmp_path: Path) -> None:
    team = saved_views.save(
        site.db, _actor("cora"), "Team Acme", Filters.from_query("accounts=acme,acme-eu&tz=Europe/Berlin&range=30d")
    )
    asked: list[PackRequest] = []

    def submit(request: PackRequest) -> tuple[str | None, str | None]:
        asked.append(request)
        return f"pack-{len(asked)}", None

    schedules = parse_schedules(f"weekly@06:00 view={team.id} formats=pdf; daily view={team.id} outcome=failure")
    runner = ScheduleRunner(
        schedules,
        tmp_path,
        submit=submit,
        smtp=SmtpConfig(),
        manifest_of=lambda _pack: None,
        view_query=lambda view_id: saved_views.query_of(site.db, view_id),
    )
    runner.tick(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    weekly, daily = asked
    # the view's accounts and zone; the schedule's period (last Monday-to-Sunday week in Berlin)
    assert weekly.filters.accounts == ("acme", "acme-eu") and weekly.filters.tz == "Europe/Berlin"
    assert (weekly.filters.start, weekly.filters.end) == (datetime(2026, 11, 30), datetime(2026, 12, 7))
    assert daily.filters.outcome == "failure" and daily.filters.accounts == ("acme", "acme-eu")
    assert "saved view" in schedules[0].describe()

    # a view deleted meanwhile: the build fails with the reason, kept on the page, and is retried
    saved_views.delete(site.db, _actor("cora"), team.id)
    later = ScheduleRunner(
        parse_schedules(f"monthly view={team.id}"),
        tmp_path / "b",
        submit=submit,
        smtp=SmtpConfig(),
        manifest_of=lambda _pack: None,
        view_query=lambda view_id: saved_views.query_of(site.db, view_id),
    )
    later.tick(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    state = later.book().schedules["monthly"]
    assert len(asked) == 2 and state.failures == 1 and "no longer exists" in (state.last_error or "")


# -- the sidebar, in the app --------------------------------------------------------------------------------
def test_the_sidebar_saves_the_current_filters_and_lists_them(site: Site) -> None:
    from dashboard.web.components import filter_views

    client = site.clients["carl"]
    current = Filters.from_query("countries=DE&outcome=failure&tz=Europe/Berlin").to_store()
    reply = _callback(site, client, filter_views._save, [1], ["Berlin failures", True, current])
    assert reply.status_code == 200, reply.get_data(as_text=True)[:300]
    answer = reply.get_json()["response"]
    assert "Saved as “Berlin failures”" in json.dumps(answer, ensure_ascii=False)
    labels = [o["label"] for o in answer[ids.F_VIEWS]["options"]]
    assert "Berlin failures (shared)" in labels
    saved = next(v for v in saved_views.visible(site.db, "carl") if v.name == "Berlin failures")
    assert saved.filters.countries == ("DE",) and saved.filters.tz == "Europe/Berlin"

    # others find it in their sidebar (shared), and opening it puts its filters in the URL
    layout = site.clients["manny"].get("/_dash-layout").get_data(as_text=True)
    assert "Berlin failures (by carl)" in layout
    opened = _callback(site, site.clients["manny"], filter_views._open, [saved.id], [])
    target = opened.get_json()["response"]["url-target"]["data"]
    assert Filters.from_query(target["search"]) == saved.filters and target["push"] is True
    # but only its owner may delete it: the refusal says whose it is
    refused = _callback(site, site.clients["manny"], filter_views._change, [None, 1], [saved.id], changed=1)
    assert "only they may" in json.dumps(refused.get_json()["response"])
    assert saved_views.get(site.db, saved.id, "carl")


def test_the_own_activity_switch_is_in_the_sidebar(site: Site) -> None:
    layout = site.clients["cora"].get("/_dash-layout").get_data(as_text=True)
    assert "Include auditdash's own activity" in layout and ids.F_OWN in layout
    assert "Applies when the list closes." in layout
    assert "A team is a saved view of its accounts" in layout


def _store_data(tree: Any, store_id: str) -> Any:
    """The data of the dcc.Store `store_id` in a layout (Dash's JSON form)."""
    if isinstance(tree, list):
        return next((d for d in (_store_data(i, store_id) for i in tree) if d is not None), None)
    if isinstance(tree, dict):
        props = tree.get("props", {})
        if props.get("id") == store_id:
            return props.get("data")
        return next((d for d in (_store_data(v, store_id) for v in props.values()) if d is not None), None)
    return None


def test_the_sidebar_shows_only_where_it_acts(site: Site) -> None:
    from dashboard.web import layout

    acts = set(_store_data(site.clients["ada"].get("/_dash-layout").get_json(), layout.FILTER_PATHS_STORE) or ())
    assert {"/", "/security", "/explorer", "/report"} <= acts
    assert not {"/admin", "/retention", "/streams", "/wall", "/not-found"} & acts, acts
    manager = set(_store_data(site.clients["manny"].get("/_dash-layout").get_json(), layout.FILTER_PATHS_STORE) or ())
    assert "/report" in manager and "/retention" not in manager


# -- pages for people ------------------------------------------------------------------------------------
def test_unknown_paths_answer_404_inside_the_shell(site: Site) -> None:
    reply = site.clients["cora"].get("/no-such-page")
    assert reply.status_code == 404
    assert 'id="auditdash-userbar"' in reply.get_data(as_text=True)  # the app's page, with its bar
    from dashboard.web import not_found_404

    with site.app.server.test_request_context("/"):
        words = json.dumps(not_found_404.layout(), default=lambda c: c.to_plotly_json())
    assert "Page not found" in words


def test_other_refusals_and_misses_are_pages_in_words_with_the_navigation(site: Site) -> None:
    missing = site.clients["manny"].get("/report/download/no-such-pack/pack.pdf")
    assert missing.status_code == 404
    text = missing.get_data(as_text=True)
    assert 'id="navbar"' in text and "There is nothing at /report/download/no-such-pack/pack.pdf" in text
    assert site.clients["manny"].get("/api/v1/nothing").status_code == 401  # the API keeps its JSON answers


def test_a_refused_page_is_the_shell_with_the_reason_in_words(site: Site) -> None:
    reply = site.clients["manny"].get("/admin")
    assert reply.status_code == 403
    assert 'id="auditdash-userbar"' in reply.get_data(as_text=True)  # the app's shell, not a bare page
    from dashboard.web import refusal

    tried, why, ask = refusal.words("Users & tokens", "manager", ("admin",), ["ada"])
    assert tried == "You tried to open Users & tokens."
    assert why == "Your role is manager; this page is for: administrator (admin)."
    assert "ask an administrator (ada)" in ask


def test_the_account_page_has_the_apps_navigation(site: Site) -> None:
    page = site.clients["manny"].get("/account").get_data(as_text=True)
    assert 'id="navbar"' in page and 'href="/explorer"' in page and 'href="/report"' in page
    assert 'href="/retention"' not in page  # only what the role may open
    assert "Your account" in page


def test_the_report_zip_option_lists_only_what_a_manager_gets(site: Site) -> None:
    # the page's module as Dash loaded it (importing it under another name would register it twice)
    report = sys.modules[next(p["module"] for p in dash.page_registry.values() if p["path"] == "/report")]

    options = {o["value"]: o["label"] for o in report._format_options(masked=True)}
    assert options["zip"] == "ZIP with PDF report, CSV and the manifest (no raw JSON for your role)"
    assert "JSON" in {o["value"]: o["label"] for o in report._format_options(masked=False)}["zip"]


def test_an_empty_store_says_how_to_load_data(site: Site) -> None:
    layout = json.dumps(site.clients["cora"].get("/_dash-layout").get_json())
    assert "first-start-hint" in layout
    hint = layout[layout.index("No events yet") :]
    assert "auditdash demo --db" in hint and "/api/v1/events" in hint and "auditdash ingest" in hint, hint[:1500]
    store(site.db, [event(id="one", occurred_at="2026-12-01T10:00:00Z")])
    assert "first-start-hint" not in site.clients["cora"].get("/_dash-layout").get_data(as_text=True)

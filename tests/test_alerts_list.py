"""The Alerts page's list and the wall's alerts, in-process over real DuckDB files.

A small demo store with detection run over it (module-scoped): the list follows the sidebar as
docs/detections.md says, sorts by what matters, pages without losing a row, names people as the
role may see them, and acts on several alerts at once, each action audited. The page's callbacks
are called the way the browser calls them (Flask's test client, signed in). The wall's rule is
checked on alerts written for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask
import pytest
import sqlalchemy as sa
from dash._utils import to_json

from dashboard.access.users import create_user
from dashboard.config import Settings
from dashboard.detect import alert_list
from dashboard.detect.alerts import AlertStore
from dashboard.detect.notify import Notifier, NotifyConfig, email_text
from dashboard.detect.rules import load_rules
from dashboard.filters import Filters, View
from dashboard.store import wall
from dashboard.store.db import Database
from dashboard.store.schema import alerts as A
from dashboard.store.schema import events as E
from dashboard.web import auth
from dashboard.web.components import wall_views
from tests.conftest import GEO_DIR, cli, page_payload, sign_in

PASSWORD = "alerts-list-password"
USERS = {"compliance": "cora", "manager": "mona"}
CALLBACK = "/_dash-update-component"
FULL_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
SEV = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
STATUS = {"open": 0, "acknowledged": 1, "resolved": 2}


@dataclass
class Site:
    db: Database
    app: Any
    clients: dict[str, Any]
    routes: dict[str, Any]


def _login(flask_app: flask.Flask, username: str) -> Any:
    return sign_in(flask_app, username, PASSWORD)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    path = tmp_path_factory.mktemp("alerts-list") / "demo.duckdb"
    cli("demo", "--days", "30", "--events", "6000", "--db", str(path))
    cli("detect", "--no-notify", "--db", str(path))
    db = Database(path)
    for role, name in USERS.items():
        create_user(db, name, role, PASSWORD)
    from dashboard.web.app import create_app

    app = create_app(Settings(db_path=path, geo_dir=GEO_DIR), db)
    app.server.test_client().get("/healthz")  # Dash fills its callback map on the first request
    try:
        clients = {role: _login(app.server, name) for role, name in USERS.items()}
        yield Site(db, app, clients, auth.callback_routes(app))
    finally:
        db.close()


def _every(db: Database) -> list[dict[str, Any]]:
    """Every alert with the accounts, actors, addresses and countries of its evidence."""
    store = AlertStore(db)
    out = []
    for a in store.list(limit=100_000):
        full = store.get(int(a["id"]))
        assert full is not None
        ev = full["evidence"]
        a["ev"] = {
            "accounts": {e.get("account_id") for e in ev},
            "actors": {e.get("actor_id") for e in ev},
            "ips": {e.get("ip") for e in ev},
            "countries": {e.get("geo_country") for e in ev},
        }
        out.append(a)
    return out


def _ids(db: Database, q: alert_list.AlertQuery, now: datetime) -> set[int]:
    page = alert_list.list_page(db, alert_list.AlertQuery(**{**q.__dict__, "per_page": 10_000}), now)
    assert page.total == len(page.rows)
    return {int(r["id"]) for r in page.rows}


def test_the_list_follows_the_sidebar_as_documented(site: Site) -> None:
    now = datetime.now(UTC)
    every = _every(site.db)
    assert len(every) >= 10
    for preset in ("24h", "7d", "30d"):
        view = View.of(Filters(preset=preset), now)
        expected = {a["id"] for a in every if a["last_seen"] >= view.start and a["first_seen"] < view.end}
        assert _ids(site.db, alert_list.AlertQuery(filters=Filters(preset=preset)), now) == expected, preset
    assert _ids(site.db, alert_list.AlertQuery(filters=Filters(preset="7d")), now) < {a["id"] for a in every}

    person = next(a["key"]["user"] for a in every if a["key"].get("user"))
    f = Filters(preset="90d", users=(person,))
    expected = {a["id"] for a in every if a["key"].get("user") == person or person in a["ev"]["actors"]}
    assert expected and _ids(site.db, alert_list.AlertQuery(filters=f), now) == expected

    account = next(a["account_id"] for a in every if a["account_id"])
    f = Filters(preset="90d", accounts=(account,))
    expected = {a["id"] for a in every if a["account_id"] == account or account in a["ev"]["accounts"]}
    found = _ids(site.db, alert_list.AlertQuery(filters=f), now)
    assert found == expected and len(found) < len(every)

    address = next(a["key"]["ip"] for a in every if a["key"].get("ip"))
    f = Filters(preset="90d", ip=address)
    expected = {a["id"] for a in every if a["key"].get("ip") == address or address in a["ev"]["ips"]}
    assert expected and _ids(site.db, alert_list.AlertQuery(filters=f), now) == expected

    country = next(c for a in every for c in sorted(x for x in a["ev"]["countries"] if x))
    f = Filters(preset="90d", countries=(country,))
    expected = {a["id"] for a in every if country in a["ev"]["countries"]}
    assert expected and _ids(site.db, alert_list.AlertQuery(filters=f), now) == expected

    # the page's own filters narrow further; the line says what applies and what does not
    q = alert_list.AlertQuery(
        filters=Filters(preset="30d", outcome="failure", actions=("auth.login",)),
        status=("open",),
        severity=("critical", "high"),
    )
    found = _ids(site.db, q, now)
    assert all(a["status"] == "open" and a["severity"] in ("critical", "high") for a in every if a["id"] in found)
    text, ignored = alert_list.describe(q, len(found), masked=False, now=now)
    assert text.startswith(f"{len(found)} alert") and "status open" in text and "severity critical, high" in text
    assert ignored == ["actions auth.login", "outcome failure"]


def test_the_order_is_severity_then_open_then_newest_and_pages_lose_nothing(site: Site) -> None:
    now = datetime.now(UTC)
    store = AlertStore(site.db)
    high = [a for a in store.list(status=["open"], limit=1000) if a["severity"] == "high"]
    store.act(int(high[0]["id"]), "acknowledge", "tester", "compliance")
    q = alert_list.AlertQuery(filters=Filters(preset="90d"), per_page=7)
    first = alert_list.list_page(site.db, q, now)
    rows: list[dict[str, Any]] = []
    for n in range(first.pages):
        rows += alert_list.list_page(site.db, alert_list.AlertQuery(**{**q.__dict__, "page": n}), now).rows
    assert len(rows) == first.total == len({r["id"] for r in rows})
    keys = [(SEV[r["severity"]], STATUS[r["status"]], -r["last_seen"].timestamp()) for r in rows]
    assert keys == sorted(keys)
    assert any(r["status"] == "acknowledged" for r in rows)
    by_events = alert_list.list_page(
        site.db, alert_list.AlertQuery(filters=Filters(preset="90d"), sort="events", per_page=1000), now
    ).rows
    counts = [int(r["event_count"]) for r in by_events]
    assert counts == sorted(counts, reverse=True)
    past_end = alert_list.list_page(site.db, alert_list.AlertQuery(**{**q.__dict__, "page": 999}), now)
    assert past_end.page == first.pages - 1 and past_end.rows  # a page past the end shows the last one
    assert alert_list.sort_state({"col": "DROP TABLE", "desc": False}) == ("severity", True)


# -- through the page's callbacks, as the browser calls them -------------------------------------------------
def _route(site: Site, output: str) -> Any:
    return next(r for r in site.routes.values() if output in r.key)


def _outputs(key: str) -> Any:
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outs = []
    for part in parts:
        raw, _, prop = part.rpartition(".")
        outs.append({"id": json.loads(raw) if raw.startswith("{") else raw, "property": prop.split("@")[0]})
    return outs if key.startswith("..") else outs[0]


def _deps(deps: Any, values: dict[str, Any], picks: dict[int, bool]) -> list[Any]:
    out: list[Any] = []
    for dep in deps:
        if str(dep["id"]).startswith("{"):
            pattern = json.loads(dep["id"]) if isinstance(dep["id"], str) else dep["id"]
            items = []
            for index, ticked in picks.items():
                concrete = {**pattern, "index": index}
                value = ticked if dep["property"] == "value" else concrete
                items.append({"id": concrete, "property": dep["property"], "value": value})
            out.append(items)
        else:
            out.append({"id": dep["id"], "property": dep["property"], "value": values.get(dep["id"])})
    return out


def _call(
    site: Site, role: str, output: str, values: dict[str, Any], changed: str, picks: dict[int, bool] | None = None
) -> Any:
    route = _route(site, output)
    payload = {
        "output": route.key,
        "outputs": _outputs(route.key),
        "inputs": _deps(route.inputs, values, picks or {}),
        "state": _deps(route.state, values, picks or {}),
        "changedPropIds": [changed],
    }
    client = site.clients[role]
    token = next((c.value for c in client._cookies.values() if c.key == "_csrf_token"), "")
    reply = client.post(CALLBACK, json=payload, headers={"X-CSRFToken": token})
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    return reply.get_json()["response"]


def _list_values(**filters: Any) -> dict[str, Any]:
    return {
        "filters": Filters(**filters).to_store(),
        "alerts-status": ["open", "acknowledged"],
        "alerts-severity": [],
        "alerts-rule": [],
        "alerts-sort": {"col": "severity", "desc": True},
        "alerts-page": 0,
        "alerts-refresh": 0,
    }


def _names(db: Database) -> dict[str, str]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(E.c.actor_id, sa.func.max(E.c.actor_name))
            .where(E.c.actor_name.is_not(None))
            .group_by(E.c.actor_id)
        ).fetchall()
    return {str(a): str(n) for a, n in rows}


def test_people_and_addresses_appear_as_the_role_may_see_them(site: Site) -> None:
    names = _names(site.db)
    q = alert_list.AlertQuery(filters=Filters(preset="90d"), status=("open", "acknowledged"))
    every = alert_list.list_page(site.db, q).rows  # the first page, as the callback shows it
    people = {str(a["key"].get("user") or a["key"]["subject"]) for a in every if {"user", "subject"} & set(a["key"])}
    people &= set(names)
    addresses = {str(a["key"]["ip"]) for a in every if a["key"].get("ip")}
    assert people and addresses
    compliance = json.dumps(
        _call(site, "compliance", "alerts-table.children", _list_values(preset="90d"), "filters.data")
    )
    for pid in people:
        assert f"{names[pid]} ({pid})" in compliance
        assert not re.search(rf"(user|subject) {pid}\b", compliance), pid  # never the bare id when the name is known
    assert all(ip in compliance for ip in addresses)
    assert "Showing " in compliance and "alerts-pick" in compliance  # the boxes for acting on several

    manager = json.dumps(_call(site, "manager", "alerts-table.children", _list_values(preset="90d"), "filters.data"))
    for pid in people:
        full = names[pid]
        assert full not in manager
        assert f"{full.split()[0]} {full.split()[-1][0]}. ({pid})" in manager
    assert FULL_IPV4.search(manager) is None
    assert "alerts-pick" not in manager  # nothing to tick for a role that may not act
    refused = _call(site, "manager", "alerts-table.children", _list_values(preset="90d", outcome="failure"), "x")
    assert "Not applied to alerts" in json.dumps(refused) and "outcome failure" in json.dumps(refused)


def _audited(db: Database, since_seq: int) -> list[tuple[str, str, str]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(E.c.action, E.c.actor_id, E.c.target_id)
            .where(E.c.seq > since_seq, E.c.action.startswith("alert."))
            .order_by(E.c.seq)
        ).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]


def test_several_alerts_are_acted_on_at_once_each_audited_and_only_by_roles_that_may(site: Site) -> None:
    store = AlertStore(site.db)
    chosen = [int(a["id"]) for a in store.list(status=["open"], limit=1000)[:3]]
    store.act(chosen[2], "resolve", "tester", "compliance", resolution="expected")
    with site.db.connect() as conn:
        mark = int(conn.execute(sa.select(sa.func.max(E.c.seq))).scalar_one())
    values = {"alerts-bulk-assignee": "dave", "alerts-bulk-resolution": None, "alerts-refresh": 3, "alerts-bulk-ack": 1}
    picks = {chosen[0]: True, chosen[1]: True, chosen[2]: True, 999_999: False}

    said = json.dumps(_call(site, "manager", "alerts-bulk-msg.children", values, "alerts-bulk-ack.n_clicks", picks))
    assert "may read alerts but not act" in said
    assert _audited(site.db, mark) == []

    said = json.dumps(_call(site, "compliance", "alerts-bulk-msg.children", values, "alerts-bulk-ack.n_clicks", picks))
    assert f"Acknowledged 2 alerts: #{chosen[0]}, #{chosen[1]}." in said
    assert f"#{chosen[2]}: alert {chosen[2]} is resolved" in said  # named, with the reason
    values["alerts-bulk-assign"] = 1
    said = json.dumps(
        _call(site, "compliance", "alerts-bulk-msg.children", values, "alerts-bulk-assign.n_clicks", picks)
    )
    assert "Assigned 3 alerts to dave" in said
    values["alerts-bulk-resolve"] = 1
    said = json.dumps(
        _call(site, "compliance", "alerts-bulk-msg.children", values, "alerts-bulk-resolve.n_clicks", picks)
    )
    assert "A resolution needs a reason" in said
    assert _audited(site.db, mark) == [
        ("alert.acknowledge", "cora", str(chosen[0])),
        ("alert.acknowledge", "cora", str(chosen[1])),
        ("alert.assign", "cora", str(chosen[0])),
        ("alert.assign", "cora", str(chosen[1])),
        ("alert.assign", "cora", str(chosen[2])),
    ]
    after = {a: store.get(a) for a in chosen}
    assert [after[a]["status"] for a in chosen] == ["acknowledged", "acknowledged", "resolved"]  # type: ignore[index]
    assert {after[a]["assignee"] for a in chosen} == {"dave"}  # type: ignore[index]


def test_alert_links_open_the_alert(site: Site) -> None:
    alert = AlertStore(site.db).list(limit=1)[0]
    notifier = Notifier(site.db, NotifyConfig(public_url="https://audit.example.com"), load_rules())
    doc = notifier.payload(alert, "alert")
    assert doc["alert"]["link"] == f"https://audit.example.com/alerts?alert={alert['id']}"
    assert f"Open it: https://audit.example.com/alerts?alert={alert['id']}" in email_text(doc)[1]
    layout = site.clients["manager"].post(
        CALLBACK,
        json=page_payload("/alerts", f"?alert={alert['id']}"),
        headers={
            "X-CSRFToken": next(c.value for c in site.clients["manager"]._cookies.values() if c.key == "_csrf_token")
        },
    )
    text = layout.get_data(as_text=True)
    assert layout.status_code == 200 and '"is_open":true' in text.replace(" ", "")


# -- the wall's rule ------------------------------------------------------------------------------------------
def test_the_wall_lists_alerts_by_its_documented_rule(tmp_path: Path) -> None:
    db = Database(tmp_path / "wall.duckdb")
    now = datetime(2026, 6, 10, 12, 0)
    base = {
        "rule_id": "r",
        "alert_key": "k",
        "event_count": 2,
        "measures": "{}",
        "detail": "{}",
        "summary": "s",
        "updated_at": now,
        "key_json": json.dumps({"ip": "203.0.113.9"}),
    }

    def row(i: int, title: str, sev: str, status: str, hours_ago: float, created_hours_ago: float = 48) -> dict:  # type: ignore[type-arg]
        seen = now - timedelta(hours=hours_ago)
        made = now - timedelta(hours=created_hours_ago)
        return {**base, "id": i, "title": title, "severity": sev, "status": status, "first_seen": seen,
                "last_seen": seen, "created_at": made}  # fmt: skip

    rows = [
        row(1, "old critical", "critical", "open", 200),
        row(2, "old high", "high", "open", 30),
        row(3, "old high 2", "high", "open", 40),
        row(4, "role grant now", "medium", "open", 0.2, created_hours_ago=0.1),
        row(5, "recent high acknowledged", "high", "acknowledged", 2),
        row(6, "recent high", "high", "open", 3),
        row(7, "recent low", "low", "open", 1),
        row(8, "resolved critical", "critical", "resolved", 1),
        row(9, "old medium", "medium", "open", 100),
    ]
    try:
        with db.connect() as conn, conn.begin():
            conn.execute(A.insert(), rows)
        view = View.of(wall_views.WALL_FILTERS, now)
        with db.connect() as conn:
            found = wall.open_alerts(conn, since=view.start, now=view.end)
        assert [a["title"] for a in found.top] == [
            "old critical",  # critical: whatever its age
            "recent high",  # then the last 24 hours: severity, open before acknowledged, newest
            "recent high acknowledged",
            "role grant now",
            "old high",  # then the older ones
        ]
        assert found.count == 8 and found.rest == {"high": 1, "medium": 1, "low": 1}
        assert [a["new"] for a in found.top] == [False, False, False, True, False]
        text = to_json(wall_views.alerts_list(found, now.date())).replace("\\u002f", "/")
        assert "last 2026-06-02 04:00 UTC" in text  # not today: the date
        assert "last today 11:48 UTC" in text and "last yesterday 06:00 UTC" in text
        assert "and 3 more (1 high, 1 medium, 1 low) on the Alerts page" in text
        assert "wall-alert--critical" in text and "wall-alert--new" in text and "NEW" in text
        assert "203.0.113.9" not in text and "203.0.113.x" in text
        assert "/alerts?alert=" not in text  # the kiosk may not open the Alerts page: no links
        linked = to_json(wall_views.alerts_list(found, now.date(), links=True)).replace("\\u002f", "/")
        assert '"/alerts?alert=4"' in linked
        refreshed = wall_views.refresh(db, now.replace(tzinfo=UTC))
        assert refreshed.alert_count == "8" and "wall-tile-value--critical" in refreshed.alert_tone
    finally:
        db.close()

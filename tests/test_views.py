"""What the Overview and Security callbacks send to the browser: right numbers, and no personal
data in the clear for masked viewers (managers, the wall)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import Patch, no_update
from dash._utils import to_json

from dashboard.figures import figure
from dashboard.filters import Filters
from dashboard.privacy import mask_ip
from dashboard.store.db import Database
from dashboard.web.components import views
from dashboard.web.components.parts import only_changed
from tests.test_analytics import NOW, PLACES, USERS, Ev, _make_events, in_view, insert


@pytest.fixture(scope="module")
def evs() -> list[Ev]:
    return _make_events()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, evs: list[Ev]) -> Iterator[Database]:
    path: Path = tmp_path_factory.mktemp("views") / "audit.duckdb"
    database = Database(path)
    insert(database, evs)
    yield database
    database.close()


def sent(*values: Any) -> str:
    """What Dash would send: the JSON of the callback's outputs."""
    return "".join(to_json(v) for v in values)


F30 = Filters(preset="30d", tz="Europe/Berlin")


def test_overview_outputs(db: Database, evs: list[Ev]) -> None:
    from dashboard.store.analytics import View

    rows = in_view(evs, View.of(F30, NOW))
    cards = views.overview_cards(db, F30, NOW)
    assert cards.events == f"{len(rows):,}"
    timeline = views.overview_timeline(db, F30, NOW)
    assert sum(v or 0 for t in timeline["data"] for v in t["y"]) == len(rows)
    figure(timeline)  # a valid figure: the same spec the PDF packs draw
    users, _actions, table = views.overview_rankings(db, F30, masked=False, now=NOW)
    assert "Agent" in sent(users)
    assert "category-table" in sent(table)


def test_security_outputs(db: Database) -> None:
    charts = views.security_failures(db, F30, masked=False, now=NOW)
    assert int(charts.failed.replace(",", "")) > 0
    _fig, _table, note = views.security_map(db, F30, masked=False, now=NOW)
    assert "events placed at city level" in note
    top, changes = views.security_tables(db, F30, masked=False, now=NOW)
    assert "91.32.96.240" in sent(top)
    assert "supervisor" in sent(changes)


def test_masked_viewers_never_receive_full_addresses_or_names(db: Database) -> None:
    charts = views.security_failures(db, F30, masked=True, now=NOW)
    fig, new_table, _ = views.security_map(db, F30, masked=True, now=NOW)
    top, changes = views.security_tables(db, F30, masked=True, now=NOW)
    users, _actions, _ = views.overview_rankings(db, F30, masked=True, now=NOW)
    payload = sent(charts.user_day, charts.weekday_hour, fig, new_table, top, changes, users)
    for ip in PLACES:
        assert ip not in payload, ip
    for name in USERS.values():
        assert name not in payload, name
    assert "Agent E. (u1)" in payload  # shortened ("Agent 1 Example"), still told apart by id
    assert mask_ip("91.32.96.240") in payload
    # a masked address narrows to its block when clicked
    assert '"value":"91.32.96.0/24"' in payload.replace("\\u002f", "/")


def test_masked_block() -> None:
    assert views.masked_block("203.0.113.x") == "203.0.113.0/24"
    assert views.masked_block("2001:db8:1::x") == "2001:db8:1::/48"
    assert views.masked_block("masked") is None


def test_only_what_changed_is_sent() -> None:
    fig = {"data": [{"type": "bar", "y": [1, 2]}], "layout": {"title": {"text": "Events (UTC)"}}}
    first, shown = only_changed({"count": "12", "chart": fig}, None)
    assert first == ["12", fig]  # a page's first answer is whole
    same, again = only_changed({"count": "12", "chart": fig}, shown)
    assert same == [no_update, no_update] and again == shown
    retitled = {"data": fig["data"], "layout": {"title": {"text": "Events (Asia/Kolkata)"}}}
    other = {"data": [{"type": "bar", "y": [3]}], "layout": fig["layout"]}
    count, chart = only_changed({"count": "13", "chart": retitled}, shown)[0]
    assert count == "13"
    assert isinstance(chart, Patch) and chart.to_plotly_json()["operations"][0]["location"] == ["layout"]
    _, chart = only_changed({"count": "12", "chart": other}, shown)[0]
    assert isinstance(chart, Patch) and chart.to_plotly_json()["operations"][0]["location"] == ["data"]
    whole = {"data": other["data"], "layout": retitled["layout"]}
    assert only_changed({"count": "12", "chart": whole}, shown)[0][1] is whole
    # what the browser's store says is only trusted to withhold an update from that browser
    assert only_changed({"count": "12"}, {"count": 5})[0] == ["12"]


def test_overview_lead_says_what_the_page_shows() -> None:
    everything = views.overview_lead(F30, NOW)
    assert everything.startswith("Events and failed logins") and "of all activity" in everything
    assert "Last 30 days" in everything and "times in Europe/Berlin" in everything
    narrowed = views.overview_lead(Filters(preset="30d", tz="Europe/Berlin", outcome="failure"), NOW)
    assert "of the filtered activity" in narrowed

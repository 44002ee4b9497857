"""A page's first view drawn with its layout, and the key that says which view a page shows
(components/page_view.py; pure functions and a Flask request context, no database, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime

import flask
from dash import no_update

from dashboard.filters import Filters
from dashboard.web.components import filterbar as fb
from dashboard.web.components import page_view

NOW = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)


def _link(query: dict[str, object], cookie: str | None = None) -> Filters:
    app = flask.Flask(__name__)
    headers = {"Cookie": f"{page_view.TZ_COOKIE}={cookie}"} if cookie is not None else {}
    with app.test_request_context("/", headers=headers):
        return page_view.link_filters(query)


def test_a_link_without_zone_is_drawn_in_the_browsers_zone_from_its_cookie() -> None:
    assert _link({"range": "24h"}, "Asia/Tokyo") == Filters(preset="24h", tz="Asia/Tokyo")
    # the link's own zone wins; a cookie that names no zone is ignored (the default zone, as the shell does)
    assert _link({"range": "24h", "tz": "UTC"}, "Asia/Tokyo").tz == "UTC"
    assert _link({"range": "24h"}, "Not/AZone").tz == Filters().tz
    assert _link({"range": "24h"}).tz == Filters().tz
    # the same view the shell reads from the same link in the same browser
    shell = fb.from_url("?range=24h&outcome=failure", "Asia/Tokyo")
    assert _link({"range": "24h", "outcome": "failure"}, "Asia/Tokyo") == fb.clean(shell, shell.problems)


def test_repeated_and_odd_parameters_give_a_view_with_its_problems_not_an_error() -> None:
    f = _link({"users": ["u1", "u2"], "range": ["x" * 500], "tz": ["Nowhere/Zone"], "ip": "not an address"})
    assert set(f.users) == {"u1", "u2"}
    assert f.problems  # said above the page by the shell, as for a pasted link


def test_the_store_and_the_shown_store_name_a_view_by_the_same_key() -> None:
    """The clientside gate (assets/pages.js) compares the `filters` store's `view` with the page's."""
    f = Filters.from_query("range=7d&outcome=failure&tz=Europe/Berlin")
    store = fb.store_data(f, NOW)
    shown = page_view.shown_data(f, {"events": "digest"})
    assert store[fb.VIEW_KEY] == shown[page_view.VIEW_KEY] == fb.link_query(f)
    assert Filters.from_store(store) == f  # the key is not part of the view
    assert page_view.is_shown(shown, f)
    assert not page_view.is_shown(shown, Filters.from_query("range=30d&tz=Europe/Berlin"))
    assert not page_view.is_shown(None, f) and not page_view.is_shown({"events": "digest"}, f)


def test_what_a_page_sends_after_a_change_is_only_what_changed() -> None:
    outputs = (("count", "c", "children"), ("note", "n", "children"))
    page = page_view.Page("/x", "x", outputs, lambda f, now, masked: {"count": f.outcome, "note": "same"})
    first = page_view.changed_outputs(page, Filters(outcome="failure"), None, False, None)
    assert first[:2] == ["failure", "same"]
    again = page_view.changed_outputs(page, Filters(outcome="success"), None, False, first[-1])
    assert again[:2] == ["success", no_update]
    assert again[-1][page_view.VIEW_KEY] == fb.link_query(Filters(outcome="success"))


def test_the_shell_draws_only_a_registered_page() -> None:
    assert page_view.draw_into("/nowhere", Filters(), fb.store_data(Filters(), NOW), []) is False

"""A page's first view drawn on the server with its layout, and which view a page shows.

Overview and Security draw the view their link names in the layout itself (the pages router
hands the layout the link's query): numbers, tables and charts arrive with the page, without
waiting for the shell's callback, the page's own callback or plotly.js. A page keeps, in its
`shown` store, the digests of what it shows (`parts.only_changed`) and the key of the view they
belong to (`VIEW_KEY`); its callback, which follows the shell's `filters` store, does nothing when
the store names the view already shown (the shell writes the store on first load too).

After that, a change of the view is drawn in the shell's own answer (`draw_into`, called by the
shell's callback, `dashboard/web/layout.py`): the page registers how it draws (`register`) and
its `shown` store (`shown_id`), the shell runs the page's queries for the new view and sends
what changed with `dash.set_props`, in the same response as the new `filters` store: one round
trip per change instead of two. The page's own callback then stays silent: a clientside gate
(`auditdashPages.needsView`, assets/pages.js) passes the store on to it only when the page does
not show the store's view already (a page the shell could not draw, or drawn before the browser's
zone was known).

A page whose next view depends on what it shows (the Explorer: its listing's zone, whether it
includes archived months, the order its link's fragment names) registers a `redraw` instead of a
`draw` (`add`, with its own callback as the fallback): the shell hands it the page's `shown` data
and the link's fragment, and the page says what to send, or None to leave the change to its own
callback (no listing yet).

A link without `tz` means the browser's zone; the layout learns it from a cookie that
assets/dashboard.js writes before the first request (`TZ_COOKIE`). Without the cookie (a browser
that blocks it) the layout draws the view in UTC and the page's callback redraws it in the zone
the shell resolves, as it would for any other change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import dash
import flask
from dash import no_update

from dashboard.filters import Filters
from dashboard.web import auth_rules, ids
from dashboard.web.access import viewer
from dashboard.web.components.filter_controls import valid_zone
from dashboard.web.components.filter_sync import VIEW_KEY, clean, from_url, link_query, page_filters, page_moment
from dashboard.web.components.parts import only_changed

log = logging.getLogger(__name__)

#: the cookie holding the browser's IANA zone (written by assets/dashboard.js on every page load)
TZ_COOKIE = "auditdash_tz"
#: the `type` of every page's `shown` store id ({"type": SHOWN_TYPE, "page": "overview"})
SHOWN_TYPE = "page-shown"

#: a page's drawing: (view, instant or None, masked) -> every output's value by name
Draw = Callable[[Filters, datetime | None, bool], Mapping[str, Any]]
#: a page's drawing of a change that depends on what it shows: (view, instant or None, masked, the
#: page's `shown` data, the link's fragment) -> the values of the outputs that change, by name, and
#: the page's new `shown` data; None: the page's own callback draws it
Redraw = Callable[[Filters, datetime | None, bool, Any, str | None], tuple[Mapping[str, Any], Mapping[str, Any]] | None]


@dataclass(frozen=True)
class Page:
    """A page the shell draws after a change: its path, name, outputs (name, id, prop) and drawing
    (`draw`, or `redraw` for a page whose next view depends on what it shows)."""

    path: str
    name: str
    outputs: Sequence[tuple[str, str, str]]
    draw: Draw | None = None
    redraw: Redraw | None = None


_PAGES: dict[str, Page] = {}


def shown_id(name: str) -> dict[str, str]:
    """The id of page `name`'s `shown` store."""
    return {"type": SHOWN_TYPE, "page": name}


def register(page: Page, want: str, module: str) -> None:
    """Let the shell draw `page` after a change (its `shown` store is `shown_id(page.name)`), and
    install the page's own drawing for when the shell did not: a gate in the browser passes the
    `filters` store on to the store `want` (in the page's layout) only when the page does not show
    that view, and the page's callback draws it, sending only what changed. The callback belongs to
    the page's `module` (its `__name__`): the server grants a callback to the roles of the page whose
    module defines it (`auth_rules.callback_routes`)."""
    add(page, want)
    shown = shown_id(page.name)

    def draw_unless_shown(data: dict[str, Any] | None, shown_now: Any) -> tuple[Any, ...]:
        if data is None:
            raise dash.exceptions.PreventUpdate
        f = page_filters(data)
        if is_shown(shown_now, f):
            raise dash.exceptions.PreventUpdate  # drawn with the layout, or by the shell, already
        return tuple(changed_outputs(page, f, page_moment(data), viewer().masked, shown_now))

    draw_unless_shown.__module__ = module
    dash.callback(
        *(dash.Output(cid, prop) for _, cid, prop in page.outputs),
        dash.Output(shown, "data"),
        dash.Input(want, "data"),
        dash.State(shown, "data"),
        prevent_initial_call=True,
    )(draw_unless_shown)


def add(page: Page, want: str, initial: bool = False) -> None:
    """Let the shell draw `page` after a change, and install the gate in the browser that passes the
    `filters` store on to the store `want` (in the page's layout, an input of the page's own callback)
    only when the page's `shown` store does not show that view.

    `initial`: the gate also runs as the page mounts, so a page whose layout shows nothing yet (the
    Explorer) gets the view the `filters` store holds already (a page opened from another one),
    without a request of its own; on a first load the store is empty then and the gate waits for the
    shell's answer. (A page callback fired as the page mounts would be one more round trip, and the
    shell's callback, which reads every page's `shown` store, would wait for it.)"""
    _PAGES[page.path] = page
    dash.clientside_callback(
        dash.ClientsideFunction(namespace="auditdashPages", function_name="needsView"),
        dash.Output(want, "data"),
        dash.Input(ids.FILTERS, "data"),
        dash.State(shown_id(page.name), "data"),
        prevent_initial_call=not initial,
    )


def browser_zone() -> str | None:
    """The browser's zone from its cookie (None outside a request, without it, or when it names no zone)."""
    if not flask.has_request_context():
        return None
    zone = flask.request.cookies.get(TZ_COOKIE)
    return zone if zone and valid_zone(zone) else None


def link_fragment() -> str | None:
    """The fragment of the link the pages router is building a layout for (`#sort=...`), or None
    outside that request (`auth_rules.ROUTE_FRAGMENT`)."""
    if not flask.has_request_context():
        return None
    fragment = flask.g.get(auth_rules.ROUTE_FRAGMENT)
    return fragment if isinstance(fragment, str) else None


def link_filters(query: Mapping[str, Any]) -> Filters:
    """The view a page's link names (the query the pages router hands a layout: a repeated parameter
    comes as a list), validated as the shell validates a link; without `tz`, the browser's zone."""
    pairs: list[tuple[str, str]] = []
    for key, value in query.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            pairs.append((str(key), "" if item is None else str(item)))
    f = from_url(urlencode(pairs), browser_zone())
    return clean(f, f.problems)


def view_key(f: Filters) -> str:
    """The key of a view (its canonical link query): equal keys, same content."""
    return link_query(f)


def shown_data(f: Filters, digests: Mapping[str, Any]) -> dict[str, Any]:
    """A page's `shown` store for content of view `f` with these digests."""
    return {**digests, VIEW_KEY: view_key(f)}


def is_shown(shown: Any, f: Filters) -> bool:
    """Whether the page's `shown` store says it shows view `f` already."""
    return isinstance(shown, Mapping) and shown.get(VIEW_KEY) == view_key(f)


def changed_outputs(page: Page, f: Filters, now: datetime | None, masked: bool, shown: Any) -> list[Any]:
    """What page `page` sends for view `f` (`no_update` where nothing changed), then its new `shown` data."""
    if page.draw is None:
        raise TypeError(f"page {page.name} has no drawing of a view alone")
    values = page.draw(f, now, masked)
    out, digests = only_changed(values, shown)
    return [*out, shown_data(f, digests)]


def draw_into(
    pathname: str | None, f: Filters, store: Mapping[str, Any], shown: Sequence[Any], fragment: str | None = None
) -> bool:
    """Draw the page at `pathname` for view `f` into the shell's answer (`dash.set_props`).

    `store` is the `filters` store's new data (its instant is the page's), `shown` the `shown`
    stores on the page (the shell reads every page's, pattern-matched: one or none), `fragment`
    the link's fragment (for a page's `redraw`). Returns whether the page was drawn. A page that
    is not registered, that the viewer's role may not open, whose `redraw` declines, or whose
    drawing fails (logged) is not: its own callback then draws it (and says what failed) as for
    any change the shell did not draw.
    """
    path = "/" + (pathname or "/").strip("/") if (pathname or "/").strip("/") else "/"
    page = _PAGES.get(path)
    if page is None or len(shown) > 1:
        return False
    who = viewer()
    if not auth_rules.decide_page(who.role, path, list(dash.page_registry.values())).allowed:
        return False
    now, current = page_moment(store), shown[0] if shown else None
    try:
        if page.redraw is not None:
            made = page.redraw(f, now, who.masked, current, fragment)
            if made is None:
                return False
            values = [*(made[0].get(name, no_update) for name, _, _ in page.outputs), made[1]]
        else:
            values = changed_outputs(page, f, now, who.masked, current)
    except Exception:
        log.exception("drawing %s for the shell's answer failed; the page's own callback draws it", path)
        return False
    for (_, cid, prop), value in zip(page.outputs, values, strict=False):
        if value is not no_update:
            dash.set_props(cid, {prop: value})
    dash.set_props(shown_id(page.name), {"data": values[-1]})
    return True

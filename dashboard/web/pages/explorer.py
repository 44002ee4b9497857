"""Explorer: every event of the filtered view, one server-side page at a time, and the detail panel.

The grid uses AG Grid's infinite row model: the browser asks for rows [start, end) with the
sort it wants, and gets exactly one page back (`explorer_views.rows`). The listing (the view
resolved at one instant, with its total) lives in a store; a new listing purges the grid's
cache (assets/explorer.js). The "Include archived months" switch is part of the listing: on, the
listing also reads the archived months its range overlaps, straight from their Parquet files.

The order and the open event are in the link's fragment (`#sort=user.asc&event=123`, see
`explorer_views.link_view`): clicking a row, pressing Enter or Space on it, or opening a related
event writes `event=` there (assets/explorer.js, a new history entry), and the server opens the
event the fragment names (`_detail`, masked for the viewer). Closing the panel goes back to where
it was opened, so Back and Forward move between the list and the events opened from it; a copied
link opens the same order and event.

The page's first listing is drawn with the page itself (`layout`: the pages router hands it the
link's query and fragment), as Overview and Security draw their first view: count, grid, first page
and the event the link opens arrive in the router's answer, without waiting for the shell's answer
and a request of the page's own. The page's own callback (`_listing`) makes a listing on "Reload"
and on the archive switch, and the first one when the layout did not (the store failed, or a link
without `tz` came without the browser's zone cookie: the shell resolves the zone first). After that, a
change of the view is listed in the shell's own answer (`_redraw`, registered with
`page_view.add`): the new listing, its count and first page arrive with the new `filters` store,
in one round trip; the page's `shown` store names the view listed (with its zone and whether it
includes archived months), and a clientside gate passes the `filters` store on to `_listing` only
when the page does not show that view already. The gate also runs as the page mounts (a page whose
layout listed nothing, opened from another page); on a first load it waits for the shell's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.evidence.locations import Locations
from dashboard.filters import Filters
from dashboard.store import explorer
from dashboard.store.explorer import Snapshot, Sort
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import detail, explorer_views, page_view
from dashboard.web.components.parts import page_header
from dashboard.web.state import state

log = logging.getLogger(__name__)

PATH = "/explorer"
dash.register_page(__name__, path=PATH, name="Explorer", title="Explorer · auditdash", order=20)

GRID_OPTIONS: dict[str, Any] = {
    "pagination": True,
    "paginationPageSize": explorer.PAGE_SIZE,
    "paginationPageSizeSelector": False,
    "cacheBlockSize": explorer.PAGE_SIZE,
    # a few pages kept in the browser, never more: the grid holds at most 4 x 50 rows
    "maxBlocksInCache": 4,
    "maxConcurrentDatasourceRequests": 1,
    "infiniteInitialRowCount": 1,
    # with pagination one block is one page: a page turn or a new listing loads at once (a debounce
    # for scrolling only delayed every change by its length)
    "blockLoadDebounceMillis": 0,
    "rowBuffer": 0,
    "animateRows": False,
    "suppressMultiSort": True,
    "suppressDragLeaveHidesColumns": True,
    "rowHeight": 34,
    "headerHeight": 38,
    # a cut value shows whole on hover, as the browser's own tooltip (no script needed)
    "enableBrowserTooltips": True,
    "localeText": {"noRowsToShow": "No events match the filters.", "loadingOoo": "Loading events…"},
}


#: the event the panel shows (its seq), or None
EX_SHOWN = "explorer-shown"
#: written by the clientside callbacks that change the link (their Dash output; nothing reads it)
EX_URL_SYNC = "explorer-url-sync"
#: what a link's fragment asked for and was not understood
EX_LINK_NOTE = "explorer-link-note"
#: the listing's first page, made with it (`explorer_views.first_page`): the grid's first request is answered from it
EX_FIRST = "explorer-first-page"
#: a request of the grid for rows that the first page does not answer, passed on to the server (`_rows`)
EX_ROWS_ASK = "explorer-rows-request"
#: the view the listing shows, its zone and whether it includes archived months (`page_view`)
SHOWN = page_view.shown_id("explorer")
#: the `filters` store, passed on by the clientside gate when the shell did not list its view
WANT = "explorer-want"


def grid(tz: str, sort: Sort | None = None) -> dag.AgGrid:
    """The events table, with its time column in zone `tz`, in the order `sort` (made with the first
    listing, so its first request for rows always finds the listing)."""
    return dag.AgGrid(
        id=ids.EX_GRID,
        rowModelType="infinite",
        columnDefs=explorer_views.column_defs(tz, sort),
        defaultColDef={"resizable": True, "suppressHeaderMenuButton": True, "filter": False},
        # the columns' names in a link's `sort=` (assets/explorer.js)
        dashGridOptions={**GRID_OPTIONS, "context": {"sortNames": explorer_views.SORT_NAMES}},
        getRowId="params.data.id",
        className="ex-grid",
        style={"height": "calc(100vh - 260px)", "minHeight": "520px", "width": "100%"},
    )


def _archive() -> Locations:
    """Where the archive of the store is."""
    st = state()
    return Locations.resolve(st.settings, st.db.path)


def _archive_switch() -> tuple[str, bool]:
    """The switch's note and whether it is disabled (PostgreSQL cannot read Parquet files in place)."""
    if state().db.url is not None:
        return "On PostgreSQL, archived months are listed after a restore (auditdash archive restore).", True
    return explorer_views.archive_switch(_archive())


def archive_toggle(note: str, disabled: bool) -> html.Div:
    """The "Include archived months" switch (off) and its note: which months are archived, or why it is disabled."""
    return html.Div(
        [
            dbc.Switch(
                id=ids.EX_ARCHIVE,
                label="Include archived months",
                value=False,
                disabled=disabled,
                className="mb-0",
            ),
            html.Span(note, id=ids.EX_ARCHIVE_NOTE, className="ex-asof"),
        ],
        className="d-flex align-items-baseline gap-2",
        title="Also list the events of archived months in the range, read from their Parquet files (slower)",
    )


def layout(**query: str) -> html.Div:
    """The page with the first listing of the view its link names (query and fragment) drawn in it:
    count, grid, first page and the event the link opens arrive with the page (`_first`). Later
    changes come from the shell's `filters` store (`_redraw`, `_listing`)."""
    made = _first(query)
    first = made or {}
    return html.Div(
        [
            page_header(
                "Explorer",
                "Explorer",
                "Every event of the filtered view, newest first. Click a row (or press Enter on it) to see who "
                "did what, from where, and what changed.",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span(first.get("total", "…"), id=ids.EX_TOTAL, className="ex-total"),
                            html.Span(first.get("asof"), id=ids.EX_ASOF, className="ex-asof"),
                        ],
                        className="ex-counts",
                        **cast(dict[str, Any], {"aria-live": "polite"}),
                    ),
                    archive_toggle(*_archive_switch()),
                    dbc.Button(
                        "Reload",
                        id=ids.EX_RELOAD,
                        n_clicks=0,
                        color="secondary",
                        outline=True,
                        size="sm",
                        title="Count again and show the events that arrived since",
                    ),
                ],
                className="ex-toolbar",
            ),
            html.Div(first.get("note"), id=EX_LINK_NOTE),
            html.Div(first.get("grid", html.Div("Loading events…", className="ex-grid-wait")), id=ids.EX_GRID_HOLDER),
            html.P(
                "Sorting by a column other than time keeps the newest first among equal values. "
                "Times are shown in the zone of the view; the detail panel also gives UTC. "
                "The address bar keeps the order and the open event: copy it to share this view.",
                className="ex-footnote",
            ),
            detail.panel(*first.get("panel", ())),
            dcc.Store(id=ids.EX_LISTING, storage_type="memory", data=first.get("listing")),
            dcc.Store(id=ids.EX_ANCHORS, storage_type="memory"),
            dcc.Store(id=EX_SHOWN, storage_type="memory", data=first.get("event")),
            dcc.Store(id=EX_URL_SYNC, storage_type="memory"),
            dcc.Store(id=EX_FIRST, storage_type="memory", data=first.get("first")),
            dcc.Store(id=EX_ROWS_ASK, storage_type="memory"),
            dcc.Store(id=SHOWN, storage_type="memory", data=first.get("shown")),
            dcc.Store(id=WANT, storage_type="memory"),
        ],
        className="ex-page",
    )


def _first(query: Mapping[str, Any]) -> dict[str, Any] | None:
    """The first listing of the view the link names, as the page's own callback would make it
    (`_listing`): its count, grid in the fragment's order, first page, the note on a fragment not
    understood and the panel on the event it names; recorded as a view (`audit.view`). None when it
    cannot be made here (logged): the page then lists as it mounts, through its own callback, which
    says what failed."""
    if "tz" not in query and page_view.browser_zone() is None:
        # the browser's zone is not known here (its cookie did not come): the shell resolves it, and
        # a listing in UTC would be made, recorded and replaced (closing the event the link opens)
        return None
    try:
        f = page_view.link_filters(query)
        asked = explorer_views.link_view(page_view.link_fragment())
        made = explorer_views.open_listing_with_first(
            state().db, f.to_store(), None, asked.sort, masked=viewer().masked
        )
        if made is None:
            return None
        values = _first_values(*made, asked, include_archive=False)
        listing = values["listing"]
    except Exception:
        log.exception("the Explorer's first listing could not be drawn with the page; its own callback lists it")
        return None
    if asked.event is not None:
        # the listing is made and recorded: a failure to open the event says so in the panel
        try:
            is_open, title, body, seq = _open(asked.event, listing)
        except Exception:
            log.exception("the event a link names could not be opened with the Explorer's first listing")
            is_open, title, body, seq = True, "Event details", [html.P(_OPEN_FAILED, className="text-danger")], None
        values.update(panel=(is_open, title, body), event=seq)
    return values


def _first_values(
    snap: Snapshot, first: dict[str, Any] | None, asked: explorer_views.LinkView, include_archive: bool
) -> dict[str, Any]:
    """What a page's first listing shows, by name (the layout's `_first`, and `_listing` when the
    layout did not list): the listing, its count line, the grid in the order the link names with
    its first page, the note on a fragment not understood, and the page's `shown` data."""
    count, asof = explorer_views.listing_texts(snap)
    return {
        "listing": snap.to_store(),
        "total": count,
        "asof": asof,
        "grid": grid(snap.filters.tz, asked.sort),
        "note": _link_note(asked.problems),
        "first": first,
        "shown": _shown(snap, include_archive),
    }


#: the panel's words when the event a link names could not be read with the page
_OPEN_FAILED = "This event could not be read just now. Close this panel and open the event again from the list."


def _link_note(problems: tuple[str, ...]) -> Any:
    if not problems:
        return None
    return dbc.Alert(
        ["Part of this link was not understood and is ignored: ", "; ".join(problems), "."],
        color="warning",
        className="py-2 small",
        id="explorer-link-problem",
    )


def _open(seq: int, listing: Any) -> tuple[Any, ...]:
    """The panel's outputs for event `seq`: open, title, body, the shown seq."""
    title, body = explorer_views.open_event(state().db, seq, listing, archive=_archive())
    return True, title, body, seq


def _shown(snap: Snapshot, include_archive: bool) -> dict[str, Any]:
    """The page's `shown` data for listing `snap`: its view's key, its zone, whether it includes archived months."""
    return page_view.shown_data(snap.filters, {"tz": snap.filters.tz, "archive": include_archive})


#: what the shell's answer sets for a change (`_redraw`), by name
_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("listing", ids.EX_LISTING, "data"),
    ("first", EX_FIRST, "data"),
    ("total", ids.EX_TOTAL, "children"),
    ("asof", ids.EX_ASOF, "children"),
    ("columns", ids.EX_GRID, "columnDefs"),
    ("panel", ids.EX_PANEL, "is_open"),
    ("event", EX_SHOWN, "data"),
)


def _redraw(
    f: Filters, _now: datetime | None, masked: bool, shown: Any, fragment: str | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The listing of view `f` for the shell's answer (`page_view.draw_into`), in the order the link's
    fragment names, with the archived months when the listing shown includes them; None before the
    page's first listing (its own callback makes it, and the grid with it)."""
    if not isinstance(shown, Mapping) or not shown.get(page_view.VIEW_KEY):
        return None
    if page_view.is_shown(shown, f):
        return {}, dict(shown)
    include_archive = bool(shown.get("archive"))
    asked = explorer_views.link_view(fragment)
    made = explorer_views.open_listing_with_first(
        state().db,
        f.to_store(),
        None,
        asked.sort,
        masked=masked,
        archive=_archive() if include_archive else None,
    )
    if made is None:
        return None
    snap, first = made
    count, asof = explorer_views.listing_texts(snap)
    values: dict[str, Any] = {"listing": snap.to_store(), "first": first, "total": count, "asof": asof}
    if shown.get("tz") != snap.filters.tz:
        # the grid stays: a new zone changes its columns (the time column's header names it)
        values["columns"] = explorer_views.column_defs(snap.filters.tz, asked.sort)
    if asked.event is not None:
        # a new view closes the panel (open only while the link names an event: closing it drops `event=`)
        values.update(panel=False, event=None)
    return values, _shown(snap, include_archive)


page_view.add(page_view.Page(PATH, "explorer", _OUTPUTS, redraw=_redraw), WANT, initial=True)


@dash.callback(
    Output(ids.EX_LISTING, "data"),
    Output(ids.EX_TOTAL, "children"),
    Output(ids.EX_ASOF, "children"),
    Output(ids.EX_GRID_HOLDER, "children"),
    Output(EX_LINK_NOTE, "children"),
    Output(ids.EX_PANEL, "is_open", allow_duplicate=True),
    Output(ids.EX_PANEL, "title", allow_duplicate=True),
    Output(ids.EX_PANEL_BODY, "children", allow_duplicate=True),
    Output(EX_SHOWN, "data", allow_duplicate=True),
    Output(EX_FIRST, "data"),
    Output(SHOWN, "data"),
    Input(WANT, "data"),
    Input(ids.EX_RELOAD, "n_clicks"),
    Input(ids.EX_ARCHIVE, "value"),
    State(ids.FILTERS, "data"),
    State(ids.EX_LISTING, "data"),
    State(ids.URL, "hash"),
    # the first listing comes through `WANT` (the gate runs as the page mounts, `page_view.add`)
    prevent_initial_call=True,
)
def _listing(
    _want: Any, _reload: Any, include_archive: Any, filters_data: Any, current: Any, fragment: Any
) -> tuple[Any, ...]:
    """A listing on "Reload" or the archive switch, a change the shell did not list (the gate passes
    the `filters` store on to `WANT` then), and the page's first listing when its layout could not
    make it."""
    if filters_data is None:
        raise PreventUpdate  # the shell has not read the URL yet
    # switching the archive on or off makes a new listing, as "Reload" does
    reload = dash.ctx.triggered_id in (ids.EX_RELOAD, ids.EX_ARCHIVE)
    archive = _archive() if include_archive else None
    asked = explorer_views.link_view(fragment)
    # the grid's first request comes right after: its answer travels with the listing (the order
    # the link names is the grid's: assets/explorer.js writes a sort the person chooses into it)
    made = explorer_views.open_listing_with_first(
        state().db, filters_data, current, asked.sort, masked=viewer().masked, reload=reload, archive=archive
    )
    if made is None:
        raise PreventUpdate
    snap, first = made
    previous = Snapshot.from_store(current)
    if previous is None:
        # the first listing of the page: the order and the event of the link it was opened with
        v = _first_values(snap, first, asked, archive is not None)
        panel = _open(asked.event, v["listing"]) if asked.event is not None else (False, no_update, no_update, None)
        return v["listing"], v["total"], v["asof"], v["grid"], v["note"], *panel, first, v["shown"]
    count, asof = explorer_views.listing_texts(snap)
    listing = snap.to_store()
    # The grid stays (a new zone changes its columns: the time column's header names it) and
    # assets/explorer.js drops its pages. A new view closes the panel.
    if previous.filters.tz != snap.filters.tz:
        dash.set_props(ids.EX_GRID, {"columnDefs": explorer_views.column_defs(snap.filters.tz, asked.sort)})
    shown = _shown(snap, archive is not None)
    return listing, count, asof, no_update, no_update, False, no_update, no_update, None, first, shown


# A new listing for a grid that already shows one: back to the first page and drop the pages the
# grid holds; the first page made with the listing answers the grid's first request for it
# (assets/explorer.js). It also runs as the page mounts with the listing its layout drew: the grid
# learns its listing and starts following the person's sorting (`watchSort`).
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="resetGrid"),
    Output(ids.EX_ANCHORS, "data", allow_duplicate=True),
    Input(ids.EX_LISTING, "data"),
    State(EX_FIRST, "data"),
    prevent_initial_call="initial_duplicate",
)


# The grid asks for rows: the listing's first page is answered in the browser from the page made
# with the listing (once per listing); any other request goes on to the server (`_rows`).
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="rowsFor"),
    Output(ids.EX_GRID, "getRowsResponse", allow_duplicate=True),
    Output(ids.EX_ANCHORS, "data", allow_duplicate=True),
    Output(EX_ROWS_ASK, "data"),
    Input(ids.EX_GRID, "getRowsRequest"),
    State(EX_FIRST, "data"),
    State(ids.EX_LISTING, "data"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(ids.EX_GRID, "getRowsResponse"),
    Output(ids.EX_ANCHORS, "data"),
    Output(ids.EX_ASOF, "children", allow_duplicate=True),
    Input(EX_ROWS_ASK, "data"),
    State(ids.EX_LISTING, "data"),
    State(ids.EX_ANCHORS, "data"),
    prevent_initial_call=True,
)
def _rows(ask: Any, listing: Any, anchors: Any) -> tuple[Any, Any, Any]:
    request = ask.get("request") if isinstance(ask, dict) else None
    if not request:
        raise PreventUpdate
    try:
        response, kept = explorer_views.rows(state().db, request, listing, anchors, archive=_archive())
    except LookupError:
        if Snapshot.from_store(listing) is None:
            raise PreventUpdate from None  # the listing arrives next and purges the grid
        # a listing with archived months that a purge has rewritten since: say so, show nothing stale
        stale = "The archive changed since this list was made (a purge or an expiry): press Reload."
        return {"rowData": [], "rowCount": 0}, no_update, stale
    return response, kept, no_update


# Opening an event writes `event=` into the link (a new history entry); the server then opens
# what the link names (`_detail`). Clicks on rows and on related events come here; Enter and
# Space on a focused row are read by assets/explorer.js itself.
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="openClicked"),
    Output(EX_URL_SYNC, "data", allow_duplicate=True),
    Input(ids.EX_GRID, "cellClicked"),
    Input({"type": ids.EX_OPEN, "seq": ALL}, "n_clicks"),
    prevent_initial_call=True,
)

# The panel closed (its X, Escape, or a new view): the link no longer names the event; when the
# panel was opened from this page, the history goes back to the entry before it.
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="panelClosed"),
    Output(EX_URL_SYNC, "data", allow_duplicate=True),
    Input(ids.EX_PANEL, "is_open"),
    State(ids.FILTERS, "data"),  # its view's link: a new view closed the panel (see panelClosed)
    prevent_initial_call=True,
)

# The query the shell's Location holds: assets/explorer.js tells Back and Forward between two
# entries of this page that differ only in the fragment from those that change the view.
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="trackSearch"),
    Output(EX_URL_SYNC, "data", allow_duplicate=True),
    Input(ids.URL, "search"),
    prevent_initial_call="initial_duplicate",
)

# Back and Forward (or a pasted link) changed the order the link names: the grid follows.
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="applySort"),
    Output(EX_URL_SYNC, "data", allow_duplicate=True),
    Input(ids.URL, "hash"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(ids.EX_PANEL, "is_open"),
    Output(ids.EX_PANEL, "title"),
    Output(ids.EX_PANEL_BODY, "children"),
    Output(EX_SHOWN, "data"),
    Input(ids.URL, "hash"),
    State(ids.EX_LISTING, "data"),
    State(EX_SHOWN, "data"),
    State(ids.EX_PANEL, "is_open"),
    prevent_initial_call=True,
)
def _detail(fragment: Any, listing: Any, shown: Any, is_open: Any) -> tuple[Any, ...]:
    """Open the event the link names (or close the panel when it names none)."""
    if listing is None:
        raise PreventUpdate  # the page's first listing opens the link's event
    wanted = explorer_views.link_view(fragment).event
    if wanted is None:
        if is_open:
            return False, no_update, no_update, None
        raise PreventUpdate
    if is_open and shown == wanted:
        raise PreventUpdate  # already shown (the link changed only its order)
    return _open(wanted, listing)

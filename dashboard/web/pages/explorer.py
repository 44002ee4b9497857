"""Explorer: every event of the filtered view, one server-side page at a time, and the detail panel.

The grid uses AG Grid's infinite row model: the browser asks for rows [start, end) with the
sort it wants, and gets exactly one page back (`explorer_views.rows`). The listing (the view
resolved at one instant, with its total) lives in a store; a new listing purges the grid's
cache (assets/explorer.js). Clicking a row opens the detail panel. The "Include archived months"
switch is part of the listing: on, the listing also reads the archived months its range overlaps,
straight from their Parquet files.
"""

from __future__ import annotations

from typing import Any, cast

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.evidence.locations import Locations
from dashboard.store import explorer
from dashboard.store.explorer import Snapshot
from dashboard.web import ids
from dashboard.web.components import detail, explorer_views
from dashboard.web.components.parts import page_header
from dashboard.web.state import state

dash.register_page(__name__, path="/explorer", name="Explorer", title="Explorer · auditdash", order=20)

GRID_OPTIONS: dict[str, Any] = {
    "pagination": True,
    "paginationPageSize": explorer.PAGE_SIZE,
    "paginationPageSizeSelector": False,
    "cacheBlockSize": explorer.PAGE_SIZE,
    # a few pages kept in the browser, never more: the grid holds at most 4 x 50 rows
    "maxBlocksInCache": 4,
    "maxConcurrentDatasourceRequests": 1,
    "infiniteInitialRowCount": 1,
    "blockLoadDebounceMillis": 100,
    "rowBuffer": 0,
    "animateRows": False,
    "suppressMultiSort": True,
    "suppressDragLeaveHidesColumns": True,
    "rowHeight": 34,
    "headerHeight": 38,
    "localeText": {"noRowsToShow": "No events match the filters.", "loadingOoo": "Loading events…"},
}


def grid(tz: str) -> dag.AgGrid:
    """The events table, with its time column in zone `tz` (made with the first listing, so its
    first request for rows always finds the listing)."""
    return dag.AgGrid(
        id=ids.EX_GRID,
        rowModelType="infinite",
        columnDefs=explorer_views.column_defs(tz),
        defaultColDef={"resizable": True, "suppressHeaderMenuButton": True, "filter": False},
        dashGridOptions=GRID_OPTIONS,
        getRowId="params.data.id",
        className="ex-grid",
        style={"height": "calc(100vh - 260px)", "minHeight": "520px", "width": "100%"},
    )


def _archive() -> Locations:
    """Where the archive of the store is."""
    st = state()
    return Locations.resolve(st.settings, st.db.path)


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


def layout(**_query: str) -> html.Div:
    """The page (the view comes from the shell's `filters` store, which the shell reads from the URL)."""
    return html.Div(
        [
            page_header(
                "Explorer",
                "Explorer",
                "Every event of the filtered view, newest first. Click a row to see who did what, from where, "
                "and what changed.",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            html.Span("…", id=ids.EX_TOTAL, className="ex-total"),
                            html.Span(id=ids.EX_ASOF, className="ex-asof"),
                        ],
                        className="ex-counts",
                        **cast(dict[str, Any], {"aria-live": "polite"}),
                    ),
                    archive_toggle(*explorer_views.archive_switch(_archive())),
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
            html.Div(html.Div("Loading events…", className="ex-grid-wait"), id=ids.EX_GRID_HOLDER),
            html.P(
                "Sorting by a column other than time keeps the newest first among equal values. "
                "Times are shown in the zone of the view; the detail panel also gives UTC.",
                className="ex-footnote",
            ),
            detail.panel(),
            dcc.Store(id=ids.EX_LISTING, storage_type="memory"),
            dcc.Store(id=ids.EX_ANCHORS, storage_type="memory"),
        ],
        className="ex-page",
    )


@dash.callback(
    Output(ids.EX_LISTING, "data"),
    Output(ids.EX_TOTAL, "children"),
    Output(ids.EX_ASOF, "children"),
    Output(ids.EX_GRID_HOLDER, "children"),
    Output(ids.EX_PANEL, "is_open", allow_duplicate=True),
    Input(ids.FILTERS, "data"),
    Input(ids.EX_RELOAD, "n_clicks"),
    Input(ids.EX_ARCHIVE, "value"),
    State(ids.EX_LISTING, "data"),
    prevent_initial_call="initial_duplicate",
)
def _listing(filters_data: Any, _reload: Any, include_archive: Any, current: Any) -> tuple[Any, ...]:
    if filters_data is None:
        raise PreventUpdate  # the shell has not read the URL yet
    # switching the archive on or off makes a new listing, as "Reload" does
    reload = dash.ctx.triggered_id in (ids.EX_RELOAD, ids.EX_ARCHIVE)
    archive = _archive() if include_archive else None
    snap = explorer_views.open_listing(state().db, filters_data, current, reload=reload, archive=archive)
    if snap is None:
        raise PreventUpdate
    count, asof = explorer_views.listing_texts(snap)
    previous = Snapshot.from_store(current)
    # A new grid for the first listing and for a new zone (the time column's header); otherwise
    # the grid stays and assets/explorer.js drops its pages.
    table = grid(snap.filters.tz) if previous is None or previous.filters.tz != snap.filters.tz else no_update
    return snap.to_store(), count, asof, table, False


# A new listing for a grid that already shows one: back to the first page and drop the pages the
# grid holds (assets/explorer.js).
dash.clientside_callback(
    ClientsideFunction(namespace="explorer", function_name="resetGrid"),
    Output(ids.EX_ANCHORS, "data", allow_duplicate=True),
    Input(ids.EX_LISTING, "data"),
    prevent_initial_call=True,
)


@dash.callback(
    Output(ids.EX_GRID, "getRowsResponse"),
    Output(ids.EX_ANCHORS, "data"),
    Output(ids.EX_ASOF, "children", allow_duplicate=True),
    Input(ids.EX_GRID, "getRowsRequest"),
    State(ids.EX_LISTING, "data"),
    State(ids.EX_ANCHORS, "data"),
    prevent_initial_call=True,
)
def _rows(request: Any, listing: Any, anchors: Any) -> tuple[Any, Any, Any]:
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


@dash.callback(
    Output(ids.EX_PANEL, "is_open"),
    Output(ids.EX_PANEL, "title"),
    Output(ids.EX_PANEL_BODY, "children"),
    Input(ids.EX_GRID, "cellClicked"),
    Input({"type": ids.EX_OPEN, "seq": ALL}, "n_clicks"),
    State(ids.EX_LISTING, "data"),
    prevent_initial_call=True,
)
def _detail(cell: Any, _clicks: Any, listing: Any) -> tuple[Any, ...]:
    trigger = dash.ctx.triggered_id
    if isinstance(trigger, dict):
        if not any(t.get("value") for t in dash.ctx.triggered):
            raise PreventUpdate  # buttons of a newly drawn panel, not clicked
        seq = trigger.get("seq")
    elif isinstance(cell, dict) and cell.get("rowId") is not None:
        seq = cell["rowId"]
    else:
        return no_update, no_update, no_update
    title, body = explorer_views.open_event(state().db, seq, listing, archive=_archive())
    return True, title, body

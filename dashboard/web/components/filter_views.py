"""Saved views in the sidebar: open one, save the current filters under a name, share, copy, delete.

The views are kept by `dashboard.access.saved_views` (audited there). Opening a view writes its
query to the shell's URL target, so the view arrives like a pasted link: the shell's callback
reads it, sets the sidebar and the `filters` store, and Back returns to the view before.
The callbacks belong to the shell (`auth_rules.SHELL_MODULES`): every page with the sidebar has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.access import saved_views
from dashboard.filters import Filters
from dashboard.roles import WALL
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.state import state

#: the shell's store of the URL it wants (dashboard/web/layout.py URL_TARGET)
URL_TARGET = "url-target"


def view_options(views: Sequence[saved_views.SavedView], username: str) -> list[dict[str, Any]]:
    """Dropdown options: own views by name ("shared" when shared), then others' shared ones ("by ann")."""
    out = []
    for v in views:
        mine = f"{v.name} (shared)" if v.shared else v.name
        label = mine if v.owner == username else f"{v.name} (by {v.owner})"
        out.append({"label": label, "value": v.id, "search": f"{v.name} {v.owner}"})
    return out


def options_for_viewer() -> list[dict[str, Any]]:
    """The saved views the signed-in person sees, as options (none for the wall)."""
    who = viewer()
    if who.role == WALL:
        return []
    return view_options(saved_views.visible(state().db, who.username), who.username)


def views_section(views: Sequence[dict[str, Any]]) -> html.Div:
    """The sidebar's "Saved views" block."""
    return html.Div(
        [
            dbc.Label("Saved views", html_for=ids.F_VIEWS, className="ad-filter-label"),
            dcc.Dropdown(
                id=ids.F_VIEWS,
                options=list(views),
                value=None,
                placeholder="Open a saved view" if views else "No saved views yet",
                clearable=True,
                searchable=True,
            ),
            html.Div(
                [
                    dbc.Button("Share", id=ids.F_VIEW_SHARE, size="sm", color="link", n_clicks=0, className="p-0"),
                    dcc.Clipboard(
                        id=ids.F_VIEW_LINK, content="", title="Copy a link to this view", className="ad-copy"
                    ),
                    dbc.Button(
                        "Delete", id=ids.F_VIEW_DELETE, size="sm", color="link", n_clicks=0, className="p-0 text-danger"
                    ),
                ],
                id=ids.F_VIEW_ABOUT,
                className="ad-view-actions d-none",
            ),
            dbc.InputGroup(
                [
                    dbc.Input(
                        id=ids.F_VIEW_NAME,
                        placeholder="Name these filters",
                        maxLength=saved_views.NAME_MAX,
                        size="sm",
                        autocomplete="off",
                        value="",
                    ),
                    dbc.Button("Save", id=ids.F_VIEW_SAVE, size="sm", color="secondary", outline=True, n_clicks=0),
                ],
                size="sm",
                className="mt-2",
            ),
            dbc.Checkbox(
                id=ids.F_VIEW_SHARED, label="Share with everyone signed in", value=False, class_name="small mt-1"
            ),
            html.Div(id=ids.F_VIEW_STATUS, className="small", role="status"),
        ],
        className="ad-filter ad-views",
    )


def _status(text: str, ok: bool = True) -> html.Span:
    return html.Span(text, className="text-success" if ok else "text-danger")


def _actor() -> Any:
    from dashboard.web.auth import request_actor

    return request_actor()


def _link(view: saved_views.SavedView) -> str:
    """The view's full link on the page the person is on."""
    path = flask.request.headers.get("Referer", "")
    base = flask.request.host_url.rstrip("/")
    page = "/"
    if path.startswith(base):
        page = path[len(base) :].split("?", 1)[0] or "/"
    return base + view.link(page)


def _open(view_id: str | None) -> tuple[Any, ...]:
    """A chosen view: its filters into the URL, and what may be done with it."""
    if not view_id:
        return no_update, "ad-view-actions d-none", "", "Share", False, None
    who = viewer()
    try:
        view = saved_views.get(state().db, str(view_id), who.username)
    except saved_views.SavedViewError as exc:
        return no_update, "ad-view-actions d-none", "", "Share", False, _status(str(exc), ok=False)
    own = view.owner == who.username
    target = {"search": "?" + view.query, "push": True}
    about = "ad-view-actions d-flex gap-3 align-items-center mt-1" + ("" if own else " ad-view-others")
    share_label = "Stop sharing" if view.shared else "Share with everyone"
    # (a view just saved keeps its "Saved as" line)
    note = (
        no_update
        if own
        else html.Span(f"{view.owner}'s view: only they may change it.", className="text-body-secondary")
    )
    return target, about, _link(view), share_label, not own, note


def _save(clicks: int | None, name: str | None, shared: bool | None, data: dict[str, Any] | None) -> tuple[Any, ...]:
    if not clicks:
        raise PreventUpdate
    who = viewer()
    if not data:
        return no_update, no_update, _status("The view is still loading; try again.", ok=False), no_update
    try:
        view = saved_views.save(state().db, _actor(), name or "", Filters.from_store(data), bool(shared))
    except saved_views.SavedViewError as exc:
        return no_update, no_update, _status(f"Not saved: {exc}.", ok=False), no_update
    options = view_options(saved_views.visible(state().db, who.username), who.username)
    shared_note = " Everyone signed in can open it." if view.shared else " Only you see it."
    return options, view.id, _status(f"Saved as “{view.name}”." + shared_note), ""


def _change(_share: int | None, _delete: int | None, view_id: str | None) -> tuple[Any, ...]:
    trigger = dash.ctx.triggered_id
    if not view_id or trigger not in (ids.F_VIEW_SHARE, ids.F_VIEW_DELETE) or not dash.ctx.triggered[0].get("value"):
        raise PreventUpdate
    who = viewer()
    db = state().db
    try:
        if trigger == ids.F_VIEW_DELETE:
            view = saved_views.delete(db, _actor(), str(view_id))
            message, value = f"Deleted “{view.name}”.", None
        else:
            current = saved_views.get(db, str(view_id), who.username)
            view = saved_views.set_shared(db, _actor(), current.id, not current.shared)
            message = f"“{view.name}” is " + (
                "shared with everyone signed in." if view.shared else "yours alone again."
            )
            value = view.id
    except saved_views.SavedViewError as exc:
        return no_update, no_update, _status(str(exc), ok=False)
    return view_options(saved_views.visible(db, who.username), who.username), value, _status(message)


def install_views(app: dash.Dash) -> None:
    """Register the saved views' callbacks (from the shell's installer)."""
    app.callback(
        Output(URL_TARGET, "data", allow_duplicate=True),
        Output(ids.F_VIEW_ABOUT, "className"),
        Output(ids.F_VIEW_LINK, "content"),
        Output(ids.F_VIEW_SHARE, "children"),
        Output(ids.F_VIEW_DELETE, "disabled"),
        Output(ids.F_VIEW_STATUS, "children", allow_duplicate=True),
        Input(ids.F_VIEWS, "value"),
        prevent_initial_call=True,
    )(_open)
    app.callback(
        Output(ids.F_VIEWS, "options", allow_duplicate=True),
        Output(ids.F_VIEWS, "value", allow_duplicate=True),
        Output(ids.F_VIEW_STATUS, "children", allow_duplicate=True),
        Output(ids.F_VIEW_NAME, "value"),
        Input(ids.F_VIEW_SAVE, "n_clicks"),
        State(ids.F_VIEW_NAME, "value"),
        State(ids.F_VIEW_SHARED, "value"),
        State(ids.FILTERS, "data"),
        prevent_initial_call=True,
    )(_save)
    app.callback(
        Output(ids.F_VIEWS, "options", allow_duplicate=True),
        Output(ids.F_VIEWS, "value", allow_duplicate=True),
        Output(ids.F_VIEW_STATUS, "children", allow_duplicate=True),
        Input(ids.F_VIEW_SHARE, "n_clicks"),
        Input(ids.F_VIEW_DELETE, "n_clicks"),
        State(ids.F_VIEWS, "value"),
        prevent_initial_call=True,
    )(_change)

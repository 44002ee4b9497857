"""Overview: activity over time, headline figures and the busiest users and actions of the view."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, html
from dash.exceptions import PreventUpdate

from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import views
from dashboard.web.components.filterbar import page_filters, page_moment, patch
from dashboard.web.components.parts import graph_card, page_header, stat_card, table_card
from dashboard.web.state import state

dash.register_page(__name__, path="/", name="Overview", title="Overview · Audit Logs · auditdash", order=0)

LEAD = "Track and monitor all account activities with comprehensive audit logs."


def layout(**_query: str) -> html.Div:
    """The page skeleton; the charts follow the shell's `filters` store (which the URL sets)."""
    return html.Div(
        [
            page_header("Audit Logs", "Overview", LEAD),
            dbc.Row(
                [
                    stat_card("Events", ids.OV_EVENTS),
                    stat_card("Failed logins", ids.OV_FAILED_LOGINS),
                    stat_card("Users", ids.OV_USERS, "distinct people acting"),
                    stat_card("IP addresses", ids.OV_IPS, "distinct sources"),
                    stat_card("Open alerts", ids.OV_ALERTS, note_id=f"{ids.OV_ALERTS}-note"),
                ],
                className="g-3 mb-3",
            ),
            html.Div(
                graph_card(ids.OV_TIMELINE, 380, footer="Click a bar to show only its period."),
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(graph_card(ids.OV_TOP_USERS, 320, footer="Click a bar to show only that user."), lg=6),
                    dbc.Col(graph_card(ids.OV_TOP_ACTIONS, 320, footer="Click a bar to show only that action."), lg=6),
                ],
                className="g-3 mb-3",
            ),
            table_card("Events by category", "ov-category-body", "Click a category to show only its events."),
        ],
        className="ad-page",
    )


@callback(
    Output(ids.OV_EVENTS, "children"),
    Output(ids.OV_FAILED_LOGINS, "children"),
    Output(ids.OV_USERS, "children"),
    Output(ids.OV_IPS, "children"),
    Output(ids.OV_ALERTS, "children"),
    Output(f"{ids.OV_ALERTS}-note", "children"),
    Input(ids.FILTERS, "data"),
)
def _cards(data: dict[str, Any] | None) -> tuple[str, ...]:
    c = views.overview_cards(state().db, page_filters(data), page_moment(data))
    return c.events, c.failed_logins, c.users, c.ips, c.open_alerts, c.alerts_note


@callback(Output(ids.OV_TIMELINE, "figure"), Input(ids.FILTERS, "data"))
def _timeline(data: dict[str, Any] | None) -> Any:
    return views.overview_timeline(state().db, page_filters(data), page_moment(data))


@callback(
    Output(ids.OV_TOP_USERS, "figure"),
    Output(ids.OV_TOP_ACTIONS, "figure"),
    Output("ov-category-body", "children"),
    Input(ids.FILTERS, "data"),
)
def _rankings(data: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    return views.overview_rankings(state().db, page_filters(data), viewer().masked, page_moment(data))


@callback(
    Output(ids.FILTERS_PATCH, "data", allow_duplicate=True),
    Input(ids.OV_TIMELINE, "clickData"),
    Input(ids.OV_TOP_USERS, "clickData"),
    Input(ids.OV_TOP_ACTIONS, "clickData"),
    prevent_initial_call=True,
)
def _cross_filter(timeline: Any, users: Any, actions: Any) -> dict[str, Any]:
    source = dash.ctx.triggered_id
    click = {ids.OV_TIMELINE: timeline, ids.OV_TOP_USERS: users, ids.OV_TOP_ACTIONS: actions}.get(source)
    if not isinstance(click, dict):
        raise PreventUpdate
    try:
        custom = click["points"][0]["customdata"]
    except (TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    if source == ids.OV_TIMELINE:
        start, _, end = str(custom).partition("/")  # the bar's period, an ISO 8601 interval
        return patch(start=start, end=end)
    if source == ids.OV_TOP_USERS:
        return patch(users=[str(custom)])
    return patch(actions=[str(custom)])

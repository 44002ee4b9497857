"""Overview: activity over time, headline figures and the busiest users and actions of the view."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import views
from dashboard.web.components.filterbar import page_filters, page_moment, patch
from dashboard.web.components.parts import graph_card, only_changed, page_header, stat_card, table_card
from dashboard.web.state import state

dash.register_page(__name__, path="/", name="Overview", title="Overview · Audit Logs · auditdash", order=0)

LEAD = "Events and failed logins, the busiest users and actions, and activity by category."
#: the subtitle's id (it says what the page shows for the view)
LEAD_ID = "ov-lead"
#: digests of what the page's callback last sent (`parts.only_changed`)
SHOWN = "ov-shown"


def layout(**_query: str) -> html.Div:
    """The page skeleton; the charts follow the shell's `filters` store (which the URL sets)."""
    return html.Div(
        [
            dcc.Store(id=SHOWN, storage_type="memory"),
            page_header("Audit Logs", "Overview", LEAD, lead_id=LEAD_ID),
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


#: every output of the page's one callback, by the name `only_changed` keeps its digest under
_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("lead", LEAD_ID, "children"),
    ("events", ids.OV_EVENTS, "children"),
    ("failed", ids.OV_FAILED_LOGINS, "children"),
    ("users", ids.OV_USERS, "children"),
    ("ips", ids.OV_IPS, "children"),
    ("alerts", ids.OV_ALERTS, "children"),
    ("alerts_note", f"{ids.OV_ALERTS}-note", "children"),
    ("timeline", ids.OV_TIMELINE, "figure"),
    ("top_users", ids.OV_TOP_USERS, "figure"),
    ("top_actions", ids.OV_TOP_ACTIONS, "figure"),
    ("categories", "ov-category-body", "children"),
)


@callback(
    *(Output(cid, prop) for _, cid, prop in _OUTPUTS),
    Output(SHOWN, "data"),
    Input(ids.FILTERS, "data"),
    State(SHOWN, "data"),
)
def _page(data: dict[str, Any] | None, shown: Any) -> tuple[Any, ...]:
    """The whole page in one round trip: its queries run side by side, only what changed is sent."""
    if data is None:
        raise PreventUpdate  # the shell has not read the URL yet
    db, f, now, masked = state().db, page_filters(data), page_moment(data), viewer().masked
    cards, timeline, (users, actions, table) = views.in_parallel(
        lambda: views.overview_cards(db, f, now),
        lambda: views.overview_timeline(db, f, now),
        lambda: views.overview_rankings(db, f, masked, now),
    )
    values = dict(
        zip(
            (name for name, _, _ in _OUTPUTS),
            (
                views.overview_lead(f, now),
                cards.events,
                cards.failed_logins,
                cards.users,
                cards.ips,
                cards.open_alerts,
                cards.alerts_note,
                timeline,
                users,
                actions,
                table,
            ),
            strict=True,
        )
    )
    out, digests = only_changed(values, shown)
    return (*out, digests)


# A bar of the timeline narrows the view to its period: its start is the bar's x, its width the
# chart's `meta.bucket_seconds` (assets/pages.js); the browser has both, the server adds nothing.
dash.clientside_callback(
    ClientsideFunction(namespace="auditdashPages", function_name="timelinePeriod"),
    Output(ids.FILTERS_PATCH, "data", allow_duplicate=True),
    Input(ids.OV_TIMELINE, "clickData"),
    State(ids.OV_TIMELINE, "figure"),
    prevent_initial_call=True,
)


@callback(
    Output(ids.FILTERS_PATCH, "data", allow_duplicate=True),
    Input(ids.OV_TOP_USERS, "clickData"),
    Input(ids.OV_TOP_ACTIONS, "clickData"),
    prevent_initial_call=True,
)
def _cross_filter(users: Any, actions: Any) -> dict[str, Any]:
    source = dash.ctx.triggered_id
    click = {ids.OV_TOP_USERS: users, ids.OV_TOP_ACTIONS: actions}.get(source)
    if not isinstance(click, dict):
        raise PreventUpdate
    try:
        custom = click["points"][0]["customdata"]
    except (TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    if source == ids.OV_TOP_USERS:
        return patch(users=[str(custom)])
    return patch(actions=[str(custom)])

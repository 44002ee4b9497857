"""Overview: activity over time, headline figures and the busiest users and actions of the view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.filters import Filters
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import page_view, views
from dashboard.web.components.filterbar import patch
from dashboard.web.components.parts import graph_card, only_changed, page_header, stat_card, table_card
from dashboard.web.state import state

PATH = "/"
dash.register_page(__name__, path=PATH, name="Overview", title="Overview · Audit Logs · auditdash", order=0)

LEAD = "Events and failed logins, the busiest users and actions, and activity by category."
#: the subtitle's id (it says what the page shows for the view)
LEAD_ID = "ov-lead"
#: digests of what the page shows and the key of its view (`page_view`)
SHOWN = page_view.shown_id("overview")
#: the `filters` store, passed on by the clientside gate when the page does not show its view
WANT = "ov-want"


def layout(**query: Any) -> html.Div:
    """The page with the view its link names drawn in it (`page_view`); later changes of the shell's
    `filters` store redraw what changed (`_page`)."""
    f = page_view.link_filters(query)
    v = _draw(f, None, viewer().masked)
    return html.Div(
        [
            dcc.Store(id=SHOWN, storage_type="memory", data=page_view.shown_data(f, only_changed(v, None)[1])),
            dcc.Store(id=WANT, storage_type="memory"),
            page_header("Audit Logs", "Overview", v["lead"], lead_id=LEAD_ID),
            dbc.Row(
                [
                    stat_card("Events", ids.OV_EVENTS, value=v["events"]),
                    stat_card("Failed logins", ids.OV_FAILED_LOGINS, value=v["failed"]),
                    stat_card("Users", ids.OV_USERS, "distinct people acting", value=v["users"]),
                    stat_card("IP addresses", ids.OV_IPS, "distinct sources", value=v["ips"]),
                    stat_card("Open alerts", ids.OV_ALERTS, v["alerts_note"], f"{ids.OV_ALERTS}-note", v["alerts"]),
                ],
                className="g-3 mb-3",
            ),
            html.Div(
                graph_card(ids.OV_TIMELINE, 380, "Click a bar to show only its period.", figure=v["timeline"]),
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        graph_card(ids.OV_TOP_USERS, 320, "Click a bar to show only that user.", figure=v["top_users"]),
                        lg=6,
                    ),
                    dbc.Col(
                        graph_card(
                            ids.OV_TOP_ACTIONS, 320, "Click a bar to show only that action.", figure=v["top_actions"]
                        ),
                        lg=6,
                    ),
                ],
                className="g-3 mb-3",
            ),
            table_card(
                "Events by category",
                "ov-category-body",
                "Click a category to show only its events.",
                body=v["categories"],
            ),
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


def _draw(f: Filters, now: datetime | None, masked: bool) -> dict[str, Any]:
    """Every output's value for view `f`, by name (its queries run side by side)."""
    db = state().db
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
    return values


# After a change the shell draws the page in its own answer (`page_view.draw_into`); when it did
# not, the page draws itself (`page_view.register`).
_PAGE = page_view.Page(PATH, "overview", _OUTPUTS, _draw)
page_view.register(_PAGE, WANT, __name__)


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

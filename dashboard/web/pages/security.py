"""Security: failed logins (when, who, why), where activity comes from, addresses, access changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, html
from dash.exceptions import PreventUpdate

from dashboard.events.taxonomy import FAILED_LOGIN_ACTIONS, FAILED_LOGIN_OUTCOME
from dashboard.figures import actor_from_label, weekday_hour_of
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import views
from dashboard.web.components.filterbar import page_filters, page_moment, patch
from dashboard.web.components.parts import MAP_CONFIG, graph_card, page_header, stat_card, table_card
from dashboard.web.state import state

dash.register_page(__name__, path="/security", name="Security", title="Security · Audit Logs · auditdash", order=10)

LEAD = "Failed login attempts, where sign-ins come from, and changes to roles and permissions."


def _credits() -> list[Any]:
    parts: list[Any] = []
    for credit in state().geo.credits:
        if parts:
            parts.append("; ")
        if credit.url:
            parts.append(html.A(credit.text, href=credit.url, target="_blank", rel="noopener noreferrer"))
        else:
            parts.append(credit.text)
    return parts or ["No geolocation database is installed: addresses are not placed."]


def layout(**_query: str) -> html.Div:
    """The page skeleton; the charts follow the shell's `filters` store (which the URL sets)."""
    return html.Div(
        [
            page_header("Security", "Security", LEAD),
            dbc.Row(
                [
                    stat_card("Failed logins", ids.SEC_FAILED),
                    stat_card("Account lockouts", ids.SEC_LOCKED),
                    stat_card("Users with failed logins", ids.SEC_FAILING_USERS),
                    stat_card("Addresses with failed logins", ids.SEC_FAILING_IPS),
                ],
                className="g-3 mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        graph_card(
                            ids.SEC_HEATMAP_WEEK,
                            300,
                            footer="Click a cell to show only the failed logins of that weekday and hour.",
                        ),
                        lg=7,
                    ),
                    dbc.Col(graph_card(ids.SEC_REASONS, 300, footer="Click a bar to show only those failures."), lg=5),
                ],
                className="g-3 mb-3",
            ),
            html.Div(
                graph_card(ids.SEC_HEATMAP_USERS, 320, footer="Click a cell to show that user on that day."),
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        graph_card(
                            ids.SEC_MAP,
                            460,
                            config=MAP_CONFIG,
                            footer=html.Div(
                                [
                                    html.Span(id=ids.SEC_MAP_NOTE),
                                    " Click a place to show only its country; a star marks a country new to a user. ",
                                    html.Span(_credits(), className="ad-credit", id="geo-credit"),
                                ]
                            ),
                        ),
                        xl=7,
                    ),
                    dbc.Col(
                        table_card(
                            "Countries new to a user",
                            ids.SEC_NEW_COUNTRIES,
                            "First activity from a country in this view, after activity from elsewhere before.",
                            scroll=True,
                        ),
                        xl=5,
                    ),
                ],
                className="g-3 mb-3",
            ),
            html.Div(
                table_card(
                    "Top addresses",
                    ids.SEC_TOP_IPS,
                    "Most failures first. Click an address or a country to show only it.",
                ),
                className="mb-3",
            ),
            table_card("Permission and role changes", ids.SEC_CHANGES, "Newest first; one line per changed value."),
        ],
        className="ad-page",
    )


@callback(
    Output(ids.SEC_FAILED, "children"),
    Output(ids.SEC_LOCKED, "children"),
    Output(ids.SEC_FAILING_USERS, "children"),
    Output(ids.SEC_FAILING_IPS, "children"),
    Output(ids.SEC_HEATMAP_WEEK, "figure"),
    Output(ids.SEC_HEATMAP_USERS, "figure"),
    Output(ids.SEC_REASONS, "figure"),
    Input(ids.FILTERS, "data"),
)
def _failures(data: dict[str, Any] | None) -> tuple[Any, ...]:
    c = views.security_failures(state().db, page_filters(data), viewer().masked, page_moment(data))
    return c.failed, c.locked, c.failing_users, c.failing_ips, c.weekday_hour, c.user_day, c.reasons


@callback(
    Output(ids.SEC_MAP, "figure"),
    Output(ids.SEC_NEW_COUNTRIES, "children"),
    Output(ids.SEC_MAP_NOTE, "children"),
    Input(ids.FILTERS, "data"),
)
def _map(data: dict[str, Any] | None) -> tuple[Any, Any, str]:
    return views.security_map(state().db, page_filters(data), viewer().masked, page_moment(data))


@callback(
    Output(ids.SEC_TOP_IPS, "children"),
    Output(ids.SEC_CHANGES, "children"),
    Input(ids.FILTERS, "data"),
)
def _tables(data: dict[str, Any] | None) -> tuple[Any, Any]:
    return views.security_tables(state().db, page_filters(data), viewer().masked, page_moment(data))


@callback(
    Output(ids.FILTERS_PATCH, "data", allow_duplicate=True),
    Input(ids.SEC_HEATMAP_WEEK, "clickData"),
    Input(ids.SEC_HEATMAP_USERS, "clickData"),
    Input(ids.SEC_REASONS, "clickData"),
    Input(ids.SEC_MAP, "clickData"),
    prevent_initial_call=True,
)
def _cross_filter(week: Any, users: Any, reasons: Any, geo: Any) -> dict[str, Any]:
    source = dash.ctx.triggered_id
    click = {ids.SEC_HEATMAP_WEEK: week, ids.SEC_HEATMAP_USERS: users, ids.SEC_REASONS: reasons, ids.SEC_MAP: geo}.get(
        source
    )
    if not isinstance(click, dict):
        raise PreventUpdate
    try:
        point = click["points"][0]
    except (TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    failed = {"outcome": FAILED_LOGIN_OUTCOME}
    if source == ids.SEC_HEATMAP_WEEK:
        cell = weekday_hour_of(point.get("x"), point.get("y"))
        if cell is None:
            raise PreventUpdate
        weekday, hour = cell
        return patch(**failed, actions=list(FAILED_LOGIN_ACTIONS), weekdays=[weekday], hours=[hour])
    custom = point.get("customdata")
    if source == ids.SEC_HEATMAP_USERS:
        try:
            day = date.fromisoformat(str(point.get("x")))
        except ValueError:
            raise PreventUpdate from None
        start = datetime.combine(day, datetime.min.time())
        changes: dict[str, Any] = {"start": start, "end": start + timedelta(days=1)}
        actor = actor_from_label(str(point.get("y", "")))
        if actor:
            changes["users"] = [actor]
        return patch(**changes)
    if source == ids.SEC_REASONS and isinstance(custom, str):
        return patch(**failed, actions=[custom])
    if source == ids.SEC_MAP and isinstance(custom, list) and len(custom) == 2 and custom[0] in ("country", "users"):
        field = "countries" if custom[0] == "country" else "users"
        return patch(**{field: [str(custom[1])]})
    raise PreventUpdate

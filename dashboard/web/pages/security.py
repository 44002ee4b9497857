"""Security: failed logins (when, who, why), where activity comes from, addresses, access changes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.events.taxonomy import FAILED_LOGIN_ACTIONS, FAILED_LOGIN_OUTCOME
from dashboard.figures import MAP_HEIGHT, actor_from_label, weekday_hour_of
from dashboard.filters import Filters
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import page_view, views
from dashboard.web.components.filterbar import patch
from dashboard.web.components.parts import MAP_CONFIG, graph_card, only_changed, page_header, stat_card, table_card
from dashboard.web.state import state

PATH = "/security"
dash.register_page(__name__, path=PATH, name="Security", title="Security · Audit Logs · auditdash", order=10)

LEAD = "Failed login attempts, where sign-ins come from, and changes to roles and permissions."
#: digests of what the page shows and the key of its view (`page_view`)
SHOWN = page_view.shown_id("security")
#: the `filters` store, passed on by the clientside gate when the page does not show its view
WANT = "sec-want"


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


def layout(**query: Any) -> html.Div:
    """The page with the view its link names drawn in it (`page_view`); later changes of the shell's
    `filters` store redraw what changed (`_page`)."""
    f = page_view.link_filters(query)
    v = _draw(f, None, viewer().masked)
    return html.Div(
        [
            dcc.Store(id=SHOWN, storage_type="memory", data=page_view.shown_data(f, only_changed(v, None)[1])),
            dcc.Store(id=WANT, storage_type="memory"),
            page_header("Security", "Security", LEAD),
            dbc.Row(
                [
                    stat_card("Failed logins", ids.SEC_FAILED, value=v["failed"]),
                    stat_card("Account lockouts", ids.SEC_LOCKED, value=v["locked"]),
                    stat_card("Users with failed logins", ids.SEC_FAILING_USERS, value=v["failing_users"]),
                    stat_card("Addresses with failed logins", ids.SEC_FAILING_IPS, value=v["failing_ips"]),
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
                            figure=v["weekday_hour"],
                        ),
                        lg=7,
                    ),
                    dbc.Col(
                        graph_card(
                            ids.SEC_REASONS, 300, footer="Click a bar to show only those failures.", figure=v["reasons"]
                        ),
                        lg=5,
                    ),
                ],
                className="g-3 mb-3",
            ),
            html.Div(
                graph_card(
                    ids.SEC_HEATMAP_USERS,
                    320,
                    footer="Click a cell to show that user on that day.",
                    figure=v["user_day"],
                ),
                className="mb-3",
            ),
            # the map takes the page's width: half of it left Europe's cities on top of each other
            html.Div(
                graph_card(
                    ids.SEC_MAP,
                    MAP_HEIGHT,
                    config=MAP_CONFIG,
                    figure=v["map"],
                    footer=html.Div(
                        [
                            html.Span(v["map_note"], id=ids.SEC_MAP_NOTE),
                            " Click a place to show only its country; a star marks a country new to a user."
                            " Size: events; colour: the share of them that failed. ",
                            html.Span(_credits(), className="ad-credit", id="geo-credit"),
                        ]
                    ),
                ),
                className="mb-3",
            ),
            html.Div(
                table_card(
                    "Countries new to a user",
                    ids.SEC_NEW_COUNTRIES,
                    "First activity from a country in this view, after activity from elsewhere before.",
                    scroll=True,
                    body=v["new_countries"],
                ),
                className="mb-3",
            ),
            html.Div(
                table_card(
                    "Top addresses",
                    ids.SEC_TOP_IPS,
                    "Most failures first. Click an address or a country to show only it.",
                    body=v["top_ips"],
                ),
                className="mb-3",
            ),
            table_card(
                "Permission and role changes",
                ids.SEC_CHANGES,
                "Newest first; one line per changed value.",
                body=v["changes"],
            ),
        ],
        className="ad-page",
    )


#: every output of the page's one callback, by the name `only_changed` keeps its digest under
_OUTPUTS: tuple[tuple[str, str, str], ...] = (
    ("failed", ids.SEC_FAILED, "children"),
    ("locked", ids.SEC_LOCKED, "children"),
    ("failing_users", ids.SEC_FAILING_USERS, "children"),
    ("failing_ips", ids.SEC_FAILING_IPS, "children"),
    ("weekday_hour", ids.SEC_HEATMAP_WEEK, "figure"),
    ("user_day", ids.SEC_HEATMAP_USERS, "figure"),
    ("reasons", ids.SEC_REASONS, "figure"),
    ("map", ids.SEC_MAP, "figure"),
    ("new_countries", ids.SEC_NEW_COUNTRIES, "children"),
    ("map_note", ids.SEC_MAP_NOTE, "children"),
    ("top_ips", ids.SEC_TOP_IPS, "children"),
    ("changes", ids.SEC_CHANGES, "children"),
)


def _draw(f: Filters, now: datetime | None, masked: bool) -> dict[str, Any]:
    """Every output's value for view `f`, by name (its queries run side by side)."""
    db = state().db
    c, (world, new_countries, note), (top_ips, changes) = views.in_parallel(
        lambda: views.security_failures(db, f, masked, now),
        lambda: views.security_map(db, f, masked, now),
        lambda: views.security_tables(db, f, masked, now),
    )
    values = dict(
        zip(
            (name for name, _, _ in _OUTPUTS),
            (
                c.failed,
                c.locked,
                c.failing_users,
                c.failing_ips,
                c.weekday_hour,
                c.user_day,
                c.reasons,
                world,
                new_countries,
                note,
                top_ips,
                changes,
            ),
            strict=True,
        )
    )
    return values


# After a change the shell draws the page in its own answer (`page_view.draw_into`); when it did
# not, the page draws itself (`page_view.register`).
_PAGE = page_view.Page(PATH, "security", _OUTPUTS, _draw)
page_view.register(_PAGE, WANT, __name__)


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

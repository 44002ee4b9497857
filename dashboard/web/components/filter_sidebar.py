"""The filter sidebar's layout (its values are set by the shell's callback from the URL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.events.contract import OUTCOMES
from dashboard.filters import CALENDAR_PRESETS, ROLLING_PRESETS
from dashboard.web import ids
from dashboard.web.components.filter_choices import Choices, action_options, simple_options, zone_options
from dashboard.web.components.filter_controls import CUSTOM, OUTCOME_LABELS
from dashboard.web.components.filter_views import views_section
from dashboard.web.components.parts import attrs


def _section(label: str, control: Any, help_text: str | None = None, label_for: str | None = None) -> html.Div:
    return html.Div(
        [
            dbc.Label(label, html_for=label_for, className="ad-filter-label"),
            control,
            dbc.FormText(help_text, className="ad-filter-help") if help_text else None,
        ],
        className="ad-filter",
    )


#: the preset buttons' short labels (the summary line says the whole name and the dates)
PRESET_BUTTONS: dict[str, str] = {
    "24h": "24 h",
    "7d": "7 d",
    "30d": "30 d",
    "90d": "90 d",
    "yesterday": "Yesterday",
    "last-week": "Last week",
    "last-month": "Last month",
    "last-quarter": "Last quarter",
    "mtd": "Month to date",
    "ytd": "Year to date",
}
#: a multi-select applies when its list closes (several values are picked in one go)
ON_CLOSE = "Applies when the list closes."


def _buttons(control_id: str, options: list[dict[str, Any]], value: str, class_name: str) -> dbc.RadioItems:
    return dbc.RadioItems(
        id=control_id,
        options=options,
        value=value,
        inline=True,
        class_name=class_name,
        input_class_name="btn-check",
        label_class_name="btn btn-outline-secondary",
        label_checked_class_name="active",
    )


def sidebar(
    choices: Choices,
    masked: bool,
    people: Sequence[dict[str, str]] = (),
    views: Sequence[dict[str, Any]] = (),
) -> html.Aside:
    """The filter sidebar (values are set by the shell's callback from the URL; `people`: first user
    options; `views`: the saved views the viewer sees, as dropdown options)."""
    presets = [{"label": PRESET_BUTTONS[key], "value": key} for key in (*ROLLING_PRESETS, *CALENDAR_PRESETS)]
    presets.append({"label": "Custom", "value": CUSTOM})
    return html.Aside(
        [
            html.Div(
                [
                    html.H2("Filters", className="h6 mb-0"),
                    dbc.Button("Clear all", id=ids.F_CLEAR, size="sm", color="link", className="p-0", n_clicks=0),
                ],
                className="d-flex justify-content-between align-items-center mb-2",
            ),
            views_section(views),
            _section(
                "Date range",
                html.Div(
                    [
                        _buttons(ids.F_PRESET, presets, "7d", "ad-presets w-100"),
                        dcc.DatePickerRange(
                            id=ids.F_DATES,
                            display_format="YYYY-MM-DD",
                            first_day_of_week=1,
                            updatemode="bothdates",
                            minimum_nights=0,
                            # over the page, not inside the sidebar: both months are seen whole
                            with_portal=True,
                            className="ad-dates mt-2",
                        ),
                    ]
                ),
                "Calendar ranges (yesterday, last week ...) are whole days in the zone chosen below.",
            ),
            _section(
                "Users",
                dcc.Dropdown(
                    id=ids.F_USERS,
                    multi=True,
                    placeholder="Search by name, id or e-mail" if not masked else "Search by name or id",
                    options=list(people),
                    value=[],
                    closeOnSelect=False,
                    debounce=True,
                ),
                ON_CLOSE,
            ),
            _section(
                "Roles",
                dcc.Dropdown(
                    id=ids.F_ROLES,
                    multi=True,
                    options=simple_options(ids.F_ROLES, choices.roles),
                    value=[],
                    placeholder="All roles",
                    closeOnSelect=False,
                    debounce=True,
                ),
                ON_CLOSE,
            ),
            _section(
                "Action types",
                dcc.Dropdown(
                    id=ids.F_ACTIONS,
                    multi=True,
                    options=action_options(),
                    value=[],
                    placeholder="All activities",
                    closeOnSelect=False,
                    debounce=True,
                    optionHeight=30,
                    maxHeight=320,
                ),
                "A whole category, or single actions. " + ON_CLOSE,
            ),
            _section(
                "Outcome",
                _buttons(
                    ids.F_OUTCOME,
                    [{"label": OUTCOME_LABELS.get(o, o), "value": o} for o in ("", *OUTCOMES)],
                    "",
                    "btn-group btn-group-sm w-100",
                ),
            ),
            _section(
                "IP address or block",
                dbc.Input(
                    id=ids.F_IP,
                    type="text",
                    placeholder="203.0.113.7 or 10.0.0.0/8",
                    debounce=True,
                    size="sm",
                    autocomplete="off",
                    value="",
                ),
                label_for=ids.F_IP,
            ),
            _section(
                "Country",
                dcc.Dropdown(
                    id=ids.F_COUNTRIES,
                    multi=True,
                    options=simple_options(ids.F_COUNTRIES, choices.countries),
                    value=[],
                    placeholder="All countries",
                    closeOnSelect=False,
                    debounce=True,
                ),
                ON_CLOSE,
            ),
            _section(
                "Accounts",
                dcc.Dropdown(
                    id=ids.F_ACCOUNTS,
                    multi=True,
                    options=simple_options(ids.F_ACCOUNTS, choices.accounts),
                    value=[],
                    placeholder="All accounts",
                    closeOnSelect=False,
                    debounce=True,
                ),
                ON_CLOSE + " A team is a saved view of its accounts: choose them, then save the view "
                "under the team's name (above); packs and schedules can be made from it.",
            ),
            _section(
                "Text",
                dbc.Input(
                    id=ids.F_TEXT,
                    type="search",
                    placeholder="Actor, target or changed value",
                    debounce=True,
                    size="sm",
                    autocomplete="off",
                    value="",
                ),
                "Press Enter to apply.",
                label_for=ids.F_TEXT,
            ),
            _section(
                "Time zone",
                html.Div(
                    [
                        dcc.Dropdown(
                            id=ids.F_TZ,
                            options=zone_options(),
                            value=None,
                            clearable=False,
                            searchable=True,
                            placeholder="Type a city or zone",
                        ),
                        dbc.Switch(id=ids.F_UTC, label="Show times in UTC", value=False, class_name="mt-2 mb-0"),
                    ]
                ),
                "Every chart and time says which zone it shows. UTC off returns to the zone chosen here.",
            ),
            _section(
                "auditdash's own activity",
                dbc.Switch(
                    id=ids.F_OWN,
                    label="Include auditdash's own activity",
                    value=False,
                    class_name="mb-0",
                ),
                "Sign-ins, views and exports of this dashboard's users (category audit). Always recorded; "
                "left out of the figures unless switched on here or chosen under Action types.",
            ),
        ],
        id=ids.SIDEBAR,
        className="ad-sidebar",
        **attrs(aria_label="Filters"),
    )

"""The filter sidebar's layout (its values are set by the shell's callback from the URL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.events.contract import OUTCOMES
from dashboard.filters import PRESET_LABELS
from dashboard.web import ids
from dashboard.web.components.filter_choices import Choices, action_options, simple_options, zone_options
from dashboard.web.components.filter_controls import CUSTOM, OUTCOME_LABELS
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


def sidebar(choices: Choices, masked: bool, people: Sequence[dict[str, str]] = ()) -> html.Aside:
    """The filter sidebar (values are set by the shell's callback from the URL; `people`: first user options)."""
    presets = [{"label": key.replace("h", " h").replace("d", " d"), "value": key} for key in PRESET_LABELS]
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
            _section(
                "Date range",
                html.Div(
                    [
                        dbc.RadioItems(
                            id=ids.F_PRESET,
                            options=presets,
                            value="7d",
                            inline=True,
                            class_name="ad-presets btn-group btn-group-sm w-100",
                            input_class_name="btn-check",
                            label_class_name="btn btn-outline-secondary",
                            label_checked_class_name="active",
                        ),
                        dcc.DatePickerRange(
                            id=ids.F_DATES,
                            display_format="YYYY-MM-DD",
                            first_day_of_week=1,
                            updatemode="bothdates",
                            minimum_nights=0,
                            className="ad-dates mt-2",
                        ),
                    ]
                ),
                "Dates are in the zone chosen below.",
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
                "A whole category, or single actions.",
            ),
            _section(
                "Outcome",
                dbc.RadioItems(
                    id=ids.F_OUTCOME,
                    options=[{"label": OUTCOME_LABELS.get(o, o), "value": o} for o in ("", *OUTCOMES)],
                    value="",
                    inline=True,
                    class_name="btn-group btn-group-sm w-100",
                    input_class_name="btn-check",
                    label_class_name="btn btn-outline-secondary",
                    label_checked_class_name="active",
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
                            id=ids.F_TZ, options=zone_options(), value=None, clearable=False, placeholder="Browser zone"
                        ),
                        dbc.Switch(id=ids.F_UTC, label="Show times in UTC", value=False, class_name="mt-2 mb-0"),
                    ]
                ),
                "Every chart and time says which zone it shows.",
            ),
        ],
        id=ids.SIDEBAR,
        className="ad-sidebar",
        **attrs(aria_label="Filters"),
    )

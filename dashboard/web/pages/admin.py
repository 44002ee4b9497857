"""Users & tokens (administrators only): dashboard users, their sessions, API tokens.

Every id here starts with `admin-`: the request guard refuses those callbacks, and this page,
to every role but `admin` (docs/security.md); the callbacks check again. Nothing here deletes
audit events: users are disabled, tokens revoked, and each change is itself logged.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

from dashboard.access import tokens, users
from dashboard.roles import ADMINS, MANAGER, ROLES
from dashboard.web import auth_admin
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.components.parts import data_table
from dashboard.web.state import state

dash.register_page(
    __name__,
    path="/admin",
    name="Users & tokens",
    title="Users & tokens · auditdash",
    order=90,
    nav=False,  # reached from the signed-in bar, which shows the link to administrators only
    roles=ADMINS,
)

USER_BUTTONS = ("admin-add-user", *auth_admin.USER_ACTIONS)


def _section(title: str, *children: Any) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(list(children))], className="mb-3")


def _button(label: str, button_id: str, color: str = "secondary") -> dbc.Button:
    return dbc.Button(label, id=button_id, color=color, size="sm", outline=color == "secondary", n_clicks=0)


def layout(**_query: str) -> html.Div:
    """The page."""
    if not viewer().is_admin:
        return html.Div("Only administrators may manage users and tokens.", id="admin-refused")
    db = state().db
    found_users = users.list_users(db)
    found_tokens = tokens.list_tokens(db)
    role_options = [{"label": r, "value": r} for r in ROLES]
    return html.Div(
        [
            html.H1("Users & tokens", className="h3"),
            html.P(
                "Changes here are recorded in the audit log (category audit). Users are disabled, "
                "never deleted; tokens are revoked.",
                className="text-muted",
            ),
            _section(
                "Dashboard users",
                html.Div(id="admin-user-notice"),
                html.Div(auth_admin.users_table(found_users), id="admin-users-table", className="mb-3"),
                dbc.Row(
                    [
                        dbc.Col(dbc.Input(id="admin-new-user", placeholder="new user name", size="sm"), md=3),
                        dbc.Col(dbc.Select(id="admin-new-role", options=role_options, value=MANAGER, size="sm"), md=2),
                        dbc.Col(_button("Add user", "admin-add-user", "primary"), md="auto"),
                    ],
                    className="g-2 mb-3",
                ),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Select(
                                id="admin-user",
                                options=auth_admin.user_options(found_users),
                                placeholder="choose a user",
                                size="sm",
                            ),
                            md=3,
                        ),
                        dbc.Col(dbc.Select(id="admin-role", options=role_options, placeholder="role", size="sm"), md=2),
                        dbc.Col(
                            html.Div(
                                [
                                    _button("Set role", "admin-set-role"),
                                    _button("Disable", "admin-disable"),
                                    _button("Enable", "admin-enable"),
                                    _button("Reset password", "admin-reset"),
                                    _button("Turn off second factor", "admin-totp-off"),
                                    _button("Lift lockout", "admin-unlock"),
                                    _button("End sessions", "admin-end-sessions"),
                                ],
                                className="d-flex flex-wrap gap-2",
                            )
                        ),
                    ],
                    className="g-2",
                ),
            ),
            _section(
                "Open sessions",
                html.Div(auth_admin.sessions_table(users.active_sessions(db)), id="admin-sessions-table"),
            ),
            _section(
                "API tokens",
                html.Div(id="admin-token-notice"),
                html.Div(auth_admin.tokens_table(found_tokens), id="admin-tokens-table", className="mb-3"),
                dbc.Row(
                    [
                        dbc.Col(dbc.Input(id="admin-token-name", placeholder="token name", size="sm"), md=3),
                        dbc.Col(
                            dbc.Checklist(
                                id="admin-token-scopes",
                                options=[{"label": s, "value": s} for s in tokens.SCOPES],
                                value=["ingest"],
                                inline=True,
                            ),
                            md="auto",
                        ),
                        dbc.Col(
                            [
                                dbc.Label(
                                    "Accounts (optional)", html_for="admin-token-accounts", class_name="visually-hidden"
                                ),
                                dbc.Input(
                                    id="admin-token-accounts",
                                    placeholder="Accounts (optional): acme, globex",
                                    size="sm",
                                ),
                                dbc.FormText(
                                    "comma-separated; the token may ingest events of these accounts only "
                                    "(others are rejected); empty: any account"
                                ),
                            ],
                            md=3,
                        ),
                        dbc.Col(_button("Create token", "admin-token-create", "primary"), md="auto"),
                    ],
                    className="g-2 mb-3",
                ),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Select(
                                id="admin-token",
                                options=auth_admin.token_options(found_tokens),
                                placeholder="choose a token",
                                size="sm",
                            ),
                            md=3,
                        ),
                        dbc.Col(_button("Revoke", "admin-token-revoke", "danger"), md="auto"),
                    ],
                    className="g-2",
                ),
            ),
            _section("Connectors", _connectors()),
        ]
    )


def _connectors() -> Any:
    """What the configured pulls from other platforms did last (docs/connectors.md)."""
    from dashboard.ingest.chatwoot_api import ChatwootError, ChatwootSource, PullState

    st = state()
    try:
        source = ChatwootSource.from_settings(st.settings)
    except ChatwootError as exc:
        return html.P(f"The Chatwoot connector is misconfigured: {exc}", id="admin-connectors", className="text-danger")
    if source is None:
        return html.P(
            "No connector is configured. Set AUDITDASH_CHATWOOT_URL, AUDITDASH_CHATWOOT_ACCOUNT_ID and a token "
            "to pull a Chatwoot account's audit log (docs/connectors.md).",
            id="admin-connectors",
            className="text-muted mb-0",
        )
    pulled = PullState.load(st.db, source)
    job = st.scheduler.jobs.get("connector.chatwoot")
    schedule = f"every {st.settings.chatwoot_interval_s} s" if job else "off (auditdash chatwoot pull)"
    rows = [
        [
            source.source,
            schedule,
            pulled.last_run_at or "never",
            pulled.last_ok_at or "never",
            "" if pulled.cursor is None else str(pulled.cursor),
            f"{pulled.pulled_total:,}",
            pulled.last_error or "",
        ]
    ]
    headers: list[str | tuple[str, str]] = [
        "Source",
        "Pulls",
        "Last pull (UTC)",
        "Last success",
        "Newest id stored",
        ("Pulled", "end"),
        "Error",
    ]
    return html.Div(data_table(headers, rows, table_id="admin-connectors-table"), id="admin-connectors")


@callback(
    Output("admin-user-notice", "children"),
    Output("admin-users-table", "children"),
    Output("admin-sessions-table", "children"),
    Output("admin-user", "options"),
    [Input(button, "n_clicks") for button in USER_BUTTONS],
    State("admin-new-user", "value"),
    State("admin-new-role", "value"),
    State("admin-user", "value"),
    State("admin-role", "value"),
    prevent_initial_call=True,
)
def on_user_action(*args: Any) -> tuple[Any, ...]:
    """Add a user, or change the chosen one; then show the tables again."""
    if not viewer().is_admin or not isinstance(ctx.triggered_id, str):
        raise PreventUpdate
    new_name, new_role, selected, role = args[-4:]
    action = "add" if ctx.triggered_id == "admin-add-user" else auth_admin.USER_ACTIONS[ctx.triggered_id]
    db = state().db
    notice = auth_admin.user_action(
        db, action, request_actor(), new_name=new_name, new_role=new_role, selected=selected, role=role
    )
    found = users.list_users(db)
    return (
        notice.component("admin-user-notice"),
        auth_admin.users_table(found),
        auth_admin.sessions_table(users.active_sessions(db)),
        auth_admin.user_options(found),
    )


@callback(
    Output("admin-token-notice", "children"),
    Output("admin-tokens-table", "children"),
    Output("admin-token", "options"),
    Input("admin-token-create", "n_clicks"),
    Input("admin-token-revoke", "n_clicks"),
    State("admin-token-name", "value"),
    State("admin-token-scopes", "value"),
    State("admin-token", "value"),
    State("admin-token-accounts", "value"),
    prevent_initial_call=True,
)
def on_token_action(
    _create: int,
    _revoke: int,
    name: str | None,
    scopes: list[str] | None,
    selected: str | None,
    accounts: str | None,
) -> tuple[Any, ...]:
    """Create or revoke an API token; then show the table again."""
    if not viewer().is_admin or not isinstance(ctx.triggered_id, str):
        raise PreventUpdate
    action = "create" if ctx.triggered_id == "admin-token-create" else "revoke"
    db = state().db
    notice = auth_admin.token_action(
        db, action, request_actor(), name=name, scopes=scopes, selected=selected, accounts=accounts
    )
    found = tokens.list_tokens(db)
    return (
        notice.component("admin-token-notice"),
        auth_admin.tokens_table(found),
        auth_admin.token_options(found),
    )

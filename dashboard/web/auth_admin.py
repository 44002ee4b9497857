"""The pieces of the admin page "Users & tokens": tables, and the actions behind its buttons.

Kept out of the page module so they can be imported and tested alone. Every action goes
through `dashboard.access.users` / `dashboard.access.tokens`, which write the audit event of the
change; secrets (a new password, a new token) are returned once for the page to show and are
never stored in the clear.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.access import tokens, users
from dashboard.store.db import Database
from dashboard.store.errors import StoreError

USER_ACTIONS: dict[str, str] = {
    "admin-set-role": "set-role",
    "admin-disable": "disable",
    "admin-enable": "enable",
    "admin-reset": "reset-password",
    "admin-totp-off": "totp-off",
    "admin-unlock": "unlock",
    "admin-end-sessions": "end-sessions",
}


@dataclass(frozen=True)
class Notice:
    """What the page says after an action; `secret` is shown once (a new password or token)."""

    kind: str
    text: str
    secret: str | None = None

    def component(self, component_id: str) -> dbc.Alert:
        """The alert that shows it."""
        children: list[Any] = [html.Span(self.text)]
        if self.secret:
            children += [html.Br(), html.Code(self.secret, id=f"{component_id}-secret", className="user-select-all")]
        return dbc.Alert(children, color=self.kind, className="py-2", id=f"{component_id}-alert")


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "never"


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> dbc.Table:
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in header])),
            html.Tbody([html.Tr([html.Td(c) for c in row]) for row in rows]),
        ],
        id=table_id,
        size="sm",
        hover=True,
        className="mb-0",
    )


def users_table(found: Sequence[users.User]) -> dbc.Table:
    """Every dashboard user."""
    rows = [
        (
            u.username,
            u.role,
            "active" if u.active else "disabled",
            "on" if u.totp_enabled else "off",
            _when(u.last_login_at),
            _when(u.password_changed_at),
        )
        for u in found
    ]
    header = ("User", "Role", "Status", "Second factor", "Last sign-in", "Password set")
    return _table("admin-users-grid", header, rows)


def sessions_table(found: Sequence[dict[str, Any]]) -> dbc.Table:
    """Open sessions."""
    rows = [
        (s["username"], _when(s["created_at"]), _when(s["last_seen_at"]), _when(s["expires_at"]), s["ip"] or "")
        for s in found
    ]
    return _table("admin-sessions-grid", ("User", "Since", "Last seen", "Ends", "Address"), rows)


def tokens_table(found: Sequence[tokens.Token]) -> dbc.Table:
    """Every API token (revoked ones too)."""
    rows = [
        (
            t.name,
            t.id,
            ", ".join(t.scopes),
            _when(t.created_at),
            _when(t.last_used_at),
            "active" if t.active else f"revoked {_when(t.revoked_at)}",
            ", ".join(t.accounts) if t.accounts else "any",
        )
        for t in found
    ]
    headers = ("Name", "Id", "Scopes", "Created", "Last used", "Status", "Accounts")
    return _table("admin-tokens-grid", headers, rows)


def user_options(found: Sequence[users.User]) -> list[dict[str, str]]:
    """Choices of the user selector."""
    return [{"label": f"{u.username} ({u.role})", "value": u.username} for u in found]


def token_options(found: Sequence[tokens.Token]) -> list[dict[str, str]]:
    """Choices of the token selector (active tokens only: the only ones that can be revoked)."""
    return [{"label": f"{t.name} ({t.id})", "value": t.id} for t in found if t.active]


def user_action(
    db: Database,
    action: str,
    actor: users.Actor,
    *,
    new_name: str | None = None,
    new_role: str | None = None,
    selected: str | None = None,
    role: str | None = None,
) -> Notice:
    """Carry out one button of the users section; the store writes the audit event."""
    try:
        if action == "add":
            if not new_name or not new_role:
                return Notice("warning", "Enter a user name and choose a role.")
            password = users.generate_password()
            user = users.create_user(db, new_name, new_role, password, actor)
            return Notice(
                "success", f"User {user.username} ({user.role}) created. Their password, shown once:", password
            )
        if not selected:
            return Notice("warning", "Choose a user first.")
        if action == "set-role":
            if not role:
                return Notice("warning", "Choose the new role.")
            user = users.set_role(db, selected, role, actor)
            return Notice("success", f"{user.username} is now {user.role}; their sessions ended.")
        if action in ("disable", "enable"):
            user = users.set_disabled(db, selected, action == "disable", actor)
            return Notice("success", f"{user.username} is {'disabled' if not user.active else 'active'}.")
        if action == "reset-password":
            password = users.generate_password()
            user = users.reset_password(db, selected, password, actor)
            return Notice("success", f"New password of {user.username}, shown once (their sessions ended):", password)
        if action == "totp-off":
            user = users.totp_disable(db, selected, actor)
            return Notice("success", f"Second factor of {user.username} is off.")
        if action == "unlock":
            lifted = users.unlock(db, selected, actor)
            return Notice("success" if lifted else "info", "Lockout lifted." if lifted else "No lockout to lift.")
        if action == "end-sessions":
            ended = users.revoke_sessions(db, selected, actor)
            return Notice("success", f"{ended} session{'s' if ended != 1 else ''} of {selected} ended.")
    except StoreError as exc:
        return Notice("danger", str(exc))
    return Notice("danger", f"unknown action {action!r}")


def token_action(
    db: Database,
    action: str,
    actor: users.Actor,
    *,
    name: str | None = None,
    scopes: Sequence[str] | None = None,
    selected: str | None = None,
    accounts: str | None = None,
) -> Notice:
    """Carry out one button of the tokens section; the store writes the audit event.

    `accounts` (creating): the "Accounts (optional)" field, comma-separated; the token may then
    ingest events of those accounts only (as `auditdash tokens create NAME --accounts a,b`).
    """
    try:
        if action == "create":
            if not name or not scopes:
                return Notice("warning", "Enter a token name and choose at least one scope.")
            if accounts is not None and not isinstance(accounts, str):
                return Notice("warning", "Accounts must be text: account ids separated by commas.")
            token, plain = tokens.create_token(db, name, tuple(scopes), actor=actor, accounts=accounts or None)
            bound = f" It may ingest events of {', '.join(token.accounts)} only." if token.accounts else ""
            return Notice("success", f"Token {token.name} created.{bound} Copy it now, it is shown once:", plain)
        if action == "revoke":
            if not selected:
                return Notice("warning", "Choose a token first.")
            token = tokens.revoke_token(db, selected, actor=actor)
            return Notice("success", f"Token {token.name} revoked; it stopped working at once.")
    except StoreError as exc:
        return Notice("danger", str(exc))
    return Notice("danger", f"unknown action {action!r}")

"""The refusal a person sees inside the app when their role may not open a page, in words.

What they tried (the page), which role they have, which roles may open it, and whom to ask (the
active administrators by name). Dash's router renders it in place of the page (so in-app
navigation to such a page shows it, in the shell, with the navigation); a direct visit gets the
same shell with HTTP 403 (`dashboard.web.auth`). The page's own content is never built.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dash import html

from dashboard.access import users
from dashboard.roles import ADMIN
from dashboard.web.state import state

#: what each role is called in a sentence
ROLE_WORDS: dict[str, str] = {
    "admin": "administrator (admin)",
    "compliance": "compliance officer (compliance)",
    "manager": "manager",
    "wall": "wall screen (wall)",
}


def _administrators() -> list[str]:
    try:
        return sorted(u.username for u in users.list_users(state().db) if u.role == ADMIN and u.active)[:5]
    except Exception:  # the refusal must show even when the store cannot be read
        return []


def words(page_name: str, role: str, roles: tuple[str, ...] | None, admins: list[str]) -> tuple[str, str, str]:
    """(what was tried, why not, whom to ask) as sentences."""
    tried = f"You tried to open {page_name}."
    mine = ROLE_WORDS.get(role, role)
    if roles:
        allowed = ", ".join(ROLE_WORDS.get(r, r) for r in roles)
        why = f"Your role is {mine}; this page is for: {allowed}."
    else:
        why = f"Your role is {mine}, which may not open this page."
    if admins:
        names = ", ".join(admins)
        ask = f"If you need it for your work, ask an administrator ({names}) to change your role."
    else:
        ask = "If you need it for your work, ask an administrator of auditdash to change your role."
    return tried, why, ask


def layout(page: Mapping[str, Any], role: str) -> html.Div:
    """The refusal in place of `page`'s content."""
    roles = tuple(page.get("roles") or ()) or None
    tried, why, ask = words(str(page.get("name") or page.get("path") or "this page"), role, roles, _administrators())
    return html.Div(
        [
            html.H1("You cannot open this page", className="h4"),
            html.P(tried, className="mb-1"),
            html.P(why, className="mb-1", id="page-refused-role"),
            html.P(ask, className="mb-2"),
            html.P(
                ["Every other page in the bar above is open to you. ", html.A("Back to the Overview", href="/")],
                className="mb-0",
            ),
        ],
        id="page-refused",
        className="ad-page alert alert-warning",
        role="alert",
    )

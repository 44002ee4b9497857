"""The app's navigation for the server-rendered pages (your account, refusals, "not found").

The Dash shell draws its navigation bar itself (dashboard/web/layout.py); the plain HTML pages
of a signed-in person get the same links, the pages their role may open, and the signed-in bar.
"""

from __future__ import annotations

import dash
from markupsafe import Markup

from dashboard.roles import ADMIN
from dashboard.web import auth_pages, auth_rules


def nav_links(role: str) -> list[tuple[str, str]]:
    """(name, path) of the pages in the app's navigation that `role` may open, in their order."""
    registry = list(dash.page_registry.values())
    pages = [
        p for p in registry if p.get("nav", True) and auth_rules.decide_page(role, str(p.get("path")), registry).allowed
    ]
    return [(str(p["name"]), str(p["path"])) for p in sorted(pages, key=lambda p: p.get("order") or 0)]


def shell_nav(username: str, role: str, csrf_token: str) -> Markup:
    """The signed-in bar and the app's navigation, for a server-rendered page."""
    bar = auth_pages.user_bar(username, role, csrf_token, role == ADMIN)
    return auth_pages.app_nav(nav_links(role), bar)

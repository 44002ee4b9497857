"""The shell around every page: navigation bar, breadcrumb place, page container."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from dashboard.web.state import state


def _demo_badge() -> html.Span | None:
    if state().db.get_meta("demo") == "true":
        return html.Span(
            dbc.Badge("Demo data", color="warning", className="ms-2", id="demo-badge"),
            title="This database holds generated demo data, not real activity.",
        )
    return None


def shell() -> html.Div:
    """The layout of every page (a function, so the demo badge reflects the database)."""
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
        if page.get("nav", True)
    ]
    return html.Div(
        [
            dbc.Navbar(
                dbc.Container(
                    [
                        dbc.NavbarBrand(["auditdash", _demo_badge()], href="/"),
                        dbc.Nav(links, navbar=True),
                    ],
                    fluid=True,
                ),
                color="dark",
                dark=True,
                className="mb-3",
            ),
            dbc.Container(dash.page_container, fluid=True),
        ]
    )

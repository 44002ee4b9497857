"""The page Dash's router shows for a path that names no page, inside the shell.

Dash's pages router renders the registered page whose module name ends in `not_found_404` for
an unknown path; the shell's response hook answers such a request with HTTP 404
(`dashboard.web.layout`), so a mistyped link is not a "200 OK" page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
from dash import html

#: its own address (a link to it shows the same notice; the hook answers it 404 too)
PATH = "/not-found"


def _asked() -> str | None:
    """The path the router was asked for (the pages location it sends)."""
    try:
        inputs = dash.ctx.inputs
    except Exception:  # outside a callback (the first page load builds no router content)
        return None
    value = inputs.get("_pages_location.pathname") if isinstance(inputs, Mapping) else None
    return str(value)[:200] if value else None


def layout(**_query: Any) -> html.Div:
    """ "Page not found", with the path asked for and where to go."""
    asked = _asked()
    return html.Div(
        [
            html.H1("Page not found", className="h4"),
            html.P(
                [
                    "There is no page at ",
                    html.Code(asked or "this address"),
                    ". The link may be mistyped or from an older version of auditdash.",
                ]
            ),
            html.P(
                [
                    "Choose a page in the bar above, or go to the ",
                    html.A("Overview", href="/", id="not-found-home"),
                    ".",
                ],
                className="mb-0",
            ),
        ],
        id="page-not-found",
        className="ad-page alert alert-secondary",
    )


def register() -> None:
    """Register the page (after the app is made: Dash refuses pages before)."""
    dash.register_page(
        __name__,
        path=PATH,
        name="Page not found",
        title="Page not found · auditdash",
        order=999,
        nav=False,
        layout=layout,
    )


def page() -> Mapping[str, Any] | None:
    """This page's entry in Dash's registry."""
    found: Mapping[str, Any] | None = dash.page_registry.get(__name__)
    return found

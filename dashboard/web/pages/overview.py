"""Overview: what the log holds (the full dashboard builds on this page)."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from dashboard.events.taxonomy import CATEGORY_TITLES
from dashboard.store.queries import stats
from dashboard.web.state import state

dash.register_page(__name__, path="/", name="Overview", title="Overview · auditdash", order=0)


def _figure_card(label: str, value: str, card_id: str) -> dbc.Col:
    return dbc.Col(
        dbc.Card(
            dbc.CardBody([html.Div(label, className="text-muted small"), html.H3(value, id=card_id)]),
        ),
        md=3,
    )


def layout(**_query: str) -> html.Div:
    """The page: headline figures of the whole store."""
    s = stats(state().db)
    period = (
        f"{s.first_event:%Y-%m-%d %H:%M} to {s.last_event:%Y-%m-%d %H:%M} UTC"
        if s.first_event and s.last_event
        else "no events yet"
    )
    rows = [
        html.Tr([html.Td(CATEGORY_TITLES.get(cat, cat)), html.Td(f"{n:,}", className="text-end")])
        for cat, n in s.by_category.items()
    ]
    return html.Div(
        [
            dbc.Breadcrumb(items=[{"label": "Audit Logs"}, {"label": "Overview", "active": True}]),
            html.H1("Audit Logs", className="h3"),
            html.P(f"Events from {period}.", id="overview-period"),
            dbc.Row(
                [
                    _figure_card("Events", f"{s.events:,}", "fig-events"),
                    _figure_card("Failed actions", f"{s.failures:,}", "fig-failures"),
                    _figure_card("Users", f"{s.actors:,}", "fig-actors"),
                    _figure_card("Quarantined records", f"{s.quarantined:,}", "fig-quarantined"),
                ],
                className="g-3 mb-3",
            ),
            html.H2("Events by category", className="h5"),
            dbc.Table([html.Tbody(rows)], bordered=False, hover=True, size="sm", id="category-table"),
        ]
    )

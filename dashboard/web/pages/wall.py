"""Wall screen: the last 24 hours for the security team's wall, dark, large, refreshing itself.

No sidebar and no navigation (the shell leaves `/wall` bare), no personal data in the clear
(addresses masked and names shortened for every role), and one callback, driven by a
`dcc.Interval`, that replaces every figure and table in place: nothing accumulates in the
browser or on the server, so the screen can run for days. Every component id starts with
`wall-`, the only callbacks the `wall` role may run. The same timer re-reads the status strip
the bare shell draws above the wall for the `wall` role (a failed integrity check shows within
one refresh interval).
"""

from __future__ import annotations

from typing import Any, cast

import dash
import flask
from dash import Input, Output, dcc, html

from dashboard.roles import READERS
from dashboard.store import selflog
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.components import status, wall_views
from dashboard.web.components.explorer_views import audit_actor
from dashboard.web.components.parts import MAP_CONFIG
from dashboard.web.layout import STARTED_KEY
from dashboard.web.state import state

dash.register_page(
    __name__, path="/wall", name="Wall screen", title="Security wall · auditdash", order=90, sidebar=False
)

# (dcc.Graph types `config` as a TypedDict; these plain dicts are what it takes at run time)
_GRAPH_CONFIG: Any = {"displayModeBar": False, "responsive": True}
_MAP_CONFIG: Any = {**MAP_CONFIG, "displayModeBar": False}


def _tile(label: str, value_id: str, note_id: str | None = None, tone: str = "") -> html.Div:
    return html.Div(
        [
            html.Div(label, className="wall-tile-label"),
            html.Div("…", id=value_id, className="wall-tile-value"),
            html.Div("", id=note_id, className="wall-tile-note") if note_id else None,
        ],
        className=f"wall-tile {tone}".strip(),
    )


def _credits() -> list[Any]:
    return [html.Span(c.text, className="wall-credit") for c in state().geo.credits]


def layout(**_query: str) -> html.Div:
    """The wall (the view is fixed: the last 24 hours; the URL's filters do not apply)."""
    st = state()
    seconds = max(1, int(st.settings.wall_refresh_s))
    actor = audit_actor()
    selflog.record(st.db, "audit.view", actor.name, **actor.audit(), metadata={"page": "wall", "refresh_s": seconds})
    return html.Div(
        [
            html.Header(
                [
                    html.Div(
                        [
                            html.H1("Security wall", className="wall-title"),
                            html.Div(
                                "Audit Logs · last 24 hours · all accounts · times in UTC · personal data masked",
                                className="wall-subtitle",
                            ),
                        ]
                    ),
                    html.Div(
                        [
                            html.Div("", id=ids.WALL_CLOCK, className="wall-clock"),
                            html.Div(f"refreshes every {seconds} s", id=ids.WALL_STATUS, className="wall-status"),
                        ],
                        className="text-end",
                    ),
                ],
                className="wall-header",
            ),
            html.Div(
                [
                    _tile("Live event rate", ids.WALL_RATE, ids.WALL_RATE_NOTE),
                    _tile("Events, 24 h", ids.WALL_EVENTS),
                    _tile("Failed logins, 24 h", ids.WALL_FAILED, ids.WALL_FAILED_NOTE, tone="wall-tile--alert"),
                    _tile("Open alerts", ids.WALL_ALERT_COUNT, ids.WALL_ALERT_NOTE),
                ],
                className="wall-tiles",
            ),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(id=ids.WALL_TIMELINE, config=_GRAPH_CONFIG, className="wall-graph"),
                        className="wall-panel wall-panel--wide",
                    ),
                    html.Div(
                        dcc.Graph(id=ids.WALL_MAP, config=_MAP_CONFIG, className="wall-graph"),
                        className="wall-panel",
                    ),
                ],
                className="wall-row",
            ),
            html.Div(
                [
                    html.Div(
                        [html.H2("Failed logins by network", className="wall-h2"), html.Div(id=ids.WALL_FAILING)],
                        className="wall-panel",
                    ),
                    html.Div(
                        [html.H2("Open alerts", className="wall-h2"), html.Div(id=ids.WALL_ALERTS)],
                        className="wall-panel",
                    ),
                ],
                className="wall-row wall-row--even",
            ),
            html.Footer([*_credits(), html.Span("auditdash", className="wall-brand")], className="wall-footer"),
            dcc.Interval(id=ids.WALL_INTERVAL, interval=seconds * 1000, n_intervals=0),
        ],
        id=ids.WALL_ROOT,
        className="wall",
        **cast(dict[str, Any], {"data-bs-theme": "dark"}),  # Bootstrap 5.3 dark colours for everything inside
    )


@dash.callback(
    Output(ids.WALL_CLOCK, "children"),
    Output(ids.WALL_STATUS, "children"),
    Output(ids.WALL_RATE, "children"),
    Output(ids.WALL_RATE_NOTE, "children"),
    Output(ids.WALL_EVENTS, "children"),
    Output(ids.WALL_FAILED, "children"),
    Output(ids.WALL_FAILED_NOTE, "children"),
    Output(ids.WALL_ALERT_COUNT, "children"),
    Output(ids.WALL_ALERT_NOTE, "children"),
    Output(ids.WALL_ALERT_COUNT, "className"),
    Output(ids.WALL_TIMELINE, "figure"),
    Output(ids.WALL_MAP, "figure"),
    Output(ids.WALL_FAILING, "children"),
    Output(ids.WALL_ALERTS, "children"),
    Input(ids.WALL_INTERVAL, "n_intervals"),
)
def _refresh(_n: Any) -> tuple[Any, ...]:
    st = state()
    links = viewer().role in READERS  # the kiosk (`wall` role) may not open the Alerts page
    v = wall_views.refresh(st.db, every_s=max(1, int(st.settings.wall_refresh_s)), links=links)
    return (
        v.clock,
        v.updated,
        v.rate,
        v.rate_note,
        v.events,
        v.failed,
        v.failed_note,
        v.alert_count,
        v.alert_note,
        v.alert_tone,
        v.activity,
        v.map,
        v.failing,
        v.alerts,
    )


@dash.callback(
    Output(status.WALL_STRIP, "children"),
    Output(status.WALL_FAULT, "children"),
    Input(ids.WALL_INTERVAL, "n_intervals"),
    prevent_initial_call=True,
)
def _refresh_strip(_n: Any) -> tuple[Any, Any]:
    """The wall's timer re-reads the status strip above it (the `wall` role's bare shell draws it;
    other roles see the shell's own strip, which has its own timer, and the wall's strip is not
    on their page, so Dash does not run this for them). A storage fault met meanwhile is cleared
    once the store reads again; one met now is shown by the app's callback error handler."""
    found = status.notices(state(), flask.current_app.extensions.get(STARTED_KEY))
    return status.render(found, wall=True), None

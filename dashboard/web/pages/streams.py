"""Streams (administrators only): where the audit log is streamed to, and how far each destination is.

One row per destination of `AUDITDASH_STREAMS`: its address, kind, format and filter, its state
(up to date, delivering, retrying, paused), its lag in events and in time, the events delivered,
its cursor, and its last error. Tokens are never shown (only where they are read from). An
administrator can pause and resume a destination; each change is recorded in the audit log.
Every id starts with `admin-` (the request guard refuses those callbacks to other roles).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, callback, ctx, html
from dash.exceptions import PreventUpdate

from dashboard.roles import ADMINS
from dashboard.stream.destinations import StreamConfigError
from dashboard.stream.service import StreamStatus
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.services import streams

dash.register_page(
    __name__,
    path="/streams",
    name="Streams",
    title="Streams · auditdash",
    order=70,
    roles=ADMINS,
)

TABLE = "admin-streams-table"
NOTICE = "admin-streams-notice"
PAUSE = "admin-streams-pause"  # pattern-matching: {"type": PAUSE, "index": name}
RESUME = "admin-streams-resume"


def _when(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}" if value else "never"


def lag_text(seconds: float) -> str:
    """A lag in time, in the unit that reads best."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _state(s: StreamStatus) -> Any:
    colour = {"up to date": "success", "delivering": "info", "retrying": "danger", "paused": "secondary"}
    text = s.state
    if s.state == "retrying":
        due = f"next try in {s.retry_in_s:.0f} s" if s.retry_in_s is not None else "trying again now"
        text += f" ({due}, {s.failures} failed in a row)"
    return html.Span(text, className=f"badge text-bg-{colour.get(s.state, 'warning')}")


def _button(s: StreamStatus) -> Any:
    if s.paused:
        return dbc.Button("Resume", id={"type": RESUME, "index": s.name}, size="sm", color="primary", n_clicks=0)
    return dbc.Button(
        "Pause", id={"type": PAUSE, "index": s.name}, size="sm", color="secondary", outline=True, n_clicks=0
    )


def streams_table() -> Any:
    """The destinations and their state, as they are now."""
    service = streams()
    if service is None or not service.streams:
        return html.P(
            "The log is not streamed anywhere. List destinations (syslog over TLS, TCP or UDP; HTTPS with "
            "NDJSON or Splunk HEC) in a YAML or JSON file and point AUDITDASH_STREAMS at it "
            "(docs/connectors.md, \u201cStreaming out\u201d).",
            id="admin-streams-none",
            className="text-muted",
        )
    rows = []
    for s in service.status():
        p = s.public
        what = f"{p['kind']} {p.get('envelope', '')} {p['format']}".replace("  ", " ")
        rows.append(
            [
                html.Strong(s.name),
                html.Span(
                    p["address"] + ("" if "https" in p["address"] or "tls" in p["address"] else " (not encrypted)")
                ),
                what,
                p["filter"] or "every event",
                _state(s),
                f"{s.lag_events:,}",
                lag_text(s.lag_seconds) if s.lag_events else "-",
                f"{s.delivered:,}",
                str(s.cursor),
                _when(s.last_delivered_at),
                f"{s.last_error} ({_when(s.last_error_at)})" if s.last_error else "",
                _button(s),
            ]
        )
    headers: list[str | tuple[str, str]] = [
        "Destination",
        "Address",
        "Kind and format",
        "Filter",
        "State",
        ("Lag (events)", "end"),
        ("Lag (time)", "end"),
        ("Delivered", "end"),
        ("Cursor (seq)", "end"),
        "Last delivery (UTC)",
        "Last error",
        "",
    ]
    aligns = ["text-end" if isinstance(h, tuple) else "text-start" for h in headers]
    head = html.Thead(
        html.Tr(
            [html.Th(h[0] if isinstance(h, tuple) else h, className=a) for h, a in zip(headers, aligns, strict=True)]
        )
    )
    body = html.Tbody(
        [
            html.Tr([html.Td(cell, className=a) for cell, a in zip(row, aligns, strict=True)], id=f"admin-stream-{i}")
            for i, row in enumerate(rows)
        ]
    )
    return dbc.Table([head, body], size="sm", responsive=True, className="ad-table mb-0", id="admin-streams-rows")


def layout(**_query: str) -> html.Div:
    """The page."""
    if not viewer().is_admin:
        return html.Div("Only administrators may see where the log is streamed.", id="admin-streams-refused")
    return html.Div(
        [
            html.H1("Streams", className="h3"),
            html.P(
                "Events go to each destination in log order, at least once: a batch is sent again until the "
                "destination acknowledges it, and every event carries its id and seq. The lag counts matching "
                "events not yet acknowledged. Pausing and resuming are recorded in the audit log.",
                className="text-muted",
            ),
            html.Div(id=NOTICE),
            html.Div(streams_table(), id=TABLE),
        ]
    )


@callback(
    Output(NOTICE, "children"),
    Output(TABLE, "children"),
    Input({"type": PAUSE, "index": ALL}, "n_clicks"),
    Input({"type": RESUME, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def _pause(pause: list[int | None], resume: list[int | None]) -> tuple[Any, Any]:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any([*pause, *resume]):
        raise PreventUpdate
    who = viewer()
    if not who.is_admin:
        return dbc.Alert("Only administrators may pause or resume a stream.", color="danger"), dash.no_update
    service = streams()
    name = str(trigger.get("index"))
    paused = trigger.get("type") == PAUSE
    if service is None:
        raise PreventUpdate
    actor = request_actor()
    try:
        service.set_paused(name, paused, actor.name, **actor.audit())
    except StreamConfigError as exc:
        return dbc.Alert(str(exc), color="danger"), streams_table()
    said = f"Stream {name} paused: nothing is sent until it is resumed." if paused else f"Stream {name} resumed."
    return dbc.Alert(said, color="success", id="admin-streams-done"), streams_table()

"""Streams (administrators only): where the audit log is streamed to, and how far each destination is.

One row per destination: its address, kind, format and filter, its state (up to date, delivering,
retrying, paused), its lag in events and in time, the events delivered, its cursor, and its last
error. Tokens are never shown (only where they are read from). An administrator can pause and
resume a destination, and add, change and delete destinations made here (stored in the database,
checked by the same validator as the `AUDITDASH_STREAMS` file; the file's destinations are shown
"from settings" and read-only). A change takes effect at once (the destination's job starts or
stops) and is recorded in the audit log. The form takes no token: only a token file's path or an
environment variable's name. Every id starts with `admin-` (the request guard refuses those
callbacks to other roles).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
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
    filters=False,  # its own controls choose what it shows; the shell hides the sidebar
)

TABLE = "admin-streams-table"
NOTICE = "admin-streams-notice"
PAUSE = "admin-streams-pause"  # pattern-matching: {"type": PAUSE, "index": name}
RESUME = "admin-streams-resume"
EDIT = "admin-streams-edit"
DELETE = "admin-streams-delete"
FORM = "admin-streams-form"
SAVE = "admin-streams-save"
EDITING = "admin-streams-editing"  # the name of the destination being changed (None: adding one)
FIELD = "admin-stream-f-"  # + the setting's key: the form's fields

#: the form's fields (the settings file's keys) and their labels
LABELS: dict[str, str] = {
    "name": "Name",
    "kind": "Kind",
    "url": "URL",
    "envelope": "Envelope",
    "format": "Format",
    "token_file": "Token file (path)",
    "token_env": "Token environment variable (name)",
    "transport": "Transport",
    "host": "Host",
    "port": "Port",
    "ca_file": "CA file (path)",
    "filter": "Filter (URL query text)",
    "start": "Start",
    "batch_size": "Batch size",
}
CHOICES: dict[str, tuple[str, ...]] = {
    "kind": ("http", "syslog"),
    "envelope": ("ndjson", "hec"),
    "format": ("json", "ocsf", "cef"),
    "transport": ("tls", "tcp", "udp"),
}
HTTP_ONLY = ("url", "envelope", "token_file", "token_env")
SYSLOG_ONLY = ("transport", "host", "port")
WHOLE = ("port", "batch_size", "start")


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
        pause = dbc.Button("Resume", id={"type": RESUME, "index": s.name}, size="sm", color="primary", n_clicks=0)
    else:
        pause = dbc.Button(
            "Pause", id={"type": PAUSE, "index": s.name}, size="sm", color="secondary", outline=True, n_clicks=0
        )
    if s.origin != "page":
        return html.Div([pause], className="d-flex gap-1")
    return html.Div(
        [
            pause,
            dbc.Button("Edit", id={"type": EDIT, "index": s.name}, size="sm", color="secondary", n_clicks=0),
            dbc.Button(
                "Delete", id={"type": DELETE, "index": s.name}, size="sm", color="danger", outline=True, n_clicks=0
            ),
        ],
        className="d-flex gap-1",
    )


def form_settings(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the settings file's mapping: blanks left out, the other kind's fields
    left out, whole numbers as numbers (anything else goes to the validator as typed)."""
    kind = values.get("kind")
    raw: dict[str, Any] = {}
    for key in LABELS:
        value = values.get(key)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            continue
        if (kind == "http" and key in SYSLOG_ONLY) or (kind == "syslog" and key in HTTP_ONLY):
            continue
        if key in WHOLE and isinstance(value, str) and value.isdigit():
            value = int(value)
        raw[key] = value
    return raw


def _field(key: str, value: Any, bad: str | None, locked: bool) -> Any:
    ident = f"{FIELD}{key}"
    shown = "" if value is None else str(value)
    if key in CHOICES:
        control: Any = dbc.Select(
            id=ident,
            options=[{"label": c, "value": c} for c in CHOICES[key]],
            value=shown or CHOICES[key][0],
            invalid=bad is not None,
        )
    else:
        control = dbc.Input(id=ident, type="text", value=shown, invalid=bad is not None, disabled=locked)
    parts = [dbc.Label(LABELS[key], html_for=ident, className="small mb-0"), control]
    if bad is not None:
        parts.append(html.Div(bad, id=f"{ident}-message", className="invalid-feedback d-block"))
    return dbc.Col(parts, md=3, className="mb-2")


def stream_form(
    values: dict[str, Any] | None = None, editing: str | None = None, bad: tuple[str, str] | None = None
) -> Any:
    """The form that adds a destination, or changes `editing`; `bad`: (field, message) to mark."""
    values = values or {}
    title = f"Change destination {editing}" if editing else "Add a destination"
    fields = [
        _field(key, values.get(key), bad[1] if bad and bad[0] == key else None, locked=key == "name" and bool(editing))
        for key in LABELS
    ]
    return html.Div(
        [
            html.H2(title, className="h5 mt-3", id="admin-streams-form-title"),
            html.P(
                "http: URL, envelope, token file or variable; syslog: transport, host, port. The token itself is "
                "never entered here: give the path of a file holding it, or the name of an environment variable "
                "of the server. Filter: the sidebar's filter as URL query text (e.g. "
                "categories=authentication&outcome=failure). Start: end, beginning or a sequence number.",
                className="text-muted small",
            ),
            dcc.Store(id=EDITING, data=editing),
            dbc.Row(fields),
            dbc.Button("Save" if editing else "Add", id=SAVE, color="primary", n_clicks=0),
        ]
    )


def streams_table() -> Any:
    """The destinations and their state, as they are now."""
    service = streams()
    if service is None or not service.streams:
        return html.P(
            "The log is not streamed anywhere. Add a destination below (syslog over TLS, TCP or UDP; HTTPS "
            "with NDJSON or Splunk HEC), or list destinations in a YAML or JSON file and point "
            "AUDITDASH_STREAMS at it (docs/connectors.md, \u201cStreaming out\u201d).",
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
                "made here" if s.origin == "page" else "from settings",
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
        "Source",
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
            html.Div(stream_form(), id=FORM),
        ]
    )


def _fault(exc: StreamConfigError) -> tuple[str, str] | None:
    return (exc.key, str(exc)) if exc.key in LABELS else None


@callback(
    Output(NOTICE, "children"),
    Output(TABLE, "children"),
    Output(FORM, "children"),
    Input({"type": PAUSE, "index": ALL}, "n_clicks"),
    Input({"type": RESUME, "index": ALL}, "n_clicks"),
    Input({"type": DELETE, "index": ALL}, "n_clicks"),
    Input(SAVE, "n_clicks"),
    State(EDITING, "data"),
    *[State(f"{FIELD}{key}", "value") for key in LABELS],
    prevent_initial_call=True,
)
def _act(
    _pause: list[int | None], _resume: list[int | None], _delete: list[int | None], _save: int | None, *rest: Any
) -> tuple[Any, Any, Any]:
    trigger = ctx.triggered_id
    if trigger is None or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate  # a button drawn anew, not pressed
    who = viewer()
    if not who.is_admin:
        return (
            dbc.Alert("Only administrators may change streams.", color="danger"),
            dash.no_update,
            dash.no_update,
        )
    service = streams()
    if service is None:
        raise PreventUpdate
    actor = request_actor()
    if trigger == SAVE:
        editing, values = rest[0], dict(zip(LABELS, rest[1:], strict=True))
        try:
            dest = service.save_destination(form_settings(values), actor.name, editing, **actor.audit())
        except StreamConfigError as exc:
            fault = _fault(exc)
            said = f"{LABELS[fault[0]]}: {exc}" if fault else str(exc)
            return (
                dbc.Alert(said, color="danger", id="admin-streams-error"),
                dash.no_update,
                stream_form(values, editing, fault),
            )
        said = f"Stream {dest.name} {'changed' if editing else 'added'}: delivery to {dest.address} runs now."
        return dbc.Alert(said, color="success", id="admin-streams-done"), streams_table(), stream_form()
    if not isinstance(trigger, dict):
        raise PreventUpdate
    name = str(trigger.get("index"))
    try:
        if trigger.get("type") == DELETE:
            service.delete_destination(name, actor.name, **actor.audit())
            said = f"Stream {name} deleted: nothing more is sent to it."
        else:
            paused = trigger.get("type") == PAUSE
            service.set_paused(name, paused, actor.name, **actor.audit())
            said = (
                f"Stream {name} paused: nothing is sent until it is resumed." if paused else f"Stream {name} resumed."
            )
    except StreamConfigError as exc:
        return dbc.Alert(str(exc), color="danger", id="admin-streams-error"), streams_table(), dash.no_update
    return dbc.Alert(said, color="success", id="admin-streams-done"), streams_table(), dash.no_update


@callback(
    Output(FORM, "children", allow_duplicate=True),
    Input({"type": EDIT, "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def _edit(_clicks: list[int | None]) -> Any:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not (ctx.triggered and ctx.triggered[0].get("value")):
        raise PreventUpdate
    if not viewer().is_admin:
        raise PreventUpdate
    service = streams()
    name = str(trigger.get("index"))
    stored = service.stored_settings(name) if service is not None else None
    if stored is None:
        raise PreventUpdate
    return stream_form(stored, name)

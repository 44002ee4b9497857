"""Erasure (administrators only): a person's personal data replaced by a pseudonym, the chain intact.

The form takes the person (a user id or an e-mail address), the reason (required: the request or
ticket it answers) and the person typed again as the confirmation; the erasure runs on the server
(`retention.erasure.erase`), is refused with the hold named while a legal hold covers the person,
and is recorded as an `audit.erase` event. Below, the erasures made so far (from those events:
when, by whom, why, how many events; never the data). Every id starts with `admin-` (the request
guard refuses those callbacks to other roles, and the page itself is registered for admins only).
"""

from __future__ import annotations

import json
from typing import Any

import dash
import dash_bootstrap_components as dbc
import sqlalchemy as sa
from dash import Input, Output, State, callback, html
from dash.exceptions import PreventUpdate

from dashboard.evidence.canonical import ERASE_ACTION
from dashboard.evidence.locations import Locations
from dashboard.retention.erasure import ErasureRefused, erase
from dashboard.roles import ADMINS
from dashboard.store.errors import StoreError
from dashboard.store.schema import events
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.state import state

dash.register_page(
    __name__,
    path="/erasure",
    name="Erasure",
    title="Erasure · auditdash",
    order=75,
    roles=ADMINS,
    filters=False,  # its own form chooses what it acts on; the shell hides the sidebar
)

SUBJECT = "admin-erasure-subject"
REASON = "admin-erasure-reason"
CONFIRM = "admin-erasure-confirm"
RUN = "admin-erasure-run"
NOTICE = "admin-erasure-notice"
HISTORY = "admin-erasure-history"


def history_view() -> Any:
    """The erasures recorded in the audit log, newest first."""
    ev = events.c
    query = (
        sa.select(ev.occurred_at, ev.actor_id, ev.metadata)
        .where(ev.action == ERASE_ACTION, ev.outcome == "success")
        .order_by(ev.seq.desc())
        .limit(200)
    )
    with state().db.connect() as conn:
        rows = conn.execute(query).fetchall()
    if not rows:
        return html.P("No erasure yet.", className="text-muted")
    body = []
    for when, who, meta in rows:
        try:
            doc = json.loads(meta or "{}")
        except ValueError:
            doc = {}
        body.append(
            html.Tr(
                [
                    html.Td(f"{when:%Y-%m-%d %H:%M} UTC"),
                    html.Td(who or "-"),
                    html.Td(doc.get("erasure_id", "?")),
                    html.Td(doc.get("pseudonym", "?")),
                    html.Td(f"{int(doc.get('events') or 0):,}"),
                    html.Td(doc.get("reason", "")),
                ]
            )
        )
    head = html.Thead(html.Tr([html.Th(t) for t in ("When", "By", "Erasure", "Shown as", "Events", "Reason")]))
    return dbc.Table([head, html.Tbody(body)], size="sm", striped=True)


def layout(**_query: str) -> html.Div:
    """The page: what an erasure does, the form, the erasures so far."""
    if not viewer().is_admin:  # the guard refuses the page already; never build it for another role
        return html.Div(dbc.Alert("Erasure is for administrators.", color="danger"))
    return html.Div(
        [
            html.H2("Erasure"),
            html.P(
                "Replaces every personal field of one person's events (their name, e-mail address, address, "
                "user agent and place as actor; their name as target; free texts naming them) with a pseudonym, "
                "in the database and in the archived months. The integrity chain stays verifiable; the erasure "
                "is recorded in the audit log with its reason. Legal holds win: a person under a hold cannot be "
                "erased until the hold is released. This cannot be undone."
            ),
            dbc.Row(
                [
                    dbc.Col(dbc.Input(id=SUBJECT, placeholder="user id or e-mail address", type="text"), md=4),
                    dbc.Col(dbc.Input(id=REASON, placeholder="reason (request or ticket)", type="text"), md=4),
                    dbc.Col(dbc.Input(id=CONFIRM, placeholder="type the person again to confirm", type="text"), md=4),
                ],
                className="g-2 mb-2",
            ),
            dbc.Button("Erase this person's data", id=RUN, color="danger"),
            html.Div(id=NOTICE, className="mt-3"),
            html.H4("Erasures", className="mt-4"),
            html.Div(history_view(), id=HISTORY),
        ]
    )


def run_erasure(subject: str | None, reason: str | None, confirm: str | None) -> dbc.Alert:
    """Check the form, erase, and say what happened (or why not)."""
    subject, reason, confirm = (subject or "").strip(), (reason or "").strip(), (confirm or "").strip()
    if not subject:
        return dbc.Alert("Name the person: a user id or an e-mail address.", color="warning")
    if not reason:
        return dbc.Alert("An erasure needs a reason (the request or ticket it answers).", color="warning")
    if confirm != subject:
        return dbc.Alert(
            "To confirm, type the person exactly as above in the confirmation field; nothing was erased.",
            color="warning",
        )
    st = state()
    try:
        result = erase(st.db, Locations.resolve(st.settings, st.db.path), request_actor(), subject, reason)
    except ErasureRefused as exc:
        return dbc.Alert(str(exc), color="danger")
    except (StoreError, ValueError) as exc:
        return dbc.Alert(f"Nothing was erased: {exc}", color="danger")
    linger = (
        "Old values may linger in the database file's free space until `auditdash erase --compact` "
        "runs with the server stopped (docs/operations.md)."
        if st.db.url is None
        else "Old row versions stay in PostgreSQL's files until VACUUM reclaims them (docs/integrity.md, Erasure)."
    )
    return dbc.Alert(
        f"Done: {result.summary()}. Recorded in the audit log (seq {result.record_seq}). {linger}",
        color="success",
    )


@callback(
    Output(NOTICE, "children"),
    Output(HISTORY, "children"),
    Input(RUN, "n_clicks"),
    State(SUBJECT, "value"),
    State(REASON, "value"),
    State(CONFIRM, "value"),
    prevent_initial_call=True,
)
def on_erase(clicks: int | None, subject: str | None, reason: str | None, confirm: str | None) -> tuple[Any, Any]:
    """Erase a person (administrators only: checked here too, on the server)."""
    if not clicks:
        raise PreventUpdate
    if not viewer().is_admin:
        return dbc.Alert("Erasure is for administrators.", color="danger"), dash.no_update
    return run_erasure(subject, reason, confirm), history_view()

"""Daily review (PCI DSS 10.4.1): what each day holds for review, and its sign-off.

For a chosen period (UTC days): each day's alerts, failed sign-ins, lockouts and privilege
changes, and whether a sign-off covers it; below, what the period holds in detail. Compliance
officers and administrators sign the period off with a note; the sign-off is stored, recorded
in the audit log and listed in compliance packs. Every component id starts with `review-`.

The page opens on the period chosen in the sidebar of the other pages (the link's `range`, or
`from` and `to`, in its zone), widened to the whole UTC days that cover it and have ended: a
sign-off covers whole days in UTC, so one day means the same to every reviewer whatever their zone. The page says
so and which days it shows. A link's `start` and `end` choose the days instead. The sidebar's
other filters (users, accounts ...) do not apply: a review covers the whole log.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.detect.present import SEVERITY_BADGE, STATUS_BADGE, alert_path, fmt_time, summary_text
from dashboard.detect.review import ReviewError, day_summaries, list_signoffs, period_detail, sign_off
from dashboard.events import jsontext
from dashboard.filters import Filters
from dashboard.privacy import mask_ip, shorten_name
from dashboard.roles import AUDITORS, READERS
from dashboard.store.analytics import changed_fields
from dashboard.store.db import utcnow
from dashboard.store.explorer import PERSON_TARGETS
from dashboard.store.explorer import _mask_value as mask_value  # the Explorer's masking of changed values
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.components.parts import page_header
from dashboard.web.state import state
from dashboard.when import WhenError, parse_when

dash.register_page(
    __name__,
    path="/review",
    name="Review",
    title="Daily review · auditdash",
    order=35,
    roles=READERS,
    filters=False,  # its own controls choose what it shows; the shell hides the sidebar
)

#: who may sign a period off.
SIGNING_ROLES = AUDITORS


def _parse_day(name: str, text: str | None, default: date, problems: list[str]) -> date:
    """The UTC day a link's `start` or `end` names (`dashboard.when` grammar; an `end` month is its last
    day); `default`, with the reason in `problems`, when it names none."""
    if not isinstance(text, str) or not text:
        return default
    try:
        moment = parse_when(text, end=name == "end")
    except WhenError as exc:
        problems.append(f"{name}={exc}")
        return default
    return (moment - timedelta(microseconds=1)).date() if name == "end" else moment.date()


def sidebar_days(query: dict[str, Any], now: datetime | None = None) -> tuple[date, date, str]:
    """The UTC days that cover the sidebar's period in a link (`range`, or `from` and `to`, in `tz`),
    the last one no later than yesterday (a day is signed off once it has ended: "last 7 days"
    gives the 7 days before today), and that period in words."""
    f = Filters.from_query(query)
    period = Filters(preset=f.preset, start=f.start, end=f.end, tz=f.tz)
    lo, hi = period.resolve_range(now)
    yesterday = (now or utcnow()).date() - timedelta(days=1)
    last = min((hi - timedelta(microseconds=1)).date(), yesterday)
    first = min(lo.date(), last)
    return first, last, period.describe(now).removesuffix(", all users")


def _days_note(first: date, last: date, source: str) -> dbc.Alert:
    days = first.isoformat() if first == last else f"{first.isoformat()} to {last.isoformat()}"
    count = (last - first).days + 1
    return dbc.Alert(
        [
            html.Strong(f"Showing {days} ({count:,} UTC day{'s' if count != 1 else ''}). "),
            source,
            " A sign-off covers whole days in UTC, so a day means the same to every reviewer whatever "
            "their time zone, and a day is shown once it has ended; choose other days "
            "below. The sidebar's other filters (users, accounts, "
            "countries ...) do not apply here: a review covers the whole log.",
        ],
        color="light",
        className="py-2 small border",
        id="review-days-note",
    )


def layout(start: str | None = None, end: str | None = None, **query: str) -> html.Div:
    """The page; `?start=2026-05-01&end=2026-05-07` chooses the days, else the sidebar's period does."""
    today = utcnow().date()
    problems: list[str] = []
    if start or end:
        last = _parse_day("end", end, today - timedelta(days=1), problems)
        first = _parse_day("start", start, last - timedelta(days=6), problems)
        source = "These days were chosen by the link (start and end)."
    else:
        first, last, period = sidebar_days(dict(query))
        source = f"They cover the period chosen in the sidebar on the other pages: {period}."
    can_sign = viewer().role in SIGNING_ROLES
    return html.Div(
        [
            page_header(
                "Daily review",
                "Review",
                "PCI DSS 10.4.1: review security events at least daily. Each day below shows what needs "
                "review and whether it has been signed off (days in UTC).",
            ),
            dbc.Alert(
                ["Part of this link was not understood and is ignored: ", "; ".join(problems), "."],
                color="warning",
                className="py-2 small",
            )
            if problems
            else None,
            _days_note(first, last, source),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Period (UTC days)", html_for="review-dates"),
                            html.Div(
                                dcc.DatePickerRange(
                                    id="review-dates",
                                    start_date=first.isoformat(),
                                    end_date=last.isoformat(),
                                    max_date_allowed=today.isoformat(),
                                    display_format="YYYY-MM-DD",
                                    minimum_nights=0,
                                )
                            ),
                        ],
                        md="auto",
                    ),
                    dbc.Col(html.Div(id="review-status", className="mt-4"), md=True),
                ],
                className="g-3 mb-3",
            ),
            dcc.Store(id="review-refresh", data=0),
            html.Div(id="review-days", className="mb-3"),
            dbc.Card(
                [
                    dbc.CardHeader("Sign the period off"),
                    dbc.CardBody(
                        [
                            dbc.Textarea(
                                id="review-note",
                                placeholder="What you reviewed, and what you followed up (alert numbers, tickets)",
                                className="mb-2",
                            ),
                            dbc.Button("Sign off this period", id="review-sign", color="success", n_clicks=0),
                            html.Div(id="review-msg", className="mt-2", role="status"),
                        ]
                    ),
                ],
                id="review-signoff",
                className="mb-3",
            )
            if can_sign
            else html.P("Your role may read the review but not sign it off.", className="text-muted"),
            html.Div(id="review-detail", className="mb-3"),
            html.H2("Sign-offs", className="h5"),
            html.Div(id="review-signoffs"),
        ]
    )


def _person(name: str | None, user: str | None, masked: bool) -> str:
    """A person by name (shortened for masked roles) with their id; the id, or "-", without a name."""
    if name:
        shown = shorten_name(name) if masked else name
        return f"{shown} ({user})" if user and user != name and "@" not in user else str(shown)
    if user and "@" in user and masked:
        return str(shorten_name(user))
    return user or "-"


def change_words(changes: str | None, masked: bool) -> list[Any]:
    """An event's changed values as Security's table shows them ("role: administrator → agent"),
    masked for masked roles; one line per changed field."""
    text = changes
    data = jsontext.decode_object(changes) if changes else None
    if masked and isinstance(data, dict) and not jsontext.is_unreadable(data):
        text = jsontext.dumps({k: mask_value(str(k), v) for k, v in data.items()})
    return [
        html.Div(
            [
                html.Span(f"{field}: ", className="review-field text-body-secondary"),
                html.Span(before, className="ad-before"),
                html.Span(" → ", className="ad-arrow"),
                html.Span(after, className="ad-after"),
            ]
            if before or after
            else [html.Span(field, className="text-muted")],
        )
        for field, before, after in changed_fields(text)
    ]


def _period(start: str | None, end: str | None) -> tuple[date, date]:
    if not start or not end:
        raise PreventUpdate
    return date.fromisoformat(start[:10]), date.fromisoformat(end[:10])


def _alert_badges(alerts: dict[str, int]) -> list[Any]:
    return [
        dbc.Badge(f"{n} {sev}", color=SEVERITY_BADGE[sev], className="me-1")
        for sev, n in sorted(alerts.items(), key=lambda kv: ["critical", "high", "medium", "low", "info"].index(kv[0]))
    ] or ["none"]


@callback(
    Output("review-days", "children"),
    Output("review-status", "children"),
    Output("review-detail", "children"),
    Output("review-signoffs", "children"),
    Input("review-dates", "start_date"),
    Input("review-dates", "end_date"),
    Input("review-refresh", "data"),
)
def _show(start_text: str | None, end_text: str | None, _n: int) -> tuple[Any, Any, Any, Any]:
    start, end = _period(start_text, end_text)
    db = state().db
    masked = viewer().masked
    try:
        days = day_summaries(db, start, end)
    except ReviewError as exc:
        return dbc.Alert(str(exc), color="warning"), None, None, None
    rows = []
    for d in days:
        status = (
            dbc.Badge(f"reviewed by {d.reviewed_by}", color="success", className="review-reviewed")
            if d.reviewed
            else dbc.Badge("not reviewed", color="danger", className="review-unreviewed")
        )
        rows.append(
            html.Tr(
                [
                    html.Td(d.day.isoformat(), className="text-nowrap"),
                    html.Td(_alert_badges(d.alerts)),
                    html.Td(str(d.open_alerts), className="text-end"),
                    html.Td(str(d.failed_logins), className="text-end"),
                    html.Td(str(d.lockouts), className="text-end"),
                    html.Td(str(d.privilege_changes), className="text-end"),
                    html.Td(status),
                ],
                id=f"review-day-{d.day.isoformat()}",
            )
        )
    table = dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [
                        html.Th("Day"),
                        html.Th("Alerts raised"),
                        html.Th("Still open", className="text-end"),
                        html.Th("Failed sign-ins", className="text-end"),
                        html.Th("Lockouts", className="text-end"),
                        html.Th("Privilege changes", className="text-end"),
                        html.Th("Review"),
                    ]
                )
            ),
            html.Tbody(rows),
        ],
        size="sm",
        hover=True,
        responsive=True,
        id="review-days-table",
    )
    missing = sum(1 for d in days if not d.reviewed)
    status = (
        dbc.Alert(
            f"{missing} of {len(days)} day(s) not reviewed.", color="danger", id="review-missing", className="py-2"
        )
        if missing
        else dbc.Alert(
            "Every day of this period has been reviewed.", color="success", id="review-complete", className="py-2"
        )
    )
    detail = period_detail(db, start, end)
    alerts = (
        html.Ul(
            [
                html.Li(
                    [
                        dbc.Badge(a["severity"], color=SEVERITY_BADGE[a["severity"]], className="me-1"),
                        dbc.Badge(a["status"], color=STATUS_BADGE[a["status"]], className="me-1"),
                        dcc.Link(f"#{a['id']} {summary_text(a, masked)}", href=alert_path(a["id"])),
                        f" · {fmt_time(a['first_seen'])}",
                    ]
                )
                for a in detail["alerts"]
            ]
        )
        if detail["alerts"]
        else html.P("No alerts in this period.", className="text-muted")
    )
    failed_users = dbc.Table(
        [
            html.Thead(html.Tr([html.Th("Account"), html.Th("User"), html.Th("Failures"), html.Th("Last")])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(r["account_id"]),
                            html.Td(_person(r["name"], r["user"], masked)),
                            html.Td(r["failures"]),
                            html.Td(fmt_time(r["last"])),
                        ]
                    )
                    for r in detail["failed_by_user"]
                ]
            ),
        ],
        size="sm",
    )
    failed_ips = dbc.Table(
        [
            html.Thead(html.Tr([html.Th("Address"), html.Th("Country"), html.Th("Failures"), html.Th("Users tried")])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(mask_ip(r["ip"]) if masked else r["ip"]),
                            html.Td(r["country"] or "-"),
                            html.Td(r["failures"]),
                            html.Td(r["users"]),
                        ]
                    )
                    for r in detail["failed_by_ip"]
                ]
            ),
        ],
        size="sm",
    )
    changes = dbc.Table(
        [
            html.Thead(
                html.Tr(
                    [html.Th("Time (UTC)"), html.Th("Action"), html.Th("By"), html.Th("On"), html.Th("Before → after")]
                )
            ),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(
                                dcc.Link(
                                    f"{c['occurred_at']:%Y-%m-%d %H:%M}",
                                    href=f"/explorer?tz=UTC#event={c['seq']}",
                                    title="Open this event in the Explorer",
                                ),
                                className="text-nowrap",
                            ),
                            html.Td(c["action"]),
                            html.Td(
                                (shorten_name(c["actor_name"]) if masked else c["actor_name"]) or c["actor_id"] or "-"
                            ),
                            html.Td(
                                (
                                    shorten_name(c["target_name"])
                                    if masked and c.get("target_type") in PERSON_TARGETS
                                    else c["target_name"]
                                )
                                or c["target_id"]
                                or "-"
                            ),
                            html.Td(change_words(c["changes"], masked), className="small review-change"),
                        ]
                    )
                    for c in detail["privilege_changes"]
                ]
            ),
        ],
        size="sm",
        responsive=True,
        id="review-privilege-table",
    )
    detail_view = dbc.Card(
        [
            dbc.CardHeader(f"What {start.isoformat()} to {end.isoformat()} holds"),
            dbc.CardBody(
                [
                    html.H3("Alerts", className="h6"),
                    alerts,
                    html.H3(f"Failed sign-ins ({detail['failed_total']})", className="h6"),
                    dbc.Row([dbc.Col(failed_users, md=6), dbc.Col(failed_ips, md=6)]),
                    html.H3(f"Privilege and MFA changes ({len(detail['privilege_changes'])})", className="h6"),
                    changes,
                ]
            ),
        ],
        id="review-period",
    )
    signoffs = list_signoffs(db, start, end)
    signoff_list = (
        dbc.Table(
            [
                html.Thead(html.Tr([html.Th("Period"), html.Th("Reviewer"), html.Th("Signed"), html.Th("Note")])),
                html.Tbody(
                    [
                        html.Tr(
                            [
                                html.Td(f"{s['period_start']} to {s['period_end']}", className="text-nowrap"),
                                html.Td(f"{s['reviewer']} ({s['role'] or '-'})"),
                                html.Td(fmt_time(s["signed_at"])),
                                html.Td(s["note"]),
                            ]
                        )
                        for s in signoffs
                    ]
                ),
            ],
            size="sm",
            id="review-signoff-table",
        )
        if signoffs
        else html.P("No sign-off covers this period yet.", className="text-muted", id="review-no-signoff")
    )
    return table, status, detail_view, signoff_list


@callback(
    Output("review-msg", "children"),
    Output("review-refresh", "data"),
    Output("review-note", "value"),
    Input("review-sign", "n_clicks"),
    State("review-dates", "start_date"),
    State("review-dates", "end_date"),
    State("review-note", "value"),
    State("review-refresh", "data"),
    prevent_initial_call=True,
)
def _sign(
    clicks: int, start_text: str | None, end_text: str | None, note: str | None, refresh: int
) -> tuple[Any, Any, Any]:
    if not clicks:
        raise PreventUpdate
    if viewer().role not in SIGNING_ROLES:
        return dbc.Alert("Your role may not sign reviews off.", color="warning"), no_update, no_update
    start, end = _period(start_text, end_text)
    actor = request_actor()
    try:
        done = sign_off(
            state().db,
            start,
            end,
            actor.name,
            note or "",
            role=actor.role,
            ip=actor.ip,
            user_agent=actor.user_agent,
            session_id=actor.session_id,
        )
    except ReviewError as exc:
        return dbc.Alert(str(exc), color="warning", id="review-error"), no_update, no_update
    return (
        dbc.Alert(
            f"Signed off {done['period_start']} to {done['period_end']} (sign-off #{done['id']}).",
            color="success",
            id="review-done",
        ),
        (refresh or 0) + 1,
        "",
    )

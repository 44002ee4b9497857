"""Retention: the policy, what is held where, the next purge, legal holds, and "Verify integrity".

Administrators and compliance officers see the page; only administrators place or release
legal holds and run a purge (each callback checks again, on the server). The work is done by
`dashboard.retention` and `dashboard.evidence`; this module only lays it out.
Every id starts with `retention-`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.evidence.locations import Locations
from dashboard.evidence.status import LAST_VERIFY_META, record_verification
from dashboard.evidence.verify import Verification, verify
from dashboard.retention.holds import Hold, add_hold, list_holds, release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import PurgePlan, plan_purge, run_purge
from dashboard.retention.status import status
from dashboard.roles import AUDITORS
from dashboard.store.errors import StoreError
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.state import state
from dashboard.when import WhenError, parse_when

dash.register_page(
    __name__,
    path="/retention",
    name="Retention",
    title="Retention · auditdash",
    order=60,
    roles=AUDITORS,
)

VERIFY = "retention-verify"
VERIFY_RESULT = "retention-verify-result"
PURGE = "retention-purge"
PURGE_RESULT = "retention-purge-result"
HOLD_ADD = "retention-hold-add"
HOLD_RELEASE = "retention-hold-release"  # pattern-matching: {"type": HOLD_RELEASE, "index": hold id}
HOLD_NOTICE = "retention-hold-notice"
HOLDS = "retention-holds"
PLAN = "retention-plan"


def _where() -> tuple[Locations, RetentionPolicy]:
    st = state()
    return Locations.resolve(st.settings, st.db.path), RetentionPolicy.from_settings(st.settings)


def _size(n: int) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.1f} MB"


def _card(title: str, body: Any, card_id: str) -> dbc.Card:
    return dbc.Card([dbc.CardHeader(title), dbc.CardBody(body)], className="mb-3", id=card_id)


def _facts(rows: list[tuple[str, Any]]) -> html.Table:
    return html.Table(
        html.Tbody([html.Tr([html.Th(k, className="pe-3 fw-normal text-muted"), html.Td(v)]) for k, v in rows]),
        className="table table-sm mb-0",
    )


def verification_view(result: Verification) -> dbc.Alert:
    """The outcome of a verification: OK with the head hash, or the first break and its kind."""
    when = f"{result.started_at:%Y-%m-%d %H:%M:%S} UTC, {result.seconds:.1f} s"
    if result.ok:
        return dbc.Alert(
            [
                html.Strong("Integrity OK. "),
                f"{result.checked_events:,} events and {result.batches:,} batches verified "
                f"({result.checkpoints_checked} checkpoints). Head: ",
                html.Code(result.head_hash or "empty chain", id="retention-head-hash"),
                html.Div(when, className="small text-muted"),
                *[html.Div(f"Note: {n}", className="small") for n in result.notes],
            ],
            color="success",
            id="retention-verify-ok",
        )
    first = result.first
    assert first is not None
    return dbc.Alert(
        [
            html.Strong(f"Chain broken: {first.kind}"),
            f" at seq {first.seq}" if first.seq is not None else "",
            f" ({first.where}). ",
            first.detail,
            html.Div(
                f"{len(result.breaks) - 1} more broken places." if len(result.breaks) > 1 else "",
                className="small",
            ),
            html.Div(when, className="small text-muted"),
        ],
        color="danger",
        id="retention-verify-broken",
    )


def _last_verification() -> Any:
    raw = state().db.get_meta(LAST_VERIFY_META)
    if not raw:
        return html.Span("No scheduled verification yet.", className="text-muted")
    data = json.loads(raw)
    text = data.get("summary", "")
    return html.Span(f"Last scheduled check ({_utc_text(data.get('started_at'))}): {text}", className="small")


def _utc_text(value: Any) -> str:
    """A stored ISO instant as the page writes times: `2026-05-01 12:00:00 UTC`."""
    if not isinstance(value, str) or not value:
        return "time not recorded"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _plan_view(plan: PurgePlan | None) -> Any:
    if plan is None:
        return html.P("A purge, restore or verification is running; reload the page when it is done.")
    if not plan.months:
        return html.P(f"Nothing to move: no event occurred before {plan.hot_cutoff:%Y-%m-%d}.", className="mb-0")
    rows = [
        html.Tr(
            [
                html.Td(m.month),
                html.Td(f"{m.delete:,}", className="text-end"),
                html.Td(f"{m.held:,}", className="text-end"),
                html.Td(f"{m.expire:,}", className="text-end"),
            ]
        )
        for m in plan.months
    ]
    return html.Div(
        [
            html.P(
                f"Moves {plan.moves:,} events that occurred before {plan.hot_cutoff:%Y-%m-%d} to the archive "
                f"(archived, read back and verified before they are deleted); keeps {plan.held:,} held events; "
                f"expires {plan.expires:,} archived events older than {plan.archive_cutoff:%Y-%m-%d}."
            ),
            dbc.Table(
                [
                    html.Thead(html.Tr([html.Th("Month"), html.Th("Move"), html.Th("Held"), html.Th("Expire")])),
                    html.Tbody(rows),
                ],
                size="sm",
                className="mb-0",
            ),
        ]
    )


def covers(hold: Hold) -> str:
    """What a hold covers, as the form asked for it: whole UTC days as `2026-11-02 to 2026-11-05`
    (the last day included); other spans to the minute, in UTC."""
    start, end = hold.starts_at, hold.ends_at
    if hold.kind == "user" or start is None or end is None:
        return hold.describe()
    if start.time() == time() and end.time() == time() and end > start:
        last = (end - timedelta(days=1)).date()
        days = f"{start:%Y-%m-%d}" if last == start.date() else f"{start:%Y-%m-%d} to {last:%Y-%m-%d}"
        return f"events of {days} (UTC days, the last one included)"
    return f"events from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def holds_view(holds: list[Hold], admin: bool) -> Any:
    """The active legal holds (with a release button for administrators)."""
    if not holds:
        return html.P("No legal holds.", className="text-muted mb-0")
    head = ["#", "Covers", "Reason", "Placed by", ""]
    rows = [
        html.Tr(
            [
                html.Td(h.id),
                html.Td(covers(h)),
                html.Td(h.reason),
                html.Td(f"{h.created_by}, {h.created_at:%Y-%m-%d}"),
                html.Td(
                    dbc.Button(
                        "Release",
                        id={"type": HOLD_RELEASE, "index": h.id},
                        size="sm",
                        color="secondary",
                        outline=True,
                        n_clicks=0,
                    )
                    if admin
                    else ""
                ),
            ]
        )
        for h in holds
    ]
    return dbc.Table([html.Thead(html.Tr([html.Th(c) for c in head])), html.Tbody(rows)], size="sm")


def _runs_view(runs: list[dict[str, Any]]) -> Any:
    if not runs:
        return html.P("No purge has run yet.", className="text-muted mb-0")
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(c) for c in ("Run", "Started", "State", "Archived", "Deleted", "By")])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(r["run_id"]),
                            html.Td(f"{r['started_at']:%Y-%m-%d %H:%M} UTC", className="text-nowrap"),
                            html.Td(r["state"]),
                            html.Td(f"{r['archived']:,}"),
                            html.Td(f"{r['deleted']:,}"),
                            html.Td(r["actor"]),
                        ]
                    )
                    for r in runs
                ]
            ),
        ],
        size="sm",
        className="mb-0",
    )


def _next_purge() -> str:
    job = state().scheduler.jobs.get("retention.purge")
    if job is None:
        return "not scheduled in this server (AUDITDASH_PURGE_INTERVAL_S=0); run auditdash purge"
    every = f"every {job.interval_s / 3600:g} h"
    if job.last_run is None:
        return f"{every}; first run about {job.first_delay_s / 60:g} min after the server started"
    nxt = job.last_run + timedelta(seconds=job.interval_s)  # last_run: naive UTC
    error = f" (last run failed: {job.last_error})" if job.last_error else ""
    return f"{every}; next at {nxt:%Y-%m-%d %H:%M} UTC{error}"


def layout(**_query: str) -> html.Div:
    """The page."""
    where, policy = _where()
    db = state().db
    st = status(db, where, policy)
    admin = viewer().is_admin
    pci = "meets PCI DSS 10.5.1 (12 months, 3 hot)" if policy.meets_pci() else "shorter than PCI DSS 10.5.1 asks"
    archive_rows = [
        html.Tr(
            [
                html.Td(m.month),
                html.Td(f"{m.manifest.rows - m.manifest.expired_rows:,}"),
                html.Td(f"{m.manifest.expired_rows:,}"),
                html.Td(_size(m.manifest.bytes)),
                html.Td(html.Code(m.manifest.sha256[:16] + "…")),
                html.Td("" if m.present else "file missing", className="text-danger"),
            ]
        )
        for m in st.archive_months
    ]
    return html.Div(
        [
            html.H1("Retention & integrity", className="h3"),
            dbc.Row(
                [
                    dbc.Col(
                        _card(
                            "Policy",
                            _facts(
                                [
                                    ("Profile", policy.profile),
                                    ("Hot store", f"{policy.hot_days} days (whole months move)"),
                                    ("Archive", f"{policy.archive_months} months after that"),
                                    ("Compliance", pci),
                                    ("Archive folder", html.Code(str(st.archive_dir))),
                                ]
                            ),
                            "retention-policy",
                        ),
                        md=6,
                    ),
                    dbc.Col(
                        _card(
                            "What is held",
                            _facts(
                                [
                                    ("Hot events", f"{st.hot_events:,}"),
                                    (
                                        "Oldest hot event",
                                        f"{st.oldest_hot:%Y-%m-%d %H:%M} UTC" if st.oldest_hot else "none",
                                    ),
                                    ("Archived events", f"{st.archived_events:,} (+{st.expired_events:,} expired)"),
                                    ("Oldest archived month", st.oldest_archived or "none"),
                                    ("Size", f"database {_size(st.db_bytes)}, archive {_size(st.archive_bytes)}"),
                                ]
                            ),
                            "retention-store",
                        ),
                        md=6,
                    ),
                ]
            ),
            _card(
                "Integrity",
                [
                    html.P(
                        "Recomputes every event's hash, every batch digest and the batch chain, over the hot "
                        "store and the archive, and checks the signed checkpoints.",
                        className="small text-muted",
                    ),
                    dbc.Button("Verify integrity", id=VERIFY, color="primary", size="sm", n_clicks=0),
                    dcc.Loading(html.Div(id=VERIFY_RESULT, className="mt-3")),
                    html.Div(_last_verification(), className="mt-2"),
                ],
                "retention-integrity",
            ),
            _card(
                "Next purge",
                [
                    html.P(_next_purge(), className="small"),
                    html.Div(_plan_view(st.plan), id=PLAN),
                    html.Div(
                        [
                            dbc.Button("Run purge now", id=PURGE, color="warning", size="sm", n_clicks=0),
                            dcc.Loading(html.Div(id=PURGE_RESULT, className="mt-2")),
                        ],
                        className="mt-3",
                    )
                    if admin
                    else None,
                ],
                "retention-next-purge",
            ),
            _card(
                "Legal holds",
                [
                    html.P(
                        "Held events are never purged or expired. Placing and releasing a hold is recorded "
                        "in the audit log.",
                        className="small text-muted",
                    ),
                    html.Div(id=HOLD_NOTICE),
                    html.Div(holds_view(st.holds, admin), id=HOLDS),
                    _hold_form() if admin else None,
                ],
                "retention-legal-holds",
            ),
            _card(
                "Archive",
                dbc.Table(
                    [
                        html.Thead(
                            html.Tr([html.Th(c) for c in ("Month", "Events", "Expired", "Size", "SHA-256", "")])
                        ),
                        html.Tbody(archive_rows),
                    ],
                    size="sm",
                    className="mb-0",
                )
                if archive_rows
                else html.P("Nothing archived yet.", className="text-muted mb-0"),
                "retention-archive",
            ),
            _card("Last purges", _runs_view(st.last_runs), "retention-runs"),
        ]
    )


#: how every date on this page is written and typed: ISO, as in the rest of the product
DATE_FORMAT = "YYYY-MM-DD"


def _day_picker(picker_id: str, label: str) -> dbc.Col:
    """A date field shown and typed as YYYY-MM-DD (a browser's own date field follows its locale,
    mm/dd/yyyy in the United States)."""
    return dbc.Col(
        [
            dbc.Label(label, html_for=picker_id, className="small mb-1"),
            html.Div(
                dcc.DatePickerSingle(
                    id=picker_id,
                    display_format=DATE_FORMAT,
                    month_format="MMMM YYYY",
                    placeholder=DATE_FORMAT,
                    first_day_of_week=1,
                    clearable=True,
                    className="retention-date",
                )
            ),
        ],
        md="auto",
    )


def _hold_form() -> dbc.Row:
    return dbc.Row(
        [
            _day_picker("retention-hold-from", "First day (UTC)"),
            _day_picker("retention-hold-to", "Last day (UTC, included)"),
            dbc.Col(
                [
                    dbc.Label("or a user id", html_for="retention-hold-user", className="small mb-1"),
                    dbc.Input(id="retention-hold-user", placeholder="user id"),
                ],
                md=2,
            ),
            dbc.Col(
                [
                    dbc.Label("Reason", html_for="retention-hold-reason", className="small mb-1"),
                    dbc.Input(id="retention-hold-reason", placeholder="matter, ticket"),
                ],
                md=3,
            ),
            dbc.Col(dbc.Button("Place hold", id=HOLD_ADD, color="primary", n_clicks=0), md="auto"),
        ],
        className="g-2 align-items-end",
    )


def run_verification() -> dbc.Alert:
    """Verify now for the current viewer and record it (`audit.verify`); when it could not be
    recorded (in `meta` or the audit log), the result says so under it, with the reason."""
    where, _policy = _where()
    db = state().db
    result = verify(db, where)
    problem = record_verification(db, result, request_actor())
    view = verification_view(result)
    if problem:
        view.children = [
            *view.children,
            html.Div(
                [html.Strong("Not recorded: "), problem],
                id="retention-verify-not-recorded",
                className="small mt-2",
            ),
        ]
        if result.ok:
            view.color = "warning"  # the result stands, but the record an auditor relies on is missing
    return view


@callback(Output(VERIFY_RESULT, "children"), Input(VERIFY, "n_clicks"), prevent_initial_call=True)
def on_verify(_clicks: int) -> Any:
    """The "Verify integrity" button."""
    if viewer().role not in AUDITORS:
        raise PreventUpdate
    try:
        return run_verification()
    except StoreError as exc:
        return dbc.Alert(str(exc), color="danger")


@callback(
    Output(PURGE_RESULT, "children"),
    Output(PLAN, "children"),
    Input(PURGE, "n_clicks"),
    prevent_initial_call=True,
)
def on_purge(_clicks: int) -> tuple[Any, Any]:
    """The "Run purge now" button (administrators)."""
    if not viewer().is_admin:
        raise PreventUpdate
    where, policy = _where()
    db = state().db
    try:
        result = run_purge(db, where, policy, request_actor())
    except StoreError as exc:
        return dbc.Alert(str(exc), color="danger"), dash.no_update
    return dbc.Alert(result.summary(), color="success"), _plan_view(plan_purge(db, where, policy))


def _hold_when(field: str, text: str | None, end: bool) -> datetime | None:
    """A hold's start or end (UTC; an end day is included); `WhenError` names the field."""
    if not text:
        return None
    try:
        return parse_when(text, end=end)
    except WhenError as exc:
        raise WhenError(f"{field} {exc}") from exc


def change_hold(action: str, **values: Any) -> tuple[dbc.Alert, Any]:
    """Place (`add`) or release (`release`) a legal hold for the current viewer."""
    db = state().db
    actor = request_actor()
    try:
        if action == "add":
            user = (values.get("user") or "").strip() or None
            if not user and not (values.get("start") and values.get("end")):
                # (the service's own message names the command line's options)
                raise ValueError("A hold needs its first and last day (YYYY-MM-DD), or a user id.")
            start = _hold_when("From", values.get("start"), end=False) if not user else None
            end = _hold_when("To", values.get("end"), end=True) if not user else None
            hold = add_hold(db, actor, values.get("reason") or "", start=start, end=end, user_id=user)
            notice = dbc.Alert(f"Legal hold {hold.id} placed: {covers(hold)}.", color="success")
        else:
            hold = release_hold(db, int(values["hold_id"]), actor)
            notice = dbc.Alert(f"Legal hold {hold.id} released.", color="info")
    except (StoreError, ValueError) as exc:
        notice = dbc.Alert(str(exc), color="danger")
    return notice, holds_view(list_holds(db), admin=True)


@callback(
    Output(HOLD_NOTICE, "children"),
    Output(HOLDS, "children"),
    Input(HOLD_ADD, "n_clicks"),
    Input({"type": HOLD_RELEASE, "index": ALL}, "n_clicks"),
    State("retention-hold-from", "date"),
    State("retention-hold-to", "date"),
    State("retention-hold-user", "value"),
    State("retention-hold-reason", "value"),
    prevent_initial_call=True,
)
def on_hold(
    _add: int, releases: list[int], start: str | None, end: str | None, user: str | None, reason: str | None
) -> tuple[Any, Any]:
    """Place or release a legal hold (administrators)."""
    if not viewer().is_admin or ctx.triggered_id is None:
        raise PreventUpdate
    if ctx.triggered_id == HOLD_ADD:
        return change_hold("add", start=start, end=end, user=user, reason=reason)
    if not any(releases):  # the buttons were just drawn
        raise PreventUpdate
    return change_hold("release", hold_id=ctx.triggered_id["index"])

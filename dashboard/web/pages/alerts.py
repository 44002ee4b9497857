"""Alerts: what the detection rules raised, each with its explanation, evidence, map and actions.

`/alerts?alert=ID` opens one alert (links in notifications and on the Review page use it).
Administrators and compliance officers acknowledge, assign, resolve (with a reason) and
comment; every action is stored with the alert and recorded in the audit log. Managers read
with addresses and names masked. Every component id here starts with `alerts-`.
"""

from __future__ import annotations

from typing import Any, cast

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.detect.alerts import RESOLUTION_TITLES, RESOLUTIONS, STATUSES, AlertError
from dashboard.detect.present import (
    SEVERITY_BADGE,
    STATUS_BADGE,
    explorer_link,
    fmt_time,
    key_text,
    map_figure,
    mask_detail,
    mask_evidence,
    measures_text,
    summary_text,
    timeline_figure,
)
from dashboard.detect.rules import SEVERITIES
from dashboard.roles import AUDITORS, READERS
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.components.parts import GRAPH_CONFIG, MAP_CONFIG, page_header
from dashboard.web.services import detection

dash.register_page(
    __name__,
    path="/alerts",
    name="Alerts",
    title="Alerts · auditdash",
    order=30,
    roles=READERS,
    filters=False,  # its own controls choose what it shows; the shell hides the sidebar
)

ACTING_ROLES = AUDITORS
DEFAULT_STATUS = ["open", "acknowledged"]
#: low alerts (every sensitive change) are many: they are a click away, and in the digest
DEFAULT_SEVERITY = ["critical", "high", "medium"]
EVIDENCE_ROWS = 200


def _can_act() -> bool:
    return viewer().role in ACTING_ROLES


def _counts() -> dbc.Row:
    counts = detection().alerts.open_counts()
    cards = []
    for sev in ("critical", "high", "medium", "low"):
        cards.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.Div(f"Open {sev}", className="text-muted small"),
                            html.H3(str(counts.get(sev, 0)), id=f"alerts-open-{sev}", className="mb-0"),
                        ]
                    )
                ),
                xs=6,
                md=3,
            )
        )
    return dbc.Row(cards, className="g-3 mb-3")


def _filters(rule_ids: list[str]) -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label("Status", html_for="alerts-status"),
                    dbc.Checklist(
                        id="alerts-status",
                        options=[{"label": s, "value": s} for s in STATUSES],
                        value=DEFAULT_STATUS,
                        inline=True,
                    ),
                ],
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Label("Severity", html_for="alerts-severity"),
                    dcc.Dropdown(
                        id="alerts-severity",
                        options=[{"label": s, "value": s} for s in reversed(SEVERITIES)],
                        value=DEFAULT_SEVERITY,
                        multi=True,
                        placeholder="all severities",
                    ),
                ],
                md=4,
            ),
            dbc.Col(
                [
                    dbc.Label("Rule", html_for="alerts-rule"),
                    dcc.Dropdown(
                        id="alerts-rule",
                        options=[{"label": r, "value": r} for r in rule_ids],
                        multi=True,
                        placeholder="all rules",
                    ),
                ],
                md=4,
            ),
        ],
        className="g-3 mb-3",
    )


def _actions_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader("Actions"),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                dbc.Button("Acknowledge", id="alerts-ack", color="warning", n_clicks=0), width="auto"
                            ),
                            dbc.Col(
                                dbc.InputGroup(
                                    [
                                        dbc.Input(id="alerts-assignee", placeholder="assign to (user name)"),
                                        dbc.Button("Assign", id="alerts-assign", color="secondary", n_clicks=0),
                                    ]
                                ),
                                md=5,
                            ),
                        ],
                        className="g-2 mb-2",
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                dcc.Dropdown(
                                    id="alerts-resolution",
                                    options=[{"label": RESOLUTION_TITLES[r], "value": r} for r in RESOLUTIONS],
                                    placeholder="reason for resolving",
                                ),
                                md=5,
                            ),
                            dbc.Col(
                                dbc.Button("Resolve", id="alerts-resolve", color="success", n_clicks=0), width="auto"
                            ),
                        ],
                        className="g-2 mb-2",
                    ),
                    dbc.Textarea(
                        id="alerts-note", placeholder="comment (also kept with a resolution)", className="mb-2"
                    ),
                    dbc.Button("Comment", id="alerts-comment", color="primary", outline=True, n_clicks=0),
                    html.Div(id="alerts-action-msg", className="mt-2", role="status"),
                ]
            ),
        ],
        id="alerts-actions",
        className="mb-3",
    )


def layout(alert: str | None = None, **_query: str) -> html.Div:
    """The page; `?alert=ID` opens that alert."""
    service = detection()
    wanted = alert if isinstance(alert, str) and alert.isascii() and alert.isdigit() and len(alert) <= 18 else None
    selected: int | None = int(wanted) if wanted else None
    rule_ids = [r.id for r in service.rules.rules]
    return html.Div(
        [
            page_header(
                "Alerts",
                "Alerts",
                "What the detection rules raised. Open an alert for its explanation, evidence and actions.",
            ),
            html.Div(_counts(), id="alerts-counts"),
            _filters(rule_ids),
            dcc.Store(id="alerts-selected", data=selected),
            dcc.Store(id="alerts-refresh", data=0),
            dbc.Row(
                [
                    dbc.Col(html.Div(id="alerts-table"), lg=5),
                    dbc.Col(
                        [
                            html.Div(id="alerts-detail"),
                            html.Div(_actions_card(), id="alerts-actions-wrap", hidden=True),
                        ],
                        lg=7,
                    ),
                ],
                className="g-3",
            ),
            html.Div(id="alerts-deliveries", className="mt-3"),
        ]
    )


@callback(
    Output("alerts-table", "children"),
    Output("alerts-deliveries", "children"),
    Output("alerts-counts", "children"),
    Input("alerts-status", "value"),
    Input("alerts-severity", "value"),
    Input("alerts-rule", "value"),
    Input("alerts-refresh", "data"),
)
def _table(
    status: list[str] | None, severity: list[str] | None, rules: list[str] | None, _n: int
) -> tuple[Any, Any, Any]:
    service = detection()
    who = viewer()
    rows = service.alerts.list(status=status or None, severity=severity or None, rule=rules or None, limit=300)
    if not rows:
        table: Any = html.P("No alerts match these filters.", id="alerts-empty", className="text-muted")
    else:
        body = []
        for r in rows:
            body.append(
                html.Tr(
                    [
                        html.Td(
                            [
                                dbc.Badge(r["severity"], color=SEVERITY_BADGE[r["severity"]], className="d-block mb-1"),
                                dbc.Badge(
                                    r["status"], color=STATUS_BADGE[r["status"]], className="d-block alerts-status"
                                ),
                            ],
                            style={"width": "6.5rem"},
                        ),
                        html.Td(
                            [
                                html.Button(
                                    f"{r['rule_id']} {r['title']}",
                                    id={"type": "alerts-open", "index": r["id"]},
                                    className="btn btn-link p-0 text-start alerts-open",
                                    n_clicks=0,
                                ),
                                html.Div(key_text(r["key"], who.masked), className="small text-muted"),
                            ]
                        ),
                        html.Td(
                            [html.Div(f"{r['last_seen']:%Y-%m-%d}"), html.Div(f"{r['last_seen']:%H:%M}")],
                            className="small text-nowrap",
                        ),
                        html.Td(str(r["event_count"]), className="text-end"),
                    ],
                    id=f"alerts-row-{r['id']}",
                )
            )
        table = dbc.Table(
            [
                html.Thead(html.Tr([html.Th("Severity"), html.Th("Alert"), html.Th("Last (UTC)"), html.Th("Events")])),
                html.Tbody(body),
            ],
            hover=True,
            size="sm",
            responsive=True,
            id="alerts-list",
        )
    deliveries: Any = None
    if service.notifier is not None and service.notifier.config.channels() and who.role in ACTING_ROLES:
        notes = service.notifier.recent(("failed", "pending"), limit=20)
        if notes:
            deliveries = dbc.Alert(
                [
                    html.Strong("Notifications not delivered yet"),
                    html.Ul(
                        [
                            html.Li(
                                f"#{n['id']} {n['channel']} {n['kind']} for alert {n['alert_id'] or '(digest)'}: "
                                f"{n['status']} after {n['attempts']} attempt(s)"
                                + (f" — {n['last_error']}" if n["last_error"] else "")
                            )
                            for n in notes
                        ]
                    ),
                ],
                color="danger" if any(n["status"] == "failed" for n in notes) else "warning",
                id="alerts-delivery-problems",
            )
    return table, deliveries, _counts()


@callback(
    Output("alerts-selected", "data"),
    Input({"type": "alerts-open", "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)
def _select(clicks: list[int | None]) -> int:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        raise PreventUpdate
    return int(trigger["index"])


def _detail(alert: dict[str, Any], masked: bool) -> html.Div:
    service = detection()
    rule = service.rules.get(alert["rule_id"])
    evidence = mask_evidence(alert["evidence"], masked)
    detail = mask_detail(alert["detail"], masked)
    facts = [
        ("Rule", f"{alert['rule_id']} {alert['title']}"),
        ("Key", key_text(alert["key"], masked)),
        ("Account", alert.get("account_id") or "-"),
        ("Window", f"{fmt_time(alert['first_seen'])} to {fmt_time(alert['last_seen'])}"),
        ("Events", str(alert["event_count"])),
        ("Measures", measures_text(alert["measures"]) or "-"),
        ("Assignee", alert.get("assignee") or "nobody"),
        ("Resolution", RESOLUTION_TITLES.get(alert.get("resolution") or "", "-")),
    ]
    extra = {k: v for k, v in detail.items() if k not in ("from", "to")}
    if "from" in detail and "to" in detail:
        a, b = detail["from"], detail["to"]
        facts.append(
            (
                "Travel",
                f"{a.get('city')}, {a.get('country')} ({a.get('ip')}) → "
                f"{b.get('city')}, {b.get('country')} ({b.get('ip')})",
            )
        )
    for name, value in extra.items():
        facts.append(
            (name.replace("_", " ").capitalize(), ", ".join(map(str, value)) if isinstance(value, list) else str(value))
        )
    ev_rows = [
        html.Tr(
            [
                html.Td(f"{e['occurred_at']:%Y-%m-%d %H:%M:%S}", className="text-nowrap"),
                html.Td(e.get("action") or "?"),
                html.Td(e.get("outcome") or ""),
                html.Td(e.get("actor_id") or ""),
                html.Td(e.get("ip") or ""),
                html.Td(" ".join(x for x in (e.get("geo_city"), e.get("geo_country")) if x)),
                html.Td(e["event_id"], className="small font-monospace"),
            ]
        )
        for e in evidence[:EVIDENCE_ROWS]
    ]
    more = int(alert.get("evidence_total", len(evidence))) - min(len(evidence), EVIDENCE_ROWS)
    has_places = any(e.get("geo_lat") is not None for e in evidence)
    return html.Div(
        [
            html.H2(
                [
                    dbc.Badge(alert["severity"], color=SEVERITY_BADGE[alert["severity"]], className="me-2"),
                    f"#{alert['id']} {alert['title']}",
                    dbc.Badge(
                        alert["status"],
                        color=STATUS_BADGE[alert["status"]],
                        className="ms-2",
                        id="alerts-detail-status",
                    ),
                ],
                className="h5",
                id="alerts-detail-title",
            ),
            html.P(summary_text(alert, masked), className="mb-2"),
            dbc.Card(
                dbc.CardBody(
                    [
                        html.P([html.Strong("What it means: "), rule.description if rule else ""], className="mb-1"),
                        html.P([html.Strong("What to check: "), rule.check if rule else ""], className="mb-0"),
                    ]
                ),
                className="mb-2",
                id="alerts-explanation",
            ),
            dbc.Table(
                html.Tbody([html.Tr([html.Th(k, className="text-nowrap"), html.Td(v)]) for k, v in facts]),
                size="sm",
                className="mb-2",
                id="alerts-facts",
            ),
            html.A(
                f"Open the {alert['event_count']} event(s) in the explorer",
                href=explorer_link(alert, masked=masked),
                id="alerts-explorer-link",
                className="d-block mb-2",
            ),
            html.H3("Timeline of the evidence", className="h6"),
            dcc.Graph(id="alerts-timeline", figure=timeline_figure(evidence), config=cast(Any, GRAPH_CONFIG)),
            html.Div(
                [
                    html.H3("Where the addresses are", className="h6"),
                    dcc.Graph(id="alerts-map", figure=map_figure(evidence, detail), config=cast(Any, MAP_CONFIG)),
                    html.P("IP Geolocation by DB-IP (dbip.com)", className="small text-muted"),
                ],
                hidden=not has_places,
            ),
            html.H3("Evidence events", className="h6"),
            dbc.Table(
                [
                    html.Thead(
                        html.Tr(
                            [
                                html.Th("Time (UTC)"),
                                html.Th("Action"),
                                html.Th("Outcome"),
                                html.Th("Actor"),
                                html.Th("IP"),
                                html.Th("Place"),
                                html.Th("Event id"),
                            ]
                        )
                    ),
                    html.Tbody(ev_rows),
                ],
                size="sm",
                responsive=True,
                id="alerts-evidence",
            ),
            html.P(f"... and {more} more (open them in the explorer).", className="text-muted") if more > 0 else None,
            html.H3("History", className="h6"),
            html.Ul(
                [
                    html.Li(
                        f"{fmt_time(a['happened_at'])} · {a['actor']} · {a['action']}"
                        + (f": {a['note']}" if a["note"] else "")
                    )
                    for a in alert["activity"]
                ],
                id="alerts-activity",
            ),
        ],
        id="alerts-detail-body",
    )


@callback(
    Output("alerts-detail", "children"),
    Output("alerts-actions-wrap", "hidden"),
    Input("alerts-selected", "data"),
)
def _show(selected: int | None) -> tuple[Any, bool]:
    return _render(selected)


def _render(selected: int | None) -> tuple[Any, bool]:
    if selected is None:
        return html.P("Select an alert to see its evidence.", className="text-muted", id="alerts-none"), True
    alert = detection().alerts.get(int(selected))
    if alert is None:
        return dbc.Alert(f"There is no alert {selected}.", color="warning"), True
    who = viewer()
    return _detail(alert, who.masked), not _can_act()


@callback(
    Output("alerts-action-msg", "children"),
    Output("alerts-refresh", "data"),
    Output("alerts-note", "value"),
    Output("alerts-detail", "children", allow_duplicate=True),
    Input("alerts-ack", "n_clicks"),
    Input("alerts-assign", "n_clicks"),
    Input("alerts-resolve", "n_clicks"),
    Input("alerts-comment", "n_clicks"),
    State("alerts-selected", "data"),
    State("alerts-assignee", "value"),
    State("alerts-resolution", "value"),
    State("alerts-note", "value"),
    State("alerts-refresh", "data"),
    prevent_initial_call=True,
)
def _act(
    _ack: int,
    _assign: int,
    _resolve: int,
    _comment: int,
    selected: int | None,
    assignee: str | None,
    resolution: str | None,
    note: str | None,
    refresh: int,
) -> tuple[Any, Any, Any, Any]:
    trigger = ctx.triggered_id
    if trigger is None or selected is None:
        raise PreventUpdate
    if not _can_act():
        return (
            dbc.Alert("Your role may read alerts but not act on them.", color="warning"),
            no_update,
            no_update,
            no_update,
        )
    actor = request_actor()
    action = {
        "alerts-ack": "acknowledge",
        "alerts-assign": "assign",
        "alerts-resolve": "resolve",
        "alerts-comment": "comment",
    }[str(trigger)]
    try:
        detection().alerts.act(
            int(selected),
            action,
            actor.name,
            actor.role,
            assignee=assignee,
            resolution=resolution,
            note=note,
            ip=actor.ip,
        )
    except AlertError as exc:
        return dbc.Alert(str(exc), color="warning", id="alerts-action-error"), no_update, no_update, no_update
    done = {
        "acknowledge": "Acknowledged.",
        "assign": f"Assigned to {assignee or 'nobody'}.",
        "resolve": f"Resolved as {RESOLUTION_TITLES.get(resolution or '', resolution)}.",
        "comment": "Comment added.",
    }[action]
    keep_note = no_update if action in ("acknowledge", "assign") else ""
    detail, _hidden = _render(int(selected))  # the changed alert comes back with the answer
    return (
        dbc.Alert(done, color="success", id="alerts-action-done", duration=6000),
        (refresh or 0) + 1,
        keep_note,
        detail,
    )

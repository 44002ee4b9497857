"""Alerts: what the detection rules raised, as a triage list, each with its explanation, evidence,
map and actions.

The list follows the sidebar (period, accounts, users, address, countries: how each applies to an
alert is in `dashboard.detect.alert_list`) and the page's own filters (status, severity, rule);
the line above it says which filters apply and names those of the sidebar it cannot apply. It is
sorted by what matters (severity, then open before acknowledged, then the latest activity), by
any column on request, a page at a time.

`/alerts?alert=ID` opens one alert in a panel (links in e-mail, webhooks, the wall and the Review
page use it; the address bar carries it while the alert is open). Administrators and compliance
officers acknowledge, assign, resolve (with a reason) and comment, one alert or several selected
at once; every action on every alert is stored with it and recorded in the audit log. Managers
read with addresses masked and names shortened. Every component id here starts with `alerts-`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboard.detect import alert_list
from dashboard.detect.alerts import RESOLUTION_TITLES, RESOLUTIONS, STATUSES, AlertError
from dashboard.detect.present import (
    SEVERITY_BADGE,
    STATUS_BADGE,
    alert_path,
    explorer_link,
    fmt_time,
    key_text,
    map_figure,
    mask_detail,
    mask_evidence,
    measures_text,
    person_text,
    summary_text,
    timeline_figure,
)
from dashboard.detect.rules import SEVERITIES, severity_rank
from dashboard.filters import Filters, View
from dashboard.roles import AUDITORS, READERS
from dashboard.web import ids
from dashboard.web.access import viewer
from dashboard.web.auth import request_actor
from dashboard.web.components.filter_sync import page_moment
from dashboard.web.components.parts import GRAPH_CONFIG, MAP_CONFIG, attrs, page_header
from dashboard.web.services import detection

dash.register_page(
    __name__,
    path="/alerts",
    name="Alerts",
    title="Alerts · auditdash",
    order=30,
    roles=READERS,
)

ACTING_ROLES = AUDITORS
DEFAULT_STATUS = ["open", "acknowledged"]
#: low alerts (every sensitive change) are many: they are a click away, and in the digest
DEFAULT_SEVERITY = ["critical", "high", "medium"]
EVIDENCE_ROWS = 200
#: the list's columns: (sort key or None, header)
COLUMNS: tuple[tuple[str | None, str], ...] = (
    ("severity", "Severity"),
    ("status", "Status"),
    ("alert", "Alert"),
    ("account", "Account"),
    ("first_seen", "First activity"),
    ("last_seen", "Last activity"),
    ("events", "Events"),
    (None, "Assignee"),
)
#: columns whose first click sorts A to Z (the others start with the most urgent, newest, largest)
_ASCENDING_FIRST = ("alert", "account")
SEVERITY_ORDER = sorted(SEVERITIES, key=severity_rank, reverse=True)


def _can_act() -> bool:
    return viewer().role in ACTING_ROLES


def _counts(open_by_severity: Mapping[str, int]) -> dbc.Row:
    cards = []
    for sev in ("critical", "high", "medium", "low"):
        cards.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.Div(f"Open {sev}", className="text-muted small"),
                            html.H3(str(open_by_severity.get(sev, 0)), id=f"alerts-open-{sev}", className="mb-0"),
                        ],
                        className="py-2",
                    )
                ),
                xs=6,
                md=3,
            )
        )
    return dbc.Row(cards, className="g-3 mb-3")


def _filters(rule_options: list[dict[str, str]]) -> dbc.Row:
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
                        options=[{"label": s, "value": s} for s in SEVERITY_ORDER],
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
                    dcc.Dropdown(id="alerts-rule", options=rule_options, multi=True, placeholder="all rules"),
                ],
                md=4,
            ),
        ],
        className="g-3 mb-3",
    )


def _bulk_bar(can_act: bool) -> html.Div:
    """Acknowledge, assign or resolve the selected alerts (shown to the roles that may act)."""
    return html.Div(
        [
            html.Span("0 selected", id="alerts-bulk-count", className="me-2 fw-semibold alerts-bulk-count"),
            dbc.Button("Acknowledge", id="alerts-bulk-ack", color="warning", size="sm", n_clicks=0, disabled=True),
            dbc.InputGroup(
                [
                    dbc.Input(id="alerts-bulk-assignee", placeholder="assign to (user name)", size="sm"),
                    dbc.Button(
                        "Assign", id="alerts-bulk-assign", color="secondary", size="sm", n_clicks=0, disabled=True
                    ),
                ],
                size="sm",
                className="alerts-bulk-group",
            ),
            html.Div(
                dcc.Dropdown(
                    id="alerts-bulk-resolution",
                    options=[{"label": RESOLUTION_TITLES[r], "value": r} for r in RESOLUTIONS],
                    placeholder="reason for resolving",
                ),
                className="alerts-bulk-reason",
            ),
            dbc.Button("Resolve", id="alerts-bulk-resolve", color="success", size="sm", n_clicks=0, disabled=True),
            html.Div(id="alerts-bulk-msg", className="w-100", role="status"),
        ],
        id="alerts-bulk",
        className="alerts-bulk mb-2",
        hidden=not can_act,
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
                                md=6,
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
                                md=6,
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


def _wanted_alert(alert: Any) -> int | None:
    ok = isinstance(alert, str) and alert.isascii() and alert.isdigit() and len(alert) <= 18
    return int(alert) if ok else None


def layout(alert: str | None = None, **_query: str) -> html.Div:
    """The page; `?alert=ID` opens that alert."""
    service = detection()
    selected = _wanted_alert(alert)
    rule_options = [{"label": f"{r.id} {r.title}", "value": r.id} for r in service.rules.rules]
    can_act = _can_act()
    # the cards at once, for the link's view (the list's callback redraws them in the browser's zone)
    start = alert_list.list_page(
        service.alerts.db, alert_list.AlertQuery(filters=Filters.from_query(_query), per_page=1)
    )
    return html.Div(
        [
            page_header(
                "Alerts",
                "Alerts",
                "What the detection rules raised, most urgent first. Open an alert for its explanation, "
                "evidence and actions.",
            ),
            html.Div(id="alerts-showing", className="ad-summary alerts-showing", **attrs(aria_live="polite")),
            html.Div(_counts(start.open_by_severity), id="alerts-counts"),
            _filters(rule_options),
            _bulk_bar(can_act),
            dcc.Store(id="alerts-selected", data=selected),
            dcc.Store(id="alerts-refresh", data=0),
            dcc.Store(id="alerts-sort", data={"col": alert_list.DEFAULT_SORT, "desc": True}),
            dcc.Store(id="alerts-page", data=0),
            dcc.Store(id="alerts-url-sink"),
            dcc.Loading(html.Div(id="alerts-table", className="alerts-table-wrap"), delay_show=400),
            html.Div(
                [
                    dbc.Button("‹ Previous", id="alerts-prev", size="sm", outline=True, n_clicks=0, disabled=True),
                    html.Span("", id="alerts-pager", className="mx-3 small"),
                    dbc.Button("Next ›", id="alerts-next", size="sm", outline=True, n_clicks=0, disabled=True),
                ],
                className="d-flex align-items-center my-2",
            ),
            html.Div(id="alerts-deliveries", className="mt-3"),
            dbc.Offcanvas(
                [
                    html.Div(id="alerts-detail"),
                    html.Div(_actions_card(), id="alerts-actions-wrap", hidden=True),
                ],
                id="alerts-panel",
                title="Alert",
                placement="end",
                is_open=selected is not None,
                scrollable=True,
                className="alerts-panel",
            ),
        ],
        id="alerts-root",
    )


def _filters_of(data: Mapping[str, Any] | None) -> Filters:
    if not data:
        raise PreventUpdate  # the shell has not read the URL yet
    try:
        return Filters.from_store(data)
    except (TypeError, ValueError):
        return Filters()


def _sort_button(col: str | None, label: str, sort: str, desc: bool) -> Any:
    if col is None:
        return html.Th(label, scope="col")
    arrow = (" ▼" if desc else " ▲") if col == sort else ""
    aria = ("descending" if desc else "ascending") if col == sort else "none"
    return html.Th(
        html.Button(
            label + arrow,
            id={"type": "alerts-sort", "col": col},
            className="btn btn-link p-0 alerts-sort text-nowrap",
            n_clicks=0,
            title=f"Sort by {label.lower()}",
        ),
        scope="col",
        className="text-end" if col == "events" else None,
        **attrs(aria_sort=aria),
    )


def _time_cell(value: datetime, view: View) -> html.Td:
    return html.Td(f"{view.local(value):%Y-%m-%d %H:%M}", className="text-nowrap small")


def _table(page: alert_list.AlertPage, view: View, masked: bool, can_act: bool, sort: str, desc: bool) -> Any:
    if not page.rows:
        return html.P("No alerts match these filters.", id="alerts-empty", className="text-muted")
    head = [_sort_button(col, label, sort, desc) for col, label in COLUMNS]
    if can_act:
        head.insert(
            0,
            html.Th(
                dbc.Checkbox(
                    id="alerts-pick-all",
                    value=False,
                    label="Select every alert on this page",
                    label_class_name="visually-hidden",
                ),
                scope="col",
                className="alerts-pick-col",
            ),
        )
    body = []
    for r in page.rows:
        cells = [
            html.Td(dbc.Badge(r["severity"], color=SEVERITY_BADGE.get(r["severity"], "secondary"))),
            html.Td(
                dbc.Badge(r["status"], color=STATUS_BADGE.get(r["status"], "secondary"), className="alerts-status")
            ),
            html.Td(
                [
                    html.Button(
                        f"{r['rule_id']} {r['title']}",
                        id={"type": "alerts-open", "index": r["id"]},
                        className="btn btn-link p-0 text-start alerts-open",
                        n_clicks=0,
                    ),
                    html.Div(
                        f"#{r['id']} · {key_text(r['key'], masked, page.names)}",
                        className="small text-muted alerts-key",
                    ),
                ],
                className="alerts-alert-cell",
            ),
            html.Td(r.get("account_id") or "—", className="small text-nowrap"),
            _time_cell(r["first_seen"], view),
            _time_cell(r["last_seen"], view),
            html.Td(f"{int(r['event_count']):,}", className="text-end"),
            html.Td(r.get("assignee") or "—", className="small"),
        ]
        if can_act:
            cells.insert(
                0,
                html.Td(
                    dbc.Checkbox(
                        id={"type": "alerts-pick", "index": r["id"]},
                        value=False,
                        label=f"Select alert #{r['id']}",
                        label_class_name="visually-hidden",
                    ),
                    className="alerts-pick-col",
                ),
            )
        body.append(html.Tr(cells, id=f"alerts-row-{r['id']}", className=f"alerts-row alerts-row--{r['severity']}"))
    return dbc.Table(
        [html.Thead(html.Tr(head)), html.Tbody(body)],
        hover=True,
        size="sm",
        id="alerts-list",
        className="alerts-list align-middle",
    )


def _deliveries(who_role: str) -> Any:
    service = detection()
    if service.notifier is None or not service.notifier.config.channels() or who_role not in ACTING_ROLES:
        return None
    notes = service.notifier.recent(("failed", "pending"), limit=20)
    if not notes:
        return None
    return dbc.Alert(
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


def query_of(
    data: Mapping[str, Any] | None,
    status: Any,
    severity: Any,
    rules: Any,
    sort_data: Mapping[str, Any] | None,
    page: Any,
) -> alert_list.AlertQuery:
    """The list's query from the page's controls (untrusted values: unknown ones are dropped)."""
    sort, desc = alert_list.sort_state(sort_data)
    known_rules = [r.id for r in detection().rules.rules]
    return alert_list.AlertQuery(
        filters=_filters_of(data),
        status=alert_list.clean_values(status, STATUSES),
        severity=alert_list.clean_values(severity, SEVERITIES),
        rules=alert_list.clean_values(rules, known_rules),
        sort=sort,
        descending=desc,
        page=page if isinstance(page, int) and page >= 0 else 0,
    )


@callback(
    Output("alerts-table", "children"),
    Output("alerts-showing", "children"),
    Output("alerts-counts", "children"),
    Output("alerts-pager", "children"),
    Output("alerts-prev", "disabled"),
    Output("alerts-next", "disabled"),
    Output("alerts-deliveries", "children"),
    Input(ids.FILTERS, "data"),
    Input("alerts-status", "value"),
    Input("alerts-severity", "value"),
    Input("alerts-rule", "value"),
    Input("alerts-sort", "data"),
    Input("alerts-page", "data"),
    Input("alerts-refresh", "data"),
)
def _list(
    data: Mapping[str, Any] | None,
    status: list[str] | None,
    severity: list[str] | None,
    rules: list[str] | None,
    sort_data: Mapping[str, Any] | None,
    page_no: int | None,
    _n: int,
) -> tuple[Any, ...]:
    who = viewer()
    q = query_of(data, status, severity, rules, sort_data, page_no)
    now = page_moment(data)
    page = alert_list.list_page(detection().alerts.db, q, now)
    view = View.of(q.filters, now)
    text, ignored = alert_list.describe(
        q,
        page.total,
        who.masked,
        alert_list.names_for(detection().alerts.db, q.filters.users) if q.filters.users else None,
        now,
    )
    showing: list[Any] = [
        html.Span("Showing ", className="text-body-secondary"),
        html.Span(text, className="ad-summary-text", id="alerts-showing-text"),
    ]
    if ignored:
        showing.append(
            html.Div(
                "Not applied to alerts (they describe single events, an alert groups many): "
                + "; ".join(ignored)
                + ". The explorer applies them.",
                id="alerts-not-applied",
                className="small text-warning-emphasis mt-1",
            )
        )
    first = page.page * q.per_page + 1
    last = min(page.total, (page.page + 1) * q.per_page)
    pager = f"{first:,}–{last:,} of {page.total:,} · page {page.page + 1} of {page.pages}" if page.total else ""
    return (
        _table(page, view, who.masked, who.role in ACTING_ROLES, q.sort, q.descending),
        showing,
        _counts(page.open_by_severity),
        pager,
        page.page <= 0,
        page.page >= page.pages - 1,
        _deliveries(who.role),
    )


def _clicked() -> Any:
    """The id of the component clicked (None when the trigger is a component that just appeared)."""
    if not any(t.get("value") for t in ctx.triggered):
        return None
    return ctx.triggered_id


# Sorting happens on the server (`_list`); the header's click only records the column, in the
# browser, for the same reason as opening an alert (a redraw must not swallow a click).
clientside_callback(
    """
    function (_clicks, current) {
        var ctx = window.dash_clientside.callback_context;
        var hit = (ctx.triggered || []).filter(function (t) { return t.value; });
        if (!hit.length) {
            return window.dash_clientside.no_update;
        }
        var col = JSON.parse(hit[0].prop_id.split(".")[0]).col;
        var now = current || {};
        if (now.col === col) {
            return {col: col, desc: !now.desc};
        }
        return {col: col, desc: ASCENDING_FIRST.indexOf(col) < 0};
    }
    """.replace("ASCENDING_FIRST", json.dumps(list(_ASCENDING_FIRST))),
    Output("alerts-sort", "data"),
    Input({"type": "alerts-sort", "col": ALL}, "n_clicks"),
    State("alerts-sort", "data"),
    prevent_initial_call=True,
)


@callback(
    Output("alerts-page", "data"),
    Input("alerts-prev", "n_clicks"),
    Input("alerts-next", "n_clicks"),
    Input(ids.FILTERS, "data"),
    Input("alerts-status", "value"),
    Input("alerts-severity", "value"),
    Input("alerts-rule", "value"),
    Input("alerts-sort", "data"),
    State("alerts-page", "data"),
    prevent_initial_call=True,
)
def _page(*args: Any) -> int:
    current = args[-1] if isinstance(args[-1], int) and args[-1] >= 0 else 0
    trigger = ctx.triggered_id
    if trigger == "alerts-prev":
        return max(0, current - 1)
    if trigger == "alerts-next":
        return current + 1  # the list stops at its last page
    return 0  # another view: back to its first page


# Opening an alert from the list happens in the browser: the list is redrawn whenever the view
# changes, and a server callback on its buttons would be asked again by every redraw (a redraw
# racing a click would swallow the click). The clicked id goes to `alerts-selected`; `_show`
# draws the alert from it.
clientside_callback(
    """
    function (_clicks) {
        var ctx = window.dash_clientside.callback_context;
        var hit = (ctx.triggered || []).filter(function (t) { return t.value; });
        if (!hit.length) {
            return [window.dash_clientside.no_update, window.dash_clientside.no_update];
        }
        var id = JSON.parse(hit[0].prop_id.split(".")[0]);
        return [id.index, true];
    }
    """,
    Output("alerts-selected", "data"),
    Output("alerts-panel", "is_open"),
    Input({"type": "alerts-open", "index": ALL}, "n_clicks"),
    prevent_initial_call=True,
)


def _fact_rows(alert: Mapping[str, Any], detail: Mapping[str, Any], masked: bool, names: Any, zone: ZoneInfo) -> list:
    facts: list[tuple[str, Any]] = [
        ("Rule", f"{alert['rule_id']} {alert['title']}"),
        ("Key", key_text(alert["key"], masked, names)),
        ("Account", alert.get("account_id") or "-"),
        ("Window", f"{fmt_time(alert['first_seen'], zone)} to {fmt_time(alert['last_seen'], zone)}"),
        ("Events", f"{int(alert['event_count']):,}"),
        ("Measures", measures_text(alert["measures"]) or "-"),
        ("Assignee", alert.get("assignee") or "nobody"),
        ("Resolution", RESOLUTION_TITLES.get(alert.get("resolution") or "", "-")),
        ("Link", html.A(alert_path(alert["id"]), href=alert_path(alert["id"]), id="alerts-permalink")),
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
    return [html.Tr([html.Th(k, className="text-nowrap"), html.Td(v)]) for k, v in facts]


def _detail(alert: dict[str, Any], masked: bool, zone: ZoneInfo) -> html.Div:
    service = detection()
    rule = service.rules.get(alert["rule_id"])
    evidence = mask_evidence(alert["evidence"], masked)
    detail = mask_detail(alert["detail"], masked)
    key = alert.get("key") or {}
    names = alert_list.names_for(service.alerts.db, [str(v) for k, v in key.items() if k in ("user", "subject")])
    ev_rows = [
        html.Tr(
            [
                html.Td(fmt_time(e["occurred_at"], zone).rsplit(" ", 1)[0], className="text-nowrap"),
                html.Td(e.get("action") or "?"),
                html.Td(e.get("outcome") or ""),
                html.Td(person_text(str(e["actor_id"]), e.get("actor_name"), masked) if e.get("actor_id") else ""),
                html.Td(person_text(str(e["target_id"]), e.get("target_name"), masked) if e.get("target_id") else ""),
                html.Td(e.get("ip") or "", className="text-nowrap"),
                html.Td(" ".join(x for x in (e.get("geo_city"), e.get("geo_country")) if x)),
                html.Td(e["event_id"], className="small font-monospace text-nowrap alerts-event-id"),
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
            html.P(summary_text(alert, masked, names), className="mb-2"),
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
                html.Tbody(_fact_rows(alert, detail, masked, names, zone)),
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
            html.H3("Timeline of the evidence (UTC)", className="h6"),
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
            html.Div(
                dbc.Table(
                    [
                        html.Thead(
                            html.Tr(
                                [
                                    html.Th(f"Time ({zone.key})"),
                                    html.Th("Action"),
                                    html.Th("Outcome"),
                                    html.Th("Actor"),
                                    html.Th("Target"),
                                    html.Th("IP"),
                                    html.Th("Place"),
                                    html.Th("Event id"),
                                ]
                            )
                        ),
                        html.Tbody(ev_rows),
                    ],
                    size="sm",
                    id="alerts-evidence",
                    className="alerts-evidence",
                ),
                className="alerts-evidence-wrap",
            ),
            html.P(f"... and {more} more (open them in the explorer).", className="text-muted") if more > 0 else None,
            html.H3("History", className="h6"),
            html.Ul(
                [
                    html.Li(
                        f"{fmt_time(a['happened_at'], zone)} · {a['actor']} · {a['action']}"
                        + (f": {a['note']}" if a["note"] else "")
                    )
                    for a in alert["activity"]
                ],
                id="alerts-activity",
            ),
        ],
        id="alerts-detail-body",
    )


def _zone_of(data: Mapping[str, Any] | None) -> ZoneInfo:
    try:
        return Filters.from_store(data).zone if data else ZoneInfo("UTC")
    except (TypeError, ValueError):
        return ZoneInfo("UTC")


@callback(
    Output("alerts-detail", "children"),
    Output("alerts-actions-wrap", "hidden"),
    Output("alerts-panel", "title"),
    Input("alerts-selected", "data"),
    State(ids.FILTERS, "data"),
)
def _show(selected: int | None, data: Mapping[str, Any] | None) -> tuple[Any, bool, str]:
    """The alert chosen in the list, or the one a link opens (`?alert=ID`) when the page loads."""
    return _render(selected, _zone_of(data))


def _render(selected: Any, zone: ZoneInfo) -> tuple[Any, bool, str]:
    if not isinstance(selected, int):
        return html.P("Select an alert to see its evidence.", className="text-muted", id="alerts-none"), True, "Alert"
    alert = detection().alerts.get(selected)
    if alert is None:
        return (
            dbc.Alert(
                f"There is no alert {selected}: it may have been removed, or the link is wrong.", color="warning"
            ),
            True,
            f"Alert {selected}",
        )
    who = viewer()
    return _detail(alert, who.masked, zone), not _can_act(), f"Alert #{alert['id']}"


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
    State(ids.FILTERS, "data"),
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
    data: Mapping[str, Any] | None,
) -> tuple[Any, Any, Any, Any]:
    trigger = _clicked()
    if trigger is None or not isinstance(selected, int):
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
            selected,
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
    detail, _hidden, _title = _render(selected, _zone_of(data))  # the changed alert comes back with the answer
    return (
        dbc.Alert(done, color="success", id="alerts-action-done", duration=6000),
        (refresh or 0) + 1,
        keep_note,
        detail,
    )


# -- several alerts at once --------------------------------------------------------------------------
def _picked(values: list[Any] | None, pick_ids: list[Any] | None) -> list[int]:
    out = []
    for value, pid in zip(values or [], pick_ids or [], strict=False):
        index = pid.get("index") if isinstance(pid, Mapping) else None
        if value is True and isinstance(index, int) and not isinstance(index, bool):
            out.append(index)
    return out


# "select every alert on this page" ticks the page's boxes in the browser (nothing to ask the server)
clientside_callback(
    """
    function (every, values) {
        return (values || []).map(function () { return Boolean(every); });
    }
    """,
    Output({"type": "alerts-pick", "index": ALL}, "value"),
    Input("alerts-pick-all", "value"),
    State({"type": "alerts-pick", "index": ALL}, "value"),
    prevent_initial_call=True,
)


@callback(
    Output("alerts-bulk-count", "children"),
    Output("alerts-bulk-ack", "disabled"),
    Output("alerts-bulk-assign", "disabled"),
    Output("alerts-bulk-resolve", "disabled"),
    Input({"type": "alerts-pick", "index": ALL}, "value"),
    State({"type": "alerts-pick", "index": ALL}, "id"),
)
def _bulk_count(values: list[Any], pick_ids: list[Any]) -> tuple[str, bool, bool, bool]:
    n = len(_picked(values, pick_ids))
    return f"{n} selected", n == 0, n == 0, n == 0


@callback(
    Output("alerts-bulk-msg", "children"),
    Output("alerts-refresh", "data", allow_duplicate=True),
    Input("alerts-bulk-ack", "n_clicks"),
    Input("alerts-bulk-assign", "n_clicks"),
    Input("alerts-bulk-resolve", "n_clicks"),
    State({"type": "alerts-pick", "index": ALL}, "value"),
    State({"type": "alerts-pick", "index": ALL}, "id"),
    State("alerts-bulk-assignee", "value"),
    State("alerts-bulk-resolution", "value"),
    State("alerts-refresh", "data"),
    prevent_initial_call=True,
)
def _bulk(
    _ack: int,
    _assign: int,
    _resolve: int,
    values: list[Any],
    pick_ids: list[Any],
    assignee: str | None,
    resolution: str | None,
    refresh: int | None,
) -> tuple[Any, Any]:
    trigger = _clicked()
    if trigger not in ("alerts-bulk-ack", "alerts-bulk-assign", "alerts-bulk-resolve"):
        raise PreventUpdate
    if not _can_act():
        return dbc.Alert("Your role may read alerts but not act on them.", color="warning"), no_update
    chosen = _picked(values, pick_ids)
    if not chosen:
        return dbc.Alert("Select one or more alerts first.", color="warning"), no_update
    action = {"alerts-bulk-ack": "acknowledge", "alerts-bulk-assign": "assign", "alerts-bulk-resolve": "resolve"}[
        str(trigger)
    ]
    if action == "resolve" and resolution not in RESOLUTIONS:
        return (
            dbc.Alert(f"A resolution needs a reason: one of {', '.join(RESOLUTIONS)}.", color="warning"),
            no_update,
        )
    actor = request_actor()
    done, refused = detection().alerts.act_many(
        chosen, action, actor.name, actor.role, assignee=assignee, resolution=resolution, ip=actor.ip
    )
    how = {
        "acknowledge": "",
        "assign": f" to {(assignee or '').strip() or 'nobody'}",
        "resolve": f" as {RESOLUTION_TITLES.get(resolution or '', resolution)}",
    }[action]
    verb = {"acknowledge": "Acknowledged", "assign": "Assigned", "resolve": "Resolved"}[action]
    parts: list[Any] = []
    if done:
        listed = ", ".join(f"#{a}" for a in done)
        parts.append(html.Div(f"{verb} {len(done)} alert{'s' if len(done) != 1 else ''}{how}: {listed}."))
    if refused:
        parts.append(
            html.Div(
                f"Not done for {len(refused)}: " + "; ".join(f"#{a}: {why}" for a, why in refused.items()) + ".",
                id="alerts-bulk-refused",
            )
        )
    color = "success" if not refused else ("warning" if done else "danger")
    return dbc.Alert(parts, color=color, id="alerts-bulk-done"), (refresh or 0) + 1


# The address bar carries the open alert (`?alert=ID`, beside the shell's filters) so it can be
# copied; the shell owns the query string, so this only adds or removes `alert` in place.
clientside_callback(
    """
    function (selected, isOpen, _search) {
        var params = new URLSearchParams(window.location.search);
        if (window.location.pathname !== "/alerts") {
            return window.dash_clientside.no_update;
        }
        if (isOpen && selected !== null && selected !== undefined) {
            params.set("alert", String(selected));
        } else {
            params.delete("alert");
        }
        var query = params.toString();
        var url = window.location.pathname + (query ? "?" + query : "") + window.location.hash;
        if (url !== window.location.pathname + window.location.search + window.location.hash) {
            window.history.replaceState(window.history.state, "", url);
        }
        return window.dash_clientside.no_update;
    }
    """,
    Output("alerts-url-sink", "data"),
    Input("alerts-selected", "data"),
    Input("alerts-panel", "is_open"),
    Input(ids.URL, "search"),
)

"""What the wall screen shows, as plain functions (testable without a browser).

`refresh` is the body of the wall's one callback: it runs the few aggregate queries of the
last 24 hours on one connection and returns figures and small components. Everything is masked,
whatever the viewer's role: the wall hangs where visitors pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import plotly.graph_objects as go
from dash import html

from dashboard import figures
from dashboard.countries import country_name
from dashboard.detect.present import SEVERITY_BADGE, key_text
from dashboard.filters import Filters, View
from dashboard.privacy import mask_ip
from dashboard.store import analytics, wall
from dashboard.store.db import Database

#: the wall's view: the last 24 hours, every account, in UTC.
#: the wall shows the whole last day, sign-in attempts at auditdash itself included
WALL_FILTERS = Filters(preset="24h", tz="UTC", dashboard_activity=True)
NO_DETECTION = "No alert rules yet: detection is not set up."


@dataclass(frozen=True)
class WallView:
    """Everything one refresh of the wall puts on screen."""

    clock: str
    updated: str
    rate: str
    rate_note: str
    events: str
    failed: str
    failed_note: str
    alert_count: str
    alert_note: str
    activity: go.Figure
    map: go.Figure
    failing: Any
    alerts: Any


def _n(value: int) -> str:
    return f"{value:,}"


def failing_table(frame: Any) -> Any:
    """Networks failed logins come from (masked), as a table with large type."""
    if frame is None or frame.empty:
        return html.Div("No failed logins in the last 24 hours.", className="wall-empty")
    head = html.Thead(
        html.Tr(
            [
                html.Th("Network"),
                html.Th("Country"),
                html.Th("Failed logins", className="text-end"),
                html.Th("Users", className="text-end"),
            ]
        )
    )
    body = html.Tbody(
        [
            html.Tr(
                [
                    html.Td(str(r.ip), className="wall-mono"),
                    html.Td(country_name(r.country) if r.country else "—"),
                    html.Td(_n(int(r.failures)), className="text-end wall-num"),
                    html.Td(_n(int(r.users)), className="text-end wall-num"),
                ]
            )
            for r in frame.itertuples(index=False)
        ]
    )
    return html.Table([head, body], className="table table-sm wall-table mb-0")


def alerts_list(found: wall.OpenAlerts) -> Any:
    """The open alerts, most severe first (keys masked)."""
    if found.count is None:
        return html.Div(NO_DETECTION, className="wall-empty")
    if not found.top:
        return html.Div("No open alerts.", className="wall-empty wall-ok")
    items = []
    for a in found.top:
        sev = str(a["severity"])
        items.append(
            html.Li(
                [
                    html.Span(sev.upper(), className=f"wall-sev badge text-bg-{SEVERITY_BADGE.get(sev, 'secondary')}"),
                    html.Span(str(a["title"]), className="wall-alert-title"),
                    html.Span(
                        f"{key_text(a['key'], masked=True)} · {a['event_count']:,} "
                        f"event{'s' if a['event_count'] != 1 else ''} · "
                        f"last {a['last_seen']:%H:%M} UTC · {a['status']}",
                        className="wall-alert-meta",
                    ),
                ],
                className="wall-alert",
            )
        )
    more = found.count - len(found.top)
    if more > 0:
        items.append(html.Li(f"and {more} more", className="wall-alert wall-alert-more"))
    return html.Ul(items, className="wall-alerts")


def refresh(db: Database, now: datetime | None = None, every_s: int = 30) -> WallView:
    """One refresh of the wall: the last 24 hours up to `now`, masked.

    Args:
        db: the store.
        now: the end of the 24 hours (default: now).
        every_s: the refresh interval, for the status line.
    """
    instant = (now or datetime.now(UTC)).astimezone(UTC)
    view = View.of(WALL_FILTERS, instant)
    with db.connect() as conn:
        nums = wall.numbers(conn, view)
        activity = wall.activity(conn, view)
        failing = wall.failing_sources(conn, view)
        points = analytics.map_points(conn, view, masked=True)
        countries = analytics.country_totals(conn, view)
        found = wall.open_alerts(conn)
    if not points.empty:
        points = points.assign(top_ip=[(mask_ip(ip) or "") if ip else "" for ip in points["top_ip"]])
    if found.count is None:
        alert_count, alert_note = "—", "detection not set up"
    else:
        alert_count = _n(found.count)
        alert_note = " · ".join(f"{n} {sev}" for sev, n in found.by_severity.items()) or "all clear"
    return WallView(
        clock=f"{instant:%H:%M} UTC",
        updated=f"updated {instant:%H:%M:%S} UTC · refreshes every {every_s} s",
        rate=f"{nums.per_minute:,.1f}",
        rate_note=f"events per minute, last {int(wall.LIVE_WINDOW.total_seconds() // 60)} min",
        events=_n(nums.events),
        failed=_n(nums.failed_logins),
        failed_note=f"from {_n(nums.failing_sources)} address{'es' if nums.failing_sources != 1 else ''}",
        alert_count=alert_count,
        alert_note=alert_note,
        activity=figures.wall_activity_figure(activity),
        map=figures.wall_map_figure(points, countries),
        failing=failing_table(failing),
        alerts=alerts_list(found),
    )

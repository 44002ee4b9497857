"""What the wall screen shows, as plain functions (testable without a browser).

`refresh` is the body of the wall's one callback: it runs the few aggregate queries of the
last 24 hours on one connection and returns figures and small components. Everything is masked,
whatever the viewer's role: the wall hangs where visitors pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import plotly.graph_objects as go
from dash import html

from dashboard import figures
from dashboard.countries import country_name
from dashboard.detect import alert_list
from dashboard.detect.present import PERSON_KEYS, SEVERITY_BADGE, alert_path, day_time, key_text
from dashboard.filters import Filters, View
from dashboard.privacy import mask_ip
from dashboard.store import analytics, wall
from dashboard.store.db import Database

#: the wall's view: the last 24 hours, every account, in UTC.
#: the wall shows the whole last day, sign-in attempts at auditdash itself included
WALL_FILTERS = Filters(preset="24h", tz="UTC", dashboard_activity=True)
NO_DETECTION = "No alert rules yet: detection is not set up."
#: the networks the failed-logins table lists (what its panel holds at every screen size)
FAILING_ROWS = 6


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
    alert_tone: str
    """The class of the open-alerts figure: red while a critical alert is open."""
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


def alerts_list(
    found: wall.OpenAlerts,
    today: date | None = None,
    links: bool = False,
    names: Mapping[str, str | None] | None = None,
) -> Any:
    """The alerts the wall lists (`wall.open_alerts` says which, in which order), keys masked.

    Times carry their day (`today 10:32`, `2026-11-30 10:32`); a critical alert and one raised
    within the last hour (`new`) stand out; the last line counts what is not listed, by severity.

    Args:
        found: what `wall.open_alerts` read.
        today: the wall's day (UTC), for the times; default: today.
        links: link each alert to its page (for viewers who may open the Alerts page).
        names: the people the keys name (id -> name), shown shortened ("Ana S. (1053)").
    """
    if found.count is None:
        return html.Div(NO_DETECTION, className="wall-empty")
    day = today or datetime.now(UTC).date()
    items = []
    for a in found.top:
        sev = str(a["severity"])
        n = int(a["event_count"])
        title = f"{a['title']} #{a['id']}" if "id" in a else str(a["title"])
        classes = f"wall-alert wall-alert--{sev}" + (" wall-alert--new" if a.get("new") else "")
        items.append(
            html.Li(
                [
                    html.Span(sev.upper(), className=f"wall-sev badge text-bg-{SEVERITY_BADGE.get(sev, 'secondary')}"),
                    html.Span(
                        [
                            html.Span("NEW", className="wall-new badge text-bg-light me-2") if a.get("new") else None,
                            html.A(title, href=alert_path(a["id"]), className="wall-alert-link")
                            if links and "id" in a
                            else title,
                        ],
                        className="wall-alert-title",
                    ),
                    html.Span(
                        f"{key_text(a['key'], masked=True, names=names)} · {n:,} event{'s' if n != 1 else ''} · "
                        f"last {day_time(a['last_seen'], day)} UTC · {a['status']}",
                        className="wall-alert-meta",
                    ),
                ],
                className=classes,
            )
        )
    rest = sum(found.rest.values())
    if not items:
        quiet = "No open alerts." if not rest else "No open alert of medium severity or above."
        items.append(html.Li(quiet, className="wall-empty wall-ok"))
    if rest > 0:
        by = ", ".join(f"{n} {sev}" for sev, n in found.rest.items())
        items.append(html.Li(f"and {rest} more ({by}) on the Alerts page", className="wall-alert wall-alert-more"))
    return html.Ul(items, className="wall-alerts")


def refresh(db: Database, now: datetime | None = None, every_s: int = 30, links: bool = False) -> WallView:
    """One refresh of the wall: the last 24 hours up to `now`, masked.

    Args:
        db: the store.
        now: the end of the 24 hours (default: now).
        every_s: the refresh interval, for the status line.
        links: link the listed alerts to their page (viewers who may open it).
    """
    instant = (now or datetime.now(UTC)).astimezone(UTC)
    view = View.of(WALL_FILTERS, instant)
    with db.connect() as conn:
        nums = wall.numbers(conn, view)
        activity = wall.activity(conn, view)
        failing = wall.failing_sources(conn, view, limit=FAILING_ROWS)
        points = analytics.map_points(conn, view, masked=True)
        countries = analytics.country_totals(conn, view)
        found = wall.open_alerts(conn, since=view.start, now=view.end)
        people = [str(a["key"][k]) for a in found.top for k in PERSON_KEYS if a["key"].get(k)]
        names = alert_list.people_names(conn, people)
    if not points.empty:
        points = points.assign(top_ip=[(mask_ip(ip) or "") if ip else "" for ip in points["top_ip"]])
    if found.count is None:
        alert_count, alert_note = "—", "detection not set up"
    else:
        alert_count = _n(found.count)
        alert_note = " · ".join(f"{n} {sev}" for sev, n in found.by_severity.items()) or "all clear"
    tone = "wall-tile-value wall-tile-value--critical" if found.by_severity.get("critical") else "wall-tile-value"
    activity, world = figures.wall_activity_figure(activity), figures.wall_map_figure(points, countries)
    for fig in (activity, world):  # the panel sets the height: the wall fits the screen it is on
        fig.layout.height = None
        fig.layout.autosize = True
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
        alert_tone=tone,
        activity=activity,
        map=world,
        failing=failing_table(failing),
        alerts=alerts_list(found, instant.date(), links, names),
    )

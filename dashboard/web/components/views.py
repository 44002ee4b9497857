"""What the Overview and Security pages show, as plain functions of (database, filters, viewer).

Each function is the body of one page callback: it opens one connection, runs the aggregate
queries of `dashboard.store.analytics`, masks personal data for viewers who must not see it
(before anything leaves the server), and returns Dash-ready values (figures, table components,
text). `benchmarks/dashboard.py` times exactly these functions.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dash import html

from dashboard import figures
from dashboard.countries import country_name
from dashboard.filters import Filters, View
from dashboard.privacy import mask_ip, masked_network, shorten_name
from dashboard.store import analytics
from dashboard.store.analytics import Rows
from dashboard.store.db import Database
from dashboard.web.components.parts import data_table, element, number, xf_cell

#: rows the tables show (the Explorer lists everything): newest changes, new countries.
CHANGE_ROWS = 30
NEW_COUNTRY_ROWS = 25
#: stars on the map at most
NEW_COUNTRY_LIMIT = 200
#: bars of the Overview's rankings (busiest users, busiest actions); the charts keep room for them all
RANKED = 10


def in_parallel(*work: Callable[[], Any]) -> list[Any]:
    """Run the functions side by side and return their results in order (the first error is raised).

    A page makes one callback (one round trip, one response) while its queries still overlap as
    they did when each part had its own callback: each runs in a thread of its own (which checks
    out its own connection; DuckDB releases the GIL while it works), the last in the caller's.
    The threads end with the call, so none outlives a request (the server's shutdown waits for
    background work it does not know). Each runs in a copy of the caller's context, so context
    variables (`rollups.raw_only`, for one) hold in every part as in the caller.

    Every thread is started before any part runs: a thread's start waits until the new thread has
    run, and with a part already busy in Python that wait took a GIL switch interval or two (about
    9 ms per thread, measured on a page's answer).
    """
    if len(work) < 2:
        return [w() for w in work]
    go = threading.Event()
    results: list[Any] = [None] * (len(work) - 1)
    errors: list[BaseException | None] = [None] * (len(work) - 1)

    def part(i: int, w: Callable[[], Any], context: contextvars.Context) -> None:
        go.wait()
        try:
            results[i] = context.run(w)
        except BaseException as exc:  # raised in the caller's thread, below
            errors[i] = exc

    threads = [
        threading.Thread(target=part, args=(i, w, contextvars.copy_context()), name=f"page-view-{i}", daemon=True)
        for i, w in enumerate(work[:-1])
    ]
    for t in threads:
        t.start()
    go.set()
    try:
        last = work[-1]()
    finally:
        for t in threads:
            t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return [*results, last]


def view_now() -> datetime:
    """Now, to the minute: the instant views resolve at when the `filters` store does not say when
    it was written (`filterbar.page_moment`, which the pages pass so that all their charts agree)."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _view(f: Filters, now: datetime | None) -> View:
    return View.of(f, now or view_now())


def _name(name: str | None, masked: bool) -> str | None:
    return shorten_name(name) if masked else name


def _person(actor_id: str | None, name: str | None, masked: bool) -> str:
    return figures.person_label(actor_id, _name(name, masked))


def _ip_shown(ip: str | None, masked: bool) -> str:
    if not ip:
        return ""
    return (mask_ip(ip) or "masked") if masked else ip


def masked_block(shown: str) -> str | None:
    """The CIDR block a masked address stands for ('203.0.113.x' -> '203.0.113.0/24'), for cross-filtering."""
    return masked_network(shown) if shown.endswith("x") else None


def _when(value: datetime, tz: str) -> dict[str, Any]:
    return element("Span", f"{value:%Y-%m-%d %H:%M}", title=f"{value:%Y-%m-%d %H:%M:%S} ({tz})")


# -- Overview ------------------------------------------------------------------------------------------------
def overview_lead(f: Filters, now: datetime | None = None) -> str:
    """The Overview's subtitle: what it shows for this view (period, zone, whether narrowed)."""
    moment = now or view_now()
    period = f.describe(moment).split(", ")[0]
    everyone = replace(
        f,
        users=(),
        roles=(),
        categories=(),
        actions=(),
        countries=(),
        accounts=(),
        weekdays=(),
        hours=(),
        outcome=None,
        ip=None,
        text=None,
    )
    narrowed = f != everyone
    what = "Events and failed logins, the busiest users and actions, and activity by category"
    scope = "of the filtered activity" if narrowed else "of all activity"
    return f"{what} {scope}: {period}, times in {f.tz}."


@dataclass(frozen=True)
class OverviewCards:
    """The headline figures, as text."""

    events: str
    failed_logins: str
    users: str
    ips: str
    open_alerts: str
    alerts_note: str


def overview_cards(db: Database, f: Filters, now: datetime | None = None) -> OverviewCards:
    """Events, failed logins, distinct users and addresses, open alerts."""
    view = _view(f, now)
    with db.connect() as conn:
        h = analytics.headline(conn, view)
    if h.open_alerts is None:
        alerts, note = "—", "detection is not set up"
    else:
        alerts, note = number(h.open_alerts), "not resolved yet, any period"
    return OverviewCards(number(h.events), number(h.failed_logins), number(h.users), number(h.ips), alerts, note)


def overview_timeline(db: Database, f: Filters, now: datetime | None = None) -> figures.Spec:
    """Events over time, stacked by category, in the view's zone."""
    view = _view(f, now)
    with db.connect() as conn:
        tl = analytics.timeline(conn, view)
    return figures.timeline_spec(tl.rows, tl.bucket.seconds, tl.bucket.per, tl.start, tl.end, tl.tz)


def overview_rankings(
    db: Database, f: Filters, masked: bool, now: datetime | None = None
) -> tuple[figures.Spec, figures.Spec, Any]:
    """The busiest users, the busiest actions, and the events per category (a table)."""
    view = _view(f, now)
    with db.connect() as conn:
        users = analytics.top_users_rows(conn, view, RANKED)
        every_action = analytics.action_counts_rows(conn, view)
    actions = every_action.head(RANKED)
    categories = analytics.category_rows(every_action)
    users_fig = figures.ranking_spec(
        [_person(a, n, masked) for a, n, *_ in users.data],
        users["events"],
        "Busiest users",
        keys=users["actor_id"],
        colors=figures.CATEGORY_COLORS["conversation"],
        slots=RANKED,
    )
    actions_fig = figures.ranking_spec(
        actions["action"],
        actions["events"],
        "Busiest actions",
        keys=actions["action"],
        colors=[figures.CATEGORY_COLORS.get(c, figures.CATEGORY_COLORS["other"]) for c in actions["category"]],
        slots=RANKED,
    )
    total = sum(int(n) for n in categories["events"])
    rows = [
        [
            element(
                "Span",
                [
                    element(
                        "Span", className="ad-swatch", style={"background": figures.CATEGORY_COLORS.get(cat, "#bab0ac")}
                    ),
                    xf_cell("categories", cat, figures.category_title(cat), src="category-table"),
                ],
            ),
            number(int(n)),
            figures.percent(int(n) / total) if total else "",
            number(int(fails)),
        ]
        for cat, n, fails in categories.data
    ]
    table = data_table(
        ["Category", ("Events", "end"), ("Share", "end"), ("Failed", "end")],
        rows,
        table_id="category-table",
        empty="No events match the filters.",
    )
    return users_fig, actions_fig, table


# -- Security ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SecurityCharts:
    """The security page's figures about failed logins."""

    failed: str
    locked: str
    failing_users: str
    failing_ips: str
    weekday_hour: figures.Spec
    user_day: figures.Spec
    reasons: figures.Spec


def security_failures(db: Database, f: Filters, masked: bool, now: datetime | None = None) -> SecurityCharts:
    """Failed logins: headline figures, the two heatmaps, failures by reason."""
    view = _view(f, now)
    with db.connect() as conn:
        s = analytics.security_summary(conn, view)
        grid = analytics.weekday_hour_counts(conn, view)
        per_day = analytics.failed_logins_by_user_day_rows(conn, view)
        reasons = analytics.failures_by_reason_rows(conn, view)
    if masked:
        per_day = Rows(per_day.columns, [(a, _name(n, True), *rest) for a, n, *rest in per_day.data])
    first_day = view.local_start.date()
    last_day = (view.local_end - timedelta(microseconds=1)).date()
    return SecurityCharts(
        failed=number(s.failed_logins),
        locked=number(s.lockouts),
        failing_users=number(s.failing_users),
        failing_ips=number(s.failing_ips),
        weekday_hour=figures.weekday_hour_spec(grid, view.tz),
        user_day=figures.user_day_spec(per_day, first_day, last_day, view.tz),
        reasons=figures.reasons_spec(reasons),
    )


def security_map(db: Database, f: Filters, masked: bool, now: datetime | None = None) -> tuple[figures.Spec, Any, str]:
    """The IP map, the table of countries new to a user, and a note on what the map can place."""
    view = _view(f, now)
    with db.connect() as conn:
        points = analytics.map_point_rows(conn, view, masked=masked)
        countries = analytics.country_total_rows(conn, view)
        new = analytics.new_country_rows(conn, view, limit=NEW_COUNTRY_LIMIT)
    if masked:
        top_ip = points.columns.index("top_ip")
        points = Rows(
            points.columns, [(*r[:top_ip], _ip_shown(r[top_ip], True), *r[top_ip + 1 :]) for r in points.data]
        )
        new = Rows(
            new.columns,
            [(a, _name(n, True), c, when, _ip_shown(ip, True), *rest) for a, n, c, when, ip, *rest in new.data],
        )
    fig = figures.ip_map_spec(points, countries, new)
    note = figures.map_note(sum(int(n) for n in points["events"]), sum(int(n) for n in countries["events"]))
    table_rows = [
        [
            xf_cell("users", r["actor_id"], _person(r["actor_id"], r["actor_name"], False), src="new-countries"),
            element(
                "Span",
                [
                    xf_cell("countries", r["country"], country_name(r["country"]), src="new-countries"),
                    element("Div", ", ".join(p for p in (r["city"], r["ip"]) if p), className="ad-sub"),
                ],
            ),
            _when(r["first_seen"], view.tz),
        ]
        for r in new.head(NEW_COUNTRY_ROWS).records()
    ]
    table: Any = data_table(
        ["User", "New country", f"First seen ({view.tz})"],
        table_rows,
        table_id="new-countries-table",
        empty="No user appeared from a new country in this view.",
    )
    if len(new) > NEW_COUNTRY_ROWS:
        more = "at least " if len(new) >= NEW_COUNTRY_LIMIT else ""
        table = html.Div(
            [
                table,
                html.Div(
                    f"and {more}{len(new) - NEW_COUNTRY_ROWS:,} more (all starred on the map)", className="ad-empty"
                ),
            ]
        )
    return fig, table, note


def security_tables(db: Database, f: Filters, masked: bool, now: datetime | None = None) -> tuple[Any, Any]:
    """Top addresses (with failure ratio and country), and permission and role changes."""
    view = _view(f, now)
    with db.connect() as conn:
        top = analytics.top_address_rows(conn, view, masked=masked)
        changes = analytics.permission_change_rows(conn, view, limit=CHANGE_ROWS)
    if masked:
        top = _merge_masked(top)
    ip_rows = []
    for r in top.records():
        shown = str(r["ip"])  # masked in the database or by _merge_masked for masked viewers
        value = masked_block(shown) if masked else shown
        ip_cell = xf_cell("ip", value, shown, src="top-ips") if value else shown
        country = r["country"]
        country_cell = xf_cell("countries", country, country_name(country), src="top-ips") if country else "—"
        ratio = float(r["failure_ratio"])
        ip_rows.append(
            [
                ip_cell,
                country_cell,
                r["city"] or "",
                number(int(r["events"])),
                number(int(r["failures"])),
                element(
                    "Span", figures.percent(ratio), className="ad-ratio ad-ratio--high" if ratio >= 0.5 else "ad-ratio"
                ),
                number(int(r["users"])),
            ]
        )
    top_table = data_table(
        [
            "Address",
            "Country",
            "City",
            ("Events", "end"),
            ("Failed", "end"),
            ("Failure ratio", "end"),
            ("Users", "end"),
        ],
        ip_rows,
        table_id="top-ips-table",
        empty="No addresses in this view.",
    )
    change_rows = [
        [
            _when(r["occurred_at"], view.tz),
            xf_cell("users", r["actor_id"], _person(r["actor_id"], r["actor_name"], masked), src="changes")
            if r["actor_id"]
            else "system",
            _name(r["target_name"], masked) or r["target_id"] or "",
            r["field"],
            element(
                "Span",
                [
                    element("Span", r["before"], className="ad-before"),
                    element("Span", " → ", className="ad-arrow"),
                    element("Span", r["after"], className="ad-after"),
                ],
            ),
        ]
        for r in changes.records()
    ]
    change_table = data_table(
        [f"When ({view.tz})", "Changed by", "Whose access", "What", "Before → after"],
        change_rows,
        table_id="changes-table",
        empty="No permission or role changes in this view.",
    )
    return top_table, change_table


def _merge_masked(top: Rows) -> Rows:
    """Mask what the database left unmasked (IPv6) and merge rows that became the same."""
    merged: dict[str, list[Any]] = {}
    for ip, country, city, events, failures, users, _ in top.data:
        shown = _ip_shown(ip, True)
        m = merged.get(shown)
        if m is None:
            merged[shown] = [shown, country, city, int(events), int(failures), int(users)]
        else:
            m[3] += int(events)
            m[4] += int(failures)
            m[5] = max(m[5], int(users))  # a lower bound once two addresses merge
            m[1] = m[1] if m[1] is not None else country  # the first known place, as pandas' "first"
            m[2] = m[2] if m[2] is not None else city
    return Rows(top.columns, [(*m, m[4] / m[3] if m[3] else 0.0) for m in merged.values()])

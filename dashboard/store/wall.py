"""The wall screen's queries: the last 24 hours as a few aggregates (SQLAlchemy Core, no SQL strings).

Every function returns counts, never rows about people, and the addresses it returns are
already masked (the wall shows no personal data in the clear, whoever is signed in). Each takes
an open connection and an `analytics.View` (the last 24 hours resolved at one instant), so the
numbers of one refresh agree with each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.events import jsontext
from dashboard.filters import View
from dashboard.privacy import mask_ip
from dashboard.store import schema
from dashboard.store.predicates import failed_login
from dashboard.store.schema import events

E = events.c
#: width of the activity chart's bars: 144 bars over 24 hours.
BUCKET = timedelta(minutes=10)
#: the "live" rate is the mean over this window.
LIVE_WINDOW = timedelta(minutes=5)
SEVERITY_ORDER: tuple[str, ...] = ("critical", "high", "medium", "low", "info")


@dataclass(frozen=True)
class Numbers:
    """The headline figures of the wall."""

    events: int
    failed_logins: int
    failing_sources: int
    """Distinct addresses with a failed login."""
    per_minute: float
    """Events per minute over the last `LIVE_WINDOW`."""


def numbers(conn: Connection, view: View) -> Numbers:
    """Events, failed logins, addresses that failed, and the live event rate."""
    live_from = view.end - LIVE_WINDOW
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.count().filter(failed_login()),
            sa.func.count(sa.distinct(E.ip)).filter(failed_login()),
            sa.func.count().filter(E.occurred_at >= live_from),
        ).where(view.where())
    ).one()
    return Numbers(int(row[0]), int(row[1]), int(row[2]), int(row[3]) / (LIVE_WINDOW.total_seconds() / 60))


def activity(conn: Connection, view: View) -> pd.DataFrame:
    """Events and failed logins per `BUCKET` (naive UTC bucket starts), every bucket present (zeros included)."""
    seconds = int(BUCKET.total_seconds())
    bucket = sa.func.time_bucket(sa.literal(BUCKET, sa.Interval), E.occurred_at).label("bucket")
    rows = conn.execute(
        sa.select(bucket, sa.func.count(), sa.func.count().filter(failed_login()))
        .where(view.where())
        .group_by(bucket)
        .order_by(bucket)
    ).fetchall()
    epoch = datetime(1970, 1, 1)  # view.start / view.end are naive UTC
    first = epoch + timedelta(seconds=int((view.start - epoch).total_seconds()) // seconds * seconds)
    index = pd.date_range(first, view.end, freq=f"{seconds}s", inclusive="left")
    frame = pd.DataFrame({"events": 0, "failed_logins": 0}, index=index)
    for start, n, failed in rows:
        if start in frame.index:
            frame.loc[start, ["events", "failed_logins"]] = [int(n), int(failed)]
    frame.index.name = "bucket"
    return frame.reset_index()


def failing_sources(conn: Connection, view: View, limit: int = 8) -> pd.DataFrame:
    """Where failed logins come from, by masked network: ip (masked), country, failures, users."""
    stmt = (
        sa.select(E.ip, sa.func.max(E.geo_country), sa.func.count(), sa.func.count(sa.distinct(E.actor_id)))
        .where(view.where(), failed_login(), E.ip.is_not(None))
        .group_by(E.ip)
        .order_by(sa.func.count().desc(), E.ip)
        .limit(500)  # the busiest addresses are enough to rank networks
    )
    rows = conn.execute(stmt).fetchall()
    frame = pd.DataFrame.from_records(
        [(mask_ip(ip), country, int(n), int(u)) for ip, country, n, u in rows],
        columns=["ip", "country", "failures", "users"],
    )
    if frame.empty:
        return frame
    merged = frame.groupby("ip", as_index=False, sort=False).agg(
        country=("country", "first"),
        failures=("failures", "sum"),
        users=("users", "max"),  # a lower bound once addresses of one network merge
    )
    # a network none of whose addresses could be placed has no country: None, not the frame's NaN
    merged["country"] = merged["country"].astype(object).where(merged["country"].notna(), None)
    return merged.sort_values(["failures", "ip"], ascending=[False, True]).head(limit).reset_index(drop=True)


#: the severities the wall lists (every unresolved alert counts in its tile; lower ones are only counted).
LISTED_SEVERITIES: tuple[str, ...] = ("critical", "high", "medium")
#: how many alerts the wall lists: what its panel holds at every screen size it is made for.
WALL_ALERT_ROWS = 5
#: an alert raised this recently is marked new on the wall.
NEW_FOR = timedelta(hours=1)


@dataclass(frozen=True)
class OpenAlerts:
    """Alerts not resolved yet: None as `count` when detection is not installed (no alerts table).

    `top` are the ones the wall lists (see `open_alerts`), `rest` counts the others by severity.
    """

    count: int | None
    by_severity: dict[str, int]
    top: list[dict[str, Any]]
    rest: dict[str, int] = field(default_factory=dict)


def open_alerts(
    conn: Connection, since: datetime | None = None, now: datetime | None = None, limit: int = WALL_ALERT_ROWS
) -> OpenAlerts:
    """The alerts the wall shows, by one documented rule (docs/detections.md, "The wall screen").

    Every alert not resolved (open or acknowledged) counts. The list holds those of severity medium
    and above, in this order: critical ones (whatever their age), then the others active since
    `since` (the wall's 24 hours), then the older ones; within each group the most severe first, open
    before acknowledged, the latest activity first. The first `limit` are listed; `rest` counts the
    others, low ones included, by severity. Keys come back as stored: the caller masks them.

    Args:
        conn: an open connection.
        since: the start of the wall's period (naive UTC); None: no recency group.
        now: the instant "new" is judged at (naive UTC; default: the database's clock is not used,
            so pass it to mark new alerts).
        limit: how many to list.
    """
    if not sa.inspect(conn).has_table(schema.alerts.name):  # detection never set up in this store
        return OpenAlerts(None, {}, [])
    a = schema.alerts.c
    still_open = a.status != "resolved"
    counts: dict[str, int] = {
        str(sev): int(n)
        for sev, n in conn.execute(sa.select(a.severity, sa.func.count()).where(still_open).group_by(a.severity))
    }
    rank = sa.case({sev: i for i, sev in enumerate(SEVERITY_ORDER)}, value=a.severity, else_=len(SEVERITY_ORDER))
    fresh: sa.ColumnElement[int] = sa.case((a.last_seen >= since, 1), else_=2) if since is not None else sa.literal(1)
    group = sa.case((a.severity == "critical", 0), else_=fresh)
    status_rank = sa.case((a.status == "open", 0), else_=1)
    rows = (
        conn.execute(
            sa.select(
                a.id, a.rule_id, a.title, a.severity, a.status, a.key_json, a.last_seen, a.event_count, a.created_at
            )
            .where(still_open, a.severity.in_(LISTED_SEVERITIES))
            .order_by(group, rank, status_rank, a.last_seen.desc(), a.id.desc())
            .limit(limit)
        )
        .mappings()
        .fetchall()
    )
    top = []
    for r in rows:
        key = jsontext.decode(r["key_json"]) if r["key_json"] else {}
        row = {**dict(r), "key": key if isinstance(key, dict) else {}}
        # new: raised within the hour about activity of the wall's period (a re-run over old data is not news)
        row["new"] = (
            now is not None
            and r["created_at"] is not None
            and r["created_at"] >= now - NEW_FOR
            and (since is None or r["last_seen"] >= since)
        )
        top.append(row)
    ordered = {sev: counts[sev] for sev in SEVERITY_ORDER if counts.get(sev)}
    ordered.update({k: v for k, v in counts.items() if k not in ordered})
    rest = dict(ordered)
    for listed in top:
        sev = str(listed["severity"])
        rest[sev] = rest.get(sev, 0) - 1
    return OpenAlerts(sum(ordered.values()), ordered, top, {k: v for k, v in rest.items() if v > 0})

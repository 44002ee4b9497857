"""What the PDF shows, read from the pack's snapshot: figures, charts' data, changes, alerts, integrity.

The charts use the dashboard's own aggregate queries (`dashboard.store.analytics`) on the pack's
connection, so the PDF and the pages draw the same numbers with the same figure functions.
The few tables only the PDF has (failed-login sources, configuration changes, alerts, access
to the audit log) are queried here, with the same filters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from dashboard.config import Settings
from dashboard.events.taxonomy import activity_actions
from dashboard.evidence.locations import Locations
from dashboard.evidence.status import LAST_VERIFY_META
from dashboard.evidence.verify import verify as verify_chain
from dashboard.filters import OWN_CATEGORY
from dashboard.packs.view import PackView
from dashboard.privacy import mask_ip, mask_ipv4_sql, shorten_name
from dashboard.store import analytics, schema
from dashboard.store.db import Database
from dashboard.store.predicates import failed_login
from dashboard.store.schema import chain_batches, events

log = logging.getLogger(__name__)
E = events.c

#: rows a PDF table shows at most; the CSV has every event.
MAX_TABLE_ROWS = 200


#: configuration of the platform: settings, features, integrations, workflows, automation, bots.
CONFIG_ACTIONS: tuple[str, ...] = activity_actions(
    "Configuration modifications",
    "Feature enable/disable",
    "Integration changes",
    "Workflow updates",
    "Automation rule changes",
    "Bot configuration updates",
)
#: credential changes (PCI DSS 10.2.1.5), shown beside role changes.
CREDENTIAL_ACTIONS: tuple[str, ...] = activity_actions("Password changes", "MFA setup/changes")


@dataclass(frozen=True)
class Capped:
    """A table's rows (at most `MAX_TABLE_ROWS`) and how many there are in all."""

    frame: pd.DataFrame
    total: int

    @property
    def capped(self) -> bool:
        """Whether rows were left out of the PDF."""
        return self.total > len(self.frame)


@dataclass(frozen=True)
class Integrity:
    """The integrity state of the log for the period, as the cover states it."""

    state: str  # verified, broken, not verified
    summary: str
    period_head: tuple[int, str] | None
    store_head: tuple[int, str] | None
    checked_at: str | None = None
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        """For the manifest."""
        return {
            "state": self.state,
            "summary": self.summary,
            "checked_at": self.checked_at,
            "source": self.source,
            "period_chain_head": (
                {"batch_id": self.period_head[0], "hash": self.period_head[1]} if self.period_head else None
            ),
            "store_chain_head": (
                {"batch_id": self.store_head[0], "hash": self.store_head[1]} if self.store_head else None
            ),
        }


@dataclass
class ChartData:
    """What the charts draw (read first, so the charts are drawn while the tables are read)."""

    timeline: analytics.Timeline
    top_users: pd.DataFrame
    top_actions: pd.DataFrame
    heatmap: pd.DataFrame
    reasons: pd.DataFrame
    user_days: pd.DataFrame
    map: MapData


@dataclass
class MapData:
    """Where the view's activity comes from: city points, and countries of events without a city."""

    points: pd.DataFrame
    countries: pd.DataFrame

    @property
    def placed(self) -> int:
        """Events the map places at a city."""
        return int(self.points["events"].sum()) if not self.points.empty else 0

    @property
    def country_only(self) -> int:
        """Events the map can only shade by country."""
        return int(self.countries["events"].sum()) if not self.countries.empty else 0


@dataclass
class ReportData:
    """Everything the PDF draws."""

    charts: ChartData
    headline: analytics.Headline
    categories: pd.DataFrame
    security: analytics.SecuritySummary
    sources: pd.DataFrame
    role_changes: Capped
    credential_changes: Capped
    config_changes: Capped
    audit_access: pd.DataFrame
    alerts: Capped | None
    alert_status: dict[str, int] = field(default_factory=dict)
    signoffs: Capped | None = None


# -- chain heads and integrity -------------------------------------------------------------------
def chain_heads(view: PackView) -> tuple[tuple[int, str] | None, tuple[int, str] | None]:
    """(period head, store head): the last chain batch holding an event of the period, and the last batch."""
    last_batch = sa.select(sa.func.max(E.batch_id)).where(view.period_condition()).scalar_subquery()
    period = view.rows(
        sa.select(chain_batches.c.batch_id, chain_batches.c.hash).where(chain_batches.c.batch_id == last_batch)
    )
    store = view.rows(
        sa.select(chain_batches.c.batch_id, chain_batches.c.hash).order_by(chain_batches.c.batch_id.desc()).limit(1)
    )
    return (
        (int(period[0][0]), str(period[0][1])) if period else None,
        (int(store[0][0]), str(store[0][1])) if store else None,
    )


def integrity_state(
    db: Database, view: PackView, settings: Settings | None, max_events: int, verify: bool = True
) -> Integrity:
    """The integrity of the period's events, checked at generation time.

    Order of preference: the last full verification the server recorded, when it covers every
    event of the period; else `evidence.verify.verify` over the period, when `verify` is set (packs
    with a PDF, whose cover states it) and the period holds at most `max_events` events (it
    rehashes each one); else "not verified", saying why.
    """
    period_head, store_head = chain_heads(view)
    period_last = view.scalar(sa.select(sa.func.max(E.seq)).where(view.period_condition()))
    period_events = int(view.scalar(sa.select(sa.func.count()).where(view.period_condition())) or 0)
    base: dict[str, Any] = {"period_head": period_head, "store_head": store_head}
    if period_last is None:
        return Integrity("verified", "no events were stored for this period", source="empty", **base)
    recorded = _recorded_verification(db)
    if recorded and recorded.get("head_seq") is not None and int(recorded["head_seq"]) >= int(period_last):
        ok = bool(recorded.get("ok"))
        when = str(recorded.get("started_at") or "")
        summary = str(recorded.get("summary") or ("intact" if ok else "broken")).split(": ", 1)[-1]
        return Integrity(
            "verified" if ok else "broken",
            f"the scheduled check of the whole log at {when}, which covers this period: {summary}",
            checked_at=when,
            source="scheduled",
            **base,
        )
    if not verify or max_events <= 0 or period_events > max_events:
        if not verify:
            reason = "packs without a PDF do not re-verify the log"
        elif max_events > 0:
            reason = f"the period holds {period_events:,} events, more than the {max_events:,} a pack verifies itself"
        else:
            reason = "verification while building packs is switched off"
        return Integrity(
            "not verified",
            f"not verified: {reason}, and no recorded verification covers it yet; run `auditdash verify`",
            source="skipped",
            **base,
        )
    try:
        if settings is None:  # defaults: the archive and checkpoints beside the database
            settings = Settings(db_path=db.path)
        where = Locations.resolve(settings, db.path)
        result = verify_chain(db, where, start=view.start, end=view.end)
    except Exception as exc:  # the pack says so rather than failing
        log.warning("integrity check for a pack failed: %s", exc)
        return Integrity("not verified", f"not verified: the check could not run ({exc})", source="error", **base)
    data = result.to_json()
    summary = result.summary().split(": ", 1)[-1]  # without its "OK" / "BROKEN" label: the state says it
    return Integrity(
        "verified" if result.ok else "broken",
        f"checked while building this pack: {summary}",
        checked_at=data.get("started_at"),
        source="pack",
        **base,
    )


def _recorded_verification(db: Database) -> dict[str, Any] | None:
    text = db.get_meta(LAST_VERIFY_META)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and data.get("scope", "all") == "all" else None


# -- tables only the PDF has ----------------------------------------------------------------------------
def _frame(view: PackView, stmt: sa.Select[Any], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame.from_records([tuple(r) for r in view.rows(stmt)], columns=columns)


def failed_login_sources(view: PackView, masked: bool, limit: int = 15) -> pd.DataFrame:
    """Addresses with the most failed logins: ip, country, city, failures, users, first, last (local)."""
    failed = sa.and_(failed_login(), E.ip.is_not(None))
    # masked viewers: IPv4 grouped by /24 in the database, as privacy.mask_ip shows them
    key = (mask_ipv4_sql(E.ip) if masked else E.ip).label("ip")
    stmt = (
        sa.select(
            key,
            sa.func.max(E.geo_country),
            sa.func.max(E.geo_city),
            sa.func.count().label("failures"),
            sa.func.count(sa.distinct(E.actor_id)),
            sa.func.min(E.occurred_at),
            sa.func.max(E.occurred_at),
        )
        .where(view.condition(), failed)
        .group_by(key)
        .order_by(sa.desc("failures"), key)
        .limit(limit)
    )
    frame = _frame(view, stmt, ["ip", "country", "city", "failures", "users", "first", "last"])
    if masked:
        frame["ip"] = [mask_ip(v) for v in frame["ip"]]
    for col in ("first", "last"):
        frame[col] = [view.local(v) if v is not None else None for v in frame[col]]
    return frame


def _who(name: str | None, masked: bool) -> str | None:
    return shorten_name(name) if masked else name


def changes_table(view: PackView, actions: tuple[str, ...], masked: bool = False) -> Capped:
    """Changes of the given actions, newest first, one row per changed field (before -> after)."""
    cond = sa.and_(view.condition(), E.action.in_(actions))
    total = int(view.scalar(sa.select(sa.func.count()).where(cond)) or 0)
    order = (E.occurred_at.desc(), E.seq.desc())
    # the newest rows' sequence numbers first, then their columns: DuckDB sorts narrow rows much faster
    newest = sa.select(E.seq).where(cond).order_by(*order).limit(MAX_TABLE_ROWS)
    stmt = (
        sa.select(
            E.occurred_at, E.actor_id, E.actor_name, E.action, E.target_type, E.target_name, E.target_id, E.changes
        )
        .where(E.seq.in_(newest))
        .order_by(*order)
    )
    rows: list[tuple[Any, ...]] = []
    for when, actor_id, actor_name, action, t_type, t_name, t_id, changes in view.rows(stmt):
        target = (_who(t_name, masked) if t_type == "agent" else t_name) or t_id or ""
        if t_type and target:
            target = f"{t_type} {target}"
        actor = _who(actor_name, masked) or actor_id or "system"
        for name, before, after in analytics._changed_fields(changes):  # one reading of `changes` everywhere
            rows.append((view.local(when), actor, action, target, name, before, after))
    frame = pd.DataFrame.from_records(
        rows, columns=["occurred_at", "actor", "action", "target", "field", "before", "after"]
    )
    return Capped(frame, total)


def audit_access(view: PackView) -> pd.DataFrame:
    """Access to and administration of the audit log itself in the view: action, events, failures, people."""
    stmt = (
        sa.select(
            E.action,
            sa.func.count().label("events"),
            sa.func.count().filter(E.outcome == "failure"),
            sa.func.count(sa.distinct(E.actor_id)),
        )
        .where(view.condition(own_activity=True), E.category == OWN_CATEGORY)
        .group_by(E.action)
        .order_by(sa.desc("events"), E.action)
    )
    return _frame(view, stmt, ["action", "events", "failures", "people"])


def _table(conn: sa.Connection, table: sa.Table) -> sa.Table | None:
    """`table`, or None when this store does not have it yet (detection never set up)."""
    return table if sa.inspect(conn).has_table(table.name) else None


def alerts_in_period(view: PackView) -> tuple[Capped | None, dict[str, int]]:
    """Alerts whose activity overlaps the period (of the filtered accounts and users), with review status."""
    alerts = _table(view.conn, schema.alerts)
    if alerts is None:
        return None, {}
    a = alerts.c
    conds: list[sa.ColumnElement[bool]] = [a.first_seen < view.end, a.last_seen >= view.start]
    if view.filters.accounts:
        conds.append(a.account_id.in_(view.filters.accounts))
    if view.filters.users:
        conds.append(a.key_user.in_(view.filters.users))
    status = {
        str(s): int(n) for s, n in view.rows(sa.select(a.status, sa.func.count()).where(*conds).group_by(a.status))
    }
    stmt = (
        sa.select(
            a.id,
            a.first_seen,
            a.severity,
            a.title,
            a.status,
            sa.func.coalesce(a.resolved_by, a.acknowledged_by, a.assignee),
            sa.func.coalesce(a.resolved_at, a.acknowledged_at),
            a.resolution,
        )
        .where(*conds)
        .order_by(a.first_seen.desc(), a.id.desc())
        .limit(MAX_TABLE_ROWS)
    )
    rows = [
        (i, view.local(first), sev, title, st, who or "", view.local(when) if when else None, res or "")
        for i, first, sev, title, st, who, when, res in view.rows(stmt)
    ]
    frame = pd.DataFrame.from_records(
        rows, columns=["id", "first_seen", "severity", "title", "status", "by", "at", "resolution"]
    )
    return Capped(frame, sum(status.values())), status


def review_signoffs(view: PackView) -> Capped | None:
    """Daily review sign-offs whose period overlaps the pack's (PCI DSS 10.4.1), when the table exists."""
    table = _table(view.conn, schema.review_signoffs)
    if table is None:
        return None
    r = table.c
    start_day, end_day = view.local(view.start).date(), view.local(view.end).date()
    conds = [r.period_start <= end_day, r.period_end >= start_day]
    total = int(view.scalar(sa.select(sa.func.count()).select_from(table).where(*conds)) or 0)
    stmt = (
        sa.select(r.period_start, r.period_end, r.reviewer, r.role, r.signed_at, r.note)
        .where(*conds)
        .order_by(r.period_start.desc(), r.id.desc())
        .limit(MAX_TABLE_ROWS)
    )
    rows = [(ps, pe, who, role or "", view.local(at), note) for ps, pe, who, role, at, note in view.rows(stmt)]
    frame = pd.DataFrame.from_records(
        rows, columns=["period_from", "period_to", "reviewer", "role", "signed_at", "note"]
    )
    return Capped(frame, total)


def chart_steps(view: PackView, masked: bool) -> list[tuple[str, Callable[[], Any]]]:
    """The charts' queries, in drawing order, each a (ChartData field, query) pair.

    They are the dashboard's own queries on the pack's snapshot; a caller may draw each chart
    as soon as its data is read (the PDF does, so the browser draws while the database reads).
    """
    conn = view.conn
    av = view.view  # the same resolved view as the CSV and JSON streams

    def people(frame: pd.DataFrame) -> pd.DataFrame:
        if masked and not frame.empty:  # people's names as the pages show them to masked roles
            frame["actor_name"] = [shorten_name(n) for n in frame["actor_name"]]
        return frame

    view.settle()
    return [
        ("timeline", lambda: analytics.timeline(conn, av)),
        ("heatmap", lambda: analytics.failed_logins_by_weekday_hour(conn, av)),
        ("top_users", lambda: people(analytics.top_users(conn, av, limit=10))),
        ("reasons", lambda: analytics.failures_by_reason(conn, av)),
        ("top_actions", lambda: analytics.top_actions(conn, av, limit=10)),
        ("user_days", lambda: people(analytics.failed_logins_by_user_day(conn, av, limit=15))),
        ("map", lambda: map_data(conn, av, masked)),
    ]


def map_data(conn: Any, av: analytics.View, masked: bool) -> MapData:
    """The Security page's map data; for masked roles with addresses masked, as the page has them
    (an image shows no addresses, but the figure built from this data carries them)."""
    points = analytics.map_points(conn, av, masked=masked)
    if masked and not points.empty:
        points = points.assign(top_ip=[(mask_ip(ip) or "") if ip else "" for ip in points["top_ip"]])
    return MapData(points, analytics.country_totals(conn, av))


def gather_charts(view: PackView, masked: bool) -> ChartData:
    """The charts' data (see `chart_steps`)."""
    return ChartData(**{name: step() for name, step in chart_steps(view, masked)})


def gather(view: PackView, masked: bool, charts: ChartData | None = None) -> ReportData:
    """Read everything the PDF shows, from the pack's snapshot."""
    charts = charts or gather_charts(view, masked)
    conn = view.conn
    av = view.view  # the same resolved view as the CSV and JSON streams
    view.settle()
    alerts, status = alerts_in_period(view)
    data = ReportData(
        charts=charts,
        headline=analytics.headline(conn, av),
        categories=analytics.by_category(conn, av),
        security=analytics.security_summary(conn, av),
        sources=failed_login_sources(view, masked),
        role_changes=changes_table(view, analytics.CHANGE_ACTIONS, masked),
        credential_changes=changes_table(view, CREDENTIAL_ACTIONS, masked),
        config_changes=changes_table(view, CONFIG_ACTIONS, masked),
        audit_access=audit_access(view),
        alerts=alerts,
        alert_status=status,
        signoffs=review_signoffs(view),
    )
    view.settle()
    return data


def local_text(value: datetime | None) -> str:
    """A local time for a table cell."""
    return f"{value:%Y-%m-%d %H:%M}" if value is not None else ""

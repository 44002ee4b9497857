"""The Alerts page's list: which alerts a view holds, in which order, a page at a time, in words.

An alert is not one event, so the sidebar's filters apply to it in their own way (each one that
is set must hold; docs/detections.md says the same):

* **period**: the alert was active in it (its first to last evidence overlaps the range);
* **accounts**, **users**, **address**, **countries**: its key names one of them (account, user
  or subject, address) or one of its evidence events does (account, actor, address, country);
* the others (roles, categories, actions, outcome, text, weekdays, hours) describe single events:
  they are not applied, and `describe` names them.

The page's own filters (status, severity, rule) narrow further. The order is what matters first:
severity (critical first), then open before acknowledged before resolved, then the latest
activity; a column chosen for sorting goes first and this order breaks its ties.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.detect.alerts import STATUSES, public_row
from dashboard.detect.present import PERSON_KEYS, person_text
from dashboard.detect.rules import SEVERITIES, severity_rank
from dashboard.events import jsontext
from dashboard.filters import Filters, View, ip_condition
from dashboard.privacy import mask_ip
from dashboard.store.db import Database
from dashboard.store.schema import alert_evidence as EV
from dashboard.store.schema import alerts as A
from dashboard.store.schema import events as E

#: rows on one page of the list.
PER_PAGE = 25
#: the columns the list sorts by (the page's header buttons name them).
SORT_COLUMNS: tuple[str, ...] = ("severity", "status", "alert", "account", "first_seen", "last_seen", "events")
DEFAULT_SORT = "severity"
#: the sidebar's filters that describe single events and are not applied to alerts, with their words.
NOT_APPLIED: dict[str, str] = {
    "roles": "roles",
    "categories": "categories",
    "actions": "actions",
    "outcome": "outcome",
    "text": "text search",
    "weekdays": "weekdays",
    "hours": "hours of the day",
}


def _severity_rank() -> sa.ColumnElement[int]:
    """0 for the most severe (critical), growing with lower severities; unknown ones last."""
    order = sorted(SEVERITIES, key=severity_rank, reverse=True)
    return sa.case({s: i for i, s in enumerate(order)}, value=A.c.severity, else_=len(order))


def _status_rank() -> sa.ColumnElement[int]:
    return sa.case({s: i for i, s in enumerate(STATUSES)}, value=A.c.status, else_=len(STATUSES))


@dataclass(frozen=True)
class AlertQuery:
    """What the list shows: the sidebar's view, the page's own filters, the sort and the page.

    Attributes:
        filters: the sidebar's filters.
        status: statuses to show (empty: all).
        severity: severities to show (empty: all).
        rules: rule ids to show (empty: all).
        sort: one of `SORT_COLUMNS`.
        descending: the sort's direction (severity: descending is most severe first).
        page: the page, from 0.
        per_page: rows per page.
    """

    filters: Filters = field(default_factory=Filters)
    status: tuple[str, ...] = ()
    severity: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    sort: str = DEFAULT_SORT
    descending: bool = True
    page: int = 0
    per_page: int = PER_PAGE


def _evidence_match(*conds: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    """The alert has an evidence event for which `conds` hold."""
    held = sa.select(EV.c.alert_id).join(E, E.c.seq == EV.c.seq).where(*conds)
    return A.c.id.in_(held)


def sidebar_conditions(view: View) -> list[sa.ColumnElement[bool]]:
    """The sidebar's filters on the `alerts` table (see the module's docstring)."""
    f = view.filters
    conds: list[sa.ColumnElement[bool]] = [A.c.last_seen >= view.start, A.c.first_seen < view.end]
    if f.accounts:
        conds.append(sa.or_(A.c.account_id.in_(f.accounts), _evidence_match(E.c.account_id.in_(f.accounts))))
    if f.users:
        conds.append(sa.or_(A.c.key_user.in_(f.users), _evidence_match(E.c.actor_id.in_(f.users))))
    if f.ip:
        conds.append(sa.or_(ip_condition(A.c.key_ip, f.ip), _evidence_match(ip_condition(E.c.ip, f.ip))))
    if f.countries:
        conds.append(_evidence_match(E.c.geo_country.in_(f.countries)))
    return conds


def conditions(q: AlertQuery, view: View) -> list[sa.ColumnElement[bool]]:
    """The sidebar's and the page's filters (bound parameters only)."""
    conds = sidebar_conditions(view)
    if q.status:
        conds.append(A.c.status.in_(list(q.status)))
    if q.severity:
        conds.append(A.c.severity.in_(list(q.severity)))
    if q.rules:
        conds.append(A.c.rule_id.in_(list(q.rules)))
    return conds


def order_by(sort: str, descending: bool) -> list[sa.ColumnElement[Any]]:
    """The list's order: the chosen column first, then severity, status and latest activity."""
    tail: list[sa.ColumnElement[Any]] = [_severity_rank(), _status_rank(), A.c.last_seen.desc(), A.c.id.desc()]
    columns: dict[str, sa.ColumnElement[Any]] = {
        # ranks grow as urgency falls: "descending" (most urgent first) is the rank ascending
        "severity": _severity_rank(),
        "status": _status_rank(),
        # byte order ("C"), as DuckDB sorts text: PostgreSQL's database locale may order it otherwise
        "alert": sa.collate(A.c.rule_id, "C"),
        "account": sa.collate(A.c.account_id, "C"),
        "first_seen": A.c.first_seen,
        "last_seen": A.c.last_seen,
        "events": A.c.event_count,
    }
    column = columns.get(sort, columns[DEFAULT_SORT])
    if sort in ("severity", "status") or sort not in columns:
        head = column.asc() if descending else column.desc()
    else:
        head = column.desc() if descending else column.asc()
    return [head.nulls_last(), *tail]


@dataclass(frozen=True)
class AlertPage:
    """One page of the list and what the whole view holds."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    open_by_severity: dict[str, int]
    """Alerts of the view (sidebar and rule filter) not resolved, by severity, most severe first."""
    names: dict[str, str | None]
    """Names of the people the rows' keys name (id -> name)."""


def list_page(db: Database, q: AlertQuery, now: datetime | None = None) -> AlertPage:
    """One page of the alerts `q` asks for, with the view's open counts and the people's names."""
    view = View.of(q.filters, now)
    conds = conditions(q, view)
    per_page = max(1, q.per_page)
    with db.connect() as conn:
        total = int(conn.execute(sa.select(sa.func.count()).select_from(A).where(*conds)).scalar_one())
        pages = max(1, -(-total // per_page))
        page = min(max(0, q.page), pages - 1)
        rows = [
            public_row(dict(r._mapping))
            for r in conn.execute(
                sa.select(A)
                .where(*conds)
                .order_by(*order_by(q.sort, q.descending))
                .limit(per_page)
                .offset(page * per_page)
            ).fetchall()
        ]
        open_conds = [*sidebar_conditions(view), A.c.status != "resolved"]
        if q.rules:
            open_conds.append(A.c.rule_id.in_(list(q.rules)))
        found = {
            str(s): int(n)
            for s, n in conn.execute(sa.select(A.c.severity, sa.func.count()).where(*open_conds).group_by(A.c.severity))
        }
        names = people_names(conn, _people(rows))
    counts = {s: found.get(s, 0) for s in sorted(SEVERITIES, key=severity_rank, reverse=True)}
    return AlertPage(rows, total, page, pages, counts, names)


def _people(rows: Iterable[Mapping[str, Any]]) -> set[str]:
    out: set[str] = set()
    for r in rows:
        key = r.get("key") or {}
        out.update(str(key[k]) for k in PERSON_KEYS if isinstance(key, Mapping) and key.get(k))
    return out


def people_names(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    """The names the log gives these people (as actors, else as targets); None when it gives none."""
    wanted = sorted({str(i) for i in ids if i})[:500]
    if not wanted:
        return {}
    names: dict[str, str | None] = dict.fromkeys(wanted)
    acted = sa.select(E.c.actor_id, sa.func.max(E.c.actor_name)).where(
        E.c.actor_id.in_(wanted), E.c.actor_name.is_not(None)
    )
    for pid, name in conn.execute(acted.group_by(E.c.actor_id)):
        names[str(pid)] = str(name)
    missing = [p for p, n in names.items() if n is None]
    if missing:
        targeted = sa.select(E.c.target_id, sa.func.max(E.c.target_name)).where(
            E.c.target_id.in_(missing), E.c.target_name.is_not(None)
        )
        for pid, name in conn.execute(targeted.group_by(E.c.target_id)):
            names[str(pid)] = str(name)
    return names


def names_for(db: Database, ids: Iterable[str]) -> dict[str, str | None]:
    """`people_names` on a connection of its own."""
    with db.connect() as conn:
        return people_names(conn, ids)


def not_applied(f: Filters) -> list[str]:
    """The sidebar's filters that are set but do not apply to alerts, in words ("outcome failure")."""
    out = []
    for name, words in NOT_APPLIED.items():
        value = getattr(f, name)
        if not value:
            continue
        if isinstance(value, tuple):
            shown = ", ".join(str(v) for v in value[:5]) + (f" and {len(value) - 5} more" if len(value) > 5 else "")
        else:
            shown = str(value)
        out.append(f"{words} {shown}")
    return out


def describe(
    q: AlertQuery,
    total: int,
    masked: bool,
    names: Mapping[str, str | None] | None = None,
    now: datetime | None = None,
) -> tuple[str, list[str]]:
    """The "Showing ..." line of the list and the sidebar filters it does not apply.

    `("12 alerts active from 2026-11-30 09:00 to 2026-12-07 09:00 (Europe/Berlin), accounts acme,
    status open, acknowledged, severity critical, high, all rules", ["outcome failure"])`.
    """
    view = View.of(q.filters, now)
    f = q.filters
    parts = [
        f"{total:,} alert{'s' if total != 1 else ''} active from "
        f"{view.local_start:%Y-%m-%d %H:%M} to {view.local_end:%Y-%m-%d %H:%M} ({view.tz})"
    ]
    if f.accounts:
        parts.append("accounts " + ", ".join(f.accounts))
    if f.users:
        parts.append("users " + ", ".join(person_text(u, (names or {}).get(u), masked) for u in f.users))
    if f.ip:
        parts.append("address " + ((mask_ip(f.ip) or f.ip) if masked and "/" not in f.ip else f.ip))
    if f.countries:
        parts.append("countries " + ", ".join(f.countries))
    parts.append("status " + ", ".join(q.status) if q.status else "every status")
    parts.append("severity " + ", ".join(q.severity) if q.severity else "every severity")
    parts.append("rules " + ", ".join(q.rules) if q.rules else "all rules")
    return ", ".join(parts), not_applied(f)


def decode_key(text: str | None) -> dict[str, Any]:
    """An alert's stored key as a dict (a damaged one as empty)."""
    key = jsontext.decode(text) if text else {}
    return key if isinstance(key, dict) else {}


def sort_state(data: Mapping[str, Any] | None) -> tuple[str, bool]:
    """The sort a page's store holds (untrusted: anything unknown is the default)."""
    col = str((data or {}).get("col") or DEFAULT_SORT)
    if col not in SORT_COLUMNS:
        return DEFAULT_SORT, True
    return col, bool((data or {}).get("desc", True))


def clean_values(values: Sequence[Any] | None, allowed: Iterable[str]) -> tuple[str, ...]:
    """The values of a page control that are known ones (a forged request sends anything)."""
    known = set(allowed)
    return tuple(str(v) for v in (values or []) if isinstance(v, str) and v in known)

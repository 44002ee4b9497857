"""The daily review (PCI DSS 10.4.1): what each day holds for review, and the sign-offs.

For every UTC day of a period: the alerts raised, the failed sign-ins, the lockouts, and the
privilege and MFA changes. A reviewer signs a period off with a note; the sign-off stores what
the period held at that moment, is recorded in the audit log (`review.sign_off`), and is listed
by `list_signoffs` for the compliance packs. Days that no sign-off covers are "not reviewed".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.store import selflog
from dashboard.store.db import Database, utcnow
from dashboard.store.predicates import failed_login, lockout
from dashboard.store.schema import alerts as A
from dashboard.store.schema import events as E
from dashboard.store.schema import review_signoffs as R

#: actions that change who may do what: reviewed every day.
PRIVILEGE_ACTIONS: tuple[str, ...] = (
    "agent.role_change",
    "agent.permission_change",
    "agent.create",
    "agent.delete",
    "auth.mfa_disable",
    "auth.mfa_reset",
    "team.member_add",
    "team.member_remove",
)
#: longest period one sign-off may cover.
MAX_PERIOD_DAYS = 92


class ReviewError(ValueError):
    """A sign-off that cannot be stored (bad period, no note)."""


@dataclass(frozen=True)
class DaySummary:
    """What one UTC day holds for review."""

    day: date
    alerts: dict[str, int]
    open_alerts: int
    failed_logins: int
    lockouts: int
    privilege_changes: int
    reviewed_by: str | None
    signed_at: datetime | None

    @property
    def reviewed(self) -> bool:
        """Whether a sign-off covers this day."""
        return self.reviewed_by is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "day": self.day.isoformat(),
            "alerts": self.alerts,
            "open_alerts": self.open_alerts,
            "failed_logins": self.failed_logins,
            "lockouts": self.lockouts,
            "privilege_changes": self.privilege_changes,
            "reviewed": self.reviewed,
            "reviewed_by": self.reviewed_by,
            "signed_at": self.signed_at.isoformat(timespec="seconds") + "Z" if self.signed_at else None,
        }


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return datetime.combine(start, time()), datetime.combine(end + timedelta(days=1), time())


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise ReviewError("the period ends before it starts")
    if (end - start).days + 1 > MAX_PERIOD_DAYS:
        raise ReviewError(f"a review covers at most {MAX_PERIOD_DAYS} days at a time")


def day_summaries(db: Database, start: date, end: date) -> list[DaySummary]:
    """One summary per UTC day from `start` to `end` (inclusive), newest first."""
    _check_period(start, end)
    lo, hi = _bounds(start, end)
    day_of = sa.func.cast(E.c.occurred_at, sa.Date)
    with db.connect() as conn:
        ev = conn.execute(
            sa.select(
                day_of.label("d"),
                sa.func.count().filter(failed_login()).label("failed"),
                sa.func.count().filter(lockout()).label("locked"),
                sa.func.count().filter(E.c.action.in_(PRIVILEGE_ACTIONS)).label("priv"),
            )
            .where(E.c.occurred_at >= lo, E.c.occurred_at < hi)
            .group_by(day_of)
        ).fetchall()
        a_day = sa.func.cast(A.c.first_seen, sa.Date)
        al = conn.execute(
            sa.select(
                a_day.label("d"),
                A.c.severity,
                sa.func.count().label("n"),
                sa.func.count().filter(A.c.status != "resolved").label("open"),
            )
            .where(A.c.first_seen >= lo, A.c.first_seen < hi)
            .group_by(a_day, A.c.severity)
        ).fetchall()
        signoffs = conn.execute(
            sa.select(R.c.period_start, R.c.period_end, R.c.reviewer, R.c.signed_at)
            .where(R.c.period_start <= end, R.c.period_end >= start)
            .order_by(R.c.signed_at)
        ).fetchall()
    by_day_ev = {r.d: r for r in ev}
    alerts: dict[date, dict[str, int]] = {}
    open_alerts: dict[date, int] = {}
    for r in al:
        alerts.setdefault(r.d, {})[str(r.severity)] = int(r.n)
        open_alerts[r.d] = open_alerts.get(r.d, 0) + int(r.open)
    out = []
    day = end
    while day >= start:
        covering = [s for s in signoffs if s.period_start <= day <= s.period_end]
        last = covering[-1] if covering else None
        e = by_day_ev.get(day)
        out.append(
            DaySummary(
                day=day,
                alerts=alerts.get(day, {}),
                open_alerts=open_alerts.get(day, 0),
                failed_logins=int(e.failed) if e else 0,
                lockouts=int(e.locked) if e else 0,
                privilege_changes=int(e.priv) if e else 0,
                reviewed_by=str(last.reviewer) if last else None,
                signed_at=last.signed_at if last else None,
            )
        )
        day -= timedelta(days=1)
    return out


def period_detail(db: Database, start: date, end: date, limit: int = 200) -> dict[str, Any]:
    """What a reviewer reads for a period: alerts, failed sign-ins by user and address, privilege changes."""
    _check_period(start, end)
    lo, hi = _bounds(start, end)
    failed = failed_login()
    user = sa.func.coalesce(E.c.actor_id, E.c.actor_email, E.c.actor_name)
    in_period = sa.and_(E.c.occurred_at >= lo, E.c.occurred_at < hi)
    with db.connect() as conn:
        alerts = conn.execute(
            sa.select(
                A.c.id,
                A.c.rule_id,
                A.c.title,
                A.c.severity,
                A.c.status,
                A.c.summary,
                A.c.first_seen,
                A.c.event_count,
                A.c.key_json,
            )
            .where(A.c.first_seen >= lo, A.c.first_seen < hi)
            .order_by(A.c.first_seen.desc(), A.c.id.desc())
            .limit(limit)
        ).fetchall()
        by_user = conn.execute(
            sa.select(
                E.c.account_id,
                user.label("user"),
                sa.func.count().label("n"),
                sa.func.max(E.c.occurred_at),
                sa.func.max(E.c.actor_name).label("name"),
            )
            .where(in_period, failed)
            .group_by(E.c.account_id, user)
            # ties by the first event (numbers: every engine orders them alike)
            .order_by(sa.func.count().desc(), sa.func.min(E.c.seq))
            .limit(20)
        ).fetchall()
        by_ip = conn.execute(
            sa.select(
                E.c.ip,
                E.c.geo_country,
                sa.func.count().label("n"),
                sa.func.count(sa.distinct(user)).label("users"),
            )
            .where(in_period, failed, E.c.ip.is_not(None))
            .group_by(E.c.ip, E.c.geo_country)
            .order_by(sa.func.count().desc(), sa.func.min(E.c.seq))
            .limit(20)
        ).fetchall()
        changes = conn.execute(
            sa.select(
                E.c.seq,
                E.c.event_id,
                E.c.occurred_at,
                E.c.account_id,
                E.c.action,
                E.c.actor_id,
                E.c.actor_name,
                E.c.target_type,
                E.c.target_id,
                E.c.target_name,
                E.c.changes,
                E.c.ip,
            )
            .where(in_period, E.c.action.in_(PRIVILEGE_ACTIONS))
            .order_by(E.c.occurred_at.desc(), E.c.seq.desc())
            .limit(limit)
        ).fetchall()
        failed_total = conn.execute(sa.select(sa.func.count()).where(in_period, failed)).scalar_one()
    return {
        "alerts": [{**dict(r._mapping), "key": json.loads(r.key_json)} for r in alerts],
        "failed_total": int(failed_total),
        "failed_by_user": [
            {"account_id": r[0], "user": r[1], "failures": int(r[2]), "last": r[3], "name": r[4]} for r in by_user
        ],
        "failed_by_ip": [{"ip": r[0], "country": r[1], "failures": int(r[2]), "users": int(r[3])} for r in by_ip],
        "privilege_changes": [dict(r._mapping) for r in changes],
    }


def sign_off(
    db: Database,
    start: date,
    end: date,
    reviewer: str,
    note: str,
    *,
    role: str | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Sign a period off: store it with what the period held, and record it in the audit log."""
    _check_period(start, end)
    text = note.strip()
    if not text:
        raise ReviewError("a sign-off needs a note: what was reviewed and what was followed up")
    if end >= utcnow().date() + timedelta(days=1):
        raise ReviewError("a day can be signed off only once it has begun")
    days = day_summaries(db, start, end)
    summary = {
        "days": len(days),
        "alerts": sum(sum(d.alerts.values()) for d in days),
        "open_alerts": sum(d.open_alerts for d in days),
        "failed_logins": sum(d.failed_logins for d in days),
        "lockouts": sum(d.lockouts for d in days),
        "privilege_changes": sum(d.privilege_changes for d in days),
    }
    now = utcnow()
    with db.write_lock:
        with db.engine.begin() as conn:
            new_id = conn.execute(
                R.insert()
                .values(
                    period_start=start,
                    period_end=end,
                    reviewer=reviewer,
                    role=role,
                    signed_at=now,
                    note=text[:4000],
                    summary=json.dumps(summary, sort_keys=True),
                )
                .returning(R.c.id)
            ).scalar_one()
        selflog.record(
            db,
            "review.sign_off",
            reviewer,
            role=role,
            target_type="review",
            target_id=str(new_id),
            target_name=f"{start.isoformat()} to {end.isoformat()}",
            ip=ip,
            user_agent=user_agent,
            session_id=session_id,
            metadata={"period_start": start.isoformat(), "period_end": end.isoformat(), "note": text[:4000], **summary},
        )
    return {
        "id": int(new_id),
        "period_start": start,
        "period_end": end,
        "reviewer": reviewer,
        "signed_at": now,
        **summary,
    }


def list_signoffs(db: Database, start: date | None = None, end: date | None = None) -> list[dict[str, Any]]:
    """Sign-offs that overlap [start, end] (all when unbounded), newest first: for packs and the page."""
    query = sa.select(R).order_by(R.c.signed_at.desc(), R.c.id.desc())
    if start is not None:
        query = query.where(R.c.period_end >= start)
    if end is not None:
        query = query.where(R.c.period_start <= end)
    with db.connect() as conn:
        rows = conn.execute(query).fetchall()
    out = []
    for r in rows:
        item = dict(r._mapping)
        item["summary"] = json.loads(item["summary"])
        out.append(item)
    return out


def unreviewed_days(db: Database, start: date, end: date) -> list[date]:
    """The days of [start, end] that no sign-off covers (for packs and the page)."""
    return [d.day for d in day_summaries(db, start, end) if not d.reviewed]

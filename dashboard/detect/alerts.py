"""Alerts: findings folded into alerts (de-duplicated), their evidence, actions and queries.

One alert per (rule, key) while the activity goes on: a finding whose period touches an
alert's period (within the rule's de-duplication window) grows that alert (window, counts,
evidence, severity) instead of opening another. Folding the same finding twice changes
nothing, so re-running detection over the same events makes no duplicate alerts. A resolved
alert that gets new evidence from after its resolution opens again.

Reviewer actions (acknowledge, assign, resolve with a reason, comment) are stored in the
alert's activity and recorded in the audit log (`dashboard.store.selflog`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import duckdb
import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard.detect.engine import Finding, degrees
from dashboard.detect.rules import SEVERITIES, Rule, max_severity, severity_rank
from dashboard.events import jsontext
from dashboard.store import selflog
from dashboard.store.backend import postgres
from dashboard.store.db import Database, utcnow
from dashboard.store.schema import alert_activity as ACT
from dashboard.store.schema import alert_evidence as EV
from dashboard.store.schema import alerts as A
from dashboard.store.schema import events as E

STATUSES: tuple[str, ...] = ("open", "acknowledged", "resolved")
RESOLUTIONS: tuple[str, ...] = ("true_positive", "false_positive", "expected")
RESOLUTION_TITLES: dict[str, str] = {
    "true_positive": "True positive",
    "false_positive": "False positive",
    "expected": "Expected activity",
}

Notify = Callable[[Connection, list[tuple[dict[str, Any], str]]], None]
"""Called inside the write transaction with the (alert row, kind) pairs to announce; kind is
alert, escalation or reopened."""


class AlertError(ValueError):
    """An alert action that cannot be done (unknown alert, bad reason, no permission)."""


@dataclass
class ApplyReport:
    """What folding findings did."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)
    evidence_added: int = 0

    def add(self, other: ApplyReport) -> None:
        """Fold another report into this one."""
        self.created += other.created
        self.updated += other.updated
        self.escalated += other.escalated
        self.reopened += other.reopened
        self.evidence_added += other.evidence_added


def _duck(conn: Connection) -> duckdb.DuckDBPyConnection:
    driver = conn.connection.driver_connection
    return cast(duckdb.DuckDBPyConnection, getattr(driver, "_ConnectionWrapper__c", driver))


def _summary(rule: Rule, finding_key: Sequence[tuple[str, str]], measures: dict[str, float], count: int) -> str:
    key = ", ".join(f"{k} {v}" for k, v in finding_key if k != "account_id")
    parts = [f"{rule.title}: {key}" if key else rule.title, f"{count} event{'s' if count != 1 else ''}"]
    return " · ".join(parts)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> int:
    """Insert many rows in few statements: on DuckDB one (an Arrow table registered on the same
    connection), elsewhere SQLAlchemy's batched multi-row `INSERT ... VALUES` (every row has the
    same columns).

    Columns left out take their defaults (sequence ids). Row-by-row inserts cost a few
    milliseconds each, which a re-run that opens a thousand alerts cannot afford.
    """
    if not rows:
        return 0
    if conn.dialect.name != "duckdb":
        conn.execute(table.insert(), rows)
        return len(rows)
    names = [c.name for c in table.columns if c.name in rows[0]]
    arrow = pa.Table.from_pylist([{n: r.get(n) for n in names} for r in rows])
    view = f"auditdash_bulk_{table.name}"
    con = _duck(conn)
    con.register(view, arrow)
    try:
        source = sa.table(view, *[sa.column(n) for n in names])
        conn.execute(table.insert().from_select(names, sa.select(*[source.c[n] for n in names])))
    finally:
        con.unregister(view)
    return len(rows)


def _key_value(key: Sequence[tuple[str, str]], *names: str) -> str | None:
    for k, v in key:
        if k in names:
            return v
    return None


@dataclass
class _Batch:
    """What one `apply` writes at its end, in bulk: new alerts, changes, evidence, activity."""

    conn: Connection
    wanted: int = 1
    seen: dict[int, set[int]] = field(default_factory=dict)
    new: dict[int, dict[str, Any]] = field(default_factory=dict)
    changed: dict[int, dict[str, Any]] = field(default_factory=dict)
    evidence: list[tuple[int, int, str, datetime]] = field(default_factory=list)
    activity: list[dict[str, Any]] = field(default_factory=list)
    announce: dict[int, str] = field(default_factory=dict)
    _ids: list[int] = field(default_factory=list)

    def next_id(self) -> int:
        """An alert id from the sequence (fetched in blocks: one query, not one per alert)."""
        if not self._ids:
            n = max(self.wanted - len(self.new), 1)
            numbers = sa.select(sa.func.nextval("alert_id_seq")).select_from(sa.func.range(n).table_valued("i"))
            self._ids = [int(r[0]) for r in self.conn.execute(numbers)]
        return self._ids.pop(0)

    def note(self, alert_id: int, actor: str, action: str, note: str | None, now: datetime) -> None:
        self.activity.append({"alert_id": alert_id, "happened_at": now, "actor": actor, "action": action, "note": note})


class AlertStore:
    """Folds findings into alerts and serves alert reads and actions.

    Args:
        db: the store.
        notify: called for each new, escalated or reopened alert, inside the transaction.
    """

    def __init__(self, db: Database, notify: Notify | None = None) -> None:
        self.db = db
        self.notify = notify

    # ---------------------------------------------------------------- folding findings

    def apply(self, rule: Rule, findings: Iterable[Finding]) -> ApplyReport:
        """Fold one rule's findings into its alerts (one transaction; new rows written in bulk)."""
        items = list(findings)
        report = ApplyReport()
        if not items:
            return report
        now = utcnow()
        with self.db.write_lock, self.db.engine.begin() as conn:
            postgres.lock_alerts(conn)  # other processes sharing the store wait (no-op on DuckDB)
            keys = sorted({f.key_text for f in items})
            existing = [
                dict(r._mapping)
                for r in conn.execute(
                    sa.select(A).where(A.c.rule_id == rule.id, A.c.alert_key.in_(keys)).order_by(A.c.id)
                ).fetchall()
            ]
            batch = _Batch(conn=conn, wanted=len(items))
            if existing:
                held = conn.execute(
                    sa.select(EV.c.alert_id, EV.c.seq).where(EV.c.alert_id.in_([int(r["id"]) for r in existing]))
                ).fetchall()
                for alert_id, seq in held:
                    batch.seen.setdefault(int(alert_id), set()).add(int(seq))
            by_key: dict[str, list[dict[str, Any]]] = {}
            for row in existing:
                by_key.setdefault(row["alert_key"], []).append(row)
            # the key breaks ties: new alerts get the same ids whatever order the engine found them in
            for finding in sorted(items, key=lambda f: (f.start, f.end, f.key_text)):
                self._fold_one(rule, finding, by_key.setdefault(finding.key_text, []), now, report, batch)
            bulk_insert(conn, A, [batch.new[i] for i in sorted(batch.new)])
            for alert_id in sorted(batch.changed):
                conn.execute(A.update().where(A.c.id == alert_id).values(**batch.changed[alert_id]))
            report.evidence_added += bulk_insert(
                conn,
                EV,
                [{"alert_id": a, "seq": q, "event_id": e, "occurred_at": o} for a, q, e, o in batch.evidence],
            )
            bulk_insert(conn, ACT, batch.activity)
            if self.notify is not None and batch.announce:
                rows = {**{int(r["id"]): r for r in existing}, **batch.new}
                self.notify(conn, [(rows[alert_id], kind) for alert_id, kind in batch.announce.items()])
        return report

    def _fold_one(
        self,
        rule: Rule,
        f: Finding,
        candidates: list[dict[str, Any]],
        now: datetime,
        report: ApplyReport,
        batch: _Batch,
    ) -> None:
        dedup = timedelta(seconds=f.dedup_s)
        match = None
        for alert in sorted(candidates, key=lambda a: a["last_seen"], reverse=True):
            if alert["first_seen"] - dedup <= f.end and f.start <= alert["last_seen"] + dedup:
                match = alert
                break
        if match is None:
            self._create(rule, f, now, report, candidates, batch)
            return
        alert_id = int(match["id"])
        held = batch.seen.setdefault(alert_id, set())
        fresh_evidence = {seq: v for seq, v in f.evidence.items() if seq not in held}
        held.update(fresh_evidence)
        batch.evidence += [(alert_id, seq, eid, occ) for seq, (eid, occ) in fresh_evidence.items()]
        measures = json.loads(match["measures"])
        for name, value in f.measures.items():
            measures[name] = max(float(measures.get(name, value)), value)
        detail = json.loads(match["detail"])
        detail.update(f.detail)
        severity = max_severity(match["severity"], f.severity)
        first_seen = min(match["first_seen"], f.start)
        last_seen = max(match["last_seen"], f.end)
        changes: dict[str, Any] = {}
        if fresh_evidence:
            changes["event_count"] = len(held)
            if rule.detectors[0].type in ("each", "outside_hours"):
                measures["events"] = float(len(held))
        if first_seen != match["first_seen"]:
            changes["first_seen"] = first_seen
        if last_seen != match["last_seen"]:
            changes["last_seen"] = last_seen
        if _json(measures) != match["measures"]:
            changes["measures"] = _json(measures)
        if _json(detail) != match["detail"]:
            changes["detail"] = _json(detail)
        if severity != match["severity"]:
            changes["severity"] = severity
            batch.announce.setdefault(alert_id, "escalation")
            report.escalated.append(alert_id)
            batch.note(alert_id, "system", "escalated", f"{match['severity']} -> {severity}", now)
        resolved_at = match["resolved_at"] if match["status"] == "resolved" else None
        if resolved_at is not None and any(occ > resolved_at for _eid, occ in fresh_evidence.values()):
            changes.update(status="open", resolved_at=None, resolved_by=None, resolution=None)
            batch.announce[alert_id] = "reopened"
            report.reopened.append(alert_id)
            batch.note(alert_id, "system", "reopened", "new evidence after the resolution", now)
        if not changes:
            return
        count_now = changes.get("event_count", match["event_count"])
        key = json.loads(match["key_json"])
        changes["summary"] = _summary(rule, list(key.items()), measures, int(count_now))
        changes["updated_at"] = now
        match.update(changes)
        if alert_id in batch.new:
            return  # created in this batch: the row is written whole at the end
        batch.changed.setdefault(alert_id, {}).update(changes)
        report.updated.append(alert_id)

    def _create(
        self,
        rule: Rule,
        f: Finding,
        now: datetime,
        report: ApplyReport,
        candidates: list[dict[str, Any]],
        batch: _Batch,
    ) -> None:
        alert_id = batch.next_id()
        row: dict[str, Any] = {
            "id": alert_id,
            "rule_id": rule.id,
            "title": rule.title,
            "severity": f.severity,
            "status": "open",
            "alert_key": f.key_text,
            "key_json": json.dumps(dict(f.key)),
            "account_id": _key_value(f.key, "account_id"),
            "key_user": _key_value(f.key, "user", "subject"),
            "key_ip": _key_value(f.key, "ip"),
            "first_seen": f.start,
            "last_seen": f.end,
            "event_count": len(f.evidence),
            "measures": _json(f.measures),
            "detail": _json(f.detail),
            "summary": _summary(rule, f.key, f.measures, len(f.evidence)),
            "created_at": now,
            "updated_at": now,
            "assignee": None,
            "acknowledged_by": None,
            "acknowledged_at": None,
            "resolved_by": None,
            "resolved_at": None,
            "resolution": None,
        }
        batch.new[alert_id] = row
        batch.seen[alert_id] = set(f.evidence)
        batch.evidence += [(alert_id, seq, eid, occ) for seq, (eid, occ) in f.evidence.items()]
        batch.note(alert_id, "system", "created", f"severity {f.severity}", now)
        batch.announce[alert_id] = "alert"
        candidates.append(row)
        report.created.append(alert_id)

    @staticmethod
    def _activity(conn: Connection, alert_id: int, actor: str, action: str, note: str | None, now: datetime) -> None:
        conn.execute(ACT.insert().values(alert_id=alert_id, happened_at=now, actor=actor, action=action, note=note))

    # ---------------------------------------------------------------- reviewer actions

    def act(
        self,
        alert_id: int,
        action: str,
        actor: str,
        role: str | None = None,
        *,
        assignee: str | None = None,
        resolution: str | None = None,
        note: str | None = None,
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Acknowledge, assign, resolve or comment on an alert; record it in the audit log.

        Args:
            alert_id: the alert.
            action: acknowledge, assign, resolve or comment.
            actor: the dashboard user.
            role: their role (for the audit log).
            assignee: for assign: who takes it (empty to unassign).
            resolution: for resolve: true_positive, false_positive or expected.
            note: a comment (required for comment, optional otherwise).
            ip: the client address, for the audit log.
        """
        if action not in ("acknowledge", "assign", "resolve", "comment"):
            raise AlertError(f"unknown alert action {action!r}")
        text = (note or "").strip() or None
        now = utcnow()
        with self.db.write_lock:
            with self.db.engine.begin() as conn:
                postgres.lock_alerts(conn)
                row = conn.execute(sa.select(A).where(A.c.id == alert_id)).first()
                if row is None:
                    raise AlertError(f"there is no alert {alert_id}")
                alert = dict(row._mapping)
                values: dict[str, Any] = {}
                changes: dict[str, list[Any]] = {}
                if action == "acknowledge":
                    if alert["status"] == "resolved":
                        raise AlertError(f"alert {alert_id} is resolved; nothing to acknowledge")
                    values = {"status": "acknowledged", "acknowledged_by": actor, "acknowledged_at": now}
                    changes["status"] = [alert["status"], "acknowledged"]
                elif action == "assign":
                    who = (assignee or "").strip() or None
                    values = {"assignee": who}
                    changes["assignee"] = [alert["assignee"], who]
                elif action == "resolve":
                    if resolution not in RESOLUTIONS:
                        raise AlertError(f"a resolution needs a reason: one of {', '.join(RESOLUTIONS)}")
                    values = {"status": "resolved", "resolved_by": actor, "resolved_at": now, "resolution": resolution}
                    changes["status"] = [alert["status"], "resolved"]
                    changes["resolution"] = [alert["resolution"], resolution]
                elif text is None:
                    raise AlertError("a comment needs some text")
                if values:
                    values["updated_at"] = now
                    conn.execute(A.update().where(A.c.id == alert_id).values(**values))
                detail = {
                    "acknowledge": None,
                    "assign": f"assigned to {values.get('assignee') or 'nobody'}" if action == "assign" else None,
                    "resolve": RESOLUTION_TITLES.get(resolution or ""),
                    "comment": None,
                }[action]
                note_text = " — ".join(t for t in (detail, text) if t) or None
                self._activity(conn, alert_id, actor, action, note_text, now)
            selflog.record(
                self.db,
                f"alert.{action}",
                actor,
                role=role,
                target_type="alert",
                target_id=str(alert_id),
                target_name=f"{alert['rule_id']} {alert['title']}"[:500],
                ip=ip,
                changes=changes or None,
                metadata={
                    "rule": alert["rule_id"],
                    "key": alert["alert_key"],
                    "severity": alert["severity"],
                    **({"note": text} if text else {}),
                    **({"resolution": resolution} if resolution else {}),
                },
            )
        return self.get(alert_id) or {}

    def act_many(
        self,
        alert_ids: Sequence[int],
        action: str,
        actor: str,
        role: str | None = None,
        *,
        assignee: str | None = None,
        resolution: str | None = None,
        note: str | None = None,
        ip: str | None = None,
    ) -> tuple[list[int], dict[int, str]]:
        """One action on several alerts: each is done (and recorded in the audit log) as `act` does
        it alone. Returns the alerts done and, for the others, why not (alert id -> reason)."""
        done: list[int] = []
        refused: dict[int, str] = {}
        for alert_id in dict.fromkeys(int(a) for a in alert_ids):
            try:
                self.act(alert_id, action, actor, role, assignee=assignee, resolution=resolution, note=note, ip=ip)
            except AlertError as exc:
                refused[alert_id] = str(exc)
            else:
                done.append(alert_id)
        return done, refused

    # ---------------------------------------------------------------- reads

    def list(
        self,
        *,
        status: Sequence[str] | None = None,
        severity: Sequence[str] | None = None,
        rule: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
        with_evidence: bool = False,
    ) -> list[dict[str, Any]]:
        """Alerts, newest activity first, with optional filters (values are bound parameters)."""
        query = sa.select(A)
        if status:
            query = query.where(A.c.status.in_(list(status)))
        if severity:
            query = query.where(A.c.severity.in_(list(severity)))
        if rule:
            query = query.where(A.c.rule_id.in_(list(rule)))
        if since is not None:
            query = query.where(A.c.last_seen >= since)
        if until is not None:
            query = query.where(A.c.first_seen < until)
        query = query.order_by(A.c.last_seen.desc(), A.c.id.desc()).limit(limit)
        with self.db.connect() as conn:
            rows = [public_row(dict(r._mapping)) for r in conn.execute(query).fetchall()]
            if with_evidence and rows:
                ids = [r["id"] for r in rows]
                ev = conn.execute(
                    sa.select(EV.c.alert_id, EV.c.event_id)
                    .where(EV.c.alert_id.in_(ids))
                    .order_by(EV.c.alert_id, EV.c.occurred_at, EV.c.seq)
                ).fetchall()
                by_alert: dict[int, list[str]] = {}
                for alert_id, event_id in ev:
                    by_alert.setdefault(int(alert_id), []).append(str(event_id))
                for r in rows:
                    r["evidence_event_ids"] = by_alert.get(r["id"], [])
        return rows

    def get(self, alert_id: int, max_events: int = 2000) -> dict[str, Any] | None:
        """One alert with its evidence (the first `max_events` events in detail) and its activity."""
        with self.db.connect() as conn:
            row = conn.execute(sa.select(A).where(A.c.id == alert_id)).first()
            if row is None:
                return None
            alert = public_row(dict(row._mapping))
            held = conn.execute(
                sa.select(EV.c.seq, EV.c.event_id, EV.c.occurred_at)
                .where(EV.c.alert_id == alert_id)
                .order_by(EV.c.occurred_at, EV.c.seq)
            ).fetchall()
            shown = [int(r.seq) for r in held[:max_events]]
            details: dict[int, dict[str, Any]] = {}
            if shown:
                # by sequence number: DuckDB skips the row groups that cannot hold them
                for r in conn.execute(
                    sa.select(
                        E.c.seq,
                        E.c.action,
                        E.c.outcome,
                        E.c.reason,
                        E.c.actor_id,
                        E.c.actor_name,
                        E.c.target_type,
                        E.c.target_id,
                        E.c.target_name,
                        E.c.ip,
                        E.c.ip_scope,
                        E.c.geo_country,
                        E.c.geo_city,
                        E.c.geo_lat,
                        E.c.geo_lon,
                        E.c.user_agent,
                        E.c.account_id,
                    ).where(E.c.seq.between(min(shown), max(shown)), E.c.seq.in_(shown))
                ):
                    found = dict(r._mapping)
                    found["geo_lat"], found["geo_lon"] = degrees(found["geo_lat"]), degrees(found["geo_lon"])
                    details[int(r.seq)] = found
            activity = conn.execute(
                sa.select(ACT.c.happened_at, ACT.c.actor, ACT.c.action, ACT.c.note)
                .where(ACT.c.alert_id == alert_id)
                .order_by(ACT.c.happened_at, ACT.c.id)
            ).fetchall()
        alert["evidence"] = [
            {**details.get(int(r.seq), {}), "seq": int(r.seq), "event_id": r.event_id, "occurred_at": r.occurred_at}
            for r in held[:max_events]
        ]
        alert["evidence_total"] = len(held)
        alert["evidence_event_ids"] = [str(r.event_id) for r in held]
        alert["activity"] = [dict(r._mapping) for r in activity]
        return alert

    def open_counts(self) -> dict[str, int]:
        """Alerts not resolved yet, by severity (every severity present, most urgent first)."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(A.c.severity, sa.func.count()).where(A.c.status != "resolved").group_by(A.c.severity)
            ).fetchall()
        found = {str(s): int(n) for s, n in rows}
        return {s: found.get(s, 0) for s in sorted(SEVERITIES, key=severity_rank, reverse=True)}

    def count(self) -> int:
        """How many alerts there are."""
        with self.db.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(A)).scalar_one())


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """An alert row as callers use it: JSON columns decoded."""
    out = dict(row)
    for name in ("measures", "detail"):  # read safely: a tampered store must not break the alert list
        out[name] = jsontext.decode(out[name]) if out.get(name) else {}
    out["key"] = jsontext.decode(out.pop("key_json"))
    return out

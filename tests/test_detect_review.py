"""Reviewer actions on alerts (recorded in the audit log) and the daily review with its sign-offs."""

# ruff: noqa: F811 - the fixtures `db` and `empty_store` come from tests.test_detect_helpers

from __future__ import annotations

import json
from datetime import UTC, date, timedelta

import pytest
import sqlalchemy as sa

from dashboard.detect.alerts import AlertError
from dashboard.detect.review import ReviewError, day_summaries, list_signoffs, period_detail, sign_off, unreviewed_days
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.test_detect_helpers import (
    AGENT_TARGET,
    ATTACKER,
    ON_BOTH_ENGINES,
    T0,
    alerts_of,
    db,  # noqa: F401
    detect,
    empty_store,  # noqa: F401
    ev,
    every,
    feed,
    service,
)

DAY = T0.date()


def audit_events(db: Database, prefix: str) -> list[dict]:  # type: ignore[type-arg]
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(events).where(events.c.action.startswith(prefix)).order_by(events.c.seq)
        ).fetchall()
    return [dict(r._mapping) for r in rows]


def brute_force(db: Database, start=T0) -> None:  # type: ignore[no-untyped-def]
    feed(db, [ev(t, outcome="failure", ip=ATTACKER) for t in every(start, timedelta(seconds=10), 12)])


# ----------------------------------------------------------------------------- alert actions


def test_acknowledge_assign_comment_resolve_are_stored_and_audited(db: Database) -> None:
    brute_force(db)
    svc = detect(db)
    alert = alerts_of(svc, "R1")[0]
    store = svc.alerts
    store.act(alert["id"], "acknowledge", "carol", "compliance", ip="192.0.2.10")
    store.act(alert["id"], "assign", "carol", "compliance", assignee="dave")
    store.act(alert["id"], "comment", "dave", "admin", note="Address blocked at the edge.")
    done = store.act(alert["id"], "resolve", "dave", "admin", resolution="true_positive", note="Password reset.")
    assert done["status"] == "resolved" and done["resolution"] == "true_positive"
    assert done["acknowledged_by"] == "carol" and done["assignee"] == "dave" and done["resolved_by"] == "dave"
    history = [(a["actor"], a["action"]) for a in done["activity"]]
    assert history == [
        ("system", "created"),
        ("carol", "acknowledge"),
        ("carol", "assign"),
        ("dave", "comment"),
        ("dave", "resolve"),
    ]
    assert "Password reset." in done["activity"][-1]["note"]
    audited = audit_events(db, "alert.")
    assert [(e["action"], e["actor_id"], e["target_id"]) for e in audited] == [
        ("alert.acknowledge", "carol", str(alert["id"])),
        ("alert.assign", "carol", str(alert["id"])),
        ("alert.comment", "dave", str(alert["id"])),
        ("alert.resolve", "dave", str(alert["id"])),
    ]
    assert all(e["category"] == "audit" and e["source"] == "auditdash" for e in audited)
    assert audited[0]["ip"] == "192.0.2.10"
    assert json.loads(audited[-1]["metadata"])["resolution"] == "true_positive"
    assert json.loads(audited[-1]["changes"])["status"] == ["acknowledged", "resolved"]


@pytest.mark.parametrize(
    "action,kwargs,message",
    [
        ("resolve", {}, "a resolution needs a reason"),
        ("resolve", {"resolution": "fixed"}, "a resolution needs a reason"),
        ("comment", {"note": "  "}, "a comment needs some text"),
        ("escalate", {}, "unknown alert action"),
    ],
)
def test_actions_refused(db: Database, action: str, kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    brute_force(db)
    svc = detect(db)
    alert = alerts_of(svc, "R1")[0]
    with pytest.raises(AlertError, match=message):
        svc.alerts.act(alert["id"], action, "carol", "compliance", **kwargs)
    with pytest.raises(AlertError, match="there is no alert 999"):
        svc.alerts.act(999, "acknowledge", "carol")
    assert audit_events(db, "alert.") == []


def test_a_new_burst_after_a_resolution_is_a_new_alert(db: Database) -> None:
    svc = service(db)
    brute_force(db)
    svc.run_incremental()
    alert = alerts_of(svc, "R1")[0]
    svc.alerts.act(alert["id"], "resolve", "carol", resolution="false_positive")
    svc.run_incremental()
    assert alerts_of(svc, "R1")[0]["status"] == "resolved"  # nothing new: it stays resolved
    # the attack goes on (events stamped after the resolution)
    from dashboard.store.db import utcnow

    later = utcnow().replace(microsecond=0, tzinfo=UTC) + timedelta(minutes=1)
    feed(db, [ev(t, outcome="failure", ip=ATTACKER) for t in every(later, timedelta(seconds=10), 12)])
    svc.run_incremental()
    found = alerts_of(svc, "R1")
    # a new burst hours later is its own alert; the resolved one stays resolved
    assert [a["status"] for a in found] == ["open", "resolved"]


def test_reopen_when_the_same_attack_continues_after_resolution(db: Database) -> None:
    from dashboard.store.db import utcnow

    now = utcnow().replace(microsecond=0, tzinfo=UTC)  # aware: `ev` would read a naive time as local
    svc = service(db)
    feed(
        db,
        [ev(t, outcome="failure", ip=ATTACKER) for t in every(now - timedelta(minutes=3), timedelta(seconds=10), 12)],
    )
    svc.run_incremental()
    alert = alerts_of(svc, "R1")[0]
    resolved = svc.alerts.act(alert["id"], "resolve", "carol", resolution="expected")
    # the attack goes on after the resolution: 30 s after `now`, or later if the steps above took
    # longer than that on a loaded machine (evidence from before the resolution reopens nothing)
    resolved_at = resolved["resolved_at"].replace(microsecond=0, tzinfo=UTC)
    later = max(now + timedelta(seconds=30), resolved_at + timedelta(seconds=1))
    feed(db, [ev(t, outcome="failure", ip=ATTACKER) for t in every(later, timedelta(seconds=10), 3)])
    svc.run_incremental()
    found = alerts_of(svc, "R1")
    assert len(found) == 1
    assert found[0]["status"] == "open" and found[0]["event_count"] == 15
    assert [a["action"] for a in svc.alerts.get(found[0]["id"])["activity"]][-1] == "reopened"  # type: ignore[index]


# ----------------------------------------------------------------------------- daily review


@ON_BOTH_ENGINES
def test_days_show_what_needs_review(db: Database) -> None:
    brute_force(db)
    feed(
        db,
        [
            ev(T0 + timedelta(days=1), "auth.account_locked", outcome="failure", reason="locked"),
            ev(
                T0 + timedelta(days=1, hours=1),
                "auth.mfa_disable",
                user="admin",
                role="administrator",
                target=AGENT_TARGET,
            ),
            ev(
                T0 + timedelta(days=1, hours=2),
                "agent.role_change",
                user="admin",
                role="administrator",
                target={"type": "agent", "id": "u2", "name": "User u2"},
                changes={"role": ["agent", "administrator"]},
            ),
        ],
    )
    detect(db)
    days = day_summaries(db, DAY, DAY + timedelta(days=2))
    assert [d.day for d in days] == [DAY + timedelta(days=2), DAY + timedelta(days=1), DAY]
    first, second, third = days[2], days[1], days[0]
    assert first.failed_logins == 12 and first.alerts == {"high": 2} and first.open_alerts == 2
    assert second.lockouts == 1 and second.privilege_changes == 2 and second.alerts == {"high": 1, "medium": 1}
    assert third.failed_logins == 0 and third.alerts == {}
    assert not any(d.reviewed for d in days)
    detail = period_detail(db, DAY, DAY + timedelta(days=1))
    assert detail["failed_total"] == 12
    assert detail["failed_by_ip"] == [{"ip": ATTACKER, "country": "RU", "failures": 12, "users": 1}]
    assert {c["action"] for c in detail["privilege_changes"]} == {"auth.mfa_disable", "agent.role_change"}
    assert len(detail["alerts"]) == 4


def test_sign_off_is_stored_audited_and_marks_the_days(db: Database) -> None:
    brute_force(db)
    detect(db)
    assert unreviewed_days(db, DAY, DAY + timedelta(days=1)) == [DAY + timedelta(days=1), DAY]
    done = sign_off(
        db, DAY, DAY, "carol", "Reviewed alerts 1 and 2; the address is blocked.", role="compliance", ip="192.0.2.7"
    )
    assert done["alerts"] == 2 and done["failed_logins"] == 12
    assert unreviewed_days(db, DAY, DAY + timedelta(days=1)) == [DAY + timedelta(days=1)]
    day = day_summaries(db, DAY, DAY)[0]
    assert day.reviewed and day.reviewed_by == "carol"
    listed = list_signoffs(db, DAY - timedelta(days=5), DAY + timedelta(days=5))
    assert [(s["reviewer"], s["period_start"], s["period_end"]) for s in listed] == [("carol", DAY, DAY)]
    assert listed[0]["summary"]["alerts"] == 2
    assert list_signoffs(db, DAY + timedelta(days=1), DAY + timedelta(days=3)) == []
    audited = audit_events(db, "review.")
    assert len(audited) == 1
    assert audited[0]["action"] == "review.sign_off" and audited[0]["actor_id"] == "carol"
    meta = json.loads(audited[0]["metadata"])
    assert meta["period_start"] == DAY.isoformat() and meta["note"].startswith("Reviewed alerts")


@pytest.mark.parametrize(
    "start,end,note,message",
    [
        (DAY, DAY, "   ", "needs a note"),
        (DAY, DAY - timedelta(days=1), "ok", "ends before it starts"),
        (DAY, DAY + timedelta(days=100), "ok", "at most 92 days"),
        (date(2999, 1, 1), date(2999, 1, 1), "ok", "once it has begun"),
    ],
)
def test_sign_off_refused(db: Database, start: date, end: date, note: str, message: str) -> None:
    with pytest.raises(ReviewError, match=message):
        sign_off(db, start, end, "carol", note)
    assert list_signoffs(db) == []

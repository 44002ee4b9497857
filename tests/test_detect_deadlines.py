"""Deadlines judged by the wall clock: R9 escalates when 12 hours pass on a quiet log.

Events are placed relative to the real clock; the check is given `now` explicitly, so the test
does not depend on when it runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard.detect.service import DEADLINE_GRACE
from dashboard.store.db import Database
from tests.test_detect_helpers import ON_BOTH_ENGINES, alerts_of, ev, feed, pg_store, service

H = timedelta(hours=1)
AGENT = {"type": "agent", "id": "u1", "name": "User u1"}


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A new store; for a test marked `ON_BOTH_ENGINES`, on its `backend`."""
    backend = request.getfixturevalue("backend") if "backend" in request.fixturenames else "duckdb"
    target: Path | str = tmp_path / "deadlines.duckdb"
    if backend == "postgres":
        target = pg_store(request.getfixturevalue("pg_server"))
    with Database(target) as database:
        yield database


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@ON_BOTH_ENGINES
def test_mfa_left_off_is_escalated_by_the_clock_without_new_events(db: Database) -> None:
    now = _now()
    svc = service(db)
    feed(db, [ev(now - 13 * H, "auth.mfa_disable", target=AGENT)])
    svc.run_incremental()
    # the newest event is the disable itself: by the data's clock no time has passed
    assert [a["severity"] for a in alerts_of(svc, "R9")] == ["medium"]

    early = svc.check_deadlines(now=now - 2 * H)  # 11 hours after: not yet
    assert not early.alerts.escalated
    assert [a["severity"] for a in alerts_of(svc, "R9")] == ["medium"]

    report = svc.check_deadlines(now=now)
    assert report.alerts.escalated
    found = alerts_of(svc, "R9")
    assert [(a["severity"], a["detail"]["escalated_because"]) for a in found] == [("high", ["not_followed_by"])]
    assert not svc.check_deadlines(now=now).alerts.escalated  # once


def test_mfa_enabled_again_in_time_is_not_escalated(db: Database) -> None:
    now = _now()
    svc = service(db)
    feed(
        db,
        [
            ev(now - 13 * H, "auth.mfa_disable", target=AGENT),
            ev(now - 12 * H, "auth.mfa_enable", target=AGENT),
        ],
    )
    svc.run_incremental()
    svc.check_deadlines(now=now)
    assert [a["severity"] for a in alerts_of(svc, "R9")] == ["medium"]


def test_a_deadline_within_the_grace_waits_for_late_events(db: Database) -> None:
    now = _now()
    svc = service(db)
    disabled = now - 12 * H - DEADLINE_GRACE / 2  # the 12 hours passed five minutes ago
    feed(db, [ev(disabled, "auth.mfa_disable", target=AGENT)])
    svc.run_incremental()
    assert not svc.check_deadlines(now=now).alerts.escalated
    # the enable that happened in time arrives late, before the grace is over: no escalation
    feed(db, [ev(disabled + 11 * H, "auth.mfa_enable", target=AGENT)])
    svc.run_incremental()
    svc.check_deadlines(now=now + DEADLINE_GRACE)
    assert [a["severity"] for a in alerts_of(svc, "R9")] == ["medium"]

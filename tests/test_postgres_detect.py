"""Detection on PostgreSQL raises the same alerts as on DuckDB, and the scheduled jobs run clean.

Demo data (30 days, about 8,000 events with the planted incidents) and a few more events for the
rules the demo leaves out (R5, R7, R8, bulk_access), stored in a DuckDB file and in a PostgreSQL database
through the real ingest path in the same batches, so both hold the same events under the same
sequence numbers. Then, on each engine: `auditdash detect`, the live silence check and the deadline
check at a fixed clock, `auditdash alerts list`, the alert list page's query, one alert in detail
and the daily review; every answer must be the same (rule, key, severity, window, counts,
measures, evidence), also for rules whose windows last weeks. Two processes folding the same
findings open one alert; last, the server's scheduled detection jobs on the PostgreSQL store.
A real PostgreSQL server (tests/pg.py); about 25 s in all.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dashboard.config import Settings
from dashboard.demo import DemoSpec, generate
from dashboard.detect import alert_list, review
from dashboard.detect.alerts import AlertStore
from dashboard.detect.engine import Scope, evaluate
from dashboard.detect.rules import load_rules
from dashboard.filters import Filters
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.backend.postgres import ALERTS_LOCK
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, cli
from tests.pg import PgServer
from tests.test_detect_engine import burst, working_days
from tests.test_detect_helpers import (
    ATTACKER,
    ATTACKER_2,
    LISBON,
    MADRID,
    PARIS,
    T0,
    ev,
    every,
    feed,
    geo,
    pg_store,
    service,
)

pytestmark = pytest.mark.slow

END = datetime(2026, 6, 30, tzinfo=UTC)
#: the clock of the silence and deadline checks: two days after the newest event
CLOCK = END.replace(tzinfo=None) + timedelta(days=2)
M = timedelta(minutes=1)
S = timedelta(seconds=1)
#: how long a test waits for the other sessions (a deadline, not a measurement)
LOCK_WAIT_S = 60


def _extra_events() -> list[dict[str, Any]]:
    """The smallest positive cases of the rules the demo data does not raise (before its period)."""
    ips = [ATTACKER, ATTACKER_2, PARIS, MADRID, LISBON]
    distributed = [ev(T0 + i * 2 * M, user="r5", outcome="failure", ip=ips[i % 5]) for i in range(10)]  # R5
    lockouts = [
        ev(t, "auth.account_locked", user="r7", outcome="failure", reason="locked") for t in every(T0, 80 * M, 3)
    ]  # R7
    denials = [
        ev(t, "auth.mfa_challenge", user="r8", outcome="failure", reason="mfa_failed") for t in every(T0, M, 5)
    ]  # R8, its second detector
    newcomer = [*working_days(3, [4, 6], user="old1"), *burst(40, T0 + 3 * timedelta(days=1), user="new")]  # zscore
    return [*distributed, *lockouts, *denials, ev(T0 + 8 * M, "auth.mfa_challenge", user="r8"), *newcomer]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[tuple[Path, str, Path]]:
    """(the DuckDB file, the PostgreSQL URL, a home folder): the same events in both."""
    extra = _extra_events()  # the same ids in both stores
    home = tmp_path_factory.mktemp("pg-detect")
    duck = home / "demo.duckdb"
    # a database that sorts text as people do (en-US), not in byte order as DuckDB does
    with psycopg.connect(pg_server.url().replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "CREATE DATABASE detect_same_alerts TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' "
            "LOCALE 'C.UTF-8'"
        )
    url = pg_server.url("detect_same_alerts")
    batches, _truth = generate(DemoSpec(days=30, events=8_000, end=END, seed=7), batch_size=20_000)
    records = [[(i, json.dumps(e)) for i, e in enumerate(batch)] for batch in batches]
    for target in (duck, url):
        with Database(target) as db:
            ingestor = Ingestor(db, geo())
            for batch in records:
                ingestor.ingest_batch(batch, "demo")
            feed(db, extra)
    yield duck, url, home


@pytest.fixture(scope="module")
def detected(stores: tuple[Path, str, Path]) -> dict[str, dict[str, Any]]:
    """What detection did on each engine: the `auditdash detect` summary and the two checks' reports."""
    duck, url, home = stores
    out: dict[str, dict[str, Any]] = {}
    for name, target in (("duckdb", str(duck)), ("postgres", url)):
        summary = json.loads(
            cli("detect", "--db", target, "--json", "--no-notify", env={"AUDITDASH_HOME": str(home)}).stdout
        )
        with Database(target) as db:
            svc = service(db)
            svc.alerts.notify = None
            silence = svc.check_silence(now=CLOCK)
            deadlines = svc.check_deadlines(now=CLOCK)
        out[name] = {
            "summary": {k: v for k, v in summary.items() if k != "seconds"},
            "silence": (len(silence.created), len(set(silence.updated)), silence.evidence_added),
            "deadlines": (deadlines.findings, len(set(deadlines.alerts.escalated)), deadlines.alerts.evidence_added),
        }
    return out


def _listed(target: str, home: Path) -> list[dict[str, Any]]:
    rows = json.loads(cli("alerts", "list", "--db", target, "--json", env={"AUDITDASH_HOME": str(home)}).stdout)
    for row in rows:  # when each store wrote the row
        del row["created_at"], row["updated_at"]
    return list(rows)


def test_every_rule_kind_raises_the_same_alerts_on_postgres(
    stores: tuple[Path, str, Path], detected: dict[str, dict[str, Any]]
) -> None:
    duck, url, home = stores
    assert detected["postgres"] == detected["duckdb"]
    on_duck, on_pg = _listed(str(duck), home), _listed(url, home)
    assert on_pg == on_duck
    # every kind of correlation in the shipped rules fired, so each was compared
    rules = {r.id: r for r in load_rules().rules}
    kinds = {d.type for r in rules.values() for d in r.detectors}
    fired = {d.type for a in on_pg for d in rules[a["rule"]].detectors}
    assert fired == kinds, kinds - fired
    assert {"R5", "R7", "R8", "log_silence", "admin_off_hours", "bulk_access", "R11"} <= {a["rule"] for a in on_pg}
    assert detected["postgres"]["silence"][0] > 0  # the live check found the sources silent at CLOCK
    assert sum(a["event_count"] for a in on_pg) == sum(len(a["evidence_event_ids"]) for a in on_pg)


def test_alert_detail_list_page_and_review_are_the_same_on_postgres(
    stores: tuple[Path, str, Path], detected: dict[str, dict[str, Any]]
) -> None:
    duck, url, _home = stores
    start, end = date(2026, 6, 1), date(2026, 6, 30)
    seen: dict[str, Any] = {}
    for name, target in (("duckdb", str(duck)), ("postgres", url)):
        with Database(target) as db:
            store = AlertStore(db)
            travel = store.list(rule=["R11"], limit=1)[0]
            one = store.get(int(travel["id"]))
            assert one is not None
            for row in one["activity"]:
                del row["happened_at"]
            del one["created_at"], one["updated_at"]
            page = alert_list.list_page(
                db, alert_list.AlertQuery(filters=Filters(preset="90d"), per_page=20), now=END.replace(tzinfo=None)
            )
            seen[name] = {
                "alert": one,
                "page": [(r["id"], r["rule_id"], r["alert_key"]) for r in page.rows],
                "page_counts": (page.total, page.open_by_severity),
                "open": store.open_counts(),
                "days": review.day_summaries(db, start, end),
                "period": review.period_detail(db, start, end),
            }
    assert seen["postgres"] == seen["duckdb"]
    assert seen["postgres"]["alert"]["evidence"][0]["geo_lat"] is not None
    assert seen["postgres"]["page_counts"][0] > 20


def test_running_again_on_postgres_adds_nothing(stores: tuple[Path, str, Path], detected: dict[str, Any]) -> None:
    _duck, url, home = stores
    before = _listed(url, home)
    again = json.loads(cli("detect", "--db", url, "--json", "--no-notify", env={"AUDITDASH_HOME": str(home)}).stdout)
    assert (again["alerts_created"], again["alerts_updated"], again["evidence_added"]) == (0, 0, 0)
    assert again["findings_by_rule"] == detected["postgres"]["summary"]["findings_by_rule"]
    assert _listed(url, home) == before


LONG_RULES = """
version: 1
rules:
  - id: L1
    title: Failures from several addresses over weeks
    severity: low
    description: windows past 24 days (their span in milliseconds needs 64 bits)
    check: none
    match: {action: [auth.login, audit.login], outcome: failure}
    correlation: {type: value_count, field: ip, group-by: [account_id, user], timespan: 40d, condition: {gte: 2}}
  - id: L2
    title: Failures then a success within a month
    severity: low
    description: a long temporal window
    check: none
    correlation:
      type: temporal_ordered
      group-by: [account_id, user]
      timespan: 30d
      steps:
        - match: {action: [auth.login, audit.login], outcome: failure}
          condition: {gte: 3}
        - match: {action: [auth.login, audit.login], outcome: success}
"""


def test_windows_of_weeks_find_the_same_on_postgres(stores: tuple[Path, str, Path], tmp_path: Path) -> None:
    duck, url, _home = stores
    path = tmp_path / "long.yaml"
    path.write_text(LONG_RULES)
    rules = load_rules(path)
    scope = Scope(datetime(2026, 6, 1), datetime(2026, 7, 1), datetime(2026, 7, 1))
    found: dict[str, list[tuple[Any, ...]]] = {}
    for name, target in (("duckdb", str(duck)), ("postgres", url)):
        with Database(target) as db, db.connect() as conn:
            found[name] = sorted(
                (f.rule_id, f.key_text, f.start, f.end, f.severity, sorted(f.evidence), sorted(f.measures.items()))
                for rule in rules.rules
                for f in evaluate(conn, rule, scope)
            )
    assert found["postgres"] == found["duckdb"]
    assert {f[0] for f in found["postgres"]} == {"L1", "L2"}


def test_two_processes_folding_the_same_findings_open_one_alert(pg_server: PgServer) -> None:
    """Every process sharing the store runs detection (its ingest listener): two that fold the same
    brute force at once wait for each other, and the second finds the first one's alert."""
    url = pg_store(pg_server)
    plain = url.replace("+psycopg", "")
    rule = load_rules().get("R1")
    assert rule is not None
    with Database(url) as first, Database(url) as second:  # two engines: as two processes
        feed(first, [ev(t, user="both", outcome="failure", ip=ATTACKER) for t in every(T0, 20 * S, 12)])
        with first.connect() as conn:
            findings = evaluate(conn, rule, Scope(T0.replace(tzinfo=None), CLOCK, CLOCK))
        assert len(findings) == 1
        with psycopg.connect(plain, autocommit=True) as holder:
            holder.execute("SELECT pg_advisory_lock(%s)", (ALERTS_LOCK,))
            folds = [threading.Thread(target=AlertStore(db).apply, args=(rule, findings)) for db in (first, second)]
            for fold in folds:
                fold.start()
            deadline = time.monotonic() + LOCK_WAIT_S
            while _waiting_for(holder, ALERTS_LOCK) < 2:  # both are inside apply, neither wrote
                assert time.monotonic() < deadline, "the folds did not wait for the alerts lock"
                time.sleep(0.05)
            assert AlertStore(first).count() == 0
            holder.execute("SELECT pg_advisory_unlock(%s)", (ALERTS_LOCK,))
            for fold in folds:
                fold.join(LOCK_WAIT_S)
        alerts = AlertStore(second).list(rule=["R1"], with_evidence=True)
    assert [(a["alert_key"], a["event_count"], len(a["evidence_event_ids"])) for a in alerts] == [
        ("account_id=acme|user=both", 12, 12)
    ]


def _waiting_for(conn: psycopg.Connection[Any], key: int) -> int:
    """How many sessions wait for the advisory lock `key`."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
        "AND ((classid::bigint << 32) | objid::bigint) = %s",
        (key,),
    ).fetchone()
    return int(row[0]) if row else 0


def test_the_scheduled_detection_jobs_run_clean_on_postgres(
    stores: tuple[Path, str, Path], detected: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.web.app import create_app

    _duck, url, home = stores
    monkeypatch.setenv("AUDITDASH_GEO_DIR", str(GEO_DIR))
    later = END + timedelta(hours=3)
    burst = [ev(t, user="jobs-u1", outcome="failure", ip=ATTACKER) for t in every(later, 20 * S, 12)]
    with Database(url) as db:
        settings = Settings(db_path=url, home=home, geo_dir=GEO_DIR, reports_dir=home / "r")  # type: ignore[arg-type]
        app = create_app(settings, db)
        state = app.server.extensions["auditdash"]
        service = app.server.extensions["auditdash.detect"]
        jobs = state.scheduler.jobs
        assert {"detect", "detect-silence", "detect-deadlines"} <= set(jobs)
        result = state.ingestor.ingest_batch([(i, json.dumps(e)) for i, e in enumerate(burst)], "jobs")
        assert result.accepted == len(burst)
        assert service.wait_idle(120)  # the ingest listener's run
        for name in ("detect", "detect-silence", "detect-deadlines"):
            jobs[name].run_once()
            assert (jobs[name].runs, jobs[name].last_error) == (1, None), name
        assert service.last_error is None
        assert service.processed_up_to() == int(db.get_meta("detect.last_seq") or 0) > 0
        r1 = service.alerts.list(rule=["R1"], with_evidence=True)
        mine = [a for a in r1 if a["key"].get("user") == "jobs-u1"]
        assert len(mine) == 1 and sorted(mine[0]["evidence_event_ids"]) == sorted(e["id"] for e in burst)

"""Detection as a service of the running app: incremental runs, re-runs, scheduled checks.

`DetectionService.run_incremental` runs the rules over the events stored since the last run
(by sequence number, so events that arrive late are covered too); the ingest listener starts
such a run in a background thread as soon as a batch is stored, and a scheduled catch-up run
picks up what other processes stored. A run costs about the same whether it covers one small
API batch or thousands of events (every rule queries its windows), so under a stream of batches
the listener paces its runs (`INCREMENTAL_MIN_INTERVAL_S`): each run covers every batch stored
since the last one, instead of the rules running after each batch and taking a core from the
dashboard (docs/PERFORMANCE.md, "Load"). `run_range` re-runs over any period
(`auditdash detect --from --to`). Both fold findings into alerts idempotently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dashboard.config import Settings
from dashboard.detect.alerts import AlertStore, ApplyReport
from dashboard.detect.engine import Scope, evaluate, evaluate_live_silence, iter_chunks
from dashboard.detect.notify import Notifier, NotifyConfig
from dashboard.detect.rules import Rule, RuleSet, load_rules
from dashboard.store.db import Database, utcnow
from dashboard.store.schema import events as E
from dashboard.store.writer import WriteResult

log = logging.getLogger(__name__)

STATE_KEY = "detect.last_seq"
#: the longest full re-run piece: bounds memory on large stores.
CHUNK_DAYS = 100
#: deadlines are judged this long after they pass on the wall clock (late events may still come);
#: the server uses AUDITDASH_DEADLINE_GRACE_S
DEADLINE_GRACE = timedelta(hours=1)
#: how far back a deadline check looks for deadlines it has not yet seen pass
DEADLINE_WINDOW = timedelta(days=1)
#: the ingest listener starts an incremental run at least this long after the previous one started,
#: and at least as long after it ended as it took (so detection keeps to half a thread at most);
#: the first run after a quiet spell starts at once
INCREMENTAL_MIN_INTERVAL_S = 5.0


class Stopped(Exception):
    """The service was stopped during a run; the run's events are covered by the next run."""


@dataclass
class RunReport:
    """What one detection run did."""

    scope: tuple[datetime, datetime] | None = None
    seqs: tuple[int, int] | None = None
    findings: int = 0
    alerts: ApplyReport = field(default_factory=ApplyReport)
    seconds: float = 0.0
    by_rule: dict[str, int] = field(default_factory=dict)
    rule_seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "from": self.scope[0].isoformat(timespec="milliseconds") + "Z" if self.scope else None,
            "to": self.scope[1].isoformat(timespec="milliseconds") + "Z" if self.scope else None,
            "seqs": list(self.seqs) if self.seqs else None,
            "findings": self.findings,
            "findings_by_rule": self.by_rule,
            "alerts_created": len(self.alerts.created),
            "alerts_updated": len(set(self.alerts.updated)),
            "alerts_escalated": len(set(self.alerts.escalated)),
            "alerts_reopened": len(set(self.alerts.reopened)),
            "evidence_added": self.alerts.evidence_added,
            "seconds": round(self.seconds, 3),
        }


class DetectionService:
    """Runs the rules against the store and keeps the alerts.

    Args:
        db: the store.
        rules: the validated rules.
        notifier: queues notifications of new alerts (None: no notifications).
    """

    def __init__(
        self,
        db: Database,
        rules: RuleSet,
        notifier: Notifier | None = None,
        min_interval_s: float = INCREMENTAL_MIN_INTERVAL_S,
    ) -> None:
        self.db = db
        self.rules = rules
        self.notifier = notifier
        self.alerts = AlertStore(db, notifier.enqueue if notifier else None)
        self._run_lock = threading.Lock()
        self._wake = threading.Event()
        self._worker: threading.Thread | None = None
        self._worker_guard = threading.Lock()
        self.last_report: RunReport | None = None
        self.last_error: str | None = None
        self.stored_up_to = 0  # the highest sequence number the listener has seen
        self.min_interval_s = min_interval_s
        self._next_run_at = 0.0  # time.monotonic() before which the listener starts no run
        self._stopping = threading.Event()
        # closing the database (and the process's exit) stops the listener's runs first
        db.add_user("detection", self.stop)

    # ---------------------------------------------------------------- running

    def max_lookahead_s(self) -> int:
        """How far after the newest event a window may reach back to it (late events)."""
        return max((d.timespan_s for r in self.rules.enabled for d in r.detectors), default=0)

    def _data_clock(self, conn: Any) -> datetime | None:
        value = conn.execute(sa.select(sa.func.max(E.c.occurred_at))).scalar()
        return value if isinstance(value, datetime) else None

    def run_range(
        self, lo: datetime, hi: datetime, now: datetime | None = None, rules: Sequence[Rule] | None = None
    ) -> RunReport:
        """Run every enabled rule (or `rules`) with anchors in [lo, hi) and fold the findings into alerts."""
        started = time.monotonic()
        report = RunReport(scope=(lo, hi))
        with self.db.connect() as conn:
            if conn.dialect.name == "duckdb":  # a DuckDB setting (PostgreSQL has no progress bar)
                conn.exec_driver_sql("SET enable_progress_bar = false")
            clock = now or self._data_clock(conn) or hi
            for c_lo, c_hi in iter_chunks(lo, hi, CHUNK_DAYS):
                scope = Scope(c_lo, c_hi, clock)
                for rule in self.rules.enabled if rules is None else rules:
                    if self._stopping.is_set():
                        raise Stopped("detection stopped (the database is closing)")
                    took = time.monotonic()
                    findings = evaluate(conn, rule, scope)
                    # end the read snapshot: the next rule may read the alerts this one writes
                    conn.rollback()
                    report.findings += len(findings)
                    report.by_rule[rule.id] = report.by_rule.get(rule.id, 0) + len(findings)
                    report.alerts.add(self.alerts.apply(rule, findings))
                    report.rule_seconds[rule.id] = report.rule_seconds.get(rule.id, 0.0) + time.monotonic() - took
        report.seconds = time.monotonic() - started
        return report

    def run_all(self) -> RunReport:
        """Run over every stored event and mark them all as processed."""
        with self.db.connect() as conn:
            lo, hi, top = conn.execute(
                sa.select(sa.func.min(E.c.occurred_at), sa.func.max(E.c.occurred_at), sa.func.max(E.c.seq))
            ).one()
        if lo is None:
            return RunReport()
        report = self.run_range(lo, hi + timedelta(milliseconds=1))
        report.seqs = (0, int(top))
        self.db.set_meta(STATE_KEY, str(int(top)))
        return report

    def run_seqs(self, after: int, upto: int) -> RunReport:
        """Run over the events with after < seq <= upto (and the windows they belong to)."""
        with self.db.connect() as conn:
            lo, hi = conn.execute(
                sa.select(sa.func.min(E.c.occurred_at), sa.func.max(E.c.occurred_at)).where(
                    E.c.seq > after, E.c.seq <= upto
                )
            ).one()
            newest = self._data_clock(conn)
        if lo is None or hi is None:
            return RunReport(seqs=(after, upto))
        # a late event can complete a window that ends at a later event: look that far ahead
        end = hi + timedelta(seconds=self.max_lookahead_s())
        if newest is not None:
            end = min(end, newest)
        report = self.run_range(lo, end + timedelta(milliseconds=1), now=newest)
        report.seqs = (after, upto)
        return report

    def processed_up_to(self) -> int:
        """The sequence number up to which incremental detection has run."""
        return int(self.db.get_meta(STATE_KEY) or 0)

    def run_incremental(self) -> RunReport | None:
        """Run over what was stored since the last run (None when nothing was new)."""
        with self._run_lock:
            last = self.processed_up_to()
            with self.db.connect() as conn:
                top = conn.execute(sa.select(sa.func.max(E.c.seq))).scalar()
            if top is None or int(top) <= last:
                return None
            try:
                report = self.run_seqs(last, int(top))
            except Stopped:
                return None  # not marked processed: the next run (after a restart) covers them
            self.db.set_meta(STATE_KEY, str(int(top)))
            self.last_report = report
            if report.alerts.created or report.alerts.escalated:
                log.info("detection over seq %s..%s: %s", last + 1, top, report.to_json())
            return report

    def check_deadlines(self, now: datetime | None = None, grace: timedelta = DEADLINE_GRACE) -> RunReport:
        """Escalate deadlines that passed on the wall clock while no event arrived.

        Incremental runs judge a `not_followed_by` deadline ("MFA not enabled again within 12
        hours") by the newest stored event, so on a quiet log it would wait for the next event.
        This runs the rules that have such deadlines over the events whose deadline passed in the
        last day, with the wall clock as their clock, less `grace` for events that arrive late
        (a buffered forwarder, a connector that could not pull for a while). Alerts are
        idempotent: an alert escalated already stays as it is.
        """
        clock = now or utcnow()
        if clock.tzinfo is not None:  # the store's times are naive UTC
            clock = clock.astimezone(UTC).replace(tzinfo=None)
        moment = clock - grace
        report = RunReport()
        for rule in self.rules.enabled:
            waits = [e.within_s for d in rule.detectors for e in d.escalate if e.when == "not_followed_by"]
            if not waits:
                continue
            lo = moment - timedelta(seconds=max(waits)) - DEADLINE_WINDOW
            hi = moment - timedelta(seconds=min(waits)) + timedelta(milliseconds=1)
            try:
                with self._run_lock:
                    one = self.run_range(lo, hi, now=moment, rules=[rule])
            except Stopped:
                break  # closing: the next check looks a day back
            report.findings += one.findings
            report.alerts.add(one.alerts)
            report.by_rule.update(one.by_rule)
        if report.alerts.escalated:
            log.info("deadline check escalated %s alert(s)", len(set(report.alerts.escalated)))
        return report

    def check_silence(self, now: datetime | None = None) -> ApplyReport:
        """Raise alerts for log sources that are silent right now."""
        moment = now or utcnow()
        total = ApplyReport()
        with self.db.connect() as conn:
            if conn.dialect.name == "duckdb":  # a DuckDB setting (PostgreSQL has no progress bar)
                conn.exec_driver_sql("SET enable_progress_bar = false")
            for rule in self.rules.enabled:
                if any(d.type == "silence" for d in rule.detectors):
                    total.add(self.alerts.apply(rule, evaluate_live_silence(conn, rule, moment)))
        return total

    # ---------------------------------------------------------------- the ingest listener

    def on_stored(self, result: WriteResult) -> None:
        """Ingest listener: a batch was stored; detect on it soon, off the request thread."""
        if result.last_seq is not None:
            self.stored_up_to = max(self.stored_up_to, int(result.last_seq))
        self._wake.set()
        with self._worker_guard:
            if self._stopping.is_set():
                return  # closing: the next start's catch-up run covers the batch
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._drain, name="detect-incremental", daemon=True)
                self._worker.start()

    def _drain(self) -> None:
        # batches that arrive while a run is under way, or while the next one waits for its
        # turn, are covered by the next run
        while self._wake.is_set() and not self._stopping.is_set():
            if self._stopping.wait(max(0.0, self._next_run_at - time.monotonic())):
                return
            self._wake.clear()
            started = time.monotonic()
            try:
                self.run_incremental()
                self.last_error = None
            except Exception as exc:  # the listener must never break ingest
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("incremental detection failed")
            ended = time.monotonic()
            self._next_run_at = max(started + self.min_interval_s, ended + (ended - started))

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop scheduling runs and wait up to `timeout` seconds for the running one, which stops
        at its next rule without marking its events processed; True when no run is left."""
        with self._worker_guard:
            self._stopping.set()
            worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout)
            if worker.is_alive():
                log.warning("detection run still running after %.0f s of waiting to stop", timeout)
                return False
        return True

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Wait until the background run (if any) has finished (for tests and benchmarks)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True


def build_service(db: Database, settings: Settings) -> DetectionService:
    """Load the rules and the notification settings (refusing bad ones) and build the service."""
    rules = load_rules(settings.rules_path)
    notifier = Notifier(db, NotifyConfig.from_settings(settings), rules)
    return DetectionService(db, rules, notifier)

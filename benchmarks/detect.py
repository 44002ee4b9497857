"""Detection benchmarks: full re-run, incremental detection under ingest, and quality on demo data.

    python benchmarks/detect.py full --events 10000000       # re-run over every event
    python benchmarks/detect.py incremental --rate 10000 --seconds 60
    python benchmarks/detect.py quality --seeds 7 8 9         # precision / recall per rule

`full` builds a realistic base (the demo generator: 90 days, 500,000 events, planted incidents,
stored through the real ingest path) once, then copies it into as many tenants as needed
(account and user ids suffixed, times shifted by a few minutes) with one INSERT ... SELECT, and
times `DetectionService.run_all`. `incremental` starts from the base with detection caught up,
appends events at the given rate (copies of base events moved to after its end, inserted the
way the bulk writer does: one statement per batch, under the write lock) while the detection
loop runs `run_incremental` as the ingest listener's worker does, and reports the lag.
Everything runs on 127.0.0.1 files under --work and stops by itself.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.config import Settings  # noqa: E402 - after the path set-up above
from dashboard.demo import DemoSpec, generate  # noqa: E402
from dashboard.detect.quality import evaluate  # noqa: E402
from dashboard.detect.rules import load_rules  # noqa: E402
from dashboard.detect.service import DetectionService  # noqa: E402
from dashboard.ingest.geo import default_locator  # noqa: E402
from dashboard.ingest.pipeline import Ingestor  # noqa: E402
from dashboard.store.db import Database  # noqa: E402

BASE_EVENTS = 500_000
BASE_DAYS = 90
BASE_END = datetime(2026, 6, 30, tzinfo=UTC)


def build_demo(path: Path, spec: DemoSpec) -> dict[str, Any]:
    """Store a demo data set through the real ingest path; return its ground truth."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    batches, truth = generate(spec, batch_size=50_000)
    db = Database(path)
    try:
        ingestor = Ingestor(db, default_locator(Settings().geo_dir))
        for batch in batches:
            ingestor.ingest_batch([(i, json.dumps(e)) for i, e in enumerate(batch)], "demo")
    finally:
        db.close()
    path.with_suffix(".truth.json").write_text(json.dumps(truth))
    return truth


def base_store(work: Path, rebuild: bool = False) -> Path:
    """The 500,000-event demo base (built once, about two minutes)."""
    path = work / "base.duckdb"
    if rebuild or not path.exists():
        started = time.perf_counter()
        build_demo(path, DemoSpec(days=BASE_DAYS, events=BASE_EVENTS, end=BASE_END, seed=7))
        print(f"built the demo base {path} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def service(db: Database) -> DetectionService:
    """The shipped rules, no notifications (they would only measure the receivers)."""
    return DetectionService(db, load_rules(), None)


_COPY_SQL = """
INSERT INTO events
SELECT e.seq + c.k * $top, e.event_id || '~' || c.k, e.occurred_at + c.k * INTERVAL 7 MINUTE,
       e.received_at, e.account_id || '-' || c.k, e.action, e.category, e.outcome, e.reason,
       CASE WHEN e.actor_id IS NULL THEN NULL ELSE e.actor_id || '-' || c.k END,
       e.actor_name, e.actor_email, e.actor_role, e.actor_type, e.target_type,
       CASE WHEN e.target_type = 'agent' THEN e.target_id || '-' || c.k ELSE e.target_id END,
       e.target_name, e.ip, e.ip_scope, e.geo_country, e.geo_city, e.geo_lat, e.geo_lon, e.user_agent,
       e.session_id, e.request_id, e.changes, e.metadata, e.source, e.batch_id, e.hash
FROM events e, (SELECT range AS k FROM range(1, $copies)) c
WHERE e.seq <= $top
"""


_CLEAR_SQL = (
    "DELETE FROM alert_evidence",
    "DELETE FROM alert_activity",
    "DELETE FROM notifications",
    "DELETE FROM alerts",
    "DELETE FROM meta WHERE key = 'detect.last_seq'",
)


def scaled_store(work: Path, events: int, base: Path, reuse: bool = False) -> tuple[Path, int]:
    """A copy of the base holding about `events` events (tenants copied); returns (path, count).

    With `reuse`, a copy left by an earlier `--keep` run is used, its alerts removed.
    """
    path = work / f"full-{events}.duckdb"
    if reuse and path.exists():
        db = Database(path)
        try:
            with db.raw() as con:
                for sql in _CLEAR_SQL:
                    con.execute(sql)
                total = int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
        finally:
            db.close()
        return path, total
    shutil.copyfile(base, path)
    db = Database(path)
    try:
        with db.raw() as con:
            top = int(con.execute("SELECT max(seq) FROM events").fetchone()[0])  # type: ignore[index]
            copies = max(1, math.ceil(events / top))
            if copies > 1:
                started = time.perf_counter()
                con.execute("SET enable_progress_bar = false")
                con.execute(_COPY_SQL, {"top": top, "copies": copies})
                print(f"copied {copies} tenants in {time.perf_counter() - started:.0f} s", flush=True)
            total = int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
    finally:
        db.close()
    return path, total


def cmd_full(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    base = base_store(work, args.rebuild)
    path, total = scaled_store(work, args.events, base, reuse=args.reuse)
    db = Database(path)
    try:
        svc = service(db)
        first = svc.run_all()
        second = svc.run_all()
        alerts = svc.alerts.count()
    finally:
        db.close()
    out = {
        "events": total,
        "full_run_s": round(first.seconds, 1),
        "events_per_s": round(total / first.seconds),
        "rerun_s": round(second.seconds, 1),
        "rerun_new_alerts": len(second.alerts.created),
        "alerts": alerts,
        "slowest_rules_s": {k: round(v, 2) for k, v in sorted(first.rule_seconds.items(), key=lambda kv: -kv[1])[:6]},
    }
    if not args.keep:
        path.unlink(missing_ok=True)
    return out


_APPEND_SQL = """
INSERT INTO events
SELECT e.seq - $lo + $next, 'inc-' || CAST(e.seq - $lo + $next AS VARCHAR), e.occurred_at + $shift,
       e.received_at, e.account_id, e.action, e.category, e.outcome, e.reason, e.actor_id, e.actor_name,
       e.actor_email, e.actor_role, e.actor_type, e.target_type, e.target_id, e.target_name, e.ip, e.ip_scope,
       e.geo_country, e.geo_city, e.geo_lat, e.geo_lon, e.user_agent, e.session_id, e.request_id, e.changes,
       e.metadata, 'bench', e.batch_id, e.hash
FROM events e
WHERE e.seq BETWEEN $lo AND $hi
"""


@dataclass
class _Producer:
    db: Database
    rate: int
    seconds: float
    batch_every: float = 0.1
    produced: int = 0
    top: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with self.db.raw() as con:
            con.execute("SET enable_progress_bar = false")
            base_top = int(con.execute("SELECT max(seq) FROM events").fetchone()[0])  # type: ignore[index]
            first, last = con.execute("SELECT min(occurred_at), max(occurred_at) FROM events").fetchone()  # type: ignore[misc]
            # whole weeks: the copies keep their weekday and hour (people keep their habits)
            shift = timedelta(weeks=math.ceil((last - first) / timedelta(weeks=1)) + 1)
            self.top = base_top
            per_batch = max(1, round(self.rate * self.batch_every))
            cursor = 1
            started = time.perf_counter()
            tick = 0
            while time.perf_counter() - started < self.seconds:
                lo, hi = cursor, min(cursor + per_batch - 1, base_top)
                with self.db.write_lock:
                    con.execute(_APPEND_SQL, {"lo": lo, "hi": hi, "next": self.top + 1, "shift": shift})
                self.top += hi - lo + 1
                self.produced += hi - lo + 1
                cursor = hi + 1 if hi < base_top else 1
                tick += 1
                pause = started + tick * self.batch_every - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
        self.done.set()


def cmd_incremental(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    base = Path(args.base) if args.base else base_store(work, args.rebuild)
    path = work / "incremental.duckdb"
    shutil.copyfile(base, path)
    db = Database(path)
    try:
        svc = service(db)
        with db.raw() as con:
            base_events = int(con.execute("SELECT count(*) FROM events").fetchone()[0])  # type: ignore[index]
        caught_up = svc.run_all()
        producer = _Producer(db, args.rate, args.seconds)
        thread = threading.Thread(target=producer.run, daemon=True)
        runs: list[tuple[float, int]] = []  # (seconds, events covered)
        per_rule: dict[str, float] = {}
        lags: list[int] = []
        started = time.perf_counter()
        thread.start()
        while not producer.done.is_set() or svc.processed_up_to() < producer.top:
            before = svc.processed_up_to()
            took = time.perf_counter()
            report = svc.run_incremental()
            if report is None:
                time.sleep(0.05)
                continue
            runs.append((time.perf_counter() - took, svc.processed_up_to() - before))
            for rule_id, seconds in report.rule_seconds.items():
                per_rule[rule_id] = per_rule.get(rule_id, 0.0) + seconds
            lags.append(producer.top - svc.processed_up_to())
            if time.perf_counter() - started > args.seconds * 5 + 120:
                break
        thread.join()
        wall = time.perf_counter() - started
        durations = [r[0] for r in runs]
        covered = sum(r[1] for r in runs)
        busy = sum(durations)
        alerts = Counter(
            a["rule_id"] for a in svc.alerts.list(limit=100_000) if a["first_seen"] > BASE_END.replace(tzinfo=None)
        )
    finally:
        db.close()
    if not args.keep:
        path.unlink(missing_ok=True)
    return {
        "base_events": base_events,
        "catch_up_run_s": round(caught_up.seconds, 1),
        "target_rate": args.rate,
        "ingested": producer.produced,
        "ingest_rate": round(producer.produced / args.seconds),
        "detected": covered,
        "runs": len(runs),
        "run_s_median": round(statistics.median(durations), 3) if durations else None,
        "run_s_p95": round(sorted(durations)[int(0.95 * (len(durations) - 1))], 3) if durations else None,
        "events_per_run_median": int(statistics.median([r[1] for r in runs])) if runs else 0,
        "detection_throughput_per_s": round(covered / busy) if busy else None,
        "max_lag_events": max(lags) if lags else 0,
        "max_lag_s": round(max(lags) / args.rate, 2) if lags else 0,
        "wall_s": round(wall, 1),
        "alerts_on_new_events": dict(alerts),
        "busy_s_by_rule": {k: round(v, 1) for k, v in sorted(per_rule.items(), key=lambda kv: -kv[1])[:8]},
    }


def cmd_quality(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    out: dict[str, Any] = {"runs": []}
    totals: dict[str, dict[str, int]] = {}
    rule_ids = [r.id for r in load_rules().rules]
    for seed in args.seeds:
        for incidents in (True, False):
            path = work / f"quality-{seed}-{'planted' if incidents else 'quiet'}.duckdb"
            spec = DemoSpec(days=args.days, events=args.events, end=BASE_END, seed=seed, incidents=incidents)
            truth = build_demo(path, spec)
            db = Database(path)
            try:
                svc = service(db)
                svc.run_all()
                alerts = svc.alerts.list(with_evidence=True, limit=100_000)
            finally:
                db.close()
            quality = evaluate(alerts, truth, rule_ids)
            run = {
                "seed": seed,
                "incidents": len(truth["incidents"]),
                "alerts": len(alerts),
                "high_or_critical": sum(a["severity"] in ("high", "critical") for a in alerts),
                "by_rule": {
                    r: {
                        "alerts": q.alerts,
                        "matched": q.matched_alerts,
                        "high": q.high_alerts,
                        "matched_high": q.matched_high_alerts,
                        "incidents": q.incidents,
                        "found": q.found_incidents,
                    }
                    for r, q in quality.items()
                },
            }
            out["runs"].append(run)
            for r, v in run["by_rule"].items():
                agg = totals.setdefault(f"{r}|{'planted' if incidents else 'quiet'}", Counter())
                agg.update(v)
            if not args.keep:
                path.unlink(missing_ok=True)
    out["totals"] = {k: dict(v) for k, v in totals.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_work = str(Path(tempfile.gettempdir()) / "auditdash-detect-bench")
    parser.add_argument("--work", default=default_work, help="folder for the database files")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the demo base")
    parser.add_argument("--keep", action="store_true", help="keep the database files")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("full", help="a full re-run over many events")
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--reuse", action="store_true", help="reuse the copy a --keep run left")
    p = sub.add_parser("incremental", help="incremental detection while events arrive")
    p.add_argument("--rate", type=int, default=10_000, help="events per second")
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--base", help="start from this database (a copy of it), e.g. a kept 10M file")
    p = sub.add_parser("quality", help="precision and recall on demo data")
    p.add_argument("--seeds", type=int, nargs="+", default=[7])
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--events", type=int, default=500_000)
    args = parser.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    result = {"full": cmd_full, "incremental": cmd_incremental, "quality": cmd_quality}[args.mode](args)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()

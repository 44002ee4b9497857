"""Compliance-pack benchmark on 10 million events: CSV and JSON of a 1-million-event view, PDF of 90 days.

Usage:
    .venv/bin/python benchmarks/packs.py [--events 10000000] [--db /tmp/packs-bench.duckdb] [--json]

The events are generated in DuckDB SQL by `benchmarks/bench_data.py` (90 days, in the order
they were received; the file is kept between runs, delete it to regenerate). Each measurement
runs in a fresh process that builds the dashboard app over the file, as `auditdash serve`
does, and submits the pack to the app's own pack queue (`PackService`), so the figures are
those of the server:

* `copy_csv` / `copy_json`: DuckDB's own `COPY (SELECT * FROM events WHERE <view>) TO ...` of the
  same rows (CSV with a header; NDJSON; no ORDER BY, its fastest form), the reference rate;
* `csv` / `json`: the pack's CSV (formatted timestamps in a zone, formula neutralising, SHA-256
  while writing) and NDJSON (the event contract) of the 1M-event view;
* `pdf`: the PDF of the whole 90-day view (all events): summary figures, charts drawn by kaleido,
  failed-login analysis, changes, alerts, appendix.

Peak memory is sampled every 20 ms: the server process itself (what the 1.5 GB target is
about), and the server together with its children (the headless Chromium that draws charts).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

END = datetime(2026, 11, 1)  # fixed, so a given size always gives the same table
DAYS = 90
VIEW_EVENTS = 1_000_000
TZ = "Europe/Berlin"
TMP = Path(tempfile.gettempdir())


# -- memory ---------------------------------------------------------------------------------------
def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


class Sampler:
    """Peak RSS of this process, and of this process with all its descendants."""

    def __init__(self) -> None:
        self.peak_self = 0
        self.peak_tree = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.is_set():
            own = _rss_kb(me)
            tree, todo = own, _children(me)
            while todo:
                pid = todo.pop()
                tree += _rss_kb(pid)
                todo.extend(_children(pid))
            self.peak_self = max(self.peak_self, own)
            self.peak_tree = max(self.peak_tree, tree)
            self._stop.wait(0.02)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kernel's own peak, KiB
        self.peak_self = max(self.peak_self, hwm)


# -- one measurement (in a child process) -------------------------------------------------------------
def _view(db: Any) -> tuple[datetime, datetime]:
    """A window of the log holding exactly VIEW_EVENTS events (UTC, [start, end))."""
    with db.raw() as con:
        total = con.execute("SELECT count(*) FROM events WHERE source = 'bench'").fetchall()[0][0]
        first = max(total // 3, 1)
        start, end = con.execute(
            "SELECT min(occurred_at), max(occurred_at) FROM (SELECT occurred_at FROM events "
            "WHERE source = 'bench' ORDER BY seq LIMIT $n OFFSET $o)",
            {"n": VIEW_EVENTS, "o": first},
        ).fetchall()[0]
    return start, end


def measure(kind: str, db_path: Path, out: Path) -> dict[str, Any]:
    """Run one measurement in this process and return its figures."""
    from dashboard.access.users import Actor
    from dashboard.config import Settings
    from dashboard.filters import Filters
    from dashboard.packs.model import PackRequest
    from dashboard.store.db import Database
    from dashboard.web.app import create_app
    from dashboard.web.packs import SERVICE_KEY

    db = Database(db_path)
    start, end = _view(db)
    settings = Settings(db_path=db_path, geo_dir=ROOT / "data" / "geo", reports_dir=out, organisation="Bench Ltd")
    app = create_app(settings, db)  # the server's memory baseline: Dash app, pages, installers
    service = app.server.extensions[SERVICE_KEY]
    berlin = ZoneInfo(TZ)
    local = Filters(
        preset=None,
        start=start.replace(tzinfo=UTC).astimezone(berlin).replace(tzinfo=None),
        end=(end + timedelta(milliseconds=1)).replace(tzinfo=UTC).astimezone(berlin).replace(tzinfo=None),
        tz=TZ,
    )
    result: dict[str, Any] = {"kind": kind}
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Sampler() as mem:
        clock = time.perf_counter()
        if kind.startswith("copy"):
            target = out / f"copy.{'csv' if kind == 'copy_csv' else 'ndjson'}"
            out.mkdir(parents=True, exist_ok=True)
            options = "(HEADER)" if kind == "copy_csv" else "(FORMAT json)"
            with db.raw() as con:
                con.execute(
                    f"COPY (SELECT * FROM events WHERE occurred_at >= $s AND occurred_at <= $e) "
                    f"TO '{target}' {options}",
                    {"s": start, "e": end},
                )
                rows = con.execute(
                    "SELECT count(*) FROM events WHERE occurred_at >= $s AND occurred_at <= $e", {"s": start, "e": end}
                ).fetchall()[0][0]
            result.update(rows=int(rows), bytes=target.stat().st_size)
        else:
            if kind == "pdf":
                filters = Filters(preset=None, start=END - timedelta(days=DAYS), end=END, tz=TZ)
                formats: tuple[str, ...] = ("pdf",)
            else:
                filters, formats = local, (kind,)
            request = PackRequest(filters=filters, formats=formats, actor=Actor("bench", "admin"), role="admin")
            job = service.submit(request)
            stages: list[tuple[float, str]] = []
            while not job.finished.wait(0.02):  # when each stage began, for the PDF's breakdown
                stage = (
                    job.control.stage.split(":")[0]
                    if job.control.stage.startswith(("CSV", "JSON"))
                    else job.control.stage
                )
                if not stages or stages[-1][1] != stage:
                    stages.append((round(time.perf_counter() - clock, 2), stage))
            result["stages"] = stages
            if job.result is None:
                raise SystemExit(f"{kind} failed: {job.error}")
            pack = job.result
            files = [f for f in pack.files if f.kind == kind]
            result.update(rows=pack.events, bytes=sum(f.size for f in files), pages=None, pack=str(pack.folder))
        seconds = time.perf_counter() - clock
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(
        cpu_s=round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
        cpu_children_s=round(kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime, 2),
    )
    result.update(
        seconds=round(seconds, 3),
        rows_per_s=round(result["rows"] / seconds) if result.get("rows") else None,
        peak_server_mb=round(mem.peak_self / 1024),
        peak_with_children_mb=round(mem.peak_tree / 1024),
        view={"start": start.isoformat(), "end": end.isoformat()},
    )
    service.stop()
    db.close()
    return result


# -- the driver ----------------------------------------------------------------------------------
def _chain(path: Path) -> None:
    """Give the generated events the chain batch the writer expects (so packs can be self-logged after them)."""
    import duckdb

    with duckdb.connect(str(path)) as con:
        if con.execute("SELECT count(*) FROM chain_batches").fetchall()[0][0]:
            return
        con.execute(
            "INSERT INTO chain_batches (batch_id, first_seq, last_seq, event_count, received_at, source, "
            "events_digest, prev_hash, hash) SELECT 1, min(seq), max(seq), count(*), max(received_at), 'bench', "
            "repeat('0', 64), repeat('0', 64), repeat('0', 64) FROM events WHERE source = 'bench'"
        )


def _ensure_data(path: Path, events: int) -> float | None:
    if path.exists():
        import duckdb

        with duckdb.connect(str(path), read_only=True) as con:
            n = con.execute("SELECT count(*) FROM events WHERE source = 'bench'").fetchall()[0][0]
        if n == events:
            _chain(path)
            return None
        path.unlink()
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    from benchmarks.bench_data import generate

    seconds = float(generate(path, events, DAYS, END))
    _chain(path)
    return seconds


def main(argv: list[str] | None = None) -> int:
    """Run every measurement, each in its own process, and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--db", type=Path, default=TMP / "packs-bench.duckdb")
    parser.add_argument("--out", type=Path, default=TMP / "packs-bench-reports")
    parser.add_argument("--only", help="comma-separated subset of copy_csv,csv,copy_json,json,pdf")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one measurement in this process
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.db, args.out)))
        return 0
    generated = _ensure_data(args.db, args.events)
    kinds = (args.only or "copy_csv,csv,copy_json,json,pdf").split(",")
    results: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", kind, "--db", str(args.db), "--out", str(args.out / kind)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            return proc.returncode
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    summary: dict[str, Any] = {
        "events": args.events,
        "generated_s": generated,
        "results": results,
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
    }
    if "csv" in results and "copy_csv" in results:
        summary["csv_vs_copy"] = round(results["csv"]["rows_per_s"] / results["copy_csv"]["rows_per_s"], 3)
    if "json" in results and "copy_json" in results:
        summary["json_vs_copy"] = round(results["json"]["rows_per_s"] / results["copy_json"]["rows_per_s"], 3)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(
        f"{'measurement':<12}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'CPU s':>8}{'+child':>8}"
        f"{'MB':>10}{'server MB':>11}{'+children':>11}"
    )
    for kind, r in results.items():
        print(
            f"{kind:<12}{r['rows']:>12,}{r['seconds']:>10.2f}{(r['rows_per_s'] or 0):>12,}{r['cpu_s']:>8.1f}"
            f"{r['cpu_children_s']:>8.1f}{r['bytes'] / 1e6:>10.1f}{r['peak_server_mb']:>11,}"
            f"{r['peak_with_children_mb']:>11,}"
        )
    print(f"load average during the run: {summary['machine']['load'][0]:.1f} on {summary['machine']['cpus']} CPUs")
    for key in ("csv_vs_copy", "json_vs_copy"):
        if key in summary:
            print(f"{key}: {summary[key]:.0%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

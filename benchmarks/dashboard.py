"""Benchmark: what a filter change costs on the Overview and Security pages, over 10 million events.

For each filter change the sidebar can make, every callback of the page runs exactly as the
server runs it (`dashboard.web.components.views`: queries through SQLAlchemy, masking, figures,
and the JSON encoding Dash sends), and the SQL those callbacks sent (captured from the engine)
runs again directly on the DuckDB connection, in the same process and run. The report gives,
per page, the median over the filter changes of the page's total, the direct SQL total, and
their ratio. Targets (issue 4): median <= 300 ms on 2 cores and <= 1.3 x the direct SQL.

It also times the ways to bucket a timeline by local time (docs/PERFORMANCE.md, "Dashboard").

    .venv/bin/python benchmarks/dashboard.py                  # 10M events, 90 days (made once)
    .venv/bin/python benchmarks/dashboard.py --events 1000000 --repeat 3

The data file is generated on first use (about two minutes) and reused: `--db PATH`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_data import generate
from dashboard.filters import Filters
from dashboard.store.db import Database
from dashboard.web.components import views

TZ = "Europe/Berlin"

#: the filter changes the sidebar makes, from the default view (last 7 days).
SCENARIOS: list[tuple[str, Filters]] = [
    ("range 24 h", Filters(preset="24h", tz=TZ)),
    ("range 7 d (default)", Filters(preset="7d", tz=TZ)),
    ("range 30 d", Filters(preset="30d", tz=TZ)),
    ("range 90 d", Filters(preset="90d", tz=TZ)),
    ("outcome failure", Filters(outcome="failure", tz=TZ)),
    ("category authentication", Filters(categories=("authentication",), tz=TZ)),
    ("two users", Filters(users=("u3", "u17"), tz=TZ)),
    ("role administrator", Filters(roles=("administrator",), tz=TZ)),
    ("country DE", Filters(countries=("DE",), tz=TZ)),
    ("ip block 91.32.0.0/16", Filters(ip="91.32.0.0/16", tz=TZ)),
    ("text 'agent 5'", Filters(text="agent 5", tz=TZ)),
    ("zone UTC", Filters(tz="UTC")),
]

Callback = Callable[[Database, Filters, datetime], tuple[Any, ...]]


def _cards(db: Database, f: Filters, now: datetime) -> tuple[Any, ...]:
    c = views.overview_cards(db, f, now)
    return (c.events, c.failed_logins, c.users, c.ips, c.open_alerts, c.alerts_note)


def _failures(db: Database, f: Filters, now: datetime) -> tuple[Any, ...]:
    c = views.security_failures(db, f, False, now)
    return (c.failed, c.locked, c.failing_users, c.failing_ips, c.weekday_hour, c.user_day, c.reasons)


#: the callbacks each page runs when the filters change (the page modules call the same functions).
PAGES: dict[str, list[tuple[str, Callback]]] = {
    "Overview": [
        ("headline figures", _cards),
        ("timeline", lambda db, f, now: (views.overview_timeline(db, f, now),)),
        ("busiest users, actions, categories", lambda db, f, now: views.overview_rankings(db, f, False, now)),
    ],
    "Security": [
        ("failed logins: figures, heatmaps, reasons", _failures),
        ("map, new countries", lambda db, f, now: views.security_map(db, f, False, now)),
        ("top addresses, access changes", lambda db, f, now: views.security_tables(db, f, False, now)),
    ],
}


@dataclass
class Timing:
    """Repeated timings of one callback for one filter change."""

    callback_ms: list[float] = field(default_factory=list)
    sql_ms: list[float] = field(default_factory=list)
    statements: int = 0


def _encode(outputs: tuple[Any, ...]) -> int:
    """Encode the outputs the way Dash answers a callback (the response body's JSON)."""
    from dash._utils import to_json

    return len(to_json({"response": list(outputs)}))


class Recorder:
    """Captures the SQL an engine sends, to run the very same statements directly."""

    def __init__(self, db: Database) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.on = False
        sa.event.listen(db.engine, "before_cursor_execute", self._capture)

    def _capture(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if self.on:
            self.statements.append((statement, parameters))


def run_direct(db: Database, statements: list[tuple[str, Any]]) -> float:
    """Milliseconds to run the statements on the DuckDB connection itself, fetching every row."""
    with db.raw() as con:
        started = time.perf_counter()
        for sql, params in statements:
            con.execute(sql, params).fetchall()
        return (time.perf_counter() - started) * 1000


def measure(db: Database, now: datetime, repeat: int) -> dict[tuple[str, str, str], Timing]:
    """Time every callback of every page for every scenario, next to its direct SQL."""
    recorder = Recorder(db)
    results: dict[tuple[str, str, str], Timing] = {}
    for page, callbacks in PAGES.items():
        for scenario, f in SCENARIOS:
            for name, callback in callbacks:
                timing = results.setdefault((page, scenario, name), Timing())
                _encode(callback(db, f, now))  # warm: first compilation, file cache
                for _ in range(repeat):
                    recorder.statements = []
                    recorder.on = True
                    started = time.perf_counter()
                    _encode(callback(db, f, now))
                    timing.callback_ms.append((time.perf_counter() - started) * 1000)
                    recorder.on = False
                    timing.statements = len(recorder.statements)
                    timing.sql_ms.append(run_direct(db, recorder.statements))
    return results


def bucketing(db: Database, now: datetime, repeat: int) -> list[tuple[str, str, float]]:
    """Timeline bucketing by local time: the four ways, on 7 and 90 days (milliseconds, median)."""
    from dashboard.store.analytics import View, local_time

    out = []
    for days in (7, 90):
        view = View.of(Filters(preset=f"{days}d", tz=TZ), now)
        where = view.where()
        from dashboard.store.schema import events

        c = events.c
        ways = {
            "UTC hour buckets (moved to local time in Python: used)": sa.func.date_trunc("hour", c.occurred_at),
            "offset CASE over the DST changes, in SQL": sa.func.date_trunc("hour", local_time(c.occurred_at, view)),
            "ICU time_bucket(..., zone)": sa.func.time_bucket(
                sa.literal(timedelta(hours=1), sa.Interval), sa.func.timezone("UTC", c.occurred_at), TZ
            ),
            "ICU timezone(zone, timezone('UTC', ts))": sa.func.date_trunc(
                "hour", sa.func.timezone(TZ, sa.func.timezone("UTC", c.occurred_at))
            ),
        }
        for label, expr in ways.items():
            b = expr.label("b")
            stmt = sa.select(b, c.category, sa.func.count()).where(where).group_by(b, c.category)
            times = []
            with db.connect() as conn:
                conn.execute(stmt).fetchall()
                for _ in range(repeat):
                    started = time.perf_counter()
                    conn.execute(stmt).fetchall()
                    times.append((time.perf_counter() - started) * 1000)
            out.append((f"{days} d", label, statistics.median(times)))
    return out


def report(results: dict[tuple[str, str, str], Timing], events: int, load: str) -> str:
    """The Markdown tables of docs/PERFORMANCE.md."""
    lines = [f"{events:,} events over 90 days; {os.cpu_count()} cores; load average at start {load}.", ""]
    for page in PAGES:
        lines += [
            f"**{page}** (per filter change: all callbacks of the page, run one after another; medians)",
            "",
            "| filter change | callbacks (ms) | same SQL direct (ms) | ratio |",
            "|---|---:|---:|---:|",
        ]
        totals, sqls, ratios = [], [], []
        for scenario, _ in SCENARIOS:
            cb = sum(statistics.median(results[(page, scenario, n)].callback_ms) for n, _ in PAGES[page])
            sq = sum(statistics.median(results[(page, scenario, n)].sql_ms) for n, _ in PAGES[page])
            totals.append(cb)
            sqls.append(sq)
            ratios.append(cb / sq)
            lines.append(f"| {scenario} | {cb:.0f} | {sq:.0f} | {cb / sq:.2f} |")
        lines.append(
            f"| **median** | **{statistics.median(totals):.0f}** | **{statistics.median(sqls):.0f}** "
            f"| **{statistics.median(ratios):.2f}** |"
        )
        lines.append("")
        lines += ["| callback | median (ms) | direct SQL (ms) | statements |", "|---|---:|---:|---:|"]
        for name, _ in PAGES[page]:
            cbs = [statistics.median(results[(page, s, name)].callback_ms) for s, _ in SCENARIOS]
            sqs = [statistics.median(results[(page, s, name)].sql_ms) for s, _ in SCENARIOS]
            n = results[(page, SCENARIOS[0][0], name)].statements
            lines.append(f"| {name} | {statistics.median(cbs):.0f} | {statistics.median(sqs):.0f} | {n} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="the benchmark database (made when missing)")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each callback per filter change")
    args = parser.parse_args(argv)
    path = args.db or Path(tempfile.gettempdir()) / "auditdash-bench" / f"dashboard-{args.events}.duckdb"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {args.events:,} events into {path} ...", flush=True)
        print(f"  {generate(path, args.events, args.days):.0f} s", flush=True)
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    with Database(path, read_only=True) as db:
        with db.connect() as conn:
            last = conn.execute(sa.text("SELECT max(occurred_at) FROM events")).scalar()
            count = int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar() or 0)
        now = (last + timedelta(minutes=1)).replace(second=0, microsecond=0, tzinfo=UTC)
        started = time.perf_counter()
        results = measure(db, now, args.repeat)
        print(report(results, count, load))
        print("**Timeline bucketing by local time** (one query, medians)\n")
        print("| range | way | ms |\n|---|---|---:|")
        for days, label, ms in bucketing(db, now, args.repeat):
            print(f"| {days} | {label} | {ms:.0f} |")
        print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

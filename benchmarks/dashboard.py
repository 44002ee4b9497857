"""Benchmark: what a filter change costs on the Overview, Security and Explorer pages, server side.

For every date preset (24 h, 7 d, 30 d, 90 d, and a custom range whose edges fall inside buckets)
and every filter the sidebar makes (none, outcome, category, action, two users, role, country,
address block, free text, time zone), every callback of the page runs exactly as the server runs
it (`dashboard.web.components.views` and `dashboard.store.explorer`: queries through SQLAlchemy,
masking, figures, and the JSON encoding Dash sends). The report gives, per page and range, the
median and the worst page total over the filters, and the slowest filters.

`--raw` runs the same with the rollups switched off (`rollups.raw_only`): the cost before them.
A page's parts run side by side, as the page draws them (`views.in_parallel`: one request, each
part's queries on a thread and connection of their own): the time the page waits for its answer.
`--one-by-one` runs them one after the other instead: the sum, the server's whole work.

    .venv/bin/python benchmarks/dashboard.py --db /work/bench/rollups-10m.duckdb
    .venv/bin/python benchmarks/dashboard.py --db /work/bench/rollups-30m.duckdb --events 30000000
    .venv/bin/python benchmarks/dashboard.py --events 1000000 --repeat 3 --raw
    .venv/bin/python benchmarks/dashboard.py --db postgresql+psycopg://auditdash:...@127.0.0.1:PORT/bench

`--db` also takes a PostgreSQL URL: a throwaway server from `benchmarks/pg_server.py`, loaded
with `auditdash migrate --from FILE --to URL` (the same data as the DuckDB figures).

The data file is generated when missing (`benchmarks/bench_data.py`: about a minute per 10
million events, rollups built after) and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_data import generate
from dashboard.config import is_db_url
from dashboard.filters import Filters
from dashboard.store import explorer, rollups
from dashboard.store.db import Database
from dashboard.web.components import views

TZ = "Europe/Berlin"

#: the filters the sidebar sets, each measured on every range
FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("no filter", {}),
    ("outcome failure", {"outcome": "failure"}),
    ("category authentication", {"categories": ("authentication",)}),
    ("action auth.login", {"actions": ("auth.login",)}),
    ("two users", {"users": ("u3", "u17")}),
    ("role administrator", {"roles": ("administrator",)}),
    ("country DE", {"countries": ("DE",)}),
    ("ip block /16", {"ip": "91.32.0.0/16"}),
    ("text 'agent 5'", {"text": "agent 5"}),
    ("text '#4902'", {"text": "#4902"}),
    ("zone Asia/Kolkata", {"tz": "Asia/Kolkata"}),
]

Callback = Callable[[Database, Filters, datetime], Any]


def _explorer(db: Database, f: Filters, now: datetime) -> Any:
    snap = explorer.snapshot(db, f, now=now)
    return explorer.page(db, snap, 0).rows


#: the callbacks each page runs when the filters change (the page modules call the same functions)
PAGES: dict[str, list[tuple[str, Callback]]] = {
    "Overview": [
        ("headline figures", lambda db, f, now: views.overview_cards(db, f, now)),
        ("timeline", lambda db, f, now: views.overview_timeline(db, f, now)),
        ("busiest users, actions, categories", lambda db, f, now: views.overview_rankings(db, f, False, now)),
    ],
    "Security": [
        ("failed logins: figures, heatmaps, reasons", lambda db, f, now: views.security_failures(db, f, False, now)),
        ("map, new countries", lambda db, f, now: views.security_map(db, f, False, now)),
        ("top addresses, access changes", lambda db, f, now: views.security_tables(db, f, False, now)),
    ],
    "Explorer": [("count and first page", _explorer)],
}


def ranges(now: datetime, chosen: list[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The date presets, and a custom range of 40 days whose ends fall inside hours (`chosen`: by name)."""
    local_end = (now - timedelta(days=3)).replace(tzinfo=None, minute=52, second=0, microsecond=0)
    custom = {"preset": None, "start": local_end - timedelta(days=40, minutes=45), "end": local_end}
    every: list[tuple[str, dict[str, Any]]] = [
        ("24 h", {"preset": "24h"}),
        ("7 d", {"preset": "7d"}),
        ("30 d", {"preset": "30d"}),
        ("90 d", {"preset": "90d"}),
        ("custom 40 d", custom),
        # a year (the 100-million-event store spans one): only when asked for by name
        ("365 d", {"preset": None, "start": local_end - timedelta(days=362), "end": local_end + timedelta(days=3)}),
    ]
    return [r for r in every if (chosen is None and r[0] != "365 d") or (chosen is not None and r[0] in chosen)]


def _encode(outputs: Any) -> int:
    """Encode the outputs the way Dash answers a callback (the response body's JSON)."""
    from dash._utils import to_json

    return len(to_json({"response": _plain(outputs)}))


def _plain(value: Any) -> Any:
    """The callback's outputs as Dash receives them (the views' dataclasses as their fields)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [_plain(v) for v in vars(value).values()]
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def measure(
    db: Database,
    now: datetime,
    repeat: int,
    raw: bool,
    chosen: list[str] | None = None,
    filters: list[str] | None = None,
    cold_text: bool = False,
    one_by_one: bool = False,
) -> dict[tuple[str, str, str], float]:
    """Median milliseconds of each page's callbacks, per (page, range, filter); printed as they come.

    `cold_text`: what free text matches is found again for every run (as for a text searched the
    first time, or after a purge or an erasure), not kept from the run before. The page's parts run
    side by side as the page runs them (`views.in_parallel`), or one after the other (`one_by_one`)."""
    out: dict[tuple[str, str, str], float] = {}
    mode = rollups.raw_only() if raw else contextlib.nullcontext()

    def run_page(callbacks: list[tuple[str, Callback]], f: Filters) -> None:
        if one_by_one:
            for _, cb in callbacks:
                _encode(cb(db, f, now))
        else:
            views.in_parallel(*(functools.partial(_call, cb, db, f, now) for _, cb in callbacks))

    with mode:
        for page, callbacks in PAGES.items():
            for range_name, range_values in ranges(now, chosen):
                for filter_name, values in FILTERS:
                    if filters is not None and filter_name not in filters:
                        continue
                    f = Filters(**{"tz": TZ, **range_values, **values})
                    run_page(callbacks, f)  # warm: compilation, file cache
                    times = []
                    for _ in range(repeat):
                        if cold_text:
                            rollups.forget_text_matches()
                        started = time.perf_counter()
                        run_page(callbacks, f)
                        times.append((time.perf_counter() - started) * 1000)
                    ms = out[(page, range_name, filter_name)] = statistics.median(times)
                    print(f"  {page} | {range_name} | {filter_name}: {ms:.0f} ms", flush=True)
    return out


def _call(cb: Callback, db: Database, f: Filters, now: datetime) -> int:
    """One part of a page and the encoding of its answer."""
    return _encode(cb(db, f, now))


def report(
    results: dict[tuple[str, str, str], float],
    now: datetime,
    chosen: list[str] | None = None,
    filters: list[str] | None = None,
) -> str:
    """Markdown: per page, per range, the median and worst filter change, and the slowest filters."""
    measured = [(name, v) for name, v in FILTERS if filters is None or name in filters]
    lines = [
        "| page | range | median (ms) | worst (ms) | slowest filter |",
        "|---|---|---:|---:|---|",
    ]
    for page in PAGES:
        for range_name, _ in ranges(now, chosen):
            row = {name: results[(page, range_name, name)] for name, _ in measured}
            worst = max(row, key=lambda k: row[k])
            lines.append(
                f"| {page} | {range_name} | {statistics.median(row.values()):.0f} | {row[worst]:.0f} | {worst} |"
            )
    lines += ["", "| page | filter | " + " | ".join(r for r, _ in ranges(now, chosen)) + " |"]
    lines.append("|---|---|" + "---:|" * len(ranges(now, chosen)))
    for page in PAGES:
        for name, _ in measured:
            cells = " | ".join(f"{results[(page, r, name)]:.0f}" for r, _ in ranges(now, chosen))
            lines.append(f"| {page} | {name} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--db", help="the benchmark database: a DuckDB file (made when missing) or a postgresql+psycopg:// URL"
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate when --db is missing")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each filter change")
    parser.add_argument("--raw", action="store_true", help="read the raw events only (the rollups switched off)")
    parser.add_argument(
        "--ranges", help="comma-separated ranges to measure (default all): '24 h,7 d,30 d,90 d,custom 40 d'"
    )
    parser.add_argument("--filters", help="comma-separated filters to measure (default all), e.g. \"text 'agent 5'\"")
    parser.add_argument(
        "--one-by-one",
        action="store_true",
        help="a page's parts one after the other (the server's whole work), not side by side as the page runs them",
    )
    parser.add_argument(
        "--cold-text", action="store_true", help="find what free text matches again for every run (no kept matches)"
    )
    args = parser.parse_args(argv)
    target: Path | str = (
        args.db
        if args.db and is_db_url(args.db)
        else Path(args.db or Path(tempfile.gettempdir()) / "auditdash-bench" / f"dashboard-{args.events}.duckdb")
    )
    path = target if isinstance(target, Path) else None
    if path is not None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {args.events:,} events into {path} ...", flush=True)
        print(f"  {generate(path, args.events, args.days):.0f} s", flush=True)
    load = "/".join(f"{v:.1f}" for v in os.getloadavg())
    with Database(target, read_only=path is not None) as db:
        with db.connect() as conn:
            last = conn.execute(sa.text("SELECT max(occurred_at) FROM events")).scalar()
            count = int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar() or 0)
            rows = {
                r.table.name: conn.execute(sa.text(f"SELECT count(*) FROM {r.table.name}")).scalar()
                for r in rollups.ROLLUPS
            }
            in_step = rollups.in_step(conn)
        now = (last + timedelta(minutes=1)).replace(second=0, microsecond=0, tzinfo=UTC)
        started = time.perf_counter()
        chosen = args.ranges.split(",") if args.ranges else None
        picked = args.filters.split(",") if args.filters else None
        results = measure(db, now, args.repeat, args.raw, chosen, picked, args.cold_text, args.one_by_one)
        mode = "raw events only (--raw)" if args.raw else f"rollups ({'in step' if in_step else 'NOT in step: raw'})"
        mode += (
            "; a page's parts one after the other (--one-by-one)"
            if args.one_by_one
            else "; a page's parts side by side"
        )
        engine = "DuckDB" if path is not None else "PostgreSQL"
        print(
            f"{engine}: {count:,} events over {args.days} days; {os.cpu_count()} cores; "
            f"load average at start {load}; {mode}."
        )
        print("rollup rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()) + "\n")
        print(report(results, now, chosen, picked))
        print(
            f"\n(benchmark took {time.perf_counter() - started:.0f} s; load average at end "
            + "/".join(f"{v:.1f}" for v in os.getloadavg())
            + ")"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

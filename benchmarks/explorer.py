"""Explorer page-turn benchmark: one page of the events table at any offset, on 10M events.

Usage:
    .venv/bin/python benchmarks/explorer.py [--events 10000000] [--db /tmp/explorer-bench.duckdb]
        [--repeat 5] [--json]

The events are generated in DuckDB SQL (a few seconds a million), spread over 90 days in the
order they were received, with a realistic mix of actors, actions, outcomes and addresses. The
file is kept between runs (delete it to regenerate). Each measurement is the median of
`--repeat` warm runs of `dashboard.store.explorer.page` (the function the grid callback calls:
SQL built with SQLAlchemy Core, run through the app's engine, rows shaped for the browser),
next to the same statement run directly on DuckDB, for several sort orders and offsets from
the first page to the last.

`--db` also takes a PostgreSQL URL (a server from `benchmarks/pg_server.py`) of a store loaded
beforehand (`auditdash migrate --from FILE --to URL`); there, and in a DuckDB store that holds
events this script did not generate, nothing is generated and "now" is just after the newest
event. On PostgreSQL the direct SQL runs on a psycopg connection.
"""

from __future__ import annotations

import argparse
import json
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.config import is_db_url  # noqa: E402
from dashboard.events.taxonomy import ACTION_CATEGORY, PLATFORM_ACTIONS  # noqa: E402
from dashboard.filters import Filters  # noqa: E402
from dashboard.store import explorer  # noqa: E402
from dashboard.store.db import Database  # noqa: E402
from dashboard.store.schema import events  # noqa: E402

PAGE = 50
DAYS = 90


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def build(db: Database, n: int, end: datetime) -> None:
    """Fill an empty store with `n` synthetic events over the `DAYS` days before `end`, in SQL."""
    actions = list(PLATFORM_ACTIONS)
    # weights: conversation work dominates, as in a real support team
    weighted = [a for a in actions for _ in range(12 if a.startswith(("conversation.", "message.")) else 1)]
    categories = [ACTION_CATEGORY[a] for a in weighted]
    start = (end - timedelta(days=DAYS)).replace(tzinfo=None)
    span_ms = DAYS * 86_400_000
    roles = ["agent"] * 8 + ["supervisor", "administrator"]
    countries = [("DE", "Berlin", 52.52, 13.40), ("BR", "São Paulo", -23.55, -46.63), ("US", "Austin", 30.27, -97.74),
                 ("IN", "Pune", 18.52, 73.86), ("NL", "Rotterdam", 51.92, 4.48), ("PT", "Lisbon", 38.71, -9.14),
                 ("KE", "Nairobi", -1.29, 36.82), ("JP", "Osaka", 34.69, 135.50)]  # fmt: skip
    sql = f"""
    INSERT INTO events
    WITH base AS (
        SELECT i,
               hash(i) AS h,
               hash(i * 7 + 3) AS h2,
               (hash(i * 13 + 5) % 2000) AS u
        FROM range({n}) t(i)
    )
    SELECT
        i + 1 AS seq,
        'bench-' || lpad(CAST(i AS VARCHAR), 9, '0') AS event_id,
        TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_milliseconds(CAST(i * {span_ms} // {n} AS BIGINT)) AS occurred_at,
        TIMESTAMP '{start:%Y-%m-%d %H:%M:%S}' + to_milliseconds(CAST(i * {span_ms} // {n} AS BIGINT) + 2000),
        ['acme-support', 'acme-eu', 'acme-labs'][1 + CAST(u % 3 AS INTEGER)] AS account_id,
        {_sql_list(weighted)}[1 + CAST(h % {len(weighted)} AS INTEGER)] AS action,
        {_sql_list(categories)}[1 + CAST(h % {len(weighted)} AS INTEGER)] AS category,
        CASE WHEN h2 % 100 < 4 THEN 'failure' ELSE 'success' END AS outcome,
        CASE WHEN h2 % 100 < 4 THEN 'invalid_credentials' END AS reason,
        CAST(1000 + u AS VARCHAR) AS actor_id,
        'Agent ' || CAST(1000 + u AS VARCHAR) || ' Lastname' || CAST(u % 97 AS VARCHAR) AS actor_name,
        'agent' || CAST(1000 + u AS VARCHAR) || '@acme.example' AS actor_email,
        {_sql_list(roles)}[1 + CAST(u % {len(roles)} AS INTEGER)] AS actor_role,
        'user' AS actor_type,
        'conversation' AS target_type,
        CAST(100000 + h2 % 500000 AS VARCHAR) AS target_id,
        'Conversation #' || CAST(100000 + h2 % 500000 AS VARCHAR) AS target_name,
        CAST(80 + u % 100 AS VARCHAR) || '.' || CAST(u % 251 AS VARCHAR) || '.' || CAST(h2 % 7 AS VARCHAR) || '.'
            || CAST(1 + u % 250 AS VARCHAR) AS ip,
        'public' AS ip_scope,
        {_sql_list([c[0] for c in countries])}[1 + CAST(u % {len(countries)} AS INTEGER)] AS geo_country,
        {_sql_list([c[1] for c in countries])}[1 + CAST(u % {len(countries)} AS INTEGER)] AS geo_city,
        [{", ".join(str(c[2]) for c in countries)}][1 + CAST(u % {len(countries)} AS INTEGER)] AS geo_lat,
        [{", ".join(str(c[3]) for c in countries)}][1 + CAST(u % {len(countries)} AS INTEGER)] AS geo_lon,
        'Mozilla/5.0 (X11; Linux x86_64) Chrome/141.0.0.0' AS user_agent,
        'sess-' || CAST(u AS VARCHAR) || '-' || CAST(i // 5000 AS VARCHAR) AS session_id,
        'req-' || CAST(i // 2 AS VARCHAR) AS request_id,
        CASE WHEN h % 50 = 0 THEN '{{"status":["open","resolved"]}}' END AS changes,
        NULL AS metadata,
        'bench' AS source,
        1 + i // 100000 AS batch_id,
        sha256(CAST(i AS VARCHAR)) AS hash
    FROM base
    """
    with db.raw() as con:
        con.execute(sql)
        con.execute("CHECKPOINT")


def _median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _direct(db: Database, snap: explorer.Snapshot, sort: explorer.Sort, p: explorer.Plan, repeat: int) -> float:
    """The same SELECT run straight on DuckDB (literal values), for comparison."""
    with db.connect() as conn:
        values = explorer.anchor_values(conn, sort, p.seq) if p.seq is not None else None
    stmt = explorer.statement(snap, sort, p, values)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.url is not None:  # PostgreSQL: the statement on a driver connection of the pool
        raw = db.engine.raw_connection()
        try:
            cur = raw.driver_connection.cursor()  # type: ignore[union-attr]
            return _median_ms(lambda: cur.execute(sql).fetchall(), repeat)
        finally:
            raw.close()
    with db.raw() as con:
        return _median_ms(lambda: con.execute(sql).fetchall(), repeat)


def _anchors_around(
    db: Database, snap: explorer.Snapshot, sort: explorer.Sort, ks: list[int]
) -> dict[int, tuple[explorer.Anchor, explorer.Anchor]]:
    """For each k: the anchors the browser holds after showing the page before k and the page after it.

    One numbered scan per sort order (not timed): what the browser learns by paging there.
    """
    e = events.c
    numbered = (
        sa.select(e.seq, sa.func.row_number().over(order_by=explorer.order_clause(sort)).label("rn"))
        .where(snap.where())
        .subquery()
    )
    wanted = sorted({k + d for k in ks for d in (-PAGE, -1, PAGE, 2 * PAGE - 1)})
    with db.connect() as conn:
        found = conn.execute(sa.select(numbered.c.rn, numbered.c.seq).where(numbered.c.rn.in_([w + 1 for w in wanted])))
        seq_at = {int(rn) - 1: int(seq) for rn, seq in found}
    return {
        k: (
            explorer.Anchor(k - PAGE, PAGE, seq_at[k - PAGE], seq_at[k - 1]),
            explorer.Anchor(k + PAGE, PAGE, seq_at[k + PAGE], seq_at[k + 2 * PAGE - 1]),
        )
        for k in ks
    }


def run(db: Database, repeat: int, now: datetime, preset: str, sorts: list[explorer.Sort]) -> list[dict[str, Any]]:
    """Time the page turns the grid makes: first, next, previous, last, and a jump with no anchor."""
    t0 = time.perf_counter()
    snap = explorer.snapshot(db, Filters(preset=preset), now=now)
    count_ms = (time.perf_counter() - t0) * 1000
    total = snap.total
    print(f"\n{preset}: {total:,} events; snapshot (max seq + count) {count_ms:.1f} ms")
    results: list[dict[str, Any]] = [{"view": preset, "sort": "-", "turn": "snapshot (count)", "page_ms": count_ms}]
    for sort in sorts:
        if sort.column != "occurred_at":
            # the first page in a new order: the column's histogram is built once per listing and order
            explorer._histograms.clear()
            explorer._too_many.clear()
            t0 = time.perf_counter()
            first = explorer.page(db, snap, 0, PAGE, sort)
            cold = (time.perf_counter() - t0) * 1000
            with db.connect() as conn:
                hist = explorer.histogram(conn, snap, sort.column)
            values = "too many values: one sorted scan per page" if hist is None else f"{len(hist.filled):,} values"
            results.append(
                {"view": preset, "sort": sort.key(), "turn": "first page, new order (histogram built)",
                 "offset": 0, "plan": f"{first.plan.how} skip {first.plan.skip}", "page_ms": round(cold, 1),
                 "values": values}
            )  # fmt: skip
            print(f"  {sort.key():<18} {'first page, new order':<26} ({values}): page {cold:7.1f} ms")
        turns: list[tuple[str, int, list[explorer.Anchor]]] = [("first page", 0, [])]
        fracs = (0.1, 0.5, 0.9)
        ks = [int(total * frac) // PAGE * PAGE for frac in fracs]
        around = _anchors_around(db, snap, sort, ks)
        for frac, k in zip(fracs, ks, strict=True):
            # a page next to one the browser has seen: the anchor sits at k - PAGE (next) or k + PAGE (previous)
            before, after = around[k]
            turns.append((f"next page at {frac:.0%}", k, [before]))
            turns.append((f"previous page at {frac:.0%}", k, [after]))
        last = max(0, (total - 1) // PAGE * PAGE)
        turns.append(("last page", last, []))
        if sort.column == "occurred_at":  # the OFFSET fallback: the same for every order, timed once
            turns.append(("jump to 50% (no anchor)", int(total * 0.5) // PAGE * PAGE, []))
        for label, start, anchors in turns:
            n = 1 if label.startswith("jump") else repeat  # the OFFSET fallback takes seconds: once is enough
            ms = _median_ms(lambda s=start, a=anchors, o=sort: explorer.page(db, snap, s, PAGE, o, a), n)
            p = explorer.plan(start, PAGE, total, anchors)
            direct = _direct(db, snap, sort, p, n)  # the plain sorted SELECT (keyset from the same anchor)
            p = explorer.page(db, snap, start, PAGE, sort, anchors).plan  # how the page was read
            results.append(
                {
                    "view": preset,
                    "sort": sort.key(),
                    "turn": label,
                    "offset": start,
                    "plan": f"{p.how} skip {p.skip}",
                    "page_ms": round(ms, 1),
                    "direct_sql_ms": round(direct, 1),
                }
            )
            print(f"  {sort.key():<18} {label:<26} offset {start:>10,} ({p.how:>6} skip {p.skip:>9,}): "
                  f"page {ms:7.1f} ms   direct SQL {direct:7.1f} ms")  # fmt: skip
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument(
        "--db",
        default=str(Path(tempfile.gettempdir()) / "explorer-bench.duckdb"),
        help="a DuckDB file (generated when missing) or the postgresql+psycopg:// URL of a loaded store",
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (the target machine has 2 cores)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    parser.add_argument("--views", default="90d,7d", help="the presets to measure, comma-separated")
    args = parser.parse_args()
    print(f"load average at the start: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
    postgres = is_db_url(args.db)
    fresh = not postgres and not Path(args.db).exists()
    db = Database(args.db)
    try:
        if not postgres:
            with db.raw() as con:
                con.execute(f"SET threads = {int(args.threads)}")
        marker = None if postgres else db.get_meta("bench_end")
        if marker is None and not fresh:  # a store loaded otherwise: "now" is just after its newest event
            with db.connect() as conn:
                newest = conn.execute(sa.select(sa.func.max(events.c.occurred_at))).scalar()
            marker = newest.replace(tzinfo=UTC).isoformat() if newest is not None else None
        if fresh or marker is None:
            end = datetime.now(UTC).replace(microsecond=0)
            t0 = time.perf_counter()
            build(db, args.events, end)
            db.set_meta("bench_end", end.isoformat())
            print(f"generated {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        else:
            end = datetime.fromisoformat(marker)
        now = end + timedelta(seconds=1)
        time_sorts = [explorer.Sort("occurred_at", True), explorer.Sort("occurred_at", False)]
        other_sorts = [
            explorer.Sort("actor_name", False),
            explorer.Sort("action", False),
            explorer.Sort("ip", True),
            explorer.Sort("actor_role", False),
            explorer.Sort("outcome", False),
            explorer.Sort("geo_country", False),
            explorer.Sort("account_id", False),
            explorer.Sort("target_name", False),
        ]
        results = []
        for preset in args.views.split(","):
            results += run(db, args.repeat, now, preset.strip(), time_sorts + other_sorts)
        turns = [r for r in results if r["sort"] != "-" and not r["turn"].startswith(("jump", "first page, new"))]
        worst_time = max(r["page_ms"] for r in turns if r["sort"].startswith("occurred_at"))
        worst_any = max(r["page_ms"] for r in turns)
        print(f"\nworst page turn, time order: {worst_time:.1f} ms; any order: {worst_any:.1f} ms (target <= 100 ms)")
        slow = [r for r in turns if r["page_ms"] > 100]
        for r in slow:
            print(f"  over 100 ms: {r['view']} {r['sort']} {r['turn']} {r['page_ms']} ms ({r['plan']})")
        print(f"load average at the end: {'/'.join(f'{v:.1f}' for v in os.getloadavg())}")
        if args.json:
            print(json.dumps(results, indent=2))
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

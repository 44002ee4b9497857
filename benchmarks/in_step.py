"""The check that the rollups count the stored events (`rollups.in_step`), timed on a store.

Usage:
    .venv/bin/python benchmarks/in_step.py --db URL-OR-FILE [--repeat 20] [--json]

Each run forgets the remembered answer first (`rollups.forget_checks`), so every run asks the
database. On PostgreSQL the statements it sends are also shown with their plan's relations (an
`EXPLAIN`): with the events' tally, no partition of `events` is among them. Prints the median and
worst of `--repeat` runs after one warm-up, and the answer.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dashboard.store import rollups
from dashboard.store.db import Database


def _relations(plan: Any) -> set[str]:
    """The relations a JSON plan reads."""
    found: set[str] = set()
    if isinstance(plan, dict):
        if "Relation Name" in plan:
            found.add(str(plan["Relation Name"]))
        for value in plan.values():
            found |= _relations(value)
    elif isinstance(plan, list):
        for value in plan:
            found |= _relations(value)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a DuckDB file or a PostgreSQL URL")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with Database(args.db, read_only=not str(args.db).startswith("postgresql")) as db, db.connect() as conn:
        sent: list[tuple[str, Any]] = []

        def record(_conn: Any, _cursor: Any, statement: str, params: Any, _context: Any, _many: bool) -> None:
            sent.append((statement, params))

        sa.event.listen(db.engine, "before_cursor_execute", record)
        rollups.forget_checks()
        answer = rollups.in_step(conn)
        sa.event.remove(db.engine, "before_cursor_execute", record)
        times = []
        for _ in range(args.repeat):
            rollups.forget_checks()
            start = time.perf_counter()
            rollups.in_step(conn)
            times.append((time.perf_counter() - start) * 1000)
            conn.rollback()
        read: set[str] = set()
        if db.url:
            raw = conn.connection.driver_connection
            for statement, params in sent:
                with raw.cursor() as cur:  # type: ignore[union-attr]
                    cur.execute("EXPLAIN (FORMAT JSON) " + statement, params)
                    read |= _relations(cur.fetchone()[0])
            conn.rollback()
    out = {
        "in_step": answer,
        "statements": len(sent),
        "relations_read": sorted(read),
        "median_ms": round(statistics.median(times), 2),
        "worst_ms": round(max(times), 2),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(out) if args.json else "\n".join(f"{k:15} {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

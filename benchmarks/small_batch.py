"""What one small batch costs the writer: the audit record of a page view (`selflog.record`), a
one-event batch, on a copy of a bench store.

    .venv/bin/python -m benchmarks.small_batch                      # /work/bench/events-1m-chained.duckdb
    .venv/bin/python -m benchmarks.small_batch --records 300 --json
    .venv/bin/python -m benchmarks.small_batch --profile            # cProfile of the records, top 25

The store is copied to `--copy` (default `$TMPDIR/auditdash-small-batch.duckdb`, copied again on
every run so that runs start from the same file; the original is only read). After a few records
to warm up, `--records` view records are written one after another, as `auditdash serve` writes
them (`selflog.record("audit.view", ...)`: validation, then `writer.store_batch`: the chain, the
event and its rollup upkeep in one transaction). Each step is timed with `perf_counter` around:

* `validate`: `validate_batch` of the one record;
* `store_batch`: the whole write (lock, transaction, insert, chain link, commit);
* `add_rows`: the rollup upkeep inside it (`rollups.add_rows`), and its parts where the module
  has them (`_merge`, `_append`, `_fold`, `_count`, `_text_upkeep`);
* `rest of batch`: `store_batch` minus `add_rows`.

`--fold-every N` folds the appended rows every N sequence numbers (instead of every
`rollups.FOLD_EVERY`), so that a short run shows what a fold costs.

It prints the median, mean (the mean carries any periodic work, such as a fold, spread over the
records), 90th percentile and maximum of each, in milliseconds, the process's CPU seconds per
record, the rollup tables' row counts at the end, and the load average before and after (the
machine is shared: compare runs at a similar load).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.store import rollups, selflog  # noqa: E402
from dashboard.store.db import Database  # noqa: E402

DEFAULT_DB = Path("/work/bench/events-1m-chained.duckdb")
PARTS = ("_merge", "_append", "_fold", "_count", "_text_upkeep")


def _timed(times: dict[str, list[float]], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times[name].append(time.perf_counter() - t)

    return wrapper


def _summary(values: list[float], per: int) -> dict[str, float]:
    """Milliseconds: median and 90th percentile of the calls, mean and max per record."""
    ms = sorted(v * 1000 for v in values)
    if not ms:
        return {}
    return {
        "calls": len(ms),
        "median": statistics.median(ms),
        "mean_per_record": sum(ms) / per,
        "p90": ms[int(0.9 * (len(ms) - 1))],
        "max": ms[-1],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=DEFAULT_DB, help="the store to copy (only read)")
    parser.add_argument("--copy", type=Path, default=Path(tempfile.gettempdir()) / "auditdash-small-batch.duckdb")
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--fold-every",
        type=int,
        default=None,
        help="fold the appended rollup rows every N sequence numbers instead of `rollups.FOLD_EVERY`, so that a "
        "short run includes folds (timed as `_fold`)",
    )
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the timed records")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if args.copy.resolve() == args.db.resolve():
        parser.error("--copy must differ from --db (the original is never written)")
    for suffix in ("", ".wal"):
        Path(str(args.copy) + suffix).unlink(missing_ok=True)
    shutil.copyfile(args.db, args.copy)
    if args.fold_every is not None and hasattr(rollups, "FOLD_EVERY"):
        rollups.FOLD_EVERY = args.fold_every
    load_before = os.getloadavg()
    db = Database(args.copy)
    try:
        for i in range(args.warmup):
            selflog.record(db, "audit.view", "bench-user", role="admin", metadata={"page": "explorer", "warm": i})

        times: dict[str, list[float]] = defaultdict(list)
        originals = {
            "validate": (selflog, "validate_batch", selflog.validate_batch),
            "store_batch": (selflog, "store_batch", selflog.store_batch),
            "add_rows": (rollups, "add_rows", rollups.add_rows),
        }
        originals.update({p: (rollups, p, getattr(rollups, p)) for p in PARTS if hasattr(rollups, p)})
        for name, (module, attr, fn) in originals.items():
            setattr(module, attr, _timed(times, name, fn))
        profile = cProfile.Profile() if args.profile else None
        cpu, wall = time.process_time(), time.perf_counter()
        try:
            if profile:
                profile.enable()
            for i in range(args.records):
                t = time.perf_counter()
                selflog.record(
                    db, "audit.view", f"bench-user-{i % 7}", role="admin", metadata={"page": "explorer", "n": i}
                )
                times["record"].append(time.perf_counter() - t)
            if profile:
                profile.disable()
        finally:
            for module, attr, fn in originals.values():
                setattr(module, attr, fn)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        times["rest of batch"] = [s - a for s, a in zip(times["store_batch"], times["add_rows"], strict=True)]
        with db.raw() as con:
            sizes = {
                t.name: int(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0])
                for t in [r.table for r in rollups.ROLLUPS] + [t for t, _ in rollups.TEXT_VALUES]
            }
            differences = rollups.differences(con)
    finally:
        db.close()
    load_after = os.getloadavg()
    order = ["record", "validate", "store_batch", "add_rows", *[p for p in PARTS if p in times], "rest of batch"]
    report = {
        "db": str(args.db),
        "records": args.records,
        "fold_every": getattr(rollups, "FOLD_EVERY", None),
        "load_before": load_before,
        "load_after": load_after,
        "cpu_s_per_record": cpu / args.records,
        "wall_s": wall,
        "steps_ms": {name: _summary(times[name], args.records) for name in order},
        "table_rows": sizes,
        "differences": differences,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"store {args.db} (copy {args.copy}), {args.records} view records after {args.warmup} to warm up")
        if report["fold_every"]:
            print(f"appended rollup rows folded every {report['fold_every']} sequence numbers")
        print(f"load average before {' '.join(f'{x:.2f}' for x in load_before)}")
        print(f"{'step':<16}{'calls':>7}{'median':>9}{'mean/rec':>10}{'p90':>9}{'max':>9}  (ms)")
        for name in order:
            s = report["steps_ms"][name]
            if s:
                print(
                    f"{name:<16}{s['calls']:>7}{s['median']:>9.2f}{s['mean_per_record']:>10.2f}"
                    f"{s['p90']:>9.2f}{s['max']:>9.2f}"
                )
        print(f"CPU {cpu / args.records * 1000:.2f} ms per record (all threads); wall {wall:.1f} s")
        print("rows: " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        print(f"rollups against the events: {differences if differences else 'equal'}")
        print(f"load average after {' '.join(f'{x:.2f}' for x in load_after)}")
    if profile:
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

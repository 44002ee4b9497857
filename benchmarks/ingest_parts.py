"""Benchmark: the CPU cost of each part of the ingest path, per million events, against 8 CPU-s.

    .venv/bin/python -m benchmarks.ingest_parts              # batches of 122,880, best of 5
    .venv/bin/python -m benchmarks.ingest_parts --json

Issue 2's rate target (250,000 events/s on 2 cores) is a budget of 8 CPU-seconds per million
events with both cores busy all the time. This measures, on batches of the demo data (the same
NDJSON file `benchmarks.ingest` uses), what each part of the path costs on its own: the parts
the product runs, and for the heavy ones the cheapest other way measured, so that the sum of the
least costs says whether any arrangement of the path could meet the budget on this machine.

Each figure is the least `time.process_time()` (CPU of all threads) of `--repeat` runs on one
batch, scaled to a million events: reading and validating on an in-memory DuckDB of one thread
(as the ingest pipeline validates while it stores), inserting on a store opened as the product
opens it (`Database`, DuckDB's default threads). Figures are recorded in docs/PERFORMANCE.md ("Ingest").
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from benchmarks.ingest import _demo_file
from dashboard import config
from dashboard.events import contract
from dashboard.events.validate import _FAST_SQL, validate_batch
from dashboard.evidence.canonical import EVENT_TEXT_SQL
from dashboard.evidence.hashing import _buffers, _hex_digests
from dashboard.ingest.geo import default_locator
from dashboard.ingest.readers import read_ndjson_tables
from dashboard.store.db import Database
from dashboard.store.writer import _INSERT_COLUMNS, _STAMPED, EVENT_HASH_SQL, store_batch

BUDGET_CPU_S = 8.0  # 250,000 events/s on 2 cores


def _least(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def _insert(path: Path, rows: pa.Table, hash_sql: str, repeat: int) -> float:
    """Least CPU of inserting the batch (one transaction, committed) into a fresh, open database."""
    best = float("inf")
    for _ in range(repeat):
        for p in (path, path.with_suffix(".duckdb.wal")):
            p.unlink(missing_ok=True)
        with Database(path) as db, db.raw() as con:
            con.register("_new", rows)
            start = time.process_time()
            con.execute("BEGIN")
            con.execute(
                f"INSERT INTO events (seq, {_INSERT_COLUMNS}, received_at, source, batch_id, hash) "
                f"SELECT seq, {_INSERT_COLUMNS}, received_at, source, batch_id, {hash_sql} FROM ({_STAMPED})",
                {"received": datetime(2026, 11, 26), "source": "bench", "batch_id": 1},
            ).fetchall()
            con.execute("COMMIT")
            best = min(best, time.process_time() - start)
    return best


def _validate(engine: duckdb.DuckDBPyConnection, raw: pa.Table, geo: Any) -> Any:
    """The product's validator on a cursor of its own (as `Ingestor.validate` runs it)."""
    cursor = engine.cursor()
    try:
        return validate_batch(cursor, raw, geo=geo)
    finally:
        cursor.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=122_880)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "auditdash-bench-ingest")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    path, _ = _demo_file(args.workdir, 1_000_000, 90)
    settings = config.load()
    geo = default_locator(settings.geo_dir, settings.geoip_mmdb)
    engine = duckdb.connect(":memory:", config={"threads": 1})
    n = args.batch_size
    per_m = 1_000_000 / n

    def read() -> pa.Table:
        with path.open("rb") as fh:
            return next(read_ndjson_tables(fh, n))

    raw = read()
    n = raw.num_rows
    per_m = 1_000_000 / n
    accepted = _validate(engine, raw, geo).accepted
    rows = accepted.append_column("seq", pa.array(np.arange(1, n + 1, dtype=np.int64)))
    engine.register("_fast_in", raw.append_column("_row", pa.array(np.arange(n, dtype=np.int64))))
    engine.register("_raw", raw)
    engine.register("_new", rows)
    stamp = {"received": datetime(2026, 11, 26), "source": "bench", "batch_id": 1}
    bounds = {"min_ts": datetime(2000, 1, 1), "max_ts": datetime.now(UTC).replace(tzinfo=None)}
    paths = ", ".join(f"'$.{f.path}'" for f in contract.FIELDS)
    fragments = (
        "{"
        + ", ".join(
            [f'"{f.path}": "JSON"' for f in contract.FIELDS if "." not in f.path]
            + [
                f'"{parent}": {{' + ", ".join(f'"{c}": "JSON"' for c in children) + "}"
                for parent, children in contract.NESTED_KEYS.items()
            ]
        )
        + "}"
    )
    texts = engine.sql(f"SELECT {EVENT_TEXT_SQL} AS t FROM ({_STAMPED})", params=stamp).to_arrow_table().column("t")
    texts = texts.combine_chunks()

    def q(sql: str, params: Any = None) -> Callable[[], None]:
        return lambda: engine.sql(sql, params=params).to_arrow_table()

    def hashlib_texts() -> None:
        offsets, data = _buffers(texts)
        _hex_digests(data, offsets.tolist())

    tmp = Path(tempfile.mkdtemp(prefix="parts-", dir=args.workdir))
    constant = "'" + "0" * 64 + "'"
    parts: dict[str, float] = {}
    measures: list[tuple[str, Callable[[], Any]]] = [
        ("read lines (product)", read),
        ("validate, whole (product)", lambda: _validate(engine, raw, geo)),
        ("validate, fast SQL alone (product)", q(_FAST_SQL, bounds)),
        (
            "json_keys of $, actor, target (product)",
            q("SELECT try(json_keys(raw, ['$','$.actor','$.target'])) FROM _raw"),
        ),
        ("json_keys of $ only", q("SELECT json_keys(raw) FROM _raw")),
        ("json_type of every field (product)", q(f"SELECT json_type(raw, [{paths}]) FROM _raw")),
        ("json_extract_string of every field (product)", q(f"SELECT json_extract_string(raw, [{paths}]) FROM _raw")),
        ("json_transform into fragments (one parse)", q(f"SELECT json_transform(raw, '{fragments}') FROM _raw")),
        ("json_valid (a bare parse)", q("SELECT json_valid(raw) FROM _raw")),
        ("canonical text", q(f"SELECT {EVENT_TEXT_SQL} FROM ({_STAMPED})", stamp)),
        ("sha256 in DuckDB of text + text (product)", q(f"SELECT {EVENT_HASH_SQL} FROM ({_STAMPED})", stamp)),
        ("sha256 by hashlib of the texts", hashlib_texts),
    ]
    for name, fn in measures:
        parts[name] = round(_least(fn, args.repeat) * per_m, 2)
    parts["insert, hash constant"] = round(_insert(tmp / "c.duckdb", rows, constant, args.repeat) * per_m, 2)
    parts["insert with hashes (product)"] = round(
        _insert(tmp / "h.duckdb", rows, EVENT_HASH_SQL, args.repeat) * per_m, 2
    )

    least_store = float("inf")
    for _ in range(args.repeat):
        for p in (tmp / "s.duckdb", tmp / "s.duckdb.wal"):
            p.unlink(missing_ok=True)
        with Database(tmp / "s.duckdb") as db:
            start = time.process_time()
            store_batch(db, accepted, [], "bench")
            least_store = min(least_store, time.process_time() - start)
    parts["store_batch, whole, into an empty database (product)"] = round(least_store * per_m, 2)
    for p in tmp.iterdir():
        p.unlink()
    tmp.rmdir()

    hashes_least = min(
        parts["sha256 in DuckDB of text + text (product)"],
        parts["canonical text"] + parts["sha256 by hashlib of the texts"],
    )
    parse_least = parts["json_transform into fragments (one parse)"] + parts["json_keys of $ only"]
    floor = {
        "insert the rows": parts["insert, hash constant"],
        "hash each event": hashes_least,
        "parse each record once, list its keys": parse_least,
        "read lines": parts["read lines (product)"],
    }
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "input": str(path),
        "batch": n,
        "cpu_s_per_million": parts,
        "least_of_the_unavoidable": floor,
        "least_sum": round(sum(floor.values()), 2),
        "budget": BUDGET_CPU_S,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['date']}, load {report['load_average']}, batches of {n:,} from {path.name}")
    print("CPU seconds per million events (least of", args.repeat, "runs):")
    for name, value in itertools.chain(parts.items()):
        print(f"  {value:6.2f}  {name}")
    print("least cost of what every arrangement must do:")
    for name, value in floor.items():
        print(f"  {value:6.2f}  {name}")
    print(
        f"  {report['least_sum']:6.2f}  in all, of a budget of {BUDGET_CPU_S} (250,000 events/s on 2 cores), "
        "before checks, duplicates, chaining and hand-over"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

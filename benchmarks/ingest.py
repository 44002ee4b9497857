"""Benchmark: ingest of demo events from NDJSON, the whole path, next to a raw DuckDB insert.

    .venv/bin/python -m benchmarks.ingest                      # 1,000,000 events, 90 days
    .venv/bin/python -m benchmarks.ingest --events 200000 --batch-size 122880 --json

Steps, all in one run:

1. the input: `auditdash demo --out` writes the demo data set as NDJSON (in a child process, so
   that generating it does not count towards this process's memory); kept in `--workdir` and
   reused by later runs with the same size. If the demo generator fails, a simpler generator
   here writes events of the same shape.
2. the full path into an empty database: `Ingestor.ingest_file` (read, parse, validate, enrich
   with geolocation, dedup, sequence numbers, hash chain, store), as `auditdash ingest` runs it.
3. the same file again: every event is now a duplicate (the dedup lookup against a table that
   already holds them all).
4. peak memory of the process so far (`ru_maxrss`), i.e. of steps 2 and 3.
5. the raw insert: the rows step 2 stored, read back into one Arrow table (not timed), inserted
   into an empty `events` table of a fresh database with one `INSERT ... SELECT` (timed); for
   comparison also in batches of `--batch-size` rows (one transaction each), and in one
   statement into a table without the primary key on `seq`.

With `--pg-url URL` (a PostgreSQL server, e.g. from `benchmarks/pg_server.py`; the URL's database
is only used to make and drop the benchmark's own) the same file goes into PostgreSQL instead:

    .venv/bin/python -m benchmarks.ingest --events 200000 --pg-url postgresql+psycopg://U:P@127.0.0.1:PORT/bench

it times steps 2 and 3 into a fresh database, then the file split in two halves imported by two
processes at once (each `Ingestor.ingest_file`, as two `auditdash ingest` processes would) into
another fresh database: their events per second together, from the first start to the last end.
The raw DuckDB inserts are not run. Target on PostgreSQL: >= 50,000 events/s in one process,
and more from two processes than from one.

Targets (issue 2, 2 cores): the full path at >= 25 % of the raw insert rate and >= 250,000
events/s; peak memory under 1 GB. Figures are recorded in docs/PERFORMANCE.md ("Ingest").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dashboard import config
from dashboard.events.taxonomy import KNOWN_ACTIONS
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from dashboard.store.duck import run

TARGET_RATE = 250_000
TARGET_SHARE = 0.25
TARGET_RSS_MB = 1024


# -- input -----------------------------------------------------------------------------------
def _demo_file(workdir: Path, events: int, days: int) -> tuple[Path, str]:
    """The demo NDJSON of this size, written by `auditdash demo --out` unless already there."""
    path = workdir / f"demo-{events}-{days}d.ndjson"
    if path.exists() and path.stat().st_size > 0:
        return path, "auditdash demo (cached)"
    cmd = [sys.executable, "-m", "dashboard.cli", "demo", "--events", str(events), "--days", str(days)]
    proc = subprocess.run([*cmd, "--out", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode == 0 and path.exists():
        return path, "auditdash demo"
    print(f"demo generator failed ({proc.stderr.strip()[-300:]}); writing simpler events", file=sys.stderr)
    path = workdir / f"simple-{events}-{days}d.ndjson"
    _write_simple(path, events, days)
    return path, "benchmarks.ingest simple generator"


def _write_simple(path: Path, events: int, days: int) -> None:
    """Events of the demo's shape: about 80 agents, taxonomy actions, public IPs, metadata, changes."""
    rnd = random.Random(7)
    start = datetime.now(UTC) - timedelta(days=days)
    agents = [
        {"id": str(1000 + i), "name": f"Agent {i}", "email": f"agent{i}@acme.example", "role": "agent", "type": "user"}
        for i in range(80)
    ]
    ips = [
        f"{rnd.randrange(1, 223)}.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(200)
    ]
    agents_ua = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/141.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.0 Safari/605.1.15",
    ]
    step = days * 86_400_000 / events
    with path.open("w", encoding="utf-8") as fh:
        for i in range(events):
            agent = agents[rnd.randrange(len(agents))]
            doc: dict[str, Any] = {
                "id": f"bench-{i:09d}",
                "occurred_at": (start + timedelta(milliseconds=i * step)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "account_id": "acme-support",
                "action": rnd.choice(KNOWN_ACTIONS),
                "outcome": "success" if rnd.random() < 0.97 else "failure",
                "actor": agent,
                "target": {"type": "conversation", "id": str(170_000 + i % 9000), "name": f"#{170_000 + i % 9000}"},
                "ip": ips[int(agent["id"]) % len(ips)],
                "user_agent": agents_ua[i % 2],
                "session_id": f"{rnd.getrandbits(128):032x}",
                "request_id": f"{rnd.getrandbits(128):032x}",
            }
            if rnd.random() < 0.2:
                doc["changes"] = {"status": ["open", "resolved"]}
            if rnd.random() < 0.5:
                doc["metadata"] = {"message_type": "outgoing"}
            fh.write(json.dumps(doc, separators=(",", ":")) + "\n")


# -- measuring -------------------------------------------------------------------------------
class _TimedIngestor(Ingestor):
    """The product's ingestor, noting how long each stage is busy (they overlap in time)."""

    validate_s = 0.0
    store_s = 0.0

    def validate(self, records: Any) -> Any:
        start = time.perf_counter()
        try:
            return super().validate(records)
        finally:
            self.validate_s += time.perf_counter() - start

    def store(self, checked: Any, source: str, position_label: str = "record") -> Any:
        start = time.perf_counter()
        try:
            return super().store(checked, source, position_label)
        finally:
            self.store_s += time.perf_counter() - start


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _timed_import(db: Database, geo: Any, path: Path, batch_size: int) -> dict[str, Any]:
    ingestor = _TimedIngestor(db, geo, batch_size)
    wall, cpu = time.perf_counter(), time.process_time()
    result = ingestor.ingest_file(path)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    records = result.accepted + result.duplicates + result.rejected
    return {
        "records": records,
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "rejected": result.rejected,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "events_per_s": round(records / wall),
        "validate_busy_s": round(ingestor.validate_s, 2),
        "store_busy_s": round(ingestor.store_s, 2),
    }


def _raw_insert(db_path: Path, rows: pa.Table, batch_size: int | None, primary_key: bool = True) -> dict[str, Any]:
    """Insert Arrow rows into the empty `events` table of a fresh database, timed."""
    for leftover in (db_path, db_path.with_name(db_path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    Database(db_path).close()  # the product's schema (table, primary key), then plain DuckDB
    con = duckdb.connect(str(db_path))
    try:
        if not primary_key:
            ddl = run(con, "SELECT sql FROM duckdb_tables() WHERE table_name = 'events'")[0][0]
            if ", PRIMARY KEY(seq)" not in ddl:
                raise RuntimeError(f"cannot find the primary key in {ddl}")
            run(con, "DROP TABLE events")
            run(con, ddl.replace(", PRIMARY KEY(seq)", ""))
        wall, cpu = time.perf_counter(), time.process_time()
        step = batch_size or rows.num_rows
        for start in range(0, rows.num_rows, step):
            con.register("_rows", rows.slice(start, step))
            run(con, "INSERT INTO events SELECT * FROM _rows")
            con.unregister("_rows")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        con.close()
    return {
        "rows": rows.num_rows,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "rows_per_s": round(rows.num_rows / wall),
    }


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


TARGET_PG_RATE = 50_000


def _pg_database(server_url: str, name: str) -> str:
    """A new empty database `name` on the server of `server_url` (dropped first if there); its URL."""
    import psycopg

    base, _, _ = server_url.rpartition("/")
    with psycopg.connect(server_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


def _drop_pg_database(server_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _child(url: str, part: Path, batch_size: int) -> int:
    """One of the processes of the parallel run: import `part` into `url`, print the times as JSON."""
    settings = config.load()
    geo = default_locator(settings.geo_dir, settings.geoip_mmdb)
    with Database(url) as db:
        start = time.time()
        figures = _timed_import(db, geo, part, batch_size)
        figures.update(start=start, end=time.time())
    print(json.dumps(figures))
    return 0


def _split(path: Path, parts: int, workdir: Path) -> list[Path]:
    """The file's lines in `parts` files of consecutive lines (each part its own events)."""
    lines = path.read_bytes().splitlines(keepends=True)
    size = -(-len(lines) // parts)
    out = []
    for i in range(parts):
        part = workdir / f"{path.stem}.part{i + 1}of{parts}.ndjson"
        part.write_bytes(b"".join(lines[i * size : (i + 1) * size]))
        out.append(part)
    return out


def _postgres(args: argparse.Namespace, path: Path, batch_size: int, report: dict[str, Any]) -> dict[str, Any]:
    """Steps 2 and 3 into a fresh PostgreSQL database, then the file in halves from two processes."""
    settings = config.load()
    geo = default_locator(settings.geo_dir, settings.geoip_mmdb)
    report["engine"] = "postgresql"
    report["geo"] = geo.source_credit
    one = _pg_database(args.pg_url, "ingest_bench_one")
    try:
        with Database(one) as db:
            report["full_path"] = _timed_import(db, geo, path, batch_size)
            report["duplicates_again"] = _timed_import(db, geo, path, batch_size)
        report["peak_rss_mb"] = round(_peak_rss_mb())
    finally:
        _drop_pg_database(args.pg_url, "ingest_bench_one")
    two = _pg_database(args.pg_url, "ingest_bench_two")
    try:
        Database(two).close()  # the schema, before the processes start
        parts = _split(path, 2, args.workdir)
        cmd = [sys.executable, "-m", "benchmarks.ingest", "--child", two, "--batch-size", str(batch_size), "--input"]
        procs = [
            subprocess.Popen([*cmd, str(part)], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
            for part in parts
        ]
        children = []
        for proc in procs:
            out, _ = proc.communicate()
            if proc.returncode != 0:
                raise RuntimeError(f"an import process failed ({proc.returncode})")
            children.append(json.loads(out.strip().splitlines()[-1]))
        for part in parts:
            part.unlink(missing_ok=True)
    finally:
        _drop_pg_database(args.pg_url, "ingest_bench_two")
    wall = max(c["end"] for c in children) - min(c["start"] for c in children)
    records = sum(c["records"] for c in children)
    report["two_processes"] = {
        "records": records,
        "seconds": round(wall, 2),
        "events_per_s": round(records / wall),
        "each": [{k: c[k] for k in ("records", "seconds", "events_per_s", "cpu_seconds")} for c in children],
    }
    one_rate, two_rate = report["full_path"]["events_per_s"], report["two_processes"]["events_per_s"]
    report["targets"] = {
        "rate": {"value": one_rate, "target": TARGET_PG_RATE, "met": one_rate >= TARGET_PG_RATE},
        "two_processes_more": {"value": two_rate, "target": f"> {one_rate}", "met": two_rate > one_rate},
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--batch-size", type=int, default=None, help="default: the product's (AUDITDASH_BATCH_SIZE)")
    parser.add_argument("--input", type=Path, help="an NDJSON file to use instead of the demo data")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "auditdash-bench-ingest")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--pg-url", help="a PostgreSQL server's URL: import there instead (see above)")
    parser.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)  # one process of the parallel run
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.input, args.batch_size)

    settings = config.load()
    batch_size = args.batch_size or settings.batch_size
    args.workdir.mkdir(parents=True, exist_ok=True)
    machine = _machine()
    if args.input:
        path, origin = args.input, "given"
    else:
        path, origin = _demo_file(args.workdir, args.events, args.days)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine,
        "input": {"file": str(path), "origin": origin, "mb": round(path.stat().st_size / 1e6, 1)},
        "batch_size": batch_size,
        "duckdb_threads": None,
    }

    if args.pg_url:
        _postgres(args, path, batch_size, report)
        report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            _print_pg(report)
        return 0

    runs = Path(tempfile.mkdtemp(prefix="run-", dir=args.workdir))
    try:
        geo = default_locator(settings.geo_dir, settings.geoip_mmdb)
        with Database(runs / "full.duckdb") as db:
            with db.raw() as con:
                report["duckdb_threads"] = int(run(con, "SELECT current_setting('threads')")[0][0])
            report["geo"] = geo.source_credit
            report["full_path"] = _timed_import(db, geo, path, batch_size)
            report["duplicates_again"] = _timed_import(db, geo, path, batch_size)
            report["peak_rss_mb"] = round(_peak_rss_mb())
            with db.raw() as con:
                rows = con.sql("SELECT * FROM events ORDER BY seq").to_arrow_table()
        report["raw_insert"] = _raw_insert(runs / "raw.duckdb", rows, None)
        report["raw_insert_batched"] = _raw_insert(runs / "raw.duckdb", rows, batch_size)
        report["raw_insert_no_pk"] = _raw_insert(runs / "raw.duckdb", rows, None, primary_key=False)
        del rows
    finally:
        if not args.keep:
            shutil.rmtree(runs, ignore_errors=True)
    report["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]

    full, raw = report["full_path"], report["raw_insert"]
    share = full["events_per_s"] / raw["rows_per_s"]
    # On a shared machine the two runs rarely get the same CPU; the CPU ratio is the steadier figure.
    report["share_of_raw_by_cpu"] = round(raw["cpu_seconds"] / full["cpu_seconds"], 3)
    report["targets"] = {
        "rate": {"value": full["events_per_s"], "target": TARGET_RATE, "met": full["events_per_s"] >= TARGET_RATE},
        "share_of_raw": {"value": round(share, 3), "target": TARGET_SHARE, "met": share >= TARGET_SHARE},
        "peak_rss_mb": {
            "value": report["peak_rss_mb"],
            "target": TARGET_RSS_MB,
            "met": report["peak_rss_mb"] < TARGET_RSS_MB,
        },
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    return 0


def _print(r: dict[str, Any]) -> None:
    m, raw, batched, no_pk = r["machine"], r["raw_insert"], r["raw_insert_batched"], r["raw_insert_no_pk"]
    lines = [
        f"date          {r['date']}",
        f"machine       {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}",
        f"software      Python {m['python']}, DuckDB {m['duckdb']} ({r['duckdb_threads']} threads), "
        f"pyarrow {m['pyarrow']}",
        f"load average  {m['load_average_at_start']} at start, {m['load_average_at_end']} at end",
        f"input         {r['input']['file']} ({r['input']['mb']} MB, {r['input']['origin']})",
        f"batches       {r['batch_size']:,} records",
        f"geolocation   {r['geo']}",
    ]
    for name, x in (("full path", r["full_path"]), ("again (dups)", r["duplicates_again"])):
        lines.append(
            f"{name:13s} {x['records']:,} records in {x['seconds']} s = {x['events_per_s']:,} events/s "
            f"(accepted {x['accepted']:,}, duplicates {x['duplicates']:,}, rejected {x['rejected']:,}; "
            f"CPU {x['cpu_seconds']} s; busy: validate {x['validate_busy_s']} s, store {x['store_busy_s']} s)"
        )
    lines += [
        f"raw insert    {raw['rows']:,} rows in {raw['seconds']} s = {raw['rows_per_s']:,} rows/s "
        f"(one statement; CPU {raw['cpu_seconds']} s)",
        f"              {batched['rows_per_s']:,} rows/s in batches ({batched['seconds']} s, "
        f"CPU {batched['cpu_seconds']} s)",
        f"              {no_pk['rows_per_s']:,} rows/s in one statement without the primary key on seq "
        f"({no_pk['seconds']} s, CPU {no_pk['cpu_seconds']} s)",
        f"peak RSS      {r['peak_rss_mb']} MB (full path and duplicates)",
        f"by CPU        the full path takes {1 / r['share_of_raw_by_cpu']:.1f} times the CPU seconds of the raw "
        f"insert (share {r['share_of_raw_by_cpu']})",
    ]
    for name, t in r["targets"].items():
        lines.append(f"target        {name}: {t['value']} (target {t['target']}): {'met' if t['met'] else 'NOT met'}")
    print("\n".join(lines))


def _print_pg(r: dict[str, Any]) -> None:
    m, two = r["machine"], r["two_processes"]
    lines = [
        f"date          {r['date']}",
        f"machine       {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; {m['os']}",
        "engine        PostgreSQL (the server on the same machine)",
        f"load average  {m['load_average_at_start']} at start, {m['load_average_at_end']} at end",
        f"input         {r['input']['file']} ({r['input']['mb']} MB, {r['input']['origin']})",
        f"batches       {r['batch_size']:,} records",
        f"geolocation   {r['geo']}",
    ]
    for name, x in (("full path", r["full_path"]), ("again (dups)", r["duplicates_again"])):
        lines.append(
            f"{name:13s} {x['records']:,} records in {x['seconds']} s = {x['events_per_s']:,} events/s "
            f"(accepted {x['accepted']:,}, duplicates {x['duplicates']:,}, rejected {x['rejected']:,}; "
            f"CPU {x['cpu_seconds']} s; busy: validate {x['validate_busy_s']} s, store {x['store_busy_s']} s)"
        )
    each = ", ".join(f"{c['records']:,} in {c['seconds']} s" for c in two["each"])
    lines.append(
        f"two processes {two['records']:,} records in {two['seconds']} s = {two['events_per_s']:,} events/s ({each})"
    )
    lines.append(f"peak RSS      {r['peak_rss_mb']} MB (full path and duplicates)")
    for name, t in r["targets"].items():
        lines.append(f"target        {name}: {t['value']} (target {t['target']}): {'met' if t['met'] else 'NOT met'}")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: verification of the hash chain, and a purge that archives millions of events.

    .venv/bin/python -m benchmarks.integrity --events 10000000 --purge-events 3000000

Builds a database of synthetic events inside DuckDB (realistic column widths, real hashes
computed by `writer.EVENT_HASH_SQL`, a real chain of 100,000-event batches), then times:

1. `verify` over the whole hot store;
2. `purge` of the oldest `--purge-events` events (they are placed in the months before the
   hot cutoff): written to monthly Parquet files, read back and checked, deleted;
3. `verify` again, now over the hot store and the archive.

Targets (issue 7, 2 cores): verification of 10 million events < 30 s; purge with archive of
3 million events < 60 s. Figures are recorded in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.evidence.locations import Locations
from dashboard.evidence.verify import verify
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store.db import Database, utcnow
from dashboard.store.writer import EMPTY_DIGEST, EVENT_HASH_SQL, GENESIS_HASH, HASH_VERSION, batch_hash

BATCH = 100_000
CHUNK = 1_000_000


def _rows_sql(
    first: int, count: int, total: int, old: int, old_start: datetime, cutoff: datetime, now: datetime
) -> str:
    """Synthetic events seq first..first+count-1; the first `old` of `total` fall before `cutoff`."""
    old_span = int((cutoff - old_start).total_seconds() * 1000)
    new_span = int((now - cutoff).total_seconds() * 1000) - 3_600_000
    return f"""
        SELECT i AS seq,
               'bench-' || i AS event_id,
               CASE WHEN i <= {old}
                    THEN TIMESTAMP '{old_start:%Y-%m-%d %H:%M:%S}'
                         + to_milliseconds(CAST((i - 1) * {old_span}::DOUBLE / greatest({old}, 1) AS BIGINT))
                    ELSE TIMESTAMP '{cutoff:%Y-%m-%d %H:%M:%S}'
                         + to_milliseconds(CAST((i - {old} - 1) * {new_span}::DOUBLE
                                                / greatest({total - old}, 1) AS BIGINT))
               END AS occurred_at,
               occurred_at + INTERVAL 40 MILLISECOND AS received_at,
               'acme-' || (i % 3) AS account_id,
               (['message.create', 'conversation.view', 'auth.login', 'label.assign'])[1 + i % 4] AS action,
               (['conversation', 'conversation', 'authentication', 'labels'])[1 + i % 4] AS category,
               CASE WHEN i % 97 = 0 THEN 'failure' ELSE 'success' END AS outcome,
               CASE WHEN i % 97 = 0 THEN 'bad_password' END AS reason,
               'u' || (hash(i) % 600) AS actor_id,
               'Agent ' || (hash(i) % 600) || ' Example' AS actor_name,
               'agent' || (hash(i) % 600) || '@acme.example' AS actor_email,
               'agent' AS actor_role,
               'user' AS actor_type,
               'conversation' AS target_type,
               CAST(100000 + hash(i, 2) % 400000 AS VARCHAR) AS target_id,
               '#' || (100000 + hash(i, 2) % 400000) AS target_name,
               '81.' || (hash(i, 3) % 250) || '.' || (hash(i, 4) % 250) || '.' || (1 + i % 250) AS ip,
               'public' AS ip_scope,
               'DE' AS geo_country, 'Berlin' AS geo_city, 52.52 AS geo_lat, 13.40 AS geo_lon,
               'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'
                   AS user_agent,
               'sess-' || (hash(i) % 600) || '-' || (i // 400) AS session_id,
               'req-' || i AS request_id,
               CASE WHEN i % 1000 = 0 THEN '{{"role":["agent","supervisor"]}}' END AS changes,
               NULL::VARCHAR AS metadata,
               'bench' AS source,
               CAST((i - 1) // {BATCH} + 1 AS BIGINT) AS batch_id
        FROM range({first}, {first + count}) r(i)
    """


def build(path: Path, events: int, old: int, now: datetime, cutoff: datetime) -> float:
    """Create the database: events with real hashes, and their chain. Returns seconds."""
    started = time.perf_counter()
    old_start = cutoff - timedelta(days=60)
    columns = (
        "seq, event_id, occurred_at, received_at, account_id, action, category, outcome, reason, actor_id, "
        "actor_name, actor_email, actor_role, actor_type, target_type, target_id, target_name, ip, ip_scope, "
        "geo_country, geo_city, geo_lat, geo_lon, user_agent, session_id, request_id, changes, metadata, source, "
        "batch_id"
    )
    with Database(path) as db, db.raw() as con:
        for first in range(1, events + 1, CHUNK):
            count = min(CHUNK, events + 1 - first)
            rows_sql = _rows_sql(first, count, events, old, old_start, cutoff, now)
            con.execute(
                f"INSERT INTO events ({columns}, hash) "
                f"SELECT {columns}, {EVENT_HASH_SQL} FROM ({rows_sql}) ORDER BY seq"
            )
            print(f"  generated {first + count - 1:,} events", file=sys.stderr, flush=True)
        digests = con.execute(
            "SELECT batch_id, min(seq), max(seq), count(*), string_agg(hash, '' ORDER BY seq) "
            "FROM events GROUP BY batch_id ORDER BY batch_id"
        ).fetchall()
        prev = GENESIS_HASH
        rows = []
        for bid, first_seq, last_seq, count, hashes in digests:
            digest = hashlib.sha256(hashes.encode()).hexdigest()
            own = batch_hash(prev, bid, first_seq, last_seq, count, digest)
            rows.append((bid, first_seq, last_seq, count, now, "bench", digest, prev, own, HASH_VERSION, EMPTY_DIGEST))
            prev = own
        con.executemany(
            "INSERT INTO chain_batches (batch_id, first_seq, last_seq, event_count, received_at, source, "
            "events_digest, prev_hash, hash, version, quarantine_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        con.execute("CHECKPOINT")
    return time.perf_counter() - started


def _cpu() -> float:
    """CPU seconds of this process so far, all threads (DuckDB's included)."""
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--purge-events", type=int, default=3_000_000)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args(argv)
    work = args.dir or Path(tempfile.mkdtemp(prefix="auditdash-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    path = work / "bench.duckdb"
    for leftover in (path, path.with_name(path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    shutil.rmtree(work / "archive", ignore_errors=True)
    policy = RetentionPolicy()
    now = utcnow()
    cutoff = policy.hot_cutoff(now)
    print(f"building {args.events:,} events ({args.purge_events:,} before {cutoff:%Y-%m-%d}) in {work} ...")
    built = build(path, args.events, args.purge_events, now, cutoff)
    print(f"built in {built:.1f} s; database {path.stat().st_size / 1e6:,.0f} MB; {os.cpu_count()} cores")
    settings = Settings(db_path=path)
    figures: list[tuple[str, float, float, str]] = []

    def load() -> str:
        return " / ".join(f"{x:.1f}" for x in os.getloadavg())

    with Database(path) as db:
        where = Locations.resolve(settings, db.path)
        cpu, before = _cpu(), load()
        result = verify(db, where)
        assert result.ok, result.summary()
        figures.append((f"verify {result.checked_events:,} hot events", result.seconds, _cpu() - cpu, before))
        print(f"verify (hot): {result.seconds:.1f} s — {result.summary()}")
        cpu, before = _cpu(), load()
        purged = run_purge(db, where, policy, Actor("bench"), now=now)
        figures.append((f"purge: archive and delete {purged.deleted:,} events", purged.seconds, _cpu() - cpu, before))
        archive_mb = sum(p.stat().st_size for p in where.archive_dir.glob("*.parquet")) / 1e6
        print(f"purge: {purged.seconds:.1f} s — {purged.summary()}; archive {archive_mb:,.0f} MB")
        cpu, before = _cpu(), load()
        result = verify(db, where)
        assert result.ok, result.summary()
        label = f"verify {result.hot_events:,} hot + {result.archived_events:,} archived events"
        figures.append((label, result.seconds, _cpu() - cpu, before))
        print(f"verify (hot + archive): {result.seconds:.1f} s — {result.summary()}")
    print("\n| step | wall s | CPU s (this process) | load average before (1/5/15 min) |\n|---|---|---|---|")
    for label, seconds, cpu_s, machine in figures:
        print(f"| {label} | {seconds:.1f} | {cpu_s:.1f} | {machine} |")
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

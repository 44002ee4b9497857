"""Memory stays bounded on hostile files: `auditdash ingest` in a fresh process each time, peak
RSS read with `resource.getrusage` there, a large hostile file compared with a small one of the
same kind (a ratio, not a time: machines are noisy).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import GEO_DIR, ROOT

_PROBE = """
import json, resource, sys
from dashboard import cli
code = cli.main(["ingest", sys.argv[1], "--db", sys.argv[2], "--json"])
print(json.dumps({"code": code, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}), file=sys.stderr)
"""


def ingest_peak(path: Path, db: Path, **env: str) -> tuple[dict[str, object], int]:
    """(the command's JSON summary, its peak RSS in KiB), in a process of its own."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), str(db)],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "AUDITDASH_GEO_DIR": str(GEO_DIR), **env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stderr.strip().splitlines()[-1])
    assert probe["code"] == 0, proc.stdout
    return json.loads(proc.stdout), int(probe["rss_kb"])


def gzip_lines(path: Path, line: bytes, count: int) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as fh:
        chunk = line * 50_000
        for _ in range(count // 50_000):
            fh.write(chunk)
    return path


def test_millions_of_bad_lines_do_not_fill_memory_or_the_quarantine(tmp_path: Path) -> None:
    # Small batches: memory reaches its plateau within the small file already (two batches in
    # flight), so the large one shows only what grows with the number of rejected records.
    env = {"AUDITDASH_BATCH_SIZE": "5000", "AUDITDASH_QUARANTINE_MAX_RECORDS": "1000"}
    small = gzip_lines(tmp_path / "small.ndjson.gz", b"{}\n", 50_000)
    large = gzip_lines(tmp_path / "large.ndjson.gz", b"{}\n", 300_000)
    assert large.stat().st_size < 64 * 1024  # a small file that unpacks to 900 KB of rejects

    summary_small, rss_small = ingest_peak(small, tmp_path / "s.duckdb", **env)
    summary_large, rss_large = ingest_peak(large, tmp_path / "l.duckdb", **env)
    assert summary_small["rejected"] == 50_000
    assert summary_large["rejected"] == 300_000  # every one counted
    assert rss_large < rss_small * 1.15, (rss_small, rss_large)

    from dashboard.store.db import Database

    with Database(tmp_path / "l.duckdb") as db, db.connect() as conn:
        import sqlalchemy as sa

        rows = conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar()
        summary = conn.execute(sa.text("SELECT reason, raw FROM quarantine ORDER BY id DESC LIMIT 1")).one()
    assert rows == 1001  # the first 1,000 in full, and one record for the other 299,000
    assert summary.reason.startswith("299,000 more rejected records (line 1001 to 300000)")
    assert json.loads(summary.raw)["not_kept"] == 299_000


def test_one_huge_line_in_a_small_gzip_is_read_in_bounded_memory(tmp_path: Path) -> None:
    event = json.dumps(
        {"id": "ok", "occurred_at": "2026-05-01T09:30:00Z", "action": "auth.login", "actor": {"id": "u"}}
    ).encode()

    def write(path: Path, mib: int) -> Path:
        with gzip.open(path, "wb", compresslevel=1) as fh:
            fh.write(event + b"\n" + b'{"a": "')
            block = b"x" * (1 << 20)
            for _ in range(mib):
                fh.write(block)
            fh.write(b'"}\n' + event.replace(b'"ok"', b'"ok2"') + b"\n")
        return path

    small = write(tmp_path / "one.ndjson.gz", 1)
    huge = write(tmp_path / "huge.ndjson.gz", 256)
    assert huge.stat().st_size < 2 << 20
    _, rss_small = ingest_peak(small, tmp_path / "s.duckdb")
    summary_huge, rss_huge = ingest_peak(huge, tmp_path / "h.duckdb")
    assert (summary_huge["accepted"], summary_huge["rejected"]) == (2, 1)
    assert summary_huge["rejections"] == [  # type: ignore[comparison-overlap]
        {"position": 2, "reason": f"{(256 << 20) + 9:,} bytes, over the limit of 65536 bytes (64 KiB) of one event"}
    ]
    # a 256 MiB line costs no more than a 1 MiB one, give or take one 8 MiB block
    assert rss_huge < rss_small + 40 * 1024, (rss_small, rss_huge)

"""A process that leaves while background work is inside DuckDB exits cleanly.

Each run is a real Python process that builds the app in-process (Flask's test client), stores a
batch through the ingest API (which starts a detection run in a background thread) and returns
at once, without closing anything: the exit must stop that run before the interpreter finalises
(otherwise DuckDB's C++ frames are torn down and the process aborts with exit 134).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from tests.conftest import GEO_DIR, ROOT

SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    from pathlib import Path

    from dashboard.access.tokens import create_token
    from dashboard.config import Settings
    from dashboard.store.db import Database
    from dashboard.web.app import create_app

    db_path, geo_dir, reports, kind = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    db = Database(db_path)
    app = create_app(Settings(db_path=db_path, geo_dir=geo_dir, reports_dir=reports), db)
    _, token = create_token(db, "shutdown")
    docs = [
        {
            "id": f"{db_path.stem}-{i}",
            "occurred_at": f"2026-05-01T09:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "account_id": "acme",
            "action": "auth.login",
            "outcome": "failure" if i % 3 else "success",
            "actor": {"id": f"u{i % 7}", "name": "Ana Souza", "email": "ana@example.com", "role": "agent"},
            "ip": "8.8.8.8",
        }
        for i in range(600)
    ]
    client = app.server.test_client()
    if kind == "scheduler":
        app.server.extensions["auditdash"].scheduler.start()
    reply = client.post("/api/v1/events", json=docs, headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    running = [t.name for t in threading.enumerate() if t.name.startswith(("detect", "job-"))]
    print(json.dumps({"accepted": reply.get_json()["accepted"], "background": running}), flush=True)
    # leave at once: no db.close(), no waiting for the detection run
    """
)


@pytest.mark.parametrize("kind", ["ingest", "ingest", "ingest", "scheduler"])
def test_exit_while_detection_runs_is_clean(tmp_path: Path, kind: str) -> None:
    db_path = tmp_path / "shutdown.duckdb"
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(db_path), str(GEO_DIR), str(tmp_path / "reports"), kind],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-3000:]}"
    assert "terminate called" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert '"accepted": 600' in proc.stdout, proc.stdout
    assert "detect-incremental" in proc.stdout, proc.stdout  # the run had started when the process left
    # the store is whole afterwards: every event there, and the file opens again
    con = duckdb.connect(str(db_path))
    try:
        assert con.execute("SELECT count(*) FROM events WHERE account_id = 'acme'").fetchone() == (600,)
    finally:
        con.close()

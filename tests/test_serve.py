"""`auditdash serve` stops cleanly on SIGTERM (what systemd and `kill` send)."""

from __future__ import annotations

import signal
from pathlib import Path

from dashboard.store.db import server_info_path
from tests.conftest import start_server


def test_sigterm_stops_the_server_cleanly(tmp_path: Path) -> None:
    db_path = tmp_path / "serve.duckdb"
    server = start_server(db_path, tmp_path, tmp_path / "serve.log")
    try:
        assert server.request("GET", "/healthz")[0] == 200
        server.proc.send_signal(signal.SIGTERM)
        code = server.proc.wait(timeout=60)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(timeout=10)
        server.log_handle.close()
    log = server.log.read_text()
    assert code == 0, log
    assert "Traceback" not in log, log
    # the file that tells other processes which server owns the database is gone
    assert not server_info_path(db_path).exists()

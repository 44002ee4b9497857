"""Two `auditdash serve` processes on one PostgreSQL store: a session made by one works on the
other, the scheduled jobs run in exactly one of them, and move when that one is killed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import psycopg

from dashboard.store.backend.postgres import JOBS_LOCK
from tests.conftest import ROOT, WebClient, event, first_admin_password, run_cli, start_server, stop_server
from tests.pg import PG_PASSWORD

#: how long the test waits for the other process to take the jobs (a deadline, not a measurement)
TAKEOVER_WAIT_S = 120


def _jobs_holders(url: str) -> list[int]:
    """The process ids of auditdash servers holding the jobs lease, as PostgreSQL sees them."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = %s",
            (JOBS_LOCK,),
        ).fetchall()
    return [int(str(name).rsplit("-", 1)[1]) for (name,) in rows]


def _wait_for_holder(url: str, among: set[int]) -> int:
    deadline = time.monotonic() + TAKEOVER_WAIT_S
    while True:
        holders = _jobs_holders(url)
        if len(holders) == 1 and holders[0] in among:
            return holders[0]
        assert time.monotonic() < deadline, f"no single jobs holder among {among}: {holders}"
        time.sleep(0.5)


def test_two_servers_share_sessions_and_one_of_them_runs_the_jobs(pg_url: str, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(ROOT), "AUDITDASH_HOME": str(tmp_path)}
    ingest = run_cli("tokens", "create", "sender", "--db", pg_url, env=env).stdout.strip()
    read = run_cli("tokens", "create", "siem", "--scope", "read", "--db", pg_url, env=env).stdout.strip()
    first = start_server(pg_url, ROOT, tmp_path / "a.log", env)
    second = start_server(pg_url, ROOT, tmp_path / "b.log", env)
    try:
        said = first.log.read_text()
        assert "auditdash serving postgresql+psycopg://auditdash:***@127.0.0.1" in said
        assert PG_PASSWORD not in said
        client = WebClient(first)
        assert client.login("admin", first_admin_password(first)).status == 302
        assert client.request("GET", "/").status == 200
        client.server = second  # the same browser, its next request answered by the other process
        assert client.request("GET", "/").status == 200
        assert client.logout().status in (302, 303)  # the CSRF token and session work there too
        client.server = first
        assert client.request("GET", "/").status in (302, 303)  # signed out in both

        # events sent to one process are read through the other's API
        body = json.dumps([event(id=f"two{i}") for i in range(7)]).encode()
        headers = {"Authorization": f"Bearer {ingest}", "Content-Type": "application/json"}
        status, reply = second.request("POST", "/api/v1/events", body, headers)
        assert status == 200 and isinstance(reply, dict) and reply["accepted"] == 7, reply
        status, page = first.request("GET", "/api/v1/events?limit=100", None, {"Authorization": f"Bearer {read}"})
        assert status == 200 and isinstance(page, dict), page
        assert [e["id"] for e in page["events"] if e["id"].startswith("two")] == [f"two{i}" for i in range(7)]

        pids = {first.proc.pid, second.proc.pid}
        holder = _wait_for_holder(pg_url, pids)
        assert _jobs_holders(pg_url) == [holder]  # exactly one process runs the jobs
        os.kill(holder, signal.SIGKILL)
        survivor = _wait_for_holder(pg_url, pids - {holder})
        assert survivor != holder
    finally:
        stop_server(first)
        stop_server(second)

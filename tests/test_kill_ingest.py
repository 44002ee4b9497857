"""`kill -9` of a server in the middle of API ingest: no acknowledged event lost or doubled.

A sender posts batches of new events; at a moment that differs per run the server is killed with
SIGKILL (no cleanup, no atexit, no flush). A new server opens the same file: every batch the first
one acknowledged is there, once; the sender then sends every batch again (what a client does
after a connection error), and each event is stored exactly once and `verify` is clean.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import Server, cli, event, start_server, stop_server

BATCH = 50


def _batch(run: int, n: int) -> bytes:
    docs = [
        event(id=f"kill-{run}-{n}-{i}", occurred_at=f"2026-05-01T09:{n % 60:02d}:{i % 60:02d}Z", ip="10.0.0.1")
        for i in range(BATCH)
    ]
    return "\n".join(json.dumps(d) for d in docs).encode()


def _post(server: Server, token: str, body: bytes) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    try:
        status, _ = server.request("POST", "/api/v1/events", body, headers)
    except OSError:  # the connection died with the server
        return 0
    return status


@pytest.mark.slow
@pytest.mark.parametrize("run,acks_before_kill,then_s", [(1, 2, 0.0), (2, 8, 0.03)])
def test_kill_9_during_ingest_loses_and_doubles_nothing(
    run: int, acks_before_kill: int, then_s: float, tmp_path: Path
) -> None:
    db_path = tmp_path / "kill.duckdb"
    token = cli("tokens", "create", "sender", "--db", str(db_path)).stdout.strip()
    server = start_server(db_path, tmp_path, tmp_path / "server.log")
    acknowledged: list[int] = []
    sent: list[int] = []
    stop = threading.Event()

    def send() -> None:
        n = 0
        while not stop.is_set() and n < 2_000:
            sent.append(n)
            if _post(server, token, _batch(run, n)) == 200:
                acknowledged.append(n)
            elif server.proc.poll() is not None:
                return
            n += 1

    sender = threading.Thread(target=send)
    try:
        sender.start()
        deadline = time.monotonic() + 120
        while len(acknowledged) < acks_before_kill and sender.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(then_s)  # land in the middle of the next batch, or between two
        os.kill(server.proc.pid, signal.SIGKILL)  # the real thing
        server.proc.wait(timeout=30)
    finally:
        stop.set()
        sender.join(timeout=60)
        stop_server(server)
    assert acknowledged, "the server acknowledged no batch before it was killed"

    ids_of = {n: {f"kill-{run}-{n}-{i}" for i in range(BATCH)} for n in sent}
    with duckdb.connect(str(db_path)) as con:
        stored = [r[0] for r in con.execute("SELECT event_id FROM events WHERE event_id LIKE 'kill-%'").fetchall()]
    assert len(stored) == len(set(stored)), "an event was stored twice"
    missing = [n for n in acknowledged if not ids_of[n] <= set(stored)]
    assert not missing, f"acknowledged batches lost by kill -9: {missing[:5]}"
    for n in sent:  # a batch is all or nothing, acknowledged or not
        assert len(ids_of[n] & set(stored)) in (0, BATCH), f"batch {n} half-written"

    again = start_server(db_path, tmp_path, tmp_path / "server2.log")
    try:
        for n in sent:
            assert _post(again, token, _batch(run, n)) == 200
    finally:
        stop_server(again)
    with duckdb.connect(str(db_path)) as con:
        sql = "SELECT count(*), count(DISTINCT event_id) FROM events WHERE event_id LIKE 'kill-%'"
        total, distinct = con.execute(sql).fetchone() or (0, 0)
    assert total == distinct == BATCH * len(sent)
    verify = cli("verify", "--db", str(db_path), check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr

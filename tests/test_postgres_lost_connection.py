"""A PostgreSQL connection lost in the middle of an ingest batch: nothing of it is stored, the
sender is told to send it again, and the retry stores every event exactly once.

For real: the test holds a lock on the rollup tables, which the writer updates last in the
batch's transaction (after the events, their ids, the quarantined records and the chain link
are copied in), waits until the writer's backend waits on that lock, and ends that backend with
`pg_terminate_backend` from its own connection, as a server restart or a dropped network does.
See docs/scaling.md, "Ingest", and docs/api.md (503 with Retry-After).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from dashboard import cli
from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.store.backend.postgres import COUNTED
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, event

TABLES = ("events", "event_ids", "chain_batches", "quarantine", "rollup_activity_1d", "events_notable")


@pytest.fixture(autouse=True)
def _geo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITDASH_GEO_DIR", str(GEO_DIR))


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # type: ignore[index]  # noqa: S608 - table names of the test


def _body(n: int, prefix: str) -> bytes:
    docs = [event(id=f"{prefix}-{i}", occurred_at=f"2026-05-01T09:{i % 60:02d}:00Z") for i in range(n)]
    docs.append({"id": f"{prefix}-bad", "action": "not an action"})  # quarantined with the batch
    return ("\n".join(json.dumps(d) for d in docs) + "\n").encode()


@contextmanager
def _connection_lost_mid_batch(url: str) -> Iterator[list[int]]:
    """Within the block, the next batch's writer blocks on the rollup tables (its last writes);
    once it waits there its backend is terminated. Yields the list the terminated pids go into."""
    plain = url.replace("+psycopg", "")
    holder = psycopg.connect(plain)
    watcher = psycopg.connect(plain, autocommit=True)
    me = int(holder.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
    holder.execute(f"LOCK TABLE {', '.join(t.name for t in COUNTED)} IN EXCLUSIVE MODE")
    ended: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            rows = watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> %s "
                "AND wait_event_type = 'Lock' AND wait_event = 'relation' AND query LIKE 'INSERT INTO rollup_%%'",
                (me,),
            ).fetchall()
            for (pid,) in rows:
                watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
                ended.append(int(pid))
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield ended
    finally:
        stop.set()
        thread.join(30)
        holder.rollback()
        holder.close()
        watcher.close()


def _in_thread(work: Callable[[], Any]) -> Any:
    """Run `work` in a thread (the store's calls wait on the lock) and return what it returned."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the batch never ended"
    return out[0]


def test_the_api_answers_503_and_the_retry_stores_each_event_once(pg_url: str, tmp_path: Path) -> None:
    from dashboard.web.app import create_app

    with Database(pg_url) as db:
        settings = Settings(db_path=pg_url, geo_dir=GEO_DIR, reports_dir=tmp_path / "r")  # type: ignore[arg-type]
        app = create_app(settings, db)
        _, token = create_token(db, "sender")
        client = app.server.test_client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}

        def post(body: bytes) -> Any:
            return client.post("/api/v1/events", data=body, headers=headers)

        assert post(_body(3, "warm")).status_code == 200  # the month's partition exists, rollups hold rows
        body = _body(400, "lost")
        before = _counts(pg_url)
        with _connection_lost_mid_batch(pg_url) as ended:
            reply = _in_thread(lambda: post(body))
        assert ended, "the writer never reached the rollup tables"
        # the sender sees a retryable refusal in words, and nothing of the batch is there
        assert reply.status_code == 503, reply.get_data(as_text=True)
        assert reply.headers["Retry-After"] == "60"
        answer = reply.get_json()
        assert answer["retry"] is True and answer["stored"] == 0 and answer["fault"] == "connection"
        assert (
            "connection to PostgreSQL was lost" in answer["error"] and "send the same events again" in answer["error"]
        )
        assert _counts(pg_url) == before
        # the retry stores all of it once; a second retry finds every event there already
        first = post(body)
        assert first.status_code == 200, first.get_data(as_text=True)
        assert (first.get_json()["accepted"], first.get_json()["rejected_total"]) == (400, 1)
        second = post(body)
        assert (second.get_json()["accepted"], second.get_json()["duplicates"]) == (0, 400)
        with db.connect() as conn:
            ids = conn.execute(
                sa.text("SELECT count(DISTINCT event_id), count(*) FROM events WHERE event_id LIKE 'lost-%'")
            )
            assert tuple(ids.one()) == (400, 400)
    assert cli.main(["verify", "--db", pg_url]) == 0


def test_the_command_line_says_to_send_the_file_again(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "batch.ndjson"
    path.write_bytes(_body(3, "warm"))
    assert cli.main(["ingest", str(path), "--db", pg_url]) == 0
    path.write_bytes(_body(300, "cli"))
    before = _counts(pg_url)
    capsys.readouterr()
    with _connection_lost_mid_batch(pg_url) as ended:
        code = _in_thread(lambda: cli.main(["ingest", str(path), "--db", pg_url]))
    assert ended
    err = capsys.readouterr().err
    assert code == 4, err  # a storage fault: exit code 4
    assert "connection to PostgreSQL was lost" in err and "Sending the files again stores what is missing" in err
    assert _counts(pg_url) == before
    assert cli.main(["ingest", str(path), "--db", pg_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] == 300
    assert cli.main(["ingest", str(path), "--db", pg_url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["duplicates"] == 300
    assert cli.main(["verify", "--db", pg_url]) == 0

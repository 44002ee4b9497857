"""`auditdash verify` on PostgreSQL reads a consistent copy of the store in a temporary DuckDB file,
`events` copied range by range of sequence numbers (bounded memory): every row is in the copy,
also across gaps and rows that share a sequence number, and the folder is gone afterwards."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import psycopg
import pytest

from dashboard.store.backend import pg_copy
from tests.conftest import cli, event


def _copies() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("auditdash-copy-*")}


@pytest.fixture(autouse=True)
def _own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies go to this test's own folder (other test processes verify at the same time)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


def test_verify_reads_every_event_range_by_range(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"AUDITDASH_HOME": str(tmp_path)}
    sent = tmp_path / "e.ndjson"
    sent.write_text(
        "".join(json.dumps(event(id=f"v{i}", occurred_at=f"2026-03-0{1 + i % 9}T08:00:00Z")) + "\n" for i in range(20))
    )
    cli("ingest", "--db", pg_url, str(sent), env=env)
    monkeypatch.setattr(pg_copy, "EVENT_ROWS", 3)  # seven ranges for 20 events
    before = _copies()
    clean = json.loads(cli("verify", "--db", pg_url, "--json", env=env).stdout)
    assert clean["ok"] is True and clean["hot_events"] == 20 and clean["checked_events"] == 20, clean
    assert _copies() == before, "the copy's folder was left behind"

    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:  # rows written behind auditdash's back
        conn.execute("ALTER TABLE events DISABLE TRIGGER USER")  # whatever guards the table: a tamperer can
        conn.execute(
            "INSERT INTO events SELECT * FROM events WHERE seq = 7 UNION ALL SELECT * FROM events WHERE seq = 9"
        )
        conn.execute("UPDATE events SET seq = 1000000007 WHERE ctid = (SELECT max(ctid) FROM events WHERE seq = 9)")
    done = cli("verify", "--db", pg_url, "--json", env=env, check=False)
    result = json.loads(done.stdout)
    assert done.returncode == 1 and result["ok"] is False, done.stdout
    # 20 sent, the first verification's own record, and both rows: one past a gap, one sharing seq 7
    assert result["hot_events"] == 23, result
    found = {(b["seq"], b["kind"]) for b in result["breaks"]}
    assert (1000000007, "inserted") in found, result["breaks"]
    assert any(seq == 7 for seq, _ in found), result["breaks"]
    assert _copies() == before

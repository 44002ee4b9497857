"""Re-sent events whose month retention has archived are still stored once.

A real store of 240 events from May to October 2026; a purge moves May to July to Parquet; then
some of those events come again (a sender replaying its backlog), through the same ingest path
as the CLI and the API.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import duckdb

from dashboard.access.users import Actor
from dashboard.ingest.pipeline import Ingestor
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store.db import Database
from tests.conftest import event
from tests.test_integrity import locations, make_events, store

NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01: May, June and July are archived


def _count(db_path: Path, event_id: str, archive: Path) -> int:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        hot = con.execute("SELECT count(*) FROM events WHERE event_id = ?", [event_id]).fetchone()
        cold = con.execute(
            "SELECT count(*) FROM read_parquet($f) WHERE event_id = $id",
            {"f": [str(p) for p in archive.glob("*.parquet")], "id": event_id},
        ).fetchone()
    finally:
        con.close()
    assert hot is not None and cold is not None
    return int(hot[0]) + int(cold[0])


def test_replayed_events_of_archived_months_are_duplicates(tmp_path: Path) -> None:
    db_path = tmp_path / "replay.duckdb"
    docs = make_events(240, datetime(2026, 5, 1), datetime(2026, 11, 1))
    by_id = {d["id"]: d for d in docs}
    where = locations(db_path)
    with Database(db_path) as db:
        store(db, docs, batch=40, now=NOW)
        purged = run_purge(db, where, RetentionPolicy(), Actor("ana.admin", "admin"), now=NOW)
        assert purged.written == ["2026-05", "2026-06", "2026-07"]

        archived = [d for d in docs if d["occurred_at"] < "2026-08"][:5]
        hot = [d for d in docs if d["occurred_at"] >= "2026-08"][:2]
        fresh_old = event(id="late-june", occurred_at="2026-06-15T10:00:00Z")  # new, in an archived month
        fresh_new = event(id="late-october", occurred_at="2026-10-15T10:00:00Z")
        replay = [*archived, *hot, fresh_old, fresh_new]
        records = [(i, json.dumps(d)) for i, d in enumerate(replay)]
        result = Ingestor(db, archive_dir=where.archive_dir).ingest_batch(records, "replay")
        assert (result.accepted, result.duplicates, result.rejected) == (2, 7, 0)

        # the default archive folder is the one beside the database, as retention's
        again = Ingestor(db).ingest_batch([(0, json.dumps(by_id[archived[0]["id"]]))], "replay")
        assert (again.accepted, again.duplicates) == (0, 1)

    for doc in archived:
        assert _count(db_path, doc["id"], where.archive_dir) == 1
    assert _count(db_path, "late-june", where.archive_dir) == 1


def test_a_missing_month_file_does_not_stop_ingest(tmp_path: Path) -> None:
    db_path = tmp_path / "missing.duckdb"
    docs = make_events(120, datetime(2026, 5, 1), datetime(2026, 11, 1))
    where = locations(db_path)
    with Database(db_path) as db:
        store(db, docs, batch=40, now=NOW)
        run_purge(db, where, RetentionPolicy(), Actor("ana.admin", "admin"), now=NOW)
        moved = tmp_path / "elsewhere"
        shutil.move(str(where.archive_dir), moved)  # an operator moved the archive away
        june = next(d for d in docs if d["occurred_at"].startswith("2026-06"))
        result = Ingestor(db, archive_dir=where.archive_dir).ingest_batch([(0, json.dumps(june))], "replay")
    # nothing to compare with: stored again rather than lost (verify reports the missing archive)
    assert (result.accepted, result.duplicates) == (1, 0)

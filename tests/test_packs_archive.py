"""A pack of a period that retention has archived holds it all: archived months are read in place.

A real store of 240 events from May to October 2026; a purge moves May to July to Parquet; packs
of June (all archived), of mid-July to mid-August (half archived) and of September (all hot); then
June restored, and its pack compared with the one read from the archive.
"""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.filters import Filters
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.model import PackRequest
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.store.db import Database
from dashboard.store.schema import events
from tests.test_integrity import locations, make_events, store

NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff 2026-08-01
ADMIN = Actor("ana.admin", "admin")


def _pack(db: Database, tmp_path: Path, query: dict[str, str], formats: tuple[str, ...] = ("csv",)) -> dict:
    ps = PackSettings(reports_dir=tmp_path / "reports", settings=Settings(db_path=db.path))
    request = PackRequest(
        filters=Filters.from_query({**query, "tz": "UTC"}),
        formats=formats,
        actor=ADMIN,
        role="admin",
        now=NOW.replace(tzinfo=UTC),
    )
    result = build_pack(db, ps, request)
    doc = dict(result.manifest)
    doc["_events"] = result.events
    doc["_paths"] = [str(p) for p in result.paths()]
    return doc


def _count(docs: list[dict], start: str, end: str) -> int:
    return sum(1 for d in docs if start <= d["occurred_at"] < end)


def _csv_rows(doc: dict) -> list[str]:
    path = next(p for p in doc["_paths"] if p.endswith(".csv"))
    return Path(path).read_text(encoding="utf-8-sig").splitlines()


def _hot_count(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar() or 0)


def test_packs_of_archived_periods_read_the_archive_in_place(tmp_path: Path) -> None:
    db_path = tmp_path / "packs.duckdb"
    docs = make_events(240, datetime(2026, 5, 1), datetime(2026, 11, 1))
    where = locations(db_path)
    with Database(db_path) as db:
        store(db, docs, batch=40, now=NOW)
        run_purge(db, where, RetentionPolicy(), ADMIN, now=NOW)
        hot = _hot_count(db)  # August on, and the purge's own audit event

        june = _pack(db, tmp_path, {"from": "2026-06-01", "to": "2026-06-30"}, ("pdf", "csv"))
        in_june = _count(docs, "2026-06", "2026-07")
        assert june["_events"] == in_june > 0
        assert june["from_archive"] == {"events": in_june, "months": ["2026-06"]}
        rows = _csv_rows(june)
        assert len(rows) == 1 + in_june
        ids = {d["id"] for d in docs if "2026-06" <= d["occurred_at"] < "2026-07"}
        assert all(any(i in row for row in rows[1:]) for i in ids)
        pdf = next(p for p in june["_paths"] if p.endswith(".pdf"))
        text = " ".join(
            subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout.split()
        )
        assert f"From the archive {in_june:,} events of this view are read from the archive (2026-06)" in text
        assert f"Events in this pack {in_june:,}" in text
        # the pack's connection went back to the pool as it was: `events` is the hot store again
        assert _hot_count(db) == hot + 1  # the pack's own audit event
        with db.connect() as conn:
            june_hot = conn.execute(
                sa.select(sa.func.count()).where(
                    events.c.occurred_at >= datetime(2026, 6, 1), events.c.occurred_at < datetime(2026, 7, 1)
                )
            ).scalar()
        assert june_hot == 0

        half = _pack(db, tmp_path, {"from": "2026-07-15", "to": "2026-08-14"})
        assert half["_events"] == _count(docs, "2026-07-15", "2026-08-15")
        assert half["from_archive"] == {"events": _count(docs, "2026-07-15", "2026-08-01"), "months": ["2026-07"]}
        table = list(csv.DictReader(_csv_rows(half)))
        seqs = [int(r["seq"]) for r in table]
        assert len(seqs) == half["_events"] and seqs == sorted(seqs)  # archived and hot, in the log's order

        september = _pack(db, tmp_path, {"from": "2026-09-01", "to": "2026-09-30"})
        assert september["_events"] == _count(docs, "2026-09", "2026-10") and "from_archive" not in september

        # restored, June is hot again: the same pack, with nothing read from the archive
        restore(db, where, ADMIN, datetime(2026, 6, 1), datetime(2026, 7, 1))
        again = _pack(db, tmp_path, {"from": "2026-06-01", "to": "2026-06-30"}, ("csv", "json"))
        assert again["_events"] == in_june and "from_archive" not in again
        assert _csv_rows(again) == rows  # event for event, hash for hash
        header = json.loads(Path(next(p for p in again["_paths"] if p.endswith(".ndjson"))).read_text().splitlines()[0])
        assert "from_archive" not in header["auditdash_pack"]


def test_a_pack_reading_the_archive_survives_a_rewritten_month_and_reports_real_errors(tmp_path: Path) -> None:
    from dashboard.packs.view import PIN_PREFIX, open_view

    db_path = tmp_path / "pins.duckdb"
    docs = make_events(120, datetime(2026, 5, 1), datetime(2026, 11, 1))
    where = locations(db_path)
    june = Filters.from_query({"from": "2026-06-01", "to": "2026-06-30", "tz": "UTC"})
    with Database(db_path) as db:
        store(db, docs, batch=40, now=NOW)
        run_purge(db, where, RetentionPolicy(), ADMIN, now=NOW)
        (month_file,) = where.archive_dir.glob("2026-06.*.parquet")
        with open_view(db, june, NOW.replace(tzinfo=UTC), where) as view:
            assert view.events == view.from_archive.events == _count(docs, "2026-06", "2026-07") > 0
            # a purge rewriting June meanwhile removes the month's file name
            month_file.unlink()
            assert view.scalar(sa.select(sa.func.count()).select_from(events)) > view.events
            assert list(where.archive_dir.glob(PIN_PREFIX + "*"))
        assert not list(where.archive_dir.glob(PIN_PREFIX + "*"))  # the links go with the pack

        # an error inside the pack's transaction is the error the caller sees
        other = Filters.from_query({"from": "2026-07-01", "to": "2026-07-31", "tz": "UTC"})
        with pytest.raises(duckdb.ConversionException), open_view(db, other, NOW.replace(tzinfo=UTC), where) as view:
            view.con.execute("SELECT CAST('x' AS INTEGER)").fetchall()
        with db.connect() as conn:  # and the pooled connection has `events` as the table again
            july = conn.execute(
                sa.select(sa.func.count()).where(
                    events.c.occurred_at >= datetime(2026, 7, 1), events.c.occurred_at < datetime(2026, 8, 1)
                )
            ).scalar()
        assert july == 0

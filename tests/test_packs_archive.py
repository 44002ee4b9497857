"""A pack of a period that retention has archived says what it leaves out, and how to bring it back.

A real store of 240 events from May to October 2026; a purge moves May to July to Parquet; packs
of June (all archived), of mid-July to mid-August (half archived) and of September (all hot).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from dashboard.config import Settings
from dashboard.filters import Filters
from dashboard.packs.build import PackSettings, build_pack
from dashboard.packs.model import PackRequest
from dashboard.store.db import Database
from dashboard.store.retention import RetentionPolicy, restore, run_purge
from dashboard.store.schema import events
from dashboard.store.users import Actor
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


def test_packs_of_archived_periods_name_what_they_leave_out(tmp_path: Path) -> None:
    db_path = tmp_path / "packs.duckdb"
    docs = make_events(240, datetime(2026, 5, 1), datetime(2026, 11, 1))
    where = locations(db_path)
    with Database(db_path) as db:
        store(db, docs, batch=40, now=NOW)
        run_purge(db, where, RetentionPolicy(), ADMIN, now=NOW)

        june = _pack(db, tmp_path, {"from": "2026-06-01", "to": "2026-06-30"}, ("pdf", "csv"))
        left = june["archived_not_included"]
        assert june["_events"] == 0
        assert left == {
            "events": _count(docs, "2026-06", "2026-07"),
            "months": ["2026-06"],
            "restore": "auditdash archive restore --from 2026-06-01 --to 2026-06-30",
        }
        pdf = next(p for p in june["_paths"] if p.endswith(".pdf"))
        text = " ".join(
            subprocess.run(["pdftotext", pdf, "-"], capture_output=True, text=True, check=True).stdout.split()
        )
        assert f"Not in this pack {left['events']:,} events of this view are in the archive (2026-06)" in text

        half = _pack(db, tmp_path, {"from": "2026-07-15", "to": "2026-08-14"})
        assert half["_events"] == _count(docs, "2026-08-01", "2026-08-15")
        assert half["archived_not_included"]["events"] == _count(docs, "2026-07-15", "2026-08-01")
        assert half["archived_not_included"]["months"] == ["2026-07"]

        september = _pack(db, tmp_path, {"from": "2026-09-01", "to": "2026-09-30"})
        assert september["_events"] == _count(docs, "2026-09", "2026-10") and "archived_not_included" not in september

        # restored, the period is whole again and nothing is said to be missing
        restore(db, where, ADMIN, datetime(2026, 6, 1), datetime(2026, 7, 1))
        with db.connect() as conn:
            hot_june = conn.execute(
                sa.select(sa.func.count()).where(
                    events.c.occurred_at >= datetime(2026, 6, 1), events.c.occurred_at < datetime(2026, 7, 1)
                )
            ).scalar()
        again = _pack(db, tmp_path, {"from": "2026-06-01", "to": "2026-06-30"}, ("json",))
        assert again["_events"] == hot_june == left["events"]
        assert "archived_not_included" not in again
        header = json.loads(Path(next(p for p in again["_paths"] if p.endswith(".ndjson"))).read_text().splitlines()[0])
        assert "archived_not_included" not in header["auditdash_pack"]

"""Retention: archive before delete, crash safety under kill -9, legal holds, restore, expiry, on
DuckDB and on PostgreSQL (the same tests, parametrised by `backend`: a template store built once per
engine, copied for each test; on PostgreSQL with `CREATE DATABASE ... TEMPLATE`)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from dashboard import config
from dashboard.access.users import Actor
from dashboard.config import Settings
from dashboard.evidence.verify import verify
from dashboard.filters import Filters
from dashboard.packs.build import not_included_text
from dashboard.retention.archive_write import PAUSE_ENV
from dashboard.retention.holds import add_hold, release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import plan_purge, run_purge
from dashboard.retention.restore import restore
from dashboard.store import archive as retention
from dashboard.store.archive import archived_in_view, file_sha256, read_manifests
from dashboard.store.db import Database, utcnow
from tests.conftest import GEO_DIR, ROOT, cli
from tests.tamper_sql import Target, fresh_copy, home_for_module, is_pg, locations, template_store
from tests.test_integrity import make_events, store
from tests.test_rollups import differences

NOW = datetime(2026, 11, 20, 12, 0)  # hot cutoff (90 days) 2026-08-01, archive cutoff 2025-08-01
POLICY = RetentionPolicy()
ADMIN = Actor("ana.admin", "admin")


def pairs(db: Database, archive: Path | None = None) -> list[tuple[int, str]]:
    """Every (seq, hash) of the hot store plus the archive's files, with repeats (to catch doubles)."""
    with db.connect() as conn:
        found = [(int(s), str(h)) for s, h in conn.execute(sa.text("SELECT seq, hash FROM events"))]
    for path in sorted(archive.glob("*.parquet")) if archive and archive.is_dir() else []:
        table = pq.read_table(path, columns=["seq", "hash"])
        found += zip(table["seq"].to_pylist(), table["hash"].to_pylist(), strict=True)
    return sorted(found)


def pairs_of(target: Target, archive: Path | None = None) -> list[tuple[int, str]]:
    """`pairs` of a closed store (opened and closed again: a DuckDB file is one process's at a time)."""
    with Database(target) as db:
        return pairs(db, archive)


def audit_actions(db: Database) -> list[str]:
    """The `audit.*` events auditdash recorded about itself, in order."""
    with db.connect() as conn:
        query = sa.text("SELECT action FROM events WHERE source = 'auditdash' ORDER BY seq")
        return [str(a) for a in conn.execute(query).scalars()]


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home folder of the module's own: the archive and keys of its PostgreSQL stores live there."""
    yield from home_for_module(tmp_path_factory)


def _build(db: Database, _target: Target) -> None:
    """240 events from 2026-05-01 to 2026-11-01 (3 months before the hot cutoff), 10 batches."""
    store(db, make_events(240, datetime(2026, 5, 1), datetime(2026, 11, 1)), batch=24)


_TEMPLATES: dict[str, Target] = {}


@pytest.fixture
def store_path(backend: str, request: pytest.FixtureRequest) -> Target:
    """A fresh copy, on the test's engine, of the template (built once per engine)."""
    if backend not in _TEMPLATES:
        _TEMPLATES[backend] = template_store(request, backend, "retention", _build)
    return fresh_copy(_TEMPLATES[backend], request)


def test_policy_and_profiles() -> None:
    assert POLICY.hot_cutoff(NOW) == datetime(2026, 8, 1)  # whole months: 2026-08-22 floors to August
    assert POLICY.archive_cutoff(NOW) == datetime(2025, 8, 1)
    pci = RetentionPolicy.from_settings(Settings(retention_profile="pci"))
    assert (pci.hot_days, pci.archive_months) == (92, 9) and pci.meets_pci()
    assert not POLICY.meets_pci()  # 90 days hot is less than the 3 months PCI DSS asks
    assert RetentionPolicy.from_settings(config.load({"AUDITDASH_HOT_DAYS": "30"})).hot_days == 30
    with pytest.raises(config.ConfigError, match="AUDITDASH_RETENTION_PROFILE='gdpr'"):
        RetentionPolicy.from_settings(Settings(retention_profile="gdpr"))


def test_purge_archives_verifies_then_deletes(store_path: Target) -> None:
    where = locations(store_path)
    with Database(store_path) as db:
        before = pairs(db)
        plan = plan_purge(db, where, POLICY, NOW)
        assert [m.month for m in plan.months] == ["2026-05", "2026-06", "2026-07"]
        result = run_purge(db, where, POLICY, ADMIN, now=NOW)
        assert result.written == ["2026-05", "2026-06", "2026-07"]
        assert result.archived == result.deleted == plan.moves > 100
        with db.connect() as conn:
            oldest = conn.execute(sa.text("SELECT min(occurred_at) FROM events WHERE source = 'test'")).scalar()
        assert oldest >= datetime(2026, 8, 1)  # gone from the hot store
        checked = verify(db, where)
        assert checked.ok, checked.summary()  # the chain still verifies, through the archive
        assert checked.archived_events == result.archived
        manifests, problems = read_manifests(where.archive_dir)
        assert not problems and sorted(manifests) == ["2026-05", "2026-06", "2026-07"]
        may = manifests["2026-05"]
        with db.connect() as conn:
            boundary = conn.execute(
                sa.text("SELECT hash FROM chain_batches WHERE batch_id = :b"), {"b": may.boundary_batch_id}
            ).scalar()
        assert boundary == may.boundary_hash
        after = pairs(db, where.archive_dir)
        actions = audit_actions(db)
    table = pq.read_table(where.archive_dir / may.file)
    assert (
        table.num_rows == may.rows
        and pq.ParquetFile(where.archive_dir / may.file).metadata.row_group(0).column(0).compression.lower() == "zstd"
    )
    assert file_sha256(where.archive_dir / may.file) == may.sha256
    assert (may.first_seq, may.last_seq) == (min(table["seq"].to_pylist()), max(table["seq"].to_pylist()))
    test_events = set(before)
    assert [p for p in after if p in test_events] == before  # nothing lost, nothing doubled
    assert actions[-1] == "audit.purge"
    assert where.checkpoint_path.read_text().count("\n") == 1  # a checkpoint at every purge


def test_dry_run_changes_nothing(store_path: Target) -> None:
    before = pairs_of(store_path)
    out = cli("purge", "--dry-run", "--db", str(store_path))
    assert out.stdout.startswith("dry run: would move")
    assert pairs_of(store_path) == before and not locations(store_path).archive_dir.exists()


def test_restore_brings_back_identical_hashes(store_path: Target, tmp_path: Path) -> None:
    where = locations(store_path)
    with Database(store_path) as db:
        original = dict(pairs(db))
        run_purge(db, where, POLICY, ADMIN, now=NOW)
        june = (datetime(2026, 6, 1), datetime(2026, 7, 1))
        copy = restore(db, where, ADMIN, *june, into=tmp_path / "investigation.duckdb")
        back = restore(db, where, ADMIN, *june)
        assert back.restored == copy.restored > 0 and back.hold_id is not None
        with db.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT seq, hash FROM events WHERE occurred_at >= :a AND occurred_at < :b"),
                {"a": june[0], "b": june[1]},
            ).fetchall()
        assert len(rows) == back.restored and all(original[s] == h for s, h in rows)
        assert verify(db, where).ok
        # the restore's hold keeps them; once released, the next purge removes them again
        assert run_purge(db, where, POLICY, ADMIN, now=NOW).deleted == 0
        release_hold(db, back.hold_id, ADMIN, "investigation closed")
        assert run_purge(db, where, POLICY, ADMIN, now=NOW).deleted == back.restored
        assert verify(db, where).ok
        assert differences(db) == []  # the rollups followed the events out, in and out again
        assert audit_actions(db).count("audit.restore") == 2
    separate = pairs_of(tmp_path / "investigation.duckdb")
    assert len(separate) == copy.restored and all(original[s] == h for s, h in separate)


def test_explorer_reads_archived_months_from_parquet(store_path: Target) -> None:
    """DuckDB reads archived months in place; on PostgreSQL they are counted and named "NOT included"."""
    where = locations(store_path)
    span = (datetime(2026, 6, 15), datetime(2026, 8, 15))
    with Database(store_path) as db:
        with db.connect() as conn:
            expected = conn.execute(
                sa.text("SELECT count(*) FROM events WHERE occurred_at >= :a AND occurred_at < :b"),
                {"a": span[0], "b": span[1]},
            ).scalar()
        run_purge(db, where, POLICY, ADMIN, now=NOW)
        hot_only = retention.events_relation(db, where, *span, include_archive=False)
        with db.connect() as conn:
            n_hot = conn.execute(sa.select(sa.func.count()).select_from(hot_only)).scalar()
            archived = archived_in_view(conn, where, Filters(preset=None, start=span[0], end=span[1]), NOW)
        assert 0 < n_hot < expected
        assert archived.events == expected - n_hot and archived.months == ("2026-06", "2026-07")
        if is_pg(store_path):  # what packs and the report page say of them on PostgreSQL
            words = not_included_text(archived)
            assert f"{expected - n_hot:,} events" in words and "2026-06 to 2026-07" in words
            assert "NOT included" in words and "auditdash archive restore --from 2026-06-01" in words
            return
        both = retention.events_relation(db, where, *span)
        with db.connect() as conn:
            n_both = conn.execute(sa.select(sa.func.count()).select_from(both)).scalar()
            months = conn.execute(
                sa.select(sa.func.strftime(both.c.occurred_at, "%Y-%m").label("m")).distinct().order_by("m")
            ).scalars()
            assert list(months) == ["2026-06", "2026-07", "2026-08"]
    assert n_both == expected


def test_legal_hold_blocks_only_the_held_events(store_path: Target) -> None:
    where = locations(store_path)
    with Database(store_path) as db:
        by_user = add_hold(db, ADMIN, "matter 2026-17", user_id="u1")
        by_period = add_hold(db, ADMIN, "ticket SEC-9", start=datetime(2026, 5, 10), end=datetime(2026, 5, 20))
        run_purge(db, where, POLICY, ADMIN, now=NOW)
        with db.connect() as conn:
            left = conn.execute(
                sa.text("SELECT actor_id, occurred_at FROM events WHERE source = 'test' AND occurred_at < :c"),
                {"c": datetime(2026, 8, 1)},
            ).fetchall()
        assert left, "held events stay in the hot store"
        assert all(a == "u1" or datetime(2026, 5, 10) <= t < datetime(2026, 5, 20) for a, t in left)
        assert len(list(where.archive_dir.glob("*.parquet"))) == 3  # the rest was archived
        release_hold(db, by_user.id, ADMIN)
        again = run_purge(db, where, POLICY, ADMIN, now=NOW)
        assert again.deleted > 0 and again.written  # merged into the months' next revision
        manifests, _ = read_manifests(where.archive_dir)
        assert all(m.revision == 2 for m in manifests.values())
        files = sorted(p.name for p in where.archive_dir.glob("*.parquet"))
        assert files == [m.file for _, m in sorted(manifests.items())]  # old revisions removed
        with db.connect() as conn:
            held = conn.execute(
                sa.text("SELECT count(*) FROM events WHERE source = 'test' AND occurred_at < :c"),
                {"c": datetime(2026, 8, 1)},
            ).scalar()
        assert held and held < len(left)  # only the period hold is left
        assert verify(db, where).ok
        assert by_period.active
        assert audit_actions(db).count("audit.hold") == 3  # two placed, one released


def test_expired_months_keep_their_hashes(store_path: Target) -> None:
    where = locations(store_path)
    short = RetentionPolicy("standard", hot_days=90, archive_months=1)  # archive cutoff 2026-07-01
    with Database(store_path) as db:
        add_hold(db, ADMIN, "litigation", user_id="u2")
        run_purge(db, where, POLICY, ADMIN, now=NOW)
        result = run_purge(db, where, short, ADMIN, now=NOW)
        assert result.expired > 0 and set(result.written) == {"2026-05", "2026-06"}
        checked = verify(db, where)
        assert checked.ok and checked.expired_events == result.expired, checked.summary()
    files = [str(where.archive_dir / m.file) for m in read_manifests(where.archive_dir)[0].values()]
    with duckdb.connect() as con:  # the archive's files, read as anyone could
        kept = con.execute(
            "SELECT count(*) FILTER (WHERE event_id IS NULL), "
            "count(*) FILTER (WHERE event_id IS NOT NULL AND actor_id <> 'u2') "
            "FROM read_parquet($f) WHERE occurred_at IS NULL OR occurred_at < '2026-07-01'",
            {"f": files},
        ).fetchone()
    assert kept == (result.expired, 0)  # contents gone except the held user's


def test_archive_tampering_is_found(store_path: Target) -> None:
    where = locations(store_path)
    with Database(store_path) as db:
        run_purge(db, where, POLICY, ADMIN, now=NOW)
    manifests, _ = read_manifests(where.archive_dir)
    june = where.archive_dir / manifests["2026-06"].file
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT * REPLACE (CASE WHEN seq = $s THEN 'mallory' ELSE actor_id END AS actor_id) "
            "FROM read_parquet($f) ORDER BY seq) TO $o (FORMAT parquet)",
            {"s": manifests["2026-06"].first_seq, "f": str(june), "o": str(june) + ".x"},
        )
    os.replace(str(june) + ".x", june)
    with Database(store_path) as db:
        result = verify(db, where)
        assert result.first is not None and result.first.kind == "altered" and result.first.where == "archive 2026-06"
        assert any(b.seq == manifests["2026-06"].first_seq and b.level == "row" for b in result.breaks)
        (where.archive_dir / manifests["2026-05"].file).unlink()
        first = verify(db, where).first
        assert first is not None and (first.kind, first.seq) == ("missing", manifests["2026-05"].first_seq)
        assert "is gone" in first.detail
        archive_only = verify(db, where, archive_only=True)
        assert archive_only.scope == "archive" and not archive_only.ok


@pytest.mark.slow
@pytest.mark.parametrize(
    "step",
    [
        "written",  # a month file renamed into place, its manifest not yet replaced: rolled back
        "committed",  # manifests committed, nothing deleted yet: the rerun only deletes
        "deleting",  # inside the delete transaction: the engine discards it, the rerun deletes
    ],
)
def test_purge_killed_midway_loses_and_doubles_nothing(step: str, store_target: Target) -> None:
    """A real `kill -9` of `auditdash purge` in the middle, then a rerun. On PostgreSQL the server
    rolls back the killed process's transaction when its connection drops (its locks go with it)."""
    now = utcnow()
    cutoff = POLICY.hot_cutoff(now)
    with Database(store_target) as db:
        store(db, make_events(120, cutoff - timedelta(days=75), now - timedelta(days=1)), batch=30, now=now)
        before = pairs(db)
    archive = locations(store_target).archive_dir
    env = {**os.environ, "AUDITDASH_GEO_DIR": str(GEO_DIR), PAUSE_ENV: step}
    with subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "purge", "--db", str(store_target)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            deadline = time.monotonic() + 120
            line = ""
            while time.monotonic() < deadline and proc.poll() is None:
                line = proc.stderr.readline()
                if line.startswith("purge paused after"):
                    break
            assert line.strip() == f"purge paused after {step}", (line, proc.poll())
            os.kill(proc.pid, signal.SIGKILL)  # the real thing: no cleanup, no atexit, no flush
        finally:
            proc.kill()
            proc.wait(timeout=30)
    with Database(store_target) as db:
        rerun = run_purge(db, locations(store_target), POLICY, ADMIN)
        assert rerun.resumed, "the rerun notes the interrupted run"
        after = pairs(db, archive)
        test_events = set(before)
        assert sorted(p for p in after if p in test_events) == before  # nothing lost, nothing doubled
        with db.connect() as conn:
            old = conn.execute(
                sa.text("SELECT count(*) FROM events WHERE source = 'test' AND occurred_at < :c"), {"c": cutoff}
            ).scalar()
            states = conn.execute(sa.text("SELECT state FROM purge_runs ORDER BY started_at")).scalars().all()
        assert old == 0
        assert states == ["interrupted", "done"]
        result = verify(db, locations(store_target))
        assert result.ok, result.summary()
    assert not [p.name for p in archive.iterdir() if p.name.endswith(".tmp")]


def _walk(component: object) -> list[object]:
    found = [component]
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found += _walk(child)
        elif isinstance(child, str):
            found.append(child)
    return found


def test_retention_page_shows_policy_plan_holds_and_verifies(store_path: Target) -> None:
    from dashboard.web.app import create_app

    with Database(store_path) as db:
        add_hold(db, ADMIN, "matter 7", user_id="u3")
        app = create_app(Settings(db_path=store_path, geo_dir=GEO_DIR), db)
        assert {"retention.purge", "integrity.checkpoint", "integrity.verify"} <= set(
            app.server.extensions["auditdash"].scheduler.jobs
        )
        page = sys.modules["pages.retention"]  # Dash imports page modules by their folder name
        with app.server.test_request_context("/retention"):
            tree = _walk(page.layout())
            ids = [getattr(c, "id", None) for c in tree]
            text = " ".join(c for c in tree if isinstance(c, str))
            assert {"retention-policy", "retention-store", "retention-next-purge", "retention-verify"} <= {
                i for i in ids if isinstance(i, str)
            }
            assert "90 days" in text and "events of user u3" in text and "Oldest hot event" in text
            size = re.search(r"database (\d+\.\d+) (MB|GB)", text)
            assert size and float(size.group(1)) > 0, text  # the store's size, on either engine
            assert any(isinstance(i, dict) and i.get("type") == "retention-hold-release" for i in ids)
            verdict = _walk(page.run_verification())
            assert any(getattr(c, "id", None) == "retention-verify-ok" for c in verdict)
            notice, _holds = page.change_hold("add", reason="", user="u9")
            assert "needs a reason" in str(notice.children)
        assert audit_actions(db)[-1] == "audit.verify"

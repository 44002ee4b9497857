"""Each PostgreSQL store has its own archive folder: several stores kept under one home (one data
folder) never read or verify one another's archived months."""

from __future__ import annotations

from pathlib import Path

from dashboard import config
from dashboard.config import archive_folder, url_state_path


def test_two_postgresql_stores_under_one_home_archive_apart(tmp_path: Path) -> None:
    first = url_state_path("postgresql+psycopg://a:b@127.0.0.1:5432/audit", tmp_path)
    second = url_state_path("postgresql+psycopg://a:b@127.0.0.1:5432/audit_eu", tmp_path)
    assert first.parent == second.parent  # the same data folder
    assert archive_folder(None, first) != archive_folder(None, second)
    assert archive_folder(None, first) == tmp_path / "data" / "127.0.0.1-5432-audit.archive"


def test_a_duckdb_store_keeps_archive_beside_it_and_the_setting_wins(tmp_path: Path) -> None:
    assert archive_folder(None, tmp_path / "data" / "auditdash.duckdb") == tmp_path / "data" / "archive"
    chosen = tmp_path / "elsewhere"
    assert archive_folder(chosen, url_state_path("postgresql://a@h/db", tmp_path)) == chosen
    assert config.DEFAULT_DB_NAME.parent.name == "data"

"""What people are told the store is: the DuckDB file, or the PostgreSQL URL without its password
(not the folder of files kept beside a PostgreSQL store), in the first-start hint and `stats`."""

from __future__ import annotations

import json
from pathlib import Path

from dashboard.store.db import Database
from dashboard.store.queries import stats
from dashboard.web.layout import first_start_hint
from tests.conftest import cli
from tests.pg import PG_PASSWORD


def _hint(db: Database) -> str:
    hint = first_start_hint(db)
    assert hint is not None  # an empty store
    return json.dumps(hint.to_plotly_json(), default=lambda o: o.to_plotly_json())


def test_a_postgresql_store_is_named_by_its_url_without_the_password(pg_url: str) -> None:
    with Database(pg_url) as db:
        shown = db.shown
        assert shown.startswith("postgresql+psycopg://") and PG_PASSWORD not in shown and ":***@" in shown
        assert shown.rsplit("/", 1)[1] == pg_url.rsplit("/", 1)[1]  # the database's name
        text = _hint(db)
        assert f"auditdash demo --db {shown}" in text and str(db.path) not in text
        assert stats(db).db_path == shown
    out = cli("stats", "--db", pg_url).stdout
    assert shown in out and PG_PASSWORD not in out


def test_a_duckdb_store_is_named_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.duckdb"
    with Database(path) as db:
        assert db.shown == str(path)
        assert f"auditdash demo --db {path}" in _hint(db)
        assert stats(db).db_path == str(path)

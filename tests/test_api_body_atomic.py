"""A body the ingest API accepts is stored in one transaction, whatever the batch size; the read
API's `own` parameter (auditdash's own activity) is checked like every other parameter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.store.db import Database
from dashboard.store.schema import chain_batches, events
from tests.conftest import GEO_DIR, event


class App:
    def __init__(self, tmp: Path) -> None:
        from dashboard.web.app import create_app

        self.db = Database(tmp / "atomic.duckdb")
        # a batch size far below the body's record count: before, the body was stored in 3 batches
        app = create_app(Settings(db_path=self.db.path, geo_dir=GEO_DIR, batch_size=10), self.db)
        _, self.ingest = create_token(self.db, "sender")
        _, self.read = create_token(self.db, "siem", scopes=("read",))
        self.client = app.server.test_client()


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App(tmp_path)
    try:
        yield a
    finally:
        a.db.close()


def _batches(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(chain_batches)).scalar_one())


def test_a_body_larger_than_the_batch_size_is_one_transaction(app: App) -> None:
    body = "\n".join(json.dumps(event(id=f"evt-{i}")) for i in range(25)).encode()
    before = _batches(app.db)
    reply = app.client.post("/api/v1/events", data=body, headers={"Authorization": f"Bearer {app.ingest}"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    answer = reply.get_json()
    assert answer["accepted"] == 25
    assert answer["last_seq"] - answer["first_seq"] == 24
    assert _batches(app.db) == before + 1  # one chain batch: one transaction, all or nothing
    with app.db.connect() as conn:
        stored = sa.select(sa.func.count()).select_from(events).where(events.c.account_id == "acme")
        assert conn.execute(stored).scalar_one() == 25


def test_own_is_a_known_read_parameter_with_checked_values(app: App) -> None:
    headers = {"Authorization": f"Bearer {app.read}"}
    ok = app.client.get("/api/v1/events?own=0", headers=headers)
    assert ok.status_code == 200, ok.get_data(as_text=True)
    bad = app.client.get("/api/v1/events?own=yes", headers=headers)
    assert bad.status_code == 400
    assert "own='yes' is not one of 1, 0" in bad.get_json()["error"]

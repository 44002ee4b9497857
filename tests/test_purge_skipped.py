"""A purge never archives rows stored outside auditdash: after the writer stored past a forged
row (its sequence number skipped and recorded), a purge refuses, names the rows and moves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.events.validate import validate_records
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store.db import Database
from dashboard.store.writer import ChainTampered, store_batch
from tests.conftest import event
from tests.test_integrity import locations, tamper
from tests.test_tamper import ADMIN, INSERT_NEXT, NOW, rows_of, store, template  # noqa: F401 - fixtures

# a retention policy that would archive and delete every month of the store
POLICY = RetentionPolicy(hot_days=1, archive_months=120)


def test_purge_refuses_while_rows_stored_outside_the_chain_are_hot(store: Path) -> None:  # noqa: F811
    tamper(store, INSERT_NEXT)
    with Database(store) as db:
        with db.raw() as con:
            checked = validate_records(con, [event(id="after-tamper")], now=NOW)
        stored = store_batch(db, checked.accepted, [], "test")
        assert stored.skipped is not None  # the writer went past the forged row and recorded it
        before = rows_of(db, "SELECT count(*) FROM events")
        with pytest.raises(ChainTampered, match=r"seq 101 to 101\) hold sequence numbers the integrity chain skipped"):
            run_purge(db, locations(store), POLICY, ADMIN, now=NOW)
        assert rows_of(db, "SELECT count(*) FROM events") == before
        archive = locations(store).archive_dir
        assert not archive.exists() or not any(archive.glob("*.parquet"))
        # once the forged row is removed (kept as evidence elsewhere), the purge runs
        with db.raw() as con:
            con.execute("DELETE FROM events WHERE seq = 101")
        result = run_purge(db, locations(store), POLICY, ADMIN, now=NOW)
        assert result.deleted > 0

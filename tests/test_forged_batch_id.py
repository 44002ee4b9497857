"""Rows written behind auditdash's back past the chain's end, carrying the id the next chain batch
will get: the next write must still store its own events, once, and chain exactly them.

Found on a store whose events were loaded without a chain (batch id 1, no chain batch): every write
after it, each page view's audit record included, failed ("stored batch does not hold exactly seq
...") because the writer read its batch back by batch id alone; on PostgreSQL it would also have
copied the forged rows it stages back into the store a second time. A few forged rows, and more
than the PostgreSQL writer stages whole (10,000: it keeps their ends), on both engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from dashboard.evidence.verify import verify
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.store import (
    schema,
    selflog,  # noqa: F401 - as in the product: a break met by a write is recorded
)
from dashboard.store.db import Database
from dashboard.store.writer import ChainTampered
from tests.tamper_sql import home_for_module, is_pg, locations, rows, tamper
from tests.test_integrity import make_events, store
from tests.test_tamper import ADMIN, NOW

#: a retention policy that would archive and delete every month of the store
POLICY = RetentionPolicy(hot_days=1, archive_months=120)


@pytest.fixture(scope="module", autouse=True)
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield from home_for_module(tmp_path_factory)


def _forge(target: Path | str, n: int) -> None:
    """`n` copies of event 20 past the chain's end (seq 21 ..), with the next chain batch's id (3)."""
    columns = [c.name for c in schema.events.columns]
    made = {"seq": "20 + g.i", "batch_id": "3", "event_id": "'forged-' || CAST(g.i AS VARCHAR)"}
    select = ", ".join(made.get(c, f"f.{c}") for c in columns)
    series = f"generate_series(1, {n}) AS g(i)" if is_pg(target) else f"range(1, {n + 1}) AS g(i)"
    tamper(
        target,
        "CREATE TEMP TABLE forged AS SELECT * FROM events WHERE seq = 20",
        f"INSERT INTO events ({', '.join(columns)}) SELECT {select} FROM forged f, {series}",  # noqa: S608
    )


@pytest.mark.parametrize("forged", [3, 10_050])
def test_the_next_write_stores_and_chains_only_its_own_events(store_target: Path | str, forged: int) -> None:
    with Database(store_target) as db:
        store(db, make_events(20, datetime(2026, 11, 1), datetime(2026, 11, 10)), batch=10)  # batches 1 and 2
    _forge(store_target, forged)
    with Database(store_target) as db:
        store(db, make_events(2, datetime(2026, 11, 11), datetime(2026, 11, 12), prefix="new"), batch=2)
        outcome = verify(db, locations(store_target))
    # every row once: the forged ones as written, the new ones numbered past them
    # (auditdash records the break it met as an event of its own after the batch: not counted here)
    assert rows(store_target, "SELECT count(*), count(DISTINCT seq) FROM events WHERE source <> 'auditdash'") == [
        (22 + forged, 22 + forged)
    ]
    assert rows(store_target, "SELECT min(seq), max(seq) FROM events WHERE event_id LIKE 'new%'") == [
        (21 + forged, 22 + forged)
    ]
    assert rows(store_target, "SELECT count(*) FROM events WHERE batch_id = 3") == [(forged + 2,)]
    chain = rows(
        store_target,
        "SELECT batch_id, first_seq, last_seq, skipped_first, skipped_last FROM chain_batches WHERE batch_id <= 3",
    )
    assert sorted(chain) == [
        (1, 1, 10, None, None),
        (2, 11, 20, None, None),
        (3, 21 + forged, 22 + forged, 21, 20 + forged),
    ]
    # verify names the rows outside the chain
    assert not outcome.ok
    assert f"skipped seqs 21..{20 + forged}" in " ".join(outcome.notes) + outcome.summary(), outcome.summary()


@pytest.mark.parametrize("write_after", [False, True], ids=["past the end", "skipped over"])
def test_a_purge_refuses_and_names_them_without_copying_them(store_target: Path | str, write_after: bool) -> None:
    # (on PostgreSQL the purge counts them on the server: it copied every such row into memory)
    with Database(store_target) as db:
        store(db, make_events(20, datetime(2026, 5, 1), datetime(2026, 5, 10)), batch=10)
    _forge(store_target, 10_050)
    if write_after:
        with Database(store_target) as db:
            store(db, make_events(1, datetime(2026, 11, 11), datetime(2026, 11, 12), prefix="new"), batch=1)
        words = r"10,050 stored events \(seq 21 to 10,070\) hold sequence numbers the integrity chain skipped"
    else:
        words = r"10,050 stored events from seq 21 lie past the end of the integrity chain \(seq 20\)"
    before = rows(store_target, "SELECT count(*) FROM events")
    with Database(store_target) as db, pytest.raises(ChainTampered, match=words) as refused:
        run_purge(db, locations(store_target), POLICY, ADMIN, now=NOW)
    assert "keep a copy of the store" in str(refused.value)
    assert rows(store_target, "SELECT count(*) FROM events") == before

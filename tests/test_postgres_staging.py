"""PostgreSQL: what the writer's staging reads of the store comes back exactly as stored.

A batch on PostgreSQL is staged in an in-memory DuckDB (store/backend/postgres.py `stage_batch`):
the stored events with the batch's ids are read back in CSV (`copy_out`), and rows past the chain's
end only when there are any. Text that CSV must quote or escape, empty text next to absent fields
and 32-bit coordinates must read back equal, or a re-sent event would turn into a conflict; a row
put past the chain's end with SQL must still be found and skipped. Real server (tests/pg.py).
"""

from __future__ import annotations

import json

import psycopg
import pytest

from dashboard.ingest.pipeline import Ingestor
from dashboard.store import rollups
from dashboard.store.backend import postgres
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, event
from tests.test_rollups import DERIVED

#: fields CSV must quote (commas, quotes, line breaks, a lone backslash), empty text, other scripts
AWKWARD = [
    event(id="q1", reason="", target={"type": "doc", "id": "", "name": 'a,"b",c'}),
    event(id="q2", reason="line one\nline two\r\nthree", metadata={"note": "tab\there \\ back"}),
    event(id="q3", actor={"id": "u9", "name": "Zoë Ünal 山田", "email": "z@example.com"}, ip="81.2.69.142"),
    event(id="q4", changes={"status": ["", None]}, user_agent="\\N", session_id="NULL"),
    event(id="q5"),  # no reason, no target: NULL, not empty text
]


def _batch(docs: list[dict]) -> list[tuple[int, str]]:
    return [(i, json.dumps(d)) for i, d in enumerate(docs)]


def test_awkward_text_sent_again_is_a_duplicate_and_a_changed_field_a_conflict(pg_url: str) -> None:
    from dashboard.ingest.geo import GeoLocator

    with Database(pg_url) as db:
        ingestor = Ingestor(db, GeoLocator(city_db_dir=GEO_DIR))
        first = ingestor.ingest_batch(_batch(AWKWARD), "test")
        assert (first.accepted, first.duplicates, first.conflicts) == (5, 0, 0)
        again = ingestor.ingest_batch(_batch(AWKWARD), "test")
        assert (again.accepted, again.duplicates, again.conflicts) == (0, 5, 0), again.conflict_records
        # empty text and an absent field differ: the stored event's content is compared exactly
        changed = [event(id="q1", reason="", target={"type": "doc", "name": 'a,"b",c'}), event(id="q5", reason="")]
        third = ingestor.ingest_batch(_batch(changed), "test")
        assert (third.accepted, third.duplicates, third.conflicts) == (0, 0, 2)
        reasons = sorted(r.reason for r in third.conflict_records)
        assert [r.rsplit("(fields: ", 1)[1] for r in reasons] == ["target.id)", "reason)"], reasons
        with db.reading(DERIVED) as con:
            assert rollups.differences(con) == []


def test_a_row_put_past_the_chain_end_is_skipped_by_the_next_batch(pg_url: str) -> None:
    with Database(pg_url) as db:
        ingestor = Ingestor(db)
        ingestor.ingest_batch(_batch([event(id=f"a{i}") for i in range(3)]), "test")
        with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:  # someone with SQL access
            conn.execute(
                "INSERT INTO events SELECT seq + 7, 'forged', occurred_at, received_at, account_id, action, category, "
                "outcome, reason, actor_id, actor_name, actor_email, actor_role, actor_type, target_type, target_id, "
                "target_name, ip, ip_scope, geo_country, geo_city, geo_lat, geo_lon, user_agent, session_id, "
                "request_id, changes, metadata, source, batch_id, hash, salt, erased FROM events WHERE seq = 3"
            )
        result = ingestor.ingest_batch(_batch([event(id="b1"), event(id="b2")]), "test")
        assert result.skipped is not None and (result.skipped.first, result.skipped.last) == (4, 10)
        assert (result.first_seq, result.last_seq) == (11, 12)
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        stored = conn.execute("SELECT event_id, seq FROM events WHERE seq > 3 ORDER BY seq").fetchall()
        assert stored[:3] == [("forged", 10), ("b1", 11), ("b2", 12)]  # then what auditdash logs of it


def test_many_rows_past_the_chain_end_are_skipped_without_copying_them_all(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past `FOREIGN_ROWS_COPIED` forged rows, the staging holds their ends, the rows with the
    batch's ids and their count: the same skip, the same duplicate check, memory that does not grow."""
    monkeypatch.setattr(postgres, "FOREIGN_ROWS_COPIED", 2)
    read_back: list[int] = []
    copy_out = postgres.copy_out

    def counted(*args: object) -> object:  # what each read of the store brought into the staging
        table = copy_out(*args)  # type: ignore[arg-type]
        read_back.append(table.num_rows)
        return table

    monkeypatch.setattr(postgres, "copy_out", counted)
    columns = (
        "occurred_at, received_at, account_id, action, category, outcome, reason, actor_id, actor_name, "
        "actor_email, actor_role, actor_type, target_type, target_id, target_name, ip, ip_scope, geo_country, "
        "geo_city, geo_lat, geo_lon, user_agent, session_id, request_id, changes, metadata, source, batch_id, "
        "hash, salt, erased"
    )
    with Database(pg_url) as db:
        ingestor = Ingestor(db)
        ingestor.ingest_batch(_batch([event(id=f"a{i}") for i in range(3)]), "test")
        with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:  # five rows forged past the end
            conn.execute(
                f"INSERT INTO events SELECT seq + 10 * n, 'forged' || n, {columns} "  # noqa: S608 - test SQL
                "FROM events, generate_series(1, 5) n WHERE seq = 3"
            )
        read_back.clear()
        result = ingestor.ingest_batch(_batch([event(id="b1"), event(id="forged3"), event(id="b2")]), "test")
        assert result.skipped is not None and (result.skipped.first, result.skipped.last) == (4, 53)
        assert result.skipped.rows == 5, result.skipped  # counted on the server, not in the staging
        assert (result.accepted, result.first_seq, result.last_seq) == (2, 54, 55)
        assert result.duplicates + result.conflicts == 1  # the forged row with that id was found
        assert read_back and max(read_back) <= 2, read_back  # the ends, then the row with the batch's id
    with psycopg.connect(pg_url.replace("+psycopg", "")) as conn:
        stored = conn.execute("SELECT event_id FROM events WHERE seq >= 54 ORDER BY seq").fetchall()
        assert stored[:2] == [("b1",), ("b2",)]

"""A streamed event is the event the read API gives: the same contract document with the same
`stored` values, in JSON and in OCSF, also for stored text and numbers a reader must repair.

Real DuckDB store, the read API through the Flask test client, the stream service delivering one
batch to a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.tokens import create_token
from dashboard.config import Settings
from dashboard.events import jsontext
from dashboard.store.db import Database
from dashboard.store.schema import events as E
from dashboard.web.app import create_app
from tests.conftest import GEO_DIR, event, free_port
from tests.test_stream import Receiver, ingest, service_for, streams_file


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


def _docs() -> list[dict[str, Any]]:
    docs = [
        event(
            id=f"e{i:02d}",
            occurred_at=f"2026-05-{1 + i:02d}T10:00:00.250Z",
            action="agent.update" if i % 2 else "auth.login",
            outcome="failure" if i % 3 == 0 else "success",
            reason="bad_password" if i % 3 == 0 else None,
            actor={"id": f"u{i}", "name": f"Agent {i}", "email": f"a{i}@example.com", "role": "agent"},
            target={"type": "user", "id": f"t{i}", "name": f"Target {i}"},
            changes={"role": ["agent", "administrator"]} if i % 2 else None,
            metadata={"ticket": i, "channel": "email"},
            ip=f"203.0.113.{i + 1}",
        )
        for i in range(12)
    ]
    return docs


@pytest.mark.parametrize("fmt", ["json", "ocsf"])
def test_a_streamed_event_is_the_read_apis_event(db_path: Path, receiver: Receiver, tmp_path: Path, fmt: str) -> None:
    with Database(db_path) as db:
        ingest(db, _docs())
        with db.engine.begin() as conn:  # stored values a reader must repair, not pass on
            conn.execute(sa.update(E).where(E.c.event_id == "e03").values(metadata='{"broken": '))
            conn.execute(
                sa.text(
                    "UPDATE events SET geo_lat = 'NaN'::DOUBLE, geo_lon = 'Infinity'::DOUBLE WHERE event_id = 'e05'"
                )
            )
        _, token = create_token(db, "siem", ("read",))
        app = create_app(Settings(db_path=db.path, geo_dir=GEO_DIR, reports_dir=tmp_path / "reports"), db)
        reply = app.server.test_client().get(
            f"/api/v1/events?limit=100&format={'ocsf' if fmt == 'ocsf' else 'contract'}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert reply.status_code == 200, reply.get_data(as_text=True)
        read = json.loads(reply.get_data(as_text=True))["events"]

        path = streams_file(
            tmp_path,
            {
                "name": "siem",
                "kind": "http",
                "url": f"http://127.0.0.1:{receiver.port}/in",
                "start": "beginning",
                "format": fmt,
                "batch_size": 100,
            },
        )
        service = service_for(db, path)
        assert service.deliver_batch("siem") >= 12
        streamed = receiver.lines()

    def ours(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events sent above (the log also holds its own records of the token and the read)."""
        return [d for d in docs if (d["id"] if fmt == "json" else d["metadata"]["uid"]) in ids]

    ids = {f"e{i:02d}" for i in range(12)}
    assert len(ours(streamed)) == len(ours(read)) == 12
    assert ours(streamed) == ours(read)
    if fmt == "json":
        by_id = {d["id"]: d for d in ours(streamed)}
        assert "geo_lat" not in by_id["e05"]["stored"] and "geo_lon" not in by_id["e05"]["stored"]
        assert jsontext.UNREADABLE_KEY in by_id["e03"]["metadata"]  # the unreadable text comes out marked
        assert by_id["e01"]["changes"] == {"role": ["agent", "administrator"]}
        assert by_id["e00"]["occurred_at"] == "2026-05-01T10:00:00.250Z"

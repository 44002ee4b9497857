"""Reading the log through the API (`GET /api/v1/events`, `GET /api/v1/alerts`) on a real server.

Events are sent through the ingest API, then read back page by page with a read token, as a
SIEM would; every read is itself in the log (checked after the server stops: it owns the file).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.store.db import Database
from tests.conftest import Server, cli, event, start_server, stop_server


@dataclass
class Site:
    server: Server
    ingest: str
    read: str
    db_path: Path


def _get(site: Site, path: str, token: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return site.server.request("GET", path, None, headers)


def _events(n: int) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        failed = i % 4 == 0
        docs.append(
            event(
                id=f"r{i:03d}",
                occurred_at=f"2026-05-{1 + i % 28:02d}T{i % 24:02d}:15:00Z",
                action="auth.login" if i % 2 == 0 else "label.create",
                outcome="failure" if failed and i % 2 == 0 else "success",
                reason="bad_password" if failed and i % 2 == 0 else None,
                actor={"id": f"u{i % 3}", "name": f"Agent {i % 3}", "role": "agent"},
                changes={"title": [None, f"label {i}"]} if i % 2 else None,
            )
        )
    return docs


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("api-read")
    db_path = tmp / "read.duckdb"
    ingest = cli("tokens", "create", "sender", "--db", str(db_path)).stdout.strip()
    read = cli("tokens", "create", "siem", "--scope", "read", "--db", str(db_path)).stdout.strip()
    server = start_server(db_path, tmp, tmp / "server.log")
    status, reply = server.request(
        "POST",
        "/api/v1/events",
        json.dumps(_events(60)).encode(),
        {"Authorization": f"Bearer {ingest}", "Content-Type": "application/json"},
    )
    assert status == 200 and isinstance(reply, dict) and reply["accepted"] == 60, reply
    try:
        yield Site(server, ingest, read, db_path)
    finally:
        stop_server(server)


def test_a_siem_reads_every_event_once_page_by_page(site: Site) -> None:
    seen: list[dict[str, Any]] = []
    path = "/api/v1/events?categories=authentication,labels&limit=25"
    pages = 0
    while True:
        status, reply = _get(site, path, site.read)
        assert status == 200, reply
        pages += 1
        seen += reply["events"]
        if not reply["more"]:
            break
        path = reply["next"]
        assert "after=" in path and "categories=authentication%2Clabels" in path
    assert pages == 3 and len(seen) == 60
    assert [e["id"] for e in seen] == [f"r{i:03d}" for i in range(60)]  # sequence order: as sent
    first = seen[0]
    # the event as senders send it, plus what the store added
    assert (first["action"], first["outcome"], first["reason"], first["actor"]["id"]) == (
        "auth.login",
        "failure",
        "bad_password",
        "u0",
    )
    assert first["occurred_at"] == "2026-05-01T00:15:00.000Z"
    stored = first["stored"]
    assert stored["category"] == "authentication" and stored["source"] == "api:sender"
    assert stored["geo_country"] == "US" and len(stored["hash"]) == 64 and stored["seq"] >= 1
    assert seen[1]["changes"] == {"title": [None, "label 1"]}
    # nothing new of those categories after the last page ...
    last = seen[-1]["stored"]["seq"]
    status, reply = _get(site, f"/api/v1/events?categories=authentication,labels&after={last}", site.read)
    assert status == 200 and reply["events"] == [] and reply["next_after"] == last and not reply["more"]
    # ... but the reads themselves are in the log, and in the feed
    status, reply = _get(site, f"/api/v1/events?after={last}", site.read)
    assert status == 200 and len(reply["events"]) == 4  # three pages and the empty read above
    assert {(e["action"], e["actor"]["id"], e["stored"]["category"]) for e in reply["events"]} == {
        ("audit.view", "token:siem", "audit")
    }


def test_filters_are_the_dashboards(site: Site) -> None:
    query = urllib.parse.urlencode({"outcome": "failure", "users": "u0", "from": "2026-05-01", "to": "2026-05-31"})
    status, reply = _get(site, f"/api/v1/events?{query}", site.read)
    assert status == 200
    ids = [e["id"] for e in reply["events"]]
    want = [f"r{i:03d}" for i in range(60) if i % 4 == 0 and i % 3 == 0]
    assert ids == want and len(want) == 5
    # a time filter applies: May 1st only
    status, reply = _get(site, "/api/v1/events?from=2026-05-01&to=2026-05-01", site.read)
    assert status == 200 and {e["occurred_at"][:10] for e in reply["events"]} == {"2026-05-01"}


def test_events_in_ocsf_for_a_siem(site: Site) -> None:
    status, reply = _get(site, "/api/v1/events?categories=authentication&limit=5&format=ocsf", site.read)
    assert status == 200 and reply["count"] == 5
    first = reply["events"][0]
    assert (first["class_uid"], first["activity_id"], first["type_uid"]) == (3002, 1, 300201)
    assert (first["status_id"], first["status_detail"]) == (2, "bad_password")
    assert first["metadata"]["uid"] == "r000" and first["metadata"]["log_name"] == "api:sender"
    assert first["time"] == 1777594500000  # 2026-05-01T00:15:00Z
    assert "format=ocsf" in reply["next"]
    status, reply = _get(site, "/api/v1/events?format=cef", site.read)
    assert (status, reply["error"], reply["parameter"]) == (400, "format='cef' is not one of contract, ocsf", "format")


def test_bad_requests_and_tokens(site: Site) -> None:
    status, reply = _get(site, "/api/v1/events?outcome=maybe&ip=999.1.1.1", site.read)
    assert status == 400
    assert reply["problems"] == [
        "outcome='maybe' is not one of success, failure, unknown",
        "ip='999.1.1.1' is not an address or CIDR block",
    ]
    status, reply = _get(site, "/api/v1/events?limit=0", site.read)
    assert (status, reply["parameter"]) == (400, "limit")
    assert reply["error"] == "limit='0' must be a whole number from 1 to 10000"
    assert _get(site, "/api/v1/alerts?severity=urgent", site.read)[0] == 400
    # an ingest token cannot read, and a read token cannot write
    assert _get(site, "/api/v1/events", site.ingest)[0] == 401
    assert _get(site, "/api/v1/events", None)[0] == 401
    status, _ = site.server.request(
        "POST",
        "/api/v1/events",
        json.dumps([event(id="sneaky")]).encode(),
        {"Authorization": f"Bearer {site.read}", "Content-Type": "application/json"},
    )
    assert status == 401


def test_alerts_are_readable(site: Site) -> None:
    status, reply = _get(site, "/api/v1/alerts?status=open,acknowledged&limit=10", site.read)
    assert status == 200 and reply["count"] == len(reply["alerts"]) <= 10
    for alert in reply["alerts"]:
        assert alert["status"] in ("open", "acknowledged") and alert["rule_id"]


def test_zz_every_read_is_in_the_log(site: Site) -> None:
    """Runs last in this module: it stops the server to read the file the server owns."""
    stop_server(site.server)
    with Database(site.db_path) as db, db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT actor_id, actor_role, target_name, ip, metadata FROM events "
                "WHERE action = 'audit.view' AND actor_id LIKE 'token:%' ORDER BY seq"
            )
        ).fetchall()
    reads = [(r.actor_id, r.actor_role, r.target_name, json.loads(r.metadata)) for r in rows]
    assert all(actor == "token:siem" and role == "api" for actor, role, _, _ in reads)
    events_reads = [m for _, _, what, m in reads if what == "events"]
    # the whole log when no time filter is given, as the dashboard writes it in its links
    assert events_reads[0]["filters"] == "from=2000-01-01&to=2999-12-31&categories=authentication%2Clabels&own=1"
    assert [m["returned"] for m in events_reads[:3]] == [25, 25, 10]
    assert any(what == "alerts" for _, _, what, _ in reads)
    assert all(r.ip == "127.0.0.1" for r in rows)

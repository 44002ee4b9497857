"""Streaming out over HTTP: a real receiver on 127.0.0.1 (http.server in a thread, real TCP) that is
stopped mid-stream and brought back, a real DuckDB store, the stream service's own threads.

What a SIEM would see: every matching event, in log order, repeats only of batches that were not
acknowledged (recognisable by id and seq), the Splunk HEC and OCSF shapes, the filter kept, and a
restart that resumes from the cursor.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dash
import pytest
import sqlalchemy as sa

from dashboard.config import Settings
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from dashboard.store.schema import alerts as A
from dashboard.store.schema import events as E
from dashboard.store.schema import stream_state as S
from dashboard.stream.destinations import StreamConfigError, load_destinations
from dashboard.stream.service import StreamService, backoff_s
from tests.conftest import GEO_DIR, event, free_port

WAIT_S = 60.0  # the longest a test waits for deliveries (a bound, not a measured time)


def wait_for(what: str, check: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Poll until `check()` holds; fail naming `what` when it never does."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"still waiting for {what} after {timeout:.0f} s")


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records each POST; it can answer 503, drop a request
    after reading it (no answer), stop after N requests, and start again on the same port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.answer = 200
        self.drop_next = 0  # requests to read and then close without an answer
        self.stop_after: int | None = None  # stop listening after this many acknowledged requests
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer._lock:
                    if outer.drop_next > 0:
                        outer.drop_next -= 1
                        outer.requests.append({"headers": dict(self.headers), "body": body, "acked": False})
                        self.close_connection = True
                        self.connection.close()
                        return
                    acked = 200 <= outer.answer < 300
                    outer.requests.append({"headers": dict(self.headers), "body": body, "acked": acked})
                    count = sum(1 for r in outer.requests if r["acked"])
                self.send_response(outer.answer)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"text":"Success","code":0}' if acked else b'{"text":"busy"}')
                if outer.stop_after is not None and count >= outer.stop_after:
                    outer.stop_after = None
                    threading.Thread(target=outer.stop, daemon=True).start()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def running(self) -> bool:
        return self._server is not None

    def lines(self, acked_only: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            bodies = [r["body"] for r in self.requests if r["acked"] or not acked_only]
        return [json.loads(line) for body in bodies for line in body.decode("utf-8").splitlines() if line]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(free_port())
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture
def db(db_path: Path) -> Iterator[Database]:
    with Database(db_path) as database:
        yield database


def ingest(db: Database, docs: list[dict[str, Any]]) -> None:
    with Ingestor(db, None, quarantine_max=100) as ingestor:
        result = ingestor.ingest_batch([(i, json.dumps(d)) for i, d in enumerate(docs)], "test")
    assert result.accepted == len(docs), result.rejected_records[:3]


def events(prefix: str, n: int, **overrides: Any) -> list[dict[str, Any]]:
    return [
        event(id=f"{prefix}-{i:05d}", occurred_at=f"2026-05-01T09:{i // 60 % 60:02d}:{i % 60:02d}Z", **overrides)
        for i in range(n)
    ]


def streams_file(tmp_path: Path, *destinations: dict[str, Any]) -> Path:
    path = tmp_path / "streams.json"
    path.write_text(json.dumps({"destinations": list(destinations)}))
    return path


def service_for(db: Database, path: Path, **options: Any) -> StreamService:
    service = StreamService(db, load_destinations(path), **{"backoff_max_s": 0.3, **options})
    service.sync_config()
    return service


def stored_ids(db: Database) -> list[str]:
    with db.connect() as conn:
        return [str(r[0]) for r in conn.execute(sa.select(E.c.event_id).order_by(E.c.seq))]


def cursor(db: Database, name: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(S.c.last_seq).where(S.c.name == name)).scalar_one())


def head(db: Database) -> int:
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(E.c.seq))).scalar_one())


def first_occurrences(docs: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for d in docs:
        seen.setdefault(d["id"], None)
    return list(seen)


def assert_in_log_order(docs: list[dict[str, Any]]) -> None:
    """Seqs rise within every delivery; a repeat is a whole batch sent again (from the cursor)."""
    seqs = [d["stored"]["seq"] for d in docs]
    ids_by_seq: dict[int, str] = {}
    for d in docs:
        assert ids_by_seq.setdefault(d["stored"]["seq"], d["id"]) == d["id"], "one seq, two ids"
    firsts = sorted(set(seqs))
    assert [s for i, s in enumerate(seqs) if s not in seqs[:i]] == firsts, "a new event arrived before an older one"


def test_every_event_arrives_in_order_through_an_outage(db: Database, receiver: Receiver, tmp_path: Path) -> None:
    path = streams_file(
        tmp_path,
        {
            "name": "siem",
            "kind": "http",
            "url": f"http://127.0.0.1:{receiver.port}/in",
            "start": "beginning",
            "batch_size": 40,
        },
    )
    ingest(db, events("a", 200))
    service = service_for(db, path)
    receiver.stop_after = 2  # the receiver goes away after acknowledging two batches
    receiver.drop_next = 0
    service.start(interval_s=0.05)
    try:
        wait_for("the receiver to stop", lambda: not receiver.running)
        ingest(db, events("b", 150))  # the log goes on while the SIEM is down
        wait_for("a failed attempt", lambda: (service.status()[0].last_error or "") != "")
        status = service.status()[0]
        said = status.last_error or ""
        assert said.startswith(f"stream siem (http://127.0.0.1:{receiver.port}/in): ")
        assert "connection refused" in said or "Connection reset" in said or "RemoteDisconnected" in said
        assert status.cursor == 40 * sum(1 for r in receiver.requests if r["acked"])  # only what was acknowledged
        receiver.drop_next = 1  # the first request after the comeback is read but never answered
        receiver.start()
        wait_for("every event delivered", lambda: cursor(db, "siem") == head(db))
    finally:
        service.stop()
    received = receiver.lines()
    expected = stored_ids(db)
    assert first_occurrences(received) == expected  # nothing lost, log order
    assert_in_log_order(received)
    dropped = [r for r in receiver.requests if not r["acked"]]
    assert len(dropped) == 1
    repeats = {d["id"] for d in received} and [d["id"] for d in received]
    twice = {i for i in repeats if repeats.count(i) > 1}
    assert twice == {
        json.loads(x)["id"] for x in dropped[0]["body"].decode().splitlines()
    }  # only the unacknowledged batch
    assert all(repeats.count(i) == 2 for i in twice)
    assert service.status()[0].delivered == len(expected)  # acknowledged events, each once


def test_a_restart_resumes_from_the_cursor(db_path: Path, receiver: Receiver, tmp_path: Path) -> None:
    path = streams_file(
        tmp_path, {"name": "siem", "kind": "http", "url": f"http://127.0.0.1:{receiver.port}/in", "batch_size": 25}
    )
    with Database(db_path) as db:
        ingest(db, events("before", 30))  # stored before the destination existed: start=end skips them
        service = service_for(db, path)
        ingest(db, events("first", 60))
        while service.deliver_batch("siem"):
            pass
        moved = cursor(db, "siem")
    lines = receiver.lines()
    # the first event sent is the audit log's own record of the destination being added
    assert (lines[0]["action"], lines[0]["target"]["id"], lines[0]["metadata"]["change"]) == (
        "audit.settings_change",
        "siem",
        "stream added",
    )
    assert [d["id"] for d in lines[1:]] == [f"first-{i:05d}" for i in range(60)]
    with Database(db_path) as db:  # the server starts again
        ingest(db, events("second", 10))
        service = service_for(db, path)
        assert cursor(db, "siem") == moved
        service.cycle("siem")
        assert cursor(db, "siem") == head(db)
    ids = [d["id"] for d in receiver.lines()[1:]]
    assert ids == [f"first-{i:05d}" for i in range(60)] + [f"second-{i:05d}" for i in range(10)]


def test_filter_is_respected_and_the_cursor_passes_what_it_leaves_out(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    path = streams_file(
        tmp_path,
        {
            "name": "failures",
            "kind": "http",
            "url": f"http://127.0.0.1:{receiver.port}/in",
            "start": "beginning",
            "filter": "categories=authentication&outcome=failure&users=u7&hours=11&tz=Europe/Berlin",
        },
    )
    ingest(db, events("ok", 20))
    ingest(db, events("bad", 15, outcome="failure", reason="wrong password", actor={"id": "u7", "name": "Eve"}))
    ingest(db, events("other", 5, outcome="failure", reason="wrong password"))  # another user
    late = event(id="late", occurred_at="2026-05-01T12:00:00Z", outcome="failure", reason="wrong password")
    ingest(db, [{**late, "actor": {"id": "u7", "name": "Eve"}}])  # 14:00 in Berlin: another hour
    ingest(db, events("tail", 10))
    service = service_for(db, path)
    service.cycle("failures")
    assert [d["id"] for d in receiver.lines()] == [f"bad-{i:05d}" for i in range(15)]
    assert cursor(db, "failures") == head(db)
    assert service.check_lag("failures").events == 0


def test_splunk_hec_and_ocsf_shapes(db: Database, receiver: Receiver, tmp_path: Path) -> None:
    (tmp_path / "hec.token").write_text("11111111-2222-3333-4444-555555555555\n")
    url = f"http://127.0.0.1:{receiver.port}/services/collector/event"
    path = streams_file(
        tmp_path,
        {
            "name": "hec",
            "kind": "http",
            "url": url,
            "envelope": "hec",
            "token_file": "hec.token",
            "start": "beginning",
            "filter": "accounts=acme",
        },
        {
            "name": "hec-ocsf",
            "kind": "http",
            "url": url,
            "envelope": "hec",
            "format": "ocsf",
            "token_env": "AUDITDASH_TEST_HEC",
            "index": "audit",
            "start": "beginning",
            "filter": "accounts=acme",
        },
        {"name": "ocsf", "kind": "http", "url": url, "format": "ocsf", "start": "beginning", "filter": "accounts=acme"},
    )
    ingest(db, events("e", 3, outcome="failure", reason="bad code", action="auth.login"))
    service = service_for(db, path)
    seqs = {i: s for i, s in zip(stored_ids(db)[:3], range(1, 4), strict=True)}  # then the audit's own
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AUDITDASH_TEST_HEC", "secret-from-env")
        for name in ("hec", "hec-ocsf", "ocsf"):
            receiver.requests.clear()
            assert service.deliver_batch(name) == 3
            request = receiver.requests[-1]
            if name == "hec":
                assert request["headers"]["Authorization"] == "Splunk 11111111-2222-3333-4444-555555555555"
                for line in receiver.lines():
                    assert set(line) == {"time", "host", "source", "sourcetype", "event", "fields"}
                    assert line["sourcetype"] == "auditdash:event" and isinstance(line["time"], float)
                    assert line["fields"] == {
                        "event_id": line["event"]["id"],
                        "seq": str(line["event"]["stored"]["seq"]),
                    }
                    assert line["event"]["outcome"] == "failure" and line["event"]["reason"] == "bad code"
            elif name == "hec-ocsf":
                assert request["headers"]["Authorization"] == "Splunk secret-from-env"
                for line in receiver.lines():
                    assert line["index"] == "audit" and line["sourcetype"] == "ocsf:auditdash"
                    ocsf = line["event"]
                    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["status_id"]) == (3002, 1, 2)
                    assert ocsf["metadata"]["uid"] == line["fields"]["event_id"]
                    assert ocsf["metadata"]["sequence"] == int(line["fields"]["seq"])
            else:
                assert "Authorization" not in request["headers"]
                assert request["headers"]["Content-Type"] == "application/x-ndjson"
                docs = receiver.lines()
                assert [d["metadata"]["uid"] for d in docs] == list(seqs)
                assert [d["metadata"]["sequence"] for d in docs] == list(seqs.values())
                assert all(d["metadata"]["version"] == "1.1.0" and d["type_uid"] == 300201 for d in docs)


def test_refusals_and_errors_say_what_and_where(db: Database, receiver: Receiver, tmp_path: Path) -> None:
    base = {"name": "x", "kind": "http", "url": f"http://127.0.0.1:{receiver.port}/"}
    cases = [
        ({**base, "token": "abc"}, "token_file or token_env"),
        ({**base, "filter": "range=24h"}, "range cannot be used"),
        ({**base, "filter": "categories=nonsense"}, "unknown category 'nonsense'"),
        ({**base, "format": "cef"}, "cef is for syslog"),
        ({**base, "envelope": "hec"}, "needs a token"),
        ({**base, "colour": "red"}, "unknown setting(s) colour"),
        ({"name": "y", "kind": "syslog", "transport": "tcp"}, "host is missing"),
        ({**base, "url": "ftp://example.com"}, "url must be an http:// or https://"),
    ]
    for raw, said in cases:
        path = streams_file(tmp_path, raw)
        with pytest.raises(StreamConfigError) as caught:
            load_destinations(path)
        assert said in str(caught.value) and str(path) in str(caught.value) and "destination 1" in str(caught.value)
    path = streams_file(tmp_path, base, base)
    with pytest.raises(StreamConfigError, match="used twice: x"):
        load_destinations(path)
    missing_ca = {"name": "t", "kind": "syslog", "host": "127.0.0.1", "ca_file": "no-such-ca.pem"}
    with pytest.raises(StreamConfigError, match=r"stream t: cannot load its TLS files: .*No such file"):
        StreamService(db, load_destinations(streams_file(tmp_path, missing_ca)))
    # a receiver that answers 503: the error names the destination, the status and the answer
    receiver.answer = 503
    service = service_for(db, streams_file(tmp_path, {**base, "start": "beginning"}))
    ingest(db, events("e", 2))
    service.cycle("x")
    status = service.status()[0]
    assert status.cursor == 0 and status.state == "retrying"
    assert (
        status.last_error
        and "stream x" in status.last_error
        and "HTTP 503" in status.last_error
        and "busy" in status.last_error
    )


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    import random

    rng = random.Random(7)
    waits = [backoff_s(n, 30, rng) for n in range(1, 10)]
    assert all(
        0.5 * min(30, 2 ** (n - 1)) <= w <= min(30, 2 ** (n - 1)) for n, w in zip(range(1, 10), waits, strict=True)
    )
    assert backoff_s(0, 30) == 0.0 and max(waits) <= 30


def test_lag_alert_page_and_self_log(db_path: Path, tmp_path: Path) -> None:
    from dashboard.web.app import create_app
    from dashboard.web.auth_rules import decide_page

    dead = free_port()  # nothing listens here
    path = streams_file(
        tmp_path,
        {"name": "down", "kind": "http", "url": f"http://127.0.0.1:{dead}/in", "start": "beginning"},
        {"name": "quiet", "kind": "http", "url": f"http://127.0.0.1:{dead}/in", "filter": "actions=agent.delete"},
    )
    settings = Settings(db_path=db_path, geo_dir=GEO_DIR, streams_path=path, stream_lag_events=5)
    with Database(db_path) as db:
        ingest(db, events("e", 8))
        app = create_app(settings, db)
        assert {"stream.down", "stream.quiet"} <= set(app.server.extensions["auditdash"].scheduler.jobs)
        service = app.server.extensions["auditdash.streams"]
        service.cycle("down")
        service.cycle("quiet")  # nothing matches: its cursor moves to the newest event
        quiet_cursor = cursor(db, "quiet")
        assert quiet_cursor == head(db)
        with db.connect() as conn:
            rows = conn.execute(sa.select(A.c.rule_id, A.c.alert_key, A.c.measures, A.c.severity)).fetchall()
        assert [(r.rule_id, r.alert_key, r.severity) for r in rows] == [("stream_lag", "stream=down", "high")]
        assert json.loads(rows[0].measures)["undelivered"] >= 8
        service.cycle("down")  # still behind: the same alert, not a second one
        with db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(A)).scalar_one() == 1
        page = sys.modules["pages.streams"]
        with app.server.test_request_context("/streams"):
            text = json.dumps(page.layout().to_plotly_json(), default=lambda o: o.to_plotly_json())
            assert "down" in text and "connection refused" in text and "retrying" in text and "quiet" in text
            assert "1 failed in a row" in text and "up to date" in text  # quiet: nothing matched, nothing due
        service.set_paused("down", True, "ana", role="admin")  # what the page's Pause button calls
        assert service.status()[0].state == "paused"
        registry = list(dash.page_registry.values())
        assert decide_page("manager", "/streams", registry).status == 403
        assert decide_page("admin", "/streams", registry).allowed
    # every configuration change is in the audit log: two streams added, one paused
    with Database(db_path) as db, db.connect() as conn:
        logged = conn.execute(
            sa.select(E.c.action, E.c.actor_id, E.c.target_id, E.c.metadata)
            .where(E.c.category == "audit")
            .order_by(E.c.seq)
        ).fetchall()
    changes = [
        (r.target_id, json.loads(r.metadata)["change"], r.actor_id)
        for r in logged
        if r.action == "audit.settings_change"
    ]
    assert changes == [
        ("down", "stream added", "system"),
        ("quiet", "stream added", "system"),
        ("down", "stream paused", "ana"),
    ]
    # the file changes: one destination gets another filter, the other is removed
    path = streams_file(
        tmp_path,
        {"name": "down", "kind": "http", "url": f"http://127.0.0.1:{dead}/in", "filter": "outcome=failure"},
    )
    with Database(db_path) as db:
        said = StreamService(db, load_destinations(path)).sync_config()
        assert said == [
            "stream changed: down (resumes after seq 0)",
            f"stream quiet removed (its cursor, seq {quiet_cursor}, is kept)",
        ]
        with db.connect() as conn:
            last = conn.execute(
                sa.select(E.c.target_id, E.c.metadata, E.c.changes)
                .where(E.c.category == "audit")
                .order_by(E.c.seq.desc())
                .limit(2)
            ).fetchall()
    assert [(r.target_id, json.loads(r.metadata)["change"]) for r in reversed(last)] == [
        ("down", "stream changed"),
        ("quiet", "stream removed"),
    ]
    assert json.loads(last[1].changes)["stream"][1]["filter"] == "outcome=failure"

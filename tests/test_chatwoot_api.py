"""The Chatwoot connector against a Chatwoot-shaped HTTP server on 127.0.0.1.

The stand-in answers `GET /api/v1/accounts/{id}/audit_logs?page=N` as Chatwoot Enterprise does
(newest first, 15 entries a page, `{per_page, total_entries, current_page, audit_logs}`, the
`api_access_token` header required), and records the pages asked for. Events land in a real
DuckDB file through the real ingest path.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.ingest.chatwoot_api import ChatwootError, ChatwootSource, PullState, pull
from dashboard.ingest.geo import default_locator
from dashboard.ingest.pipeline import Ingestor
from dashboard.store.db import Database
from tests.conftest import (
    GEO_DIR,
    WebClient,
    cli,
    first_admin_password,
    free_port,
    page_payload,
    start_server,
    stop_server,
)

TOKEN = "cw-admin-token"
ACCOUNT = "7"
PER_PAGE = 15
BASE = 1_780_000_000  # epoch seconds (2026-05-28)


def entry(n: int) -> dict[str, Any]:
    """Chatwoot audit log entry number `n`, cycling through the kinds an account records."""
    kind = n % 5
    common: dict[str, Any] = {
        "id": n,
        "user_id": 100 + n % 4,
        "user_type": "User",
        "username": f"agent{n % 4}@example.com",
        "version": 1,
        "comment": None,
        "request_uuid": f"req-{n}",
        "created_at": BASE + 60 * n,
        "remote_address": "81.2.69.142" if n % 2 else "203.0.113.x",
        "associated_type": "Account",
        "associated_id": int(ACCOUNT),
    }
    if kind == 0:
        return {**common, "auditable_type": "User", "auditable_id": 100 + n % 4, "action": "sign_in"}
    if kind == 1:
        return {
            **common,
            "auditable_type": "AccountUser",
            "auditable_id": 900 + n,
            "action": "update",
            "audited_changes": {"role": [0, 1]},
        }
    if kind == 2:
        return {
            **common,
            "auditable_type": "Label",
            "auditable_id": 300 + n,
            "action": "create",
            "audited_changes": {"title": f"label-{n}"},
        }
    if kind == 3:
        return {
            **common,
            "auditable_type": "AutomationRule",
            "auditable_id": 400 + n,
            "action": "destroy",
            "audited_changes": {"name": f"rule-{n}"},
        }
    return {**common, "auditable_type": "User", "auditable_id": 100 + n % 4, "action": "sign_out"}


class FakeChatwoot:
    """The audit log API of one account, newest first."""

    def __init__(self, count: int) -> None:
        self.entries = [entry(n) for n in range(1, count + 1)]
        self.pages: list[int] = []
        self.fail_next: list[tuple[int, dict[str, str]]] = []  # (status, headers) answered before the next pages
        self.hidden: set[int] = set()  # ids not yet visible (a transaction that has not committed)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                if url.path != f"/api/v1/accounts/{ACCOUNT}/audit_logs":
                    return self._send(404, {"error": "Resource could not be found"})
                if self.headers.get("api_access_token") != TOKEN:
                    return self._send(401, {"errors": ["You need to sign in or sign up before continuing."]})
                with fake.lock:
                    if fake.fail_next:
                        status, headers = fake.fail_next.pop(0)
                        return self._send(status, {"error": "slow down"}, headers)
                    page = int(urllib.parse.parse_qs(url.query).get("page", ["1"])[0])
                    fake.pages.append(page)
                    newest = [e for e in reversed(fake.entries) if e["id"] not in fake.hidden]
                    rows = newest[(page - 1) * PER_PAGE : page * PER_PAGE]
                    body = {
                        "audit_logs": rows,
                        "current_page": page,
                        "per_page": PER_PAGE,
                        "total_entries": len(newest),
                    }
                self._send(200, body)

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, count: int) -> None:
        with self.lock:
            start = len(self.entries) + 1
            self.entries += [entry(n) for n in range(start, start + count)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def chatwoot() -> Iterator[FakeChatwoot]:
    fake = FakeChatwoot(40)
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    with Database(tmp_path / "cw.duckdb") as database:
        yield database


def _ingestor(db: Database) -> Ingestor:
    return Ingestor(db, default_locator(GEO_DIR), batch_size=1000)


def _stored(db: Database, source: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT event_id, action, changes, ip, ip_scope, account_id, actor_email, outcome "
                "FROM events WHERE source = :s ORDER BY seq"
            ),
            {"s": source},
        )
        return [dict(r._mapping) for r in rows]


def test_first_pull_stores_every_entry_and_the_next_reads_only_the_first_page(
    chatwoot: FakeChatwoot, db: Database
) -> None:
    source = ChatwootSource(chatwoot.url, ACCOUNT, TOKEN)
    first = pull(db, _ingestor(db), source)
    assert (first.pages, first.new, first.accepted, first.rejected, first.cursor) == (3, 40, 40, 0, 40)
    assert chatwoot.pages == [1, 2, 3]
    assert source.source == f"chatwoot:{chatwoot.url.removeprefix('http://')}/{ACCOUNT}"
    rows = _stored(db, source.source)
    assert len(rows) == 40
    assert [r["event_id"] for r in rows][:3] == ["chatwoot-7-1", "chatwoot-7-2", "chatwoot-7-3"]  # oldest first
    role = next(r for r in rows if r["event_id"] == "chatwoot-7-1")
    assert role["action"] == "agent.role_change"
    assert json.loads(role["changes"]) == {"role": ["agent", "administrator"]}
    assert role["account_id"] == ACCOUNT and role["actor_email"] == "agent1@example.com"
    assert {r["ip_scope"] for r in rows} == {"public", "masked"}
    assert {r["action"] for r in rows} == {
        "agent.role_change",
        "label.create",
        "automation_rule.delete",
        "auth.logout",
        "auth.login",
    }

    chatwoot.pages.clear()
    chatwoot.add(5)
    second = pull(db, _ingestor(db), source)
    # the 5 new ones, and the last OVERLAP ids below the cursor read again (stored once)
    assert (second.new, second.accepted, second.duplicates, second.cursor) == (25, 5, 20, 45)
    assert chatwoot.pages == [1, 2]  # page 2 reached below the overlap: no need to read on
    assert pull(db, _ingestor(db), source).accepted == 0
    state = PullState.load(db, source)
    assert (state.cursor, state.pulled_total, state.last_error) == (45, 45, None)


def test_an_entry_that_becomes_visible_late_is_not_skipped(chatwoot: FakeChatwoot, db: Database) -> None:
    source = ChatwootSource(chatwoot.url, ACCOUNT, TOKEN)
    pull(db, _ingestor(db), source)
    chatwoot.add(5)
    chatwoot.hidden = {43}  # 44 and 45 committed before 43
    first = pull(db, _ingestor(db), source)
    assert (first.accepted, first.cursor) == (4, 45)
    chatwoot.hidden = set()
    late = pull(db, _ingestor(db), source)
    assert late.accepted == 1
    assert len(_stored(db, source.source)) == 45


def test_redirects_and_odd_retry_answers(chatwoot: FakeChatwoot, db: Database) -> None:
    waits: list[float] = []
    chatwoot.fail_next = [(429, {"Retry-After": "-3"}), (503, {"Retry-After": "soon"}), (503, {"Retry-After": "nan"})]
    result = pull(db, _ingestor(db), ChatwootSource(chatwoot.url, ACCOUNT, TOKEN), sleep=waits.append)
    assert result.accepted == 40 and waits == [0.0, 2.0, 4.0]  # never negative; unreadable: the backoff
    chatwoot.fail_next = [(302, {"Location": "http://198.51.100.7/steal"})]
    with pytest.raises(ChatwootError, match=r"with a redirect \(HTTP 302\) to http://198.51.100.7/steal"):
        pull(db, _ingestor(db), ChatwootSource(chatwoot.url, ACCOUNT, TOKEN), sleep=waits.append)


def test_a_long_log_is_read_over_several_bounded_pulls_without_gaps(chatwoot: FakeChatwoot, db: Database) -> None:
    chatwoot.add(60)  # 100 entries, 7 pages
    source = ChatwootSource(chatwoot.url, ACCOUNT, TOKEN, max_pages=2)
    first = pull(db, _ingestor(db), source)
    assert not first.complete and first.accepted == 30 and first.cursor is None
    state = PullState.load(db, source)
    assert (state.resume_page, state.resume_high) == (3, 100)
    assert state.last_error == "stopped after 2 pages; the next pull goes on"
    chatwoot.add(4)  # new entries meanwhile shift every page by four
    results = []
    for _ in range(5):
        results.append(pull(db, _ingestor(db), source))
        if results[-1].complete:
            break
    assert results[-1].complete and results[-1].cursor == 100
    # the entries that arrived during the backfill come with the next pull from page 1
    last = pull(db, _ingestor(db), source)
    assert last.accepted == 4 and last.cursor == 104
    with db.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT event_id FROM events WHERE source LIKE 'chatwoot:%'"))]
    assert sorted(ids) == sorted(f"chatwoot-7-{n}" for n in range(1, 105))  # each once, none missing


def test_errors_say_what_to_do_and_are_remembered(chatwoot: FakeChatwoot, db: Database) -> None:
    with pytest.raises(ChatwootError, match=r"refused the access token \(HTTP 401\).*administrator"):
        pull(db, _ingestor(db), ChatwootSource(chatwoot.url, ACCOUNT, "wrong"))
    state = PullState.load(db, ChatwootSource(chatwoot.url, ACCOUNT, "wrong"))
    assert state.last_error and "HTTP 401" in state.last_error and state.last_ok_at is None
    with pytest.raises(ChatwootError, match=r"no audit log at .*/accounts/8/audit_logs\?page=1 \(HTTP 404\)"):
        pull(db, _ingestor(db), ChatwootSource(chatwoot.url, "8", TOKEN))
    with pytest.raises(ChatwootError, match="not a number"):
        ChatwootSource(chatwoot.url, "acme", TOKEN)
    with pytest.raises(ChatwootError, match="not an http"):
        ChatwootSource("ftp://chatwoot.example.com", ACCOUNT, TOKEN)

    # a rate limit and a restarting server are waited out, as the server asks
    waits: list[float] = []
    chatwoot.fail_next = [(429, {"Retry-After": "3"}), (503, {})]
    result = pull(db, _ingestor(db), ChatwootSource(chatwoot.url, ACCOUNT, TOKEN), sleep=waits.append)
    assert result.accepted == 40 and waits == [3.0, 2.0]

    closed = free_port()
    with pytest.raises(ChatwootError, match=f"cannot reach Chatwoot at http://127.0.0.1:{closed}/"):
        pull(db, _ingestor(db), ChatwootSource(f"http://127.0.0.1:{closed}", ACCOUNT, TOKEN), sleep=lambda s: None)


def test_command_line_pull_and_status(chatwoot: FakeChatwoot, tmp_path: Path) -> None:
    db_path = str(tmp_path / "cli.duckdb")
    args = ("--url", chatwoot.url, "--account", ACCOUNT, "--db", db_path)
    bad = cli("chatwoot", "pull", *args, "--token-stdin", input_text="nope\n", check=False)
    assert bad.returncode == 1 and "refused the access token (HTTP 401)" in bad.stderr
    done = cli("chatwoot", "pull", *args, "--token-stdin", "--json", input_text=TOKEN + "\n")
    assert json.loads(done.stdout)["accepted"] == 40
    status = json.loads(cli("chatwoot", "status", *args, "--json").stdout)
    assert (status["cursor"], status["pulled_total"], status["last_error"]) == (40, 40, None)
    words = cli("chatwoot", "status", *args).stdout
    assert "newest Chatwoot audit id stored: 40; entries pulled in all: 40" in words


def test_the_server_pulls_on_its_schedule(chatwoot: FakeChatwoot, tmp_path: Path) -> None:
    token_file = tmp_path / "chatwoot.token"
    token_file.write_text(TOKEN + "\n")
    env = {
        "AUDITDASH_CHATWOOT_URL": chatwoot.url,
        "AUDITDASH_CHATWOOT_ACCOUNT_ID": ACCOUNT,
        "AUDITDASH_CHATWOOT_TOKEN_FILE": str(token_file),
        "AUDITDASH_CHATWOOT_INTERVAL_S": "1",
    }
    db_path = tmp_path / "served.duckdb"
    server = start_server(db_path, tmp_path, tmp_path / "server.log", env)
    try:
        chatwoot.add(2)
        mark = len(chatwoot.pages)
        # a pull that reads page 1 after the two new entries stores them; the job never overlaps
        # itself, so once a second pull has begun, the first one's entries are stored
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and chatwoot.pages[mark:].count(1) < 2:
            time.sleep(0.2)
        assert chatwoot.pages[mark:].count(1) >= 2, server.log.read_text()
        # the administrators' page says what the pulls did
        admin = WebClient(server)
        assert admin.login("admin", first_admin_password(server)).status == 302
        page = admin.callback(page_payload("/admin"))
        assert page.status == 200
        source = f"chatwoot:{chatwoot.url.removeprefix('http://')}/{ACCOUNT}"
        table = json.dumps(page.json())
        assert source in table and "every 1 s" in table and '"42"' in table
    finally:
        stop_server(server)
    with Database(db_path) as db:
        assert len(_stored(db, f"chatwoot:{chatwoot.url.removeprefix('http://')}/{ACCOUNT}")) == 42

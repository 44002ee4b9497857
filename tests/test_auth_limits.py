"""Sessions that end, logins that slow down and lock, the second factor, the first administrator.

A real server with the limits turned down to seconds (idle 4 s, absolute 8 s, lockout 5 s after
3 failures of a name or 6 of an address, 2 s base delay), so the tests wait for real, briefly.

The limits leave room for a loaded machine, where a request can take a second or two: the server
notes activity in steps of a quarter of the idle timeout, so a session may end 3/4 of it after
the last request; what must happen within a limit is done in as few requests as possible; and
what must happen after a limit is measured from before the request that started it.
"""

from __future__ import annotations

import json
import math
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.users import create_user, totp_code, totp_enable, totp_step
from dashboard.store.db import Database
from tests.conftest import (
    Server,
    WebClient,
    cli,
    first_admin_password,
    page_payload,
    start_server,
    stop_server,
)

IDLE_S = 4
MAX_AGE_S = 8
LOCKOUT_S = 5
DELAY_S = 2  # after the second failure of a name (then the third locks it)
LIMITS = {
    "AUDITDASH_SESSION_IDLE_TIMEOUT_S": str(IDLE_S),
    "AUDITDASH_SESSION_MAX_AGE_S": str(MAX_AGE_S),
    "AUDITDASH_LOGIN_MAX_FAILURES": "3",
    "AUDITDASH_LOGIN_MAX_FAILURES_PER_ADDRESS": "6",
    "AUDITDASH_LOGIN_LOCKOUT_S": str(LOCKOUT_S),
    "AUDITDASH_LOGIN_DELAY_S": str(DELAY_S),
}
#: the server's clock (UTC wall time) and the test's (monotonic) may disagree by this much
CLOCK_SLACK_S = 0.5
PASSWORD = "limits-test-password"
USERS = {"ivy": "compliance", "abe": "manager", "lena": "manager", "otto": "manager", "kiosk": "wall"}


@dataclass
class Limits:
    server: Server
    totp_secret: str


@pytest.fixture(scope="module")
def limits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Limits]:
    tmp = tmp_path_factory.mktemp("auth-limits")
    db_path = tmp / "limits.duckdb"
    with Database(db_path) as db:
        for name, role in USERS.items():
            create_user(db, name, role, PASSWORD)
        uri = totp_enable(db, "otto")
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    server = start_server(db_path, tmp, tmp / "limits.log", LIMITS)
    try:
        yield Limits(server, secret)
    finally:
        stop_server(server)


def _login(server: Server, name: str, password: str = PASSWORD) -> tuple[WebClient, int]:
    client = WebClient(server)
    return client, client.login(name, password).status


def test_idle_session_ends(limits: Limits) -> None:
    client, status = _login(limits.server, "ivy")
    assert status == 302
    assert client.request("GET", "/").status == 200
    time.sleep(1.2)
    assert client.request("GET", "/").status == 200  # activity keeps it alive
    time.sleep(IDLE_S + 0.6)
    gone = client.request("GET", "/")
    assert gone.status == 302
    assert gone.headers["Location"].startswith("/login")
    assert client.callback(page_payload("/")).status == 401
    # and the old cookie stays dead even after a new sign-in elsewhere
    assert _login(limits.server, "ivy")[1] == 302
    assert client.request("GET", "/_dash-layout").status == 401


def test_session_ends_at_its_absolute_timeout_however_busy(limits: Limits) -> None:
    before_login = time.monotonic()
    client, status = _login(limits.server, "abe")
    assert status == 302
    after_login = time.monotonic()  # the session began between these two moments
    while True:
        sent = time.monotonic()
        if client.request("GET", "/_dash-layout").status != 200:
            break
        # a request sent this long after the sign-in reached the server after the timeout
        assert sent - after_login < MAX_AGE_S + CLOCK_SLACK_S, "the session outlived its absolute timeout"
        time.sleep(0.5)  # busy: far more often than the idle timeout
    # ... and the answer that found it ended came no sooner than the timeout after the sign-in
    assert time.monotonic() - before_login > MAX_AGE_S - CLOCK_SLACK_S


def test_wall_session_has_no_idle_timeout_and_a_lasting_cookie(limits: Limits) -> None:
    client = WebClient(limits.server)
    reply = client.login("kiosk", PASSWORD, next_path="/admin")
    assert reply.status == 302
    assert reply.headers["Location"] == "/wall"
    assert "Expires=" in reply.headers["Set-Cookie"]  # survives a kiosk's browser restart
    assert client.request("GET", "/").headers["Location"] == "/wall"
    time.sleep(IDLE_S + 0.6)
    assert client.request("GET", "/wall").status == 200
    ivy, _ = _login(limits.server, "ivy")
    assert "Expires=" not in (ivy.request("GET", "/").headers.get("Set-Cookie") or "")


def test_second_factor(limits: Limits) -> None:
    client, status = _login(limits.server, "otto")
    assert status == 200  # the password was right: now the code
    assert client.request("GET", "/").status == 302  # not signed in yet
    form_token = client.form_token("/login")
    wrong = client.request("POST", "/login/totp", form={"csrf_token": form_token, "code": "000000"})
    assert wrong.status == 401
    code = totp_code(limits.totp_secret, totp_step())
    ok = client.request("POST", "/login/totp", form={"csrf_token": client.form_token("/login"), "code": code})
    assert ok.status == 302, ok.text
    assert client.request("GET", "/").status == 200
    # the same code cannot be used twice
    again, status = _login(limits.server, "otto")
    assert status == 200
    replay = again.request("POST", "/login/totp", form={"csrf_token": again.form_token("/login"), "code": code})
    assert replay.status == 401


def test_lockout_of_a_user_name(limits: Limits) -> None:
    server = limits.server
    assert _login(server, "lena", "wrong-1")[1] == 401
    client = WebClient(server)
    form = {"csrf_token": client.form_token(), "username": "lena", "password": "wrong-3", "next": "/"}
    started = time.monotonic()
    assert _login(server, "lena", "wrong-2")[1] == 401
    too_soon = client.request("POST", "/login", form=form)  # one request, at once
    elapsed = time.monotonic() - started
    assert too_soon.status == 429  # progressive delay: wait DELAY_S after the second failure
    # the whole seconds left of the delay, counted when the attempt reached the server
    assert max(1, math.ceil(DELAY_S - elapsed)) <= int(too_soon.headers["Retry-After"]) <= DELAY_S
    time.sleep(DELAY_S + 0.1)
    assert _login(server, "lena", "wrong-3")[1] == 401  # the third failure locks the name
    locked = WebClient(server).login("lena", PASSWORD)
    assert locked.status == 429  # even the right password
    assert "Too many failed sign-ins" in locked.text
    assert _login(server, "ivy")[1] == 302  # other names from the same address are not locked
    time.sleep(LOCKOUT_S + 0.2)
    assert _login(server, "lena")[1] == 302


def test_lockout_of_an_address(limits: Limits) -> None:
    server = limits.server
    for i in range(6):
        assert _login(server, f"nobody-{i}", "guess")[1] == 401
    assert _login(server, "ivy")[1] == 429  # the address is locked for every name
    time.sleep(LOCKOUT_S + 0.2)
    assert _login(server, "ivy")[1] == 302


def test_zz_every_failure_and_lockout_is_in_the_audit_log(limits: Limits) -> None:
    stop_server(limits.server)
    with Database(limits.server.db_path) as db, db.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT action, outcome, reason, actor_id, target_type, target_id, metadata, ip FROM events "
                    "WHERE category = 'audit' ORDER BY seq"
                )
            )
        ]

    def reasons(actor: str) -> list[Any]:
        return [r["reason"] for r in rows if r["action"] == "audit.login" and r["actor_id"] == actor]

    assert reasons("lena")[:5] == [
        "wrong password",
        "wrong password",
        "throttled: too soon after failed attempts",
        "wrong password",
        "user locked",
    ]
    assert reasons("lena")[-1] is None  # the sign-in after the lockout
    assert reasons("nobody-0") == ["unknown user"]
    assert "address locked" in reasons("ivy")
    assert "wrong one-time code" in reasons("otto")
    lockouts = [r for r in rows if r["action"] == "audit.lockout"]
    scopes = {(json.loads(r["metadata"])["scope"], r["target_id"]) for r in lockouts}
    assert ("user", "lena") in scopes
    assert ("address", "127.0.0.1") in scopes
    ended = [json.loads(r["metadata"]).get("ended") for r in rows if r["action"] == "audit.logout"]
    assert "idle timeout" in ended
    assert "absolute timeout" in ended
    assert all(r["ip"] == "127.0.0.1" for r in rows if r["action"].startswith("audit.log"))


def test_first_start_administrator(tmp_path: Path) -> None:
    db_path = tmp_path / "fresh.duckdb"
    server = start_server(db_path, tmp_path, tmp_path / "fresh.log")
    try:
        password = first_admin_password(server)
        client = WebClient(server)
        assert client.login("admin", "wrong-password-here").status == 401
        assert client.login("admin", password).status == 302
        assert client.request("GET", "/admin").status == 200
    finally:
        stop_server(server)
    assert password.encode() not in db_path.read_bytes()
    listed = json.loads(cli("users", "list", "--db", str(db_path), "--json").stdout)
    assert [(u["username"], u["role"]) for u in listed] == [("admin", "admin")]
    again = start_server(db_path, tmp_path, tmp_path / "again.log")
    stop_server(again)
    assert "password:" not in again.log.read_text()

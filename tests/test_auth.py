"""Users, passwords, the second factor, throttling and the access rules, without a server.

Real DuckDB files; the command line runs as a subprocess, the way an operator runs it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access import users
from dashboard.access.tokens import create_token, revoke_token
from dashboard.config import ConfigError, Settings
from dashboard.store.db import Database
from dashboard.store.errors import StoreError
from dashboard.web import auth_rules
from dashboard.web.access import ROLES
from dashboard.web.auth import load_secret_key, secret_key_path
from tests.conftest import cli

ADMIN = users.Actor("ada", "admin", "192.0.2.1", "pytest", "sess-1")


def audit_rows(db: Database, action: str) -> list[dict[str, Any]]:
    with db.connect() as conn:
        result = conn.execute(
            sa.text(
                "SELECT action, outcome, actor_id, actor_role, target_type, target_id, changes, metadata, ip, "
                "session_id, category FROM events WHERE action = :a ORDER BY seq"
            ),
            {"a": action},
        )
        return [dict(r._mapping) for r in result]


# -- second factor: RFC 6238 appendix B (SHA-1, 8 digits) --------------------------------------------------
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # base32 of "12345678901234567890"


@pytest.mark.parametrize(
    ("unix_time", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_totp_matches_the_rfc_6238_test_vectors(unix_time: int, code: str) -> None:
    assert users.totp_code(RFC_SECRET, users.totp_step(unix_time), digits=8) == code


def test_totp_accepts_one_step_of_drift_and_refuses_replays() -> None:
    now = 1_700_000_000.0
    step = users.totp_step(now)
    current = users.totp_code(RFC_SECRET, step)
    assert users.totp_match(RFC_SECRET, current, now) == step
    assert users.totp_match(RFC_SECRET, users.totp_code(RFC_SECRET, step - 1), now) == step - 1
    assert users.totp_match(RFC_SECRET, users.totp_code(RFC_SECRET, step - 2), now) is None
    assert users.totp_match(RFC_SECRET, current, now, last_step=step) is None
    assert users.totp_match(RFC_SECRET, "12345", now) is None
    uri = users.totp_uri("ana", RFC_SECRET)
    assert uri.startswith("otpauth://totp/auditdash%3Aana?secret=" + RFC_SECRET)


# -- the access rules ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "ids"),
    [
        ("wall-kpis.children", ["wall-kpis"]),
        ("..wall-a.children...wall-b.figure..", ["wall-a", "wall-b"]),
        ('{"index":["ALL"],"type":"wall-card"}.children', [{"index": ["ALL"], "type": "wall-card"}]),
        (
            '..{"type":"chart","name":["MATCH"]}.figure...explorer-table.data..',
            [{"type": "chart", "name": ["MATCH"]}, "explorer-table"],
        ),
    ],
)
def test_callback_output_ids_are_read_from_dashs_key(key: str, ids: list[Any]) -> None:
    assert auth_rules.output_ids(key) == ids


@pytest.mark.parametrize(
    ("role", "key", "status"),
    [
        ("wall", "wall-kpis.children", None),
        ("wall", '{"type":"wall-card","index":["ALL"]}.children', None),
        ("wall", "..wall-kpis.children...explorer-table.data..", 403),
        ("wall", "explorer-table.data", 403),
        ("manager", "explorer-table.data", None),
        ("manager", "admin-users-table.children", 403),
        ("compliance", "admin-users-table.children", 403),
        ("admin", "admin-users-table.children", None),
    ],
)
def test_callback_rules(role: str, key: str, status: int | None) -> None:
    wall_page = {"path": "/wall", "module": "pages.wall"}
    route = auth_rules.CallbackRoute(key, "page" if key.startswith(("wall-", '{"type":"wall')) else "shell", wall_page)
    decision = auth_rules.decide_callback(role, route, {}, [wall_page])
    assert decision.status == status


def test_page_rules_follow_the_registry() -> None:
    registry = [
        {"path": "/", "module": "pages.overview"},
        {"path": "/admin", "module": "pages.admin", "roles": ("admin",)},
        {"path": "/events/<event_id>", "path_template": "/events/<event_id>", "module": "pages.detail"},
    ]
    assert auth_rules.decide_page("manager", "/admin", registry).status == 403
    assert auth_rules.decide_page("admin", "/admin/", registry).allowed
    assert auth_rules.decide_page("manager", "/events/abc", registry).allowed
    assert auth_rules.page_for_path("/events/abc", registry) == registry[2]
    assert auth_rules.decide_page("wall", "/", registry).redirect == "/wall"
    assert auth_rules.decide_page("wall", "/wall", registry).allowed
    assert auth_rules.decide_page("wall", "/events/abc", registry).status == 403
    # the module's page restricts its callbacks too, and the router checks the pathname
    admin_cb = auth_rules.CallbackRoute("x.children", "page", registry[1])
    assert auth_rules.decide_callback("manager", admin_cb, {}, registry).status == 403
    pathname = {"id": "_pages_location", "property": "pathname"}
    router = auth_rules.CallbackRoute(".._pages_content.children..._pages_store.data..", "router", inputs=(pathname,))
    body = {"inputs": [{**pathname, "value": "/admin"}]}
    # a signed-in person navigating there gets the page's refusal in words (its layout is guarded)
    assert auth_rules.decide_callback("manager", router, body, registry).allowed
    assert auth_rules.decide_callback("wall", router, body, registry).status == 403
    assert auth_rules.decide_callback("admin", router, body, registry).allowed
    assert auth_rules.decide_callback("admin", router, {}, registry).status == 400
    assert auth_rules.decide_callback("admin", None, {}, registry).status == 403


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/explorer?user=u1", "/explorer?user=u1"),
        (None, "/"),
        ("//evil.example/x", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/login", "/"),
        ("/x\r\nSet-Cookie: a=b", "/"),
    ],
)
def test_next_after_login_stays_on_this_site(target: str | None, expected: str) -> None:
    assert auth_rules.safe_next(target) == expected


def test_public_and_api_paths() -> None:
    assert auth_rules.is_public("/assets/vendor/bootstrap/bootstrap.min.css")
    assert auth_rules.is_public("/_dash-component-suites/dash/deps/react.js")
    assert not auth_rules.is_public("/_dash-layout")
    assert not auth_rules.is_public("/assets")  # only what is under the folder
    assert auth_rules.is_api("/api/v1/events")
    assert auth_rules.wants_json("/_dash-layout", "GET")
    assert not auth_rules.wants_json("/explorer", "GET", "text/html,application/json")


def test_roles_are_defined_once() -> None:
    assert ROLES == users.ROLES


# -- users in the store ------------------------------------------------------------------------------------
def test_users_lifecycle_and_its_audit_events(db_path: Path) -> None:
    password = "a long enough password"
    with Database(db_path) as db:
        user = users.create_user(db, " Ana.Souza ", "compliance", password, ADMIN)
        assert user.username == "ana.souza"
        assert users.authenticate(db, "ANA.SOUZA", password).ok
        assert users.authenticate(db, "ana.souza", "wrong password!!").reason == "wrong password"
        assert users.authenticate(db, "nobody", password).reason == "unknown user"
        users.set_role(db, "ana.souza", "manager", ADMIN)
        users.set_disabled(db, "ana.souza", True, ADMIN)
        assert users.authenticate(db, "ana.souza", password).reason == "user disabled"
        users.set_disabled(db, "ana.souza", False, ADMIN)
        users.reset_password(db, "ana.souza", "another long password", ADMIN)
        assert not users.authenticate(db, "ana.souza", password).ok
        assert users.authenticate(db, "ana.souza", "another long password").ok
        uri = users.totp_enable(db, "ana.souza", ADMIN)
        assert "secret=" in uri
        users.totp_disable(db, "ana.souza", ADMIN)
        with db.connect() as conn:
            stored = conn.execute(sa.text("SELECT password_hash FROM dashboard_users")).scalar()
        assert str(stored).startswith("$argon2id$")
        rows = audit_rows(db, "audit.user_change")
    assert [json.loads(r["metadata"])["operation"] for r in rows] == [
        "create",
        "set_role",
        "disable",
        "enable",
        "reset_password",
        "totp_enable",
        "totp_disable",
    ]
    assert {r["category"] for r in rows} == {"audit"}
    assert {(r["actor_id"], r["actor_role"], r["ip"], r["session_id"]) for r in rows} == {
        ("ada", "admin", "192.0.2.1", "sess-1")
    }
    assert json.loads(rows[1]["changes"]) == {"role": ["compliance", "manager"]}
    assert all("password" not in (r["changes"] or "") for r in rows)
    assert password.encode() not in db_path.read_bytes()


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("x y", "admin", "long enough password", "is not allowed"),
        ("ana", "root", "long enough password", "unknown role"),
        ("ana", "admin", "short", "too short"),
        ("ana-souza-1234", "admin", "ANA-SOUZA-1234", "must not be the user name"),
    ],
)
def test_bad_users_are_refused_with_a_reason(db_path: Path, name: str, role: str, password: str, message: str) -> None:
    with Database(db_path) as db, pytest.raises(StoreError, match=message):
        users.create_user(db, name, role, password)


def test_the_last_administrator_stays(db_path: Path) -> None:
    with Database(db_path) as db:
        first = users.ensure_first_admin(db)
        assert first and len(first) == 20
        assert users.ensure_first_admin(db) is None
        with pytest.raises(StoreError, match="last active administrator"):
            users.set_disabled(db, "admin", True)
        with pytest.raises(StoreError, match="last active administrator"):
            users.set_role(db, "admin", "manager")
        users.create_user(db, "second", "admin", "second admin password")
        users.set_role(db, "admin", "manager")


def test_token_changes_are_self_logged(db_path: Path) -> None:
    with Database(db_path) as db:
        token, _plain = create_token(db, "ci", ("ingest",), actor=ADMIN)
        revoke_token(db, "ci", actor=ADMIN)
        revoke_token(db, "ci", actor=ADMIN)  # already revoked: nothing changes, nothing logged
        rows = audit_rows(db, "audit.token_change")
    assert [(json.loads(r["metadata"])["operation"], r["target_id"]) for r in rows] == [
        ("create", token.id),
        ("revoke", token.id),
    ]
    assert json.loads(rows[1]["changes"]) == {"status": ["active", "revoked"]}


def test_sessions_end_on_the_server(db_path: Path) -> None:
    with Database(db_path) as db:
        users.create_user(db, "ana", "manager", "a long enough password")
        users.start_session(db, "sid-1", "ana", timedelta(hours=1), "192.0.2.9", "agent")
        users.start_session(db, "sid-2", "ana", timedelta(hours=1), "192.0.2.9", "agent")
        assert len(users.active_sessions(db)) == 2
        users.end_session(db, "sid-1", "logout")
        first = users.load_session(db, "sid-1")
        assert first is not None and first.ended_at is not None
        assert users.revoke_sessions(db, "ana", ADMIN) == 1
        assert users.active_sessions(db) == []
        with db.connect() as conn:
            stored = conn.execute(sa.text("SELECT session_hash FROM dashboard_sessions")).scalars().all()
        assert "sid-2" not in stored  # only hashes of the ids


# -- throttling --------------------------------------------------------------------------------------------
def test_progressive_delay_then_lockout_then_forgotten(db_path: Path) -> None:
    policy = users.ThrottlePolicy(max_failures=5, max_failures_per_address=20, lockout=timedelta(minutes=15))
    assert [policy.delay(n).total_seconds() for n in range(1, 6)] == [0, 1, 2, 4, 8]
    t0 = datetime(2026, 5, 1, 9, 0, 0)
    with Database(db_path) as db:
        gate = users.login_gate(db, "ana", "192.0.2.1", policy, t0)
        assert gate.allowed
        locked: list[Any] = []
        t = t0
        for n in range(1, 6):
            locked = users.note_login_failure(db, "ana", "192.0.2.1", policy, t)
            wait = users.login_gate(db, "ana", "192.0.2.1", policy, t)
            if n < 5:
                assert not locked
                assert wait.allowed == (n == 1)
                t += policy.delay(n)
        assert [key for key, _n, _until in locked] == ["user:ana"]
        gate = users.login_gate(db, "ana", "192.0.2.1", policy, t + timedelta(minutes=14))
        assert (gate.allowed, gate.reason, gate.scope) == (False, "locked", "user")
        assert users.login_gate(db, "bob", "192.0.2.1", policy, t).allowed  # the address is not locked
        assert users.login_gate(db, "ana", "192.0.2.1", policy, t + timedelta(minutes=15, seconds=1)).allowed
        # failures older than the lockout window no longer count
        users.note_login_failure(db, "cy", None, policy, t0)
        users.note_login_failure(db, "cy", None, policy, t0 + timedelta(minutes=16))
        assert users.login_gate(db, "cy", None, policy, t0 + timedelta(minutes=16)).allowed


# -- the session key -----------------------------------------------------------------------------------------
def test_session_key_is_made_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(db_path=tmp_path / "k.duckdb")
    key = load_secret_key(settings)
    path = secret_key_path(settings.db_path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_secret_key(settings) == key
    os.chmod(path, 0o644)
    assert load_secret_key(settings) == key
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_secret_key(Settings(db_path=settings.db_path, secret_key="k" * 40)) == "k" * 40
    with pytest.raises(ConfigError, match="too short"):
        load_secret_key(Settings(db_path=settings.db_path, secret_key="short"))


# -- the command line ----------------------------------------------------------------------------------------
def test_users_command_line(db_path: Path) -> None:
    db = str(db_path)
    cli("users", "add", "Ana", "--role", "compliance", "--password-stdin", "--db", db, input_text="pw-from-stdin-1\n")
    generated = cli("users", "add", "kiosk", "--role", "wall", "--db", db, "--json")
    kiosk_password = json.loads(generated.stdout)["password"]
    cli("users", "set-role", "ana", "manager", "--db", db)
    cli("users", "disable", "kiosk", "--db", db)
    cli("users", "reset-password", "ana", "--password-stdin", "--db", db, input_text="pw-from-stdin-2\n")
    uri = cli("users", "totp-enable", "ana", "--db", db).stdout.strip()
    assert uri.startswith("otpauth://totp/auditdash%3Aana?secret=")
    bad = cli("users", "add", "x", "--role", "admin", "--password-stdin", "--db", db, input_text="short\n", check=False)
    assert bad.returncode == 1
    assert "too short" in bad.stderr
    listed = {u["username"]: u for u in json.loads(cli("users", "list", "--db", db, "--json").stdout)}
    assert (listed["ana"]["role"], listed["ana"]["totp"], listed["kiosk"]["active"]) == ("manager", True, False)
    assert listed["ana"]["sign_in"] == "password"  # made here, not by single sign-on
    with Database(db_path) as database:
        assert users.authenticate(database, "ana", "pw-from-stdin-2").ok
        assert users.authenticate(database, "kiosk", kiosk_password).reason == "user disabled"
        rows = audit_rows(database, "audit.user_change")
    assert len(rows) == 6
    assert all(r["actor_id"].startswith("cli:") for r in rows)
    assert "pw-from-stdin" not in json.dumps(rows, default=str)


def _secret_of(uri: str) -> str:
    return uri.split("secret=")[1].split("&")[0]


def test_second_factor_secrets_are_stored_sealed_with_a_key_beside_the_database(db_path: Path) -> None:
    with Database(db_path) as db:
        users.create_user(db, "ana", "compliance", "a long enough password", ADMIN)
        secret = _secret_of(users.totp_enable(db, "ana", ADMIN))
        with db.connect() as conn:
            stored = str(conn.execute(sa.text("SELECT totp_secret FROM dashboard_users")).scalar())
        assert stored.startswith(users.SEALED_PREFIX) and secret not in stored
        key = users.totp_key_path(db_path)
        assert key == db_path.with_name(db_path.name + ".totp-key")
        assert key.stat().st_mode & 0o777 == 0o600
        # the code from the authenticator app is checked against the unsealed secret
        assert users.totp_check(db, "ana", users.totp_code(secret, users.totp_step()))
        with db.raw() as con:
            con.execute("CHECKPOINT")
    # a copy of the database file alone does not hold the secret
    assert secret.encode() not in db_path.read_bytes()


def test_secrets_stored_before_sealing_are_sealed_at_the_next_start(db_path: Path) -> None:
    with Database(db_path) as db:
        users.create_user(db, "ana", "compliance", "a long enough password", ADMIN)
        # what an earlier release stored: the secret itself
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE dashboard_users SET totp_secret = :s"), {"s": RFC_SECRET})
        assert users.totp_check(db, "ana", users.totp_code(RFC_SECRET, users.totp_step()))  # still works
    cli("users", "list", "--db", str(db_path))  # any start seals them (the server's too)
    with Database(db_path) as db:
        with db.connect() as conn:
            stored = str(conn.execute(sa.text("SELECT totp_secret FROM dashboard_users")).scalar())
        assert stored.startswith(users.SEALED_PREFIX) and RFC_SECRET not in stored
        assert users.seal_totp_secrets(db) == 0
        later = users.totp_step() + 1  # the code of the next step (the current one was spent)
        assert users.totp_check(db, "ana", users.totp_code(RFC_SECRET, later), now=later * users.TOTP_STEP_S)


def test_a_missing_second_factor_key_refuses_codes_and_says_what_to_do(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with Database(db_path) as db:
        users.create_user(db, "ana", "compliance", "a long enough password", ADMIN)
        secret = _secret_of(users.totp_enable(db, "ana", ADMIN))
        users.totp_key_path(db_path).unlink()
        assert not users.totp_check(db, "ana", users.totp_code(secret, users.totp_step()))
        assert "auditdash users totp-disable" in caplog.text and ".totp-key is missing" in caplog.text
    # the way out: an administrator turns the second factor off, and the user sets it up again
    cli("users", "totp-disable", "ana", "--db", str(db_path))
    with Database(db_path) as db:
        assert not users.totp_enabled(db, "ana")

"""`/account`: a signed-in person changes their own password and sets up their second factor.

One real server on a real DuckDB file; each test uses its own user, so their order does not
matter. The audit events are read after the server has stopped (it owns the file).
"""

from __future__ import annotations

import base64
import html
import json
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.users import create_user, totp_code, totp_step
from dashboard.store.db import Database
from dashboard.web.auth import SESSION_COOKIE
from tests.conftest import Server, WebClient, start_server, stop_server

PASSWORD = "account-test-password"
USERS = {
    "maya": "compliance",
    "noor": "manager",
    "omar": "admin",
    "pia": "manager",
    "quinn": "compliance",
    "kiosk": "wall",
}


@dataclass
class Site:
    server: Server
    db_path: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("account")
    db_path = tmp / "account.duckdb"
    with Database(db_path) as db:
        for name, role in USERS.items():
            create_user(db, name, role, PASSWORD)
    # no progressive delay, so the lockout test need not wait; three failures lock a name
    limits = {"AUDITDASH_LOGIN_DELAY_S": "0", "AUDITDASH_LOGIN_MAX_FAILURES": "3"}
    server = start_server(db_path, tmp, tmp / "account.log", limits)
    try:
        yield Site(server, db_path)
    finally:
        stop_server(server)


def _signed_in(site: Site, name: str, password: str = PASSWORD) -> WebClient:
    client = WebClient(site.server)
    reply = client.login(name, password)
    assert reply.status == 302, reply.text
    return client


def _post(client: WebClient, path: str, **form: str) -> tuple[int, str]:
    # the session's form token, from the bar above the dashboard (opening /account would drop a
    # second-factor set-up that is under way, as a person leaving the set-up does)
    reply = client.request("POST", path, form={"csrf_token": client.form_token("/"), **form})
    return reply.status, html.unescape(reply.text)


def _cookie_text(client: WebClient) -> str:
    """What the signed (not encrypted) session cookie says, decoded as anyone could."""
    value = client.cookie(SESSION_COOKIE) or ""
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".")[0]
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode("utf-8", "replace")


def _message(page: str) -> str:
    found = re.search(r'role="alert" id="login-message">([^<]*)<', page)
    return found.group(1) if found else ""


def test_the_account_page_says_who_is_signed_in_and_every_page_links_to_it(site: Site) -> None:
    client = _signed_in(site, "noor")
    page = client.request("GET", "/account")
    assert page.status == 200
    assert '<dd class="col-7" id="account-username">noor</dd>' in page.text
    assert '<dd class="col-7" id="account-role">manager</dd>' in page.text
    assert 'id="account-totp-state">off<' in page.text
    assert 'href="/account" id="account-link"' in client.request("GET", "/").text
    # the kiosk's role has no account page, and no link to one
    kiosk = _signed_in(site, "kiosk")
    assert kiosk.request("GET", "/account").status == 403
    assert "account-link" not in kiosk.request("GET", "/wall").text
    # nobody signed in is sent to the login form
    assert WebClient(site.server).request("GET", "/account").headers["Location"].startswith("/login")


def test_changing_the_password_keeps_this_session_and_ends_the_others(site: Site) -> None:
    here, elsewhere = _signed_in(site, "maya"), _signed_in(site, "maya")
    new = "a-new-password-for-maya"

    status, page = _post(here, "/account/password", current_password="wrong", new_password=new, new_password_again=new)
    assert (status, _message(page)) == (400, "The current password is wrong.")
    status, page = _post(
        here, "/account/password", current_password=PASSWORD, new_password=new, new_password_again=new + "x"
    )
    assert (status, _message(page)) == (400, "The two new passwords differ.")
    status, page = _post(
        here, "/account/password", current_password=PASSWORD, new_password="short", new_password_again="short"
    )
    assert status == 400 and _message(page).startswith("Not changed: the password is too short")
    status, page = _post(
        here, "/account/password", current_password=PASSWORD, new_password=PASSWORD, new_password_again=PASSWORD
    )
    assert (status, _message(page)) == (400, "Not changed: the new password is the same as the current one.")
    # a form without the session's token is refused before anything changes
    forged = here.request(
        "POST",
        "/account/password",
        form={"csrf_token": "forged", "current_password": PASSWORD, "new_password": new, "new_password_again": new},
    )
    assert forged.status == 403

    status, page = _post(here, "/account/password", current_password=PASSWORD, new_password=new, new_password_again=new)
    assert (status, _message(page)) == (200, "Your password is changed. 1 other session ended.")
    assert here.request("GET", "/").status == 200
    assert elsewhere.request("GET", "/").headers["Location"].startswith("/login")
    assert WebClient(site.server).login("maya", PASSWORD).status == 401
    assert WebClient(site.server).login("maya", new).status == 302


def test_wrong_current_passwords_count_as_failed_sign_ins(site: Site) -> None:
    client = _signed_in(site, "pia")
    new = "x" * 20
    statuses = [
        _post(client, "/account/password", current_password=f"guess-{i}", new_password=new, new_password_again=new)
        for i in range(4)
    ]
    # three failures lock the name here, whichever form they came through
    assert [s for s, _ in statuses] == [400, 400, 400, 429]
    assert _message(statuses[3][1]).startswith("Too many wrong passwords. Try again in ")
    assert WebClient(site.server).login("pia", PASSWORD).status == 429


def test_second_factor_set_up_by_the_person_then_asked_at_sign_in(site: Site) -> None:
    client = _signed_in(site, "omar")
    # whoever finds the session open cannot tie the account to their own phone without the password
    status, page = _post(client, "/account/totp/start", totp_current_password="guess")
    assert (status, _message(page)) == (400, "The current password is wrong.")
    status, page = _post(client, "/account/totp/start", totp_current_password=PASSWORD)
    assert status == 200
    assert "<svg" in page and 'id="totp-qr"' in page
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert secret, page
    assert f"secret={secret.group(1)}" in page  # the otpauth URI the QR code holds
    cookie = _cookie_text(client)
    assert '"totp_pending"' in cookie and '"csrf"' in cookie  # the cookie is readable ...
    assert secret.group(1) not in cookie  # ... and holds the pending key encrypted only
    valid = {totp_code(secret.group(1), totp_step() + d) for d in (-1, 0, 1)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)
    status, page = _post(client, "/account/totp/confirm", code=wrong)
    assert status == 400 and "does not match" in _message(page)
    assert secret.group(1) in page  # still setting up, the same key

    code = totp_code(secret.group(1), totp_step())
    status, page = _post(client, "/account/totp/confirm", code=code)
    assert (status, _message(page)) == (200, "The second factor is on: signing in now asks for a one-time code.")
    assert 'id="account-totp-state">on<' in page
    assert client.request("GET", "/").status == 200  # this session stays

    other = WebClient(site.server)
    assert other.login("omar", PASSWORD).status == 200  # the password was right: now the code
    assert other.request("GET", "/").status == 302
    # the code that confirmed the set-up is spent: it does not sign anyone in
    spent = other.request("POST", "/login/totp", form={"csrf_token": other.form_token("/login"), "code": code})
    assert spent.status == 401

    status, page = _post(client, "/account/totp/off", totp_current_password="wrong")
    assert (status, _message(page)) == (400, "The current password is wrong.")
    status, page = _post(client, "/account/totp/off", totp_current_password=PASSWORD)
    assert (status, _message(page)) == (200, "The second factor is off.")
    assert WebClient(site.server).login("omar", PASSWORD).status == 302


def test_sessions_are_listed_and_the_others_can_be_ended(site: Site) -> None:
    phone = WebClient(site.server)
    phone.login("quinn", PASSWORD)  # urllib's user agent stands in for a phone's browser
    here = _signed_in(site, "quinn")
    page = html.unescape(here.request("GET", "/account").text)
    table = page.split('id="account-sessions-table"')[1].split("</table>")[0]
    assert table.count("<tr") == 3  # the header and two sessions, this one first
    assert table.index("this one") < table.rindex("<tr")
    assert "127.0.0.1" in table
    status, page = _post(here, "/account/sessions/end")
    assert (status, _message(page)) == (200, "Signed out of 1 other session.")
    assert "You are signed in here only." in page
    assert phone.request("GET", "/").headers["Location"].startswith("/login")
    assert here.request("GET", "/").status == 200


def test_zz_every_change_is_in_the_audit_log_without_a_secret(site: Site) -> None:
    """Runs last in this module: it stops the server to read the file the server owns."""
    stop_server(site.server)
    with Database(site.db_path) as db, db.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT action, outcome, reason, actor_id, target_id, ip, session_id, changes, metadata "
                    "FROM events WHERE category = 'audit' ORDER BY seq"
                )
            )
        ]

    def operations(name: str) -> list[Any]:
        return [
            json.loads(r["metadata"])["operation"]
            for r in rows
            if r["action"] == "audit.user_change" and r["target_id"] == name and r["actor_id"] == name
        ]

    assert operations("maya") == ["change_password"]
    assert operations("omar") == ["totp_enable", "totp_disable"]
    assert operations("quinn") == ["end_other_sessions"]
    changed = next(r for r in rows if r["action"] == "audit.user_change" and r["actor_id"] == "maya")
    assert json.loads(changed["changes"]) == {"other_sessions": [1, 0]}
    assert changed["ip"] == "127.0.0.1" and changed["session_id"]
    guesses = [r for r in rows if r["action"] == "audit.login" and r["actor_id"] == "pia" and r["outcome"] == "failure"]
    assert guesses[0]["reason"] == "wrong current password on the account page"
    text = json.dumps(rows, default=str)
    assert "a-new-password-for-maya" not in text and PASSWORD not in text

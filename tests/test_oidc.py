"""Single sign-on with OpenID Connect against a real certified provider (panva's oidc-provider).

The provider runs on 127.0.0.1 (tests/oidc/provider.js); the dashboard is the in-process app
driven by Flask's test client, over a real DuckDB file. A `requests` session plays the browser
at the provider: it fills the provider's sign-in form and brings the provider's answer back to
the dashboard's callback. What the provider can be made to send (an expired ID token, another
audience, a foreign signature) is re-signed by it with its own published key, so the dashboard
sees tokens that differ from a good one only in what is being tested.
"""

from __future__ import annotations

import json
import logging
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask.testing import FlaskClient

from dashboard.access import oidc, sso, users
from dashboard.config import ConfigError, Settings
from dashboard.store.db import Database
from dashboard.store.errors import StoreError
from dashboard.web.app import create_app
from tests.conftest import GEO_DIR, free_port
from tests.oidc.process import CLIENT_ID, CLIENT_SECRET, OpenIdProvider, start_provider, stop_provider

CALLBACK = "http://localhost/login/sso/callback"  # the test client's host
ROLE_MAP = "auditors=compliance; cn=admins,ou=groups,dc=example,dc=org=admin; team-leads=manager; screens=wall"
CONTACT = "the security team (security@example.test)"
PEOPLE: dict[str, dict[str, Any]] = {
    "carol": {"password": "carol-pw", "groups": ["auditors", "everyone"]},
    "dan": {"password": "dan-pw", "groups": ["everyone"]},
    "erin": {"password": "erin-pw", "groups": ["team-leads"]},
    "frank": {"password": "frank-pw", "groups": ["auditors"]},
    "gina": {"password": "gina-pw", "groups": ["auditors"]},
    "henry": {"password": "henry-pw", "groups": ["auditors"]},
    "ivy": {"password": "ivy-pw", "groups": ["auditors"]},
    "root": {"password": "root-pw", "groups": ["cn=admins,ou=groups,dc=example,dc=org"], "preferred_username": "admin"},
    "joe": {"password": "joe-pw", "groups": ["auditors"]},
    "kim": {"password": "kim-pw", "groups": ["auditors", "cn=admins,ou=groups,dc=example,dc=org", "screens"]},
}
ADMIN_PASSWORD = "break-glass-password-1"
ADA_PASSWORD = "ada-local-password-1"


@dataclass
class Site:
    provider: OpenIdProvider
    db: Database
    client_app: Any

    def client(self) -> FlaskClient:
        """A fresh browser (its own cookies)."""
        return self.client_app.server.test_client()


def settings(db_path: Path, issuer: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db_path": db_path,
        "geo_dir": GEO_DIR,
        "oidc_issuer": issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        "oidc_provider_name": "Test IdP",
        "oidc_scopes": "openid email profile groups",
        "oidc_role_map": ROLE_MAP,
        "oidc_access_contact": CONTACT,
        "oidc_timeout_s": 30,
        "local_login": False,
        "break_glass_user": "admin",
        "login_delay_s": 0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("oidc")
    provider = start_provider(tmp, [CALLBACK], PEOPLE)
    try:
        db = Database(tmp / "sso.duckdb")
        try:
            users.create_user(db, "admin", "admin", ADMIN_PASSWORD)
            users.create_user(db, "ada", "admin", ADA_PASSWORD)
            app = create_app(settings(db.path, provider.issuer), db)
            yield Site(provider, db, app)
        finally:
            db.close()
    finally:
        stop_provider(provider)


@pytest.fixture(autouse=True)
def normal_tokens(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts (and ends) with the provider issuing correct ID tokens."""
    if "site" not in request.fixturenames:
        yield
        return
    site: Site = request.getfixturevalue("site")
    site.provider.set_mode("normal")
    yield
    site.provider.set_mode("normal")


# -- helpers ----------------------------------------------------------------------------------------
@dataclass
class Flow:
    authorize_url: str
    callback_path: str  # path and query of the provider's answer


def through_provider(client: FlaskClient, login: str, password: str, next_path: str = "/") -> Flow:
    """Start at the dashboard's button, sign in at the provider's form, stop at the way back."""
    start = client.get("/login/sso?" + urllib.parse.urlencode({"next": next_path}))
    assert start.status_code == 302, start.get_data(as_text=True)
    authorize_url = start.headers["Location"]
    browser = requests.Session()
    page = browser.get(authorize_url, timeout=30)
    assert page.status_code == 200, page.text
    action = re.search(r'action="([^"]+)"', page.text)
    assert action, page.text
    reply = browser.post(
        urllib.parse.urljoin(page.url, action.group(1)),
        data={"login": login, "password": password},
        allow_redirects=False,
        timeout=30,
    )
    for _hop in range(10):
        assert reply.status_code in (302, 303), (reply.status_code, reply.text)
        location = urllib.parse.urljoin(reply.url, reply.headers["Location"])
        if location.startswith(CALLBACK):
            parts = urllib.parse.urlsplit(location)
            return Flow(authorize_url, f"{parts.path}?{parts.query}")
        reply = browser.get(location, allow_redirects=False, timeout=30)
    raise AssertionError("the provider never sent the browser back")


def sign_in(client: FlaskClient, login: str, password: str, next_path: str = "/") -> Any:
    flow = through_provider(client, login, password, next_path)
    return client.get(flow.callback_path)


def audit(db: Database, action: str, actor: str | None = None) -> list[dict[str, Any]]:
    query = "SELECT action, outcome, actor_id, actor_role, reason, changes, metadata FROM events WHERE action = :a"
    params = {"a": action}
    if actor is not None:
        query += " AND actor_id = :u"
        params["u"] = actor
    with db.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(query + " ORDER BY seq"), params)]
    for row in rows:
        for key in ("changes", "metadata"):
            row[key] = json.loads(row[key]) if row[key] else None
    return rows


def signed_in_as(client: FlaskClient) -> str | None:
    """The name the signed-in bar shows, or None when the dashboard sends the browser to sign in."""
    reply = client.get("/")
    if reply.status_code == 302:
        return None
    match = re.search(r'id="userbar-name">([^<]+)<', reply.get_data(as_text=True))
    assert match, reply.get_data(as_text=True)[:500]
    return match.group(1)


# -- the sign-in ------------------------------------------------------------------------------------
def test_login_page_offers_the_provider_and_folds_the_password_form_away(site: Site) -> None:
    page = site.client().get("/login?next=/explorer").get_data(as_text=True)
    assert 'id="sso-login" href="/login/sso?next=%2Fexplorer">Sign in with Test IdP</a>' in page
    assert '<details class="mt-4" id="break-glass">' in page  # local passwords are off


def test_first_sign_in_creates_the_user_with_the_mapped_role(site: Site) -> None:
    client = site.client()
    flow = through_provider(client, "carol", "carol-pw", "/explorer")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(flow.authorize_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [CLIENT_ID]
    assert query["state"][0] and query["nonce"][0]
    landed = client.get(flow.callback_path)
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/explorer"
    assert signed_in_as(client) == "carol"

    user = users.get_user(site.db, "carol")
    assert user is not None
    assert (user.role, user.sso, user.active) == ("compliance", True, True)
    created = audit(site.db, "audit.user_change", "carol")
    assert created[0]["changes"] == {"role": [None, "compliance"], "status": [None, "active"]}
    assert created[0]["metadata"] == {
        "operation": "create",
        "source": "sso",
        "provider": "Test IdP",
        "groups": ["auditors"],
    }
    login = audit(site.db, "audit.login", "carol")
    assert [(e["outcome"], e["actor_role"], e["metadata"]) for e in login] == [
        ("success", "compliance", {"method": "sso", "provider": "Test IdP"})
    ]
    # the session is the usual one: a state-changing request without the CSRF token is refused
    assert client.post("/logout").status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True))
    assert token
    assert client.post("/logout", data={"csrf_token": token.group(1)}).status_code == 303
    assert signed_in_as(client) is None


def test_highest_mapped_role_wins(site: Site) -> None:
    client = site.client()
    assert sign_in(client, "kim", "kim-pw").status_code == 302
    user = users.get_user(site.db, "kim")
    assert user is not None and user.role == "admin"


def test_role_changed_at_the_provider_applies_at_next_sign_in_and_is_logged(site: Site) -> None:
    first = site.client()
    assert sign_in(first, "erin", "erin-pw").status_code == 302
    assert users.get_user(site.db, "erin").role == "manager"  # type: ignore[union-attr]
    site.provider.set_person("erin", {"password": "erin-pw", "groups": ["auditors"]})
    second = site.client()
    assert sign_in(second, "erin", "erin-pw").status_code == 302
    assert users.get_user(site.db, "erin").role == "compliance"  # type: ignore[union-attr]
    change = audit(site.db, "audit.user_change", "erin")[-1]
    assert change["changes"] == {"role": ["manager", "compliance"]}
    assert change["metadata"]["operation"] == "set_role"
    assert change["metadata"]["source"] == "sso"
    # as with any role change, the session made under the old role has ended
    assert signed_in_as(first) is None
    assert signed_in_as(second) == "erin"


def test_person_in_no_mapped_group_is_refused_with_a_page_saying_whom_to_ask(site: Site) -> None:
    client = site.client()
    reply = sign_in(client, "dan", "dan-pw")
    assert reply.status_code == 403
    page = reply.get_data(as_text=True)
    assert "You signed in at Test IdP as dan, but your account there is not in a group" in page
    assert "Ask the security team (security@example.test) to give you access" in page
    assert 'href="/login" id="sso-back"' in page
    assert users.get_user(site.db, "dan") is None
    assert signed_in_as(client) is None
    refused = audit(site.db, "audit.login", "dan")
    assert [e["outcome"] for e in refused] == ["failure"]
    assert "no role" in refused[0]["reason"]
    assert "'everyone'" in refused[0]["reason"]


# -- what the dashboard must refuse ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "person", "reason"),
    [
        ("wrong-aud", "frank", "ID token claim refused: invalid_claim: Invalid claim: 'aud'"),
        ("expired", "gina", "the ID token has expired (exp)"),
        ("multi-aud", "henry", "ID token claim refused: missing_claim: Missing claim: 'azp'"),
        ("bad-sig", "ivy", "ID token not verified: bad_signature"),
    ],
)
def test_id_tokens_that_do_not_verify_are_refused(site: Site, mode: str, person: str, reason: str) -> None:
    site.provider.set_mode(mode)
    client = site.client()
    reply = sign_in(client, person, f"{person}-pw")
    assert reply.status_code == 403
    assert "could not be verified, so you are not signed in" in reply.get_data(as_text=True)
    assert signed_in_as(client) is None
    assert users.get_user(site.db, person) is None
    refused = [e for e in audit(site.db, "audit.login") if e["outcome"] == "failure" and reason in e["reason"]]
    assert len(refused) == 1, [e["reason"] for e in audit(site.db, "audit.login")]
    # the same person signs in once the provider sends a correct token
    site.provider.set_mode("normal")
    assert sign_in(client, person, f"{person}-pw").status_code == 302
    assert signed_in_as(client) == person


def test_provider_answer_is_single_use_and_bound_to_the_browser(site: Site) -> None:
    client = site.client()
    flow = through_provider(client, "joe", "joe-pw")
    # another browser cannot use the answer (its session holds no pending sign-in)
    other = site.client()
    stolen = other.get(flow.callback_path)
    assert stolen.status_code == 400
    assert "already used or did not start in this browser" in stolen.get_data(as_text=True)
    assert signed_in_as(other) is None
    assert client.get(flow.callback_path).status_code == 302
    assert signed_in_as(client) == "joe"
    # a replay in the same browser is refused too
    again = client.get(flow.callback_path)
    assert again.status_code == 400
    assert "already used" in again.get_data(as_text=True)
    reasons = [e["reason"] for e in audit(site.db, "audit.login") if e["outcome"] == "failure"]
    assert sum("no sign-in pending in this browser" in r for r in reasons) >= 2


def test_a_changed_state_is_refused(site: Site) -> None:
    client = site.client()
    flow = through_provider(client, "joe", "joe-pw")
    forged = re.sub(r"state=[^&]+", "state=forged", flow.callback_path)
    reply = client.get(forged)
    assert reply.status_code == 400
    assert "does not belong to this sign-in" in reply.get_data(as_text=True)
    # the pending sign-in is spent: the real answer no longer works either
    assert client.get(flow.callback_path).status_code == 400
    assert signed_in_as(client) is None


def test_an_answer_naming_another_issuer_is_refused(site: Site) -> None:
    client = site.client()
    flow = through_provider(client, "joe", "joe-pw")
    assert "iss=" in flow.callback_path  # the provider names itself (RFC 9207)
    mixed_up = re.sub(r"iss=[^&]+", "iss=https%3A%2F%2Fidp.attacker.example", flow.callback_path)
    reply = client.get(mixed_up)
    assert reply.status_code == 400
    assert "came from another identity provider" in reply.get_data(as_text=True)
    assert signed_in_as(client) is None


def test_signed_in_person_is_not_sent_to_the_provider_again(site: Site) -> None:
    client = site.client()
    assert sign_in(client, "joe", "joe-pw", "/explorer").status_code == 302
    again = client.get("/login/sso?next=/security")
    assert again.status_code == 302
    assert again.headers["Location"] == "/security"


def test_an_error_from_the_provider_is_shown_and_logged(site: Site) -> None:
    client = site.client()
    start = client.get("/login/sso")
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(start.headers["Location"]).query)["state"][0]
    reply = client.get("/login/sso/callback?" + urllib.parse.urlencode({"error": "access_denied", "state": state}))
    assert reply.status_code == 403
    assert "Test IdP did not sign you in (access_denied)" in reply.get_data(as_text=True)
    assert any("answered access_denied" in (e["reason"] or "") for e in audit(site.db, "audit.login"))


def test_sso_never_takes_over_a_local_account(site: Site) -> None:
    client = site.client()
    reply = sign_in(client, "root", "root-pw")  # preferred_username "admin": the break-glass account
    assert reply.status_code == 403
    assert "already used by an account of auditdash itself" in reply.get_data(as_text=True)
    assert signed_in_as(client) is None
    admin = users.get_user(site.db, "admin")
    assert admin is not None and not admin.sso


def test_a_disabled_sso_user_is_refused(site: Site) -> None:
    site.provider.set_person("lena", {"password": "lena-pw", "groups": ["auditors"]})
    client = site.client()
    assert sign_in(client, "lena", "lena-pw").status_code == 302
    users.set_disabled(site.db, "lena", True)
    assert signed_in_as(client) is None
    reply = sign_in(site.client(), "lena", "lena-pw")
    assert reply.status_code == 403
    assert "Your auditdash account (lena) is disabled." in reply.get_data(as_text=True)


def test_the_client_secret_is_never_logged(site: Site, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    site.provider.set_mode("bad-sig")
    sign_in(site.client(), "joe", "joe-pw")
    assert CLIENT_SECRET not in caplog.text
    with site.db.connect() as conn:
        query = "SELECT count(*) FROM events WHERE concat_ws(' ', reason, metadata, changes, user_agent) LIKE :s"
        stored = conn.execute(sa.text(query), {"s": f"%{CLIENT_SECRET}%"})
        assert stored.scalar() == 0
    config = oidc.load_config(settings(site.db.path, site.provider.issuer))
    assert CLIENT_SECRET not in repr(config)


# -- local passwords ------------------------------------------------------------------------------
def _password_login(client: FlaskClient, username: str, password: str) -> Any:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    form = {"csrf_token": token.group(1), "username": username, "password": password, "next": "/"}
    return client.post("/login", data=form)


def test_local_passwords_off_but_the_break_glass_admin_signs_in(site: Site) -> None:
    client = site.client()
    refused = _password_login(client, "ada", ADA_PASSWORD)
    assert refused.status_code == 403
    assert "Passwords are switched off here: use the single sign-on button." in refused.get_data(as_text=True)
    assert signed_in_as(client) is None
    assert any(e["reason"] == "local passwords switched off" for e in audit(site.db, "audit.login", "ada"))
    allowed = _password_login(client, "admin", ADMIN_PASSWORD)
    assert allowed.status_code == 302
    assert signed_in_as(client) == "admin"


def test_an_sso_user_has_no_local_password(site: Site) -> None:
    assert sign_in(site.client(), "carol", "carol-pw").status_code == 302
    verdict = users.authenticate(site.db, "carol", sso.NO_PASSWORD)
    assert verdict.reason == "single sign-on account: no local password"
    with pytest.raises(StoreError, match="signs in through single sign-on"):
        users.reset_password(site.db, "carol", "a-new-password-123")


# -- the provider down --------------------------------------------------------------------------------
def test_provider_down_gives_a_clear_page_not_an_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "down.duckdb")
    try:
        users.create_user(db, "admin", "admin", ADMIN_PASSWORD)
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        app = create_app(settings(db.path, dead, oidc_timeout_s=5), db)
        client = app.server.test_client()
        assert client.get("/login").status_code == 200  # the page never waits for the provider
        reply = client.get("/login/sso")
        assert reply.status_code == 503
        page = reply.get_data(as_text=True)
        assert "Test IdP is not available" in page
        assert f"Test IdP did not answer (discovery document at {dead}/.well-known/openid-configuration)" in page
        failures = audit(db, "audit.login")
        assert len(failures) == 1
        assert failures[0]["reason"].startswith("single sign-on: identity provider unreachable: discovery document")
        # the break-glass administrator still gets in
        assert _password_login(client, "admin", ADMIN_PASSWORD).status_code == 302
    finally:
        db.close()


# -- settings ----------------------------------------------------------------------------------------
def test_role_map_forms() -> None:
    assert oidc.parse_role_map("a=admin; b=compliance\nc=wall") == {"a": "admin", "b": "compliance", "c": "wall"}
    assert oidc.parse_role_map("cn=x,ou=y=manager") == {"cn=x,ou=y": "manager"}
    assert oidc.parse_role_map('{"Auditors": "compliance"}') == {"Auditors": "compliance"}
    with pytest.raises(ConfigError, match="unknown role 'root'"):
        oidc.parse_role_map("a=root")
    with pytest.raises(ConfigError, match="is not `group=role`"):
        oidc.parse_role_map("just-a-group")
    assert sso.role_for(["x", "b", "a"], {"a": "wall", "b": "manager"}) == ("manager", ("b", "a"))
    assert sso.role_for(["x"], {"a": "wall"}) == (None, ())


def test_settings_that_cannot_work_stop_the_start(tmp_path: Path) -> None:
    base = settings(tmp_path / "x.duckdb", "https://idp.example.test")
    assert oidc.load_config(Settings(db_path=tmp_path / "x.duckdb")) is None
    with pytest.raises(ConfigError, match="AUDITDASH_OIDC_CLIENT_ID"):
        oidc.load_config(base.with_overrides(oidc_client_id=""))
    missing = tmp_path / "no-such-secret"
    with pytest.raises(ConfigError, match=f"AUDITDASH_OIDC_CLIENT_SECRET_FILE {missing} cannot be read"):
        oidc.load_config(Settings(**{**base.__dict__, "oidc_client_secret": None, "oidc_client_secret_path": missing}))
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    config = oidc.load_config(
        Settings(**{**base.__dict__, "oidc_client_secret": None, "oidc_client_secret_path": secret_file})
    )
    assert config is not None and config.client_secret == "from-a-file"
    with pytest.raises(ConfigError, match="AUDITDASH_OIDC_ROLE_MAP"):
        oidc.load_config(Settings(**{**base.__dict__, "oidc_role_map": ""}))


def test_a_store_made_before_single_sign_on_gains_the_account_binding(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    db = Database(path)
    users.create_user(db, "ana", "compliance", "a-local-password-1")
    db.close()
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("ALTER TABLE dashboard_users DROP COLUMN sso_subject")
    # the store as it was before the single sign-on migration (and any after it)
    con.execute(
        "DELETE FROM schema_version WHERE version >= "
        "(SELECT version FROM schema_version WHERE description LIKE 'single sign-on%')"
    )
    con.close()
    db = Database(path)
    try:
        ana = users.get_user(db, "ana")
        assert ana is not None and not ana.sso
        assert users.authenticate(db, "ana", "a-local-password-1").ok
    finally:
        db.close()


def test_a_pending_sign_in_expires_and_must_match_its_state() -> None:
    pending = oidc.Pending("the-state", "the-nonce", "v" * 64, created=1_000_000.0)
    assert oidc.check_state(pending, "the-state", now=1_000_000.0 + 10) is pending
    with pytest.raises(oidc.SsoError, match=f"longer than {oidc.PENDING_S} s") as late:
        oidc.check_state(pending, "the-state", now=1_000_000.0 + oidc.PENDING_S + 1)
    assert late.value.status == 400
    assert "has expired" in late.value.message
    with pytest.raises(oidc.SsoError, match="state does not match"):
        oidc.check_state(pending, "another-state", now=1_000_000.0)
    with pytest.raises(oidc.SsoError, match="no sign-in pending"):
        oidc.check_state(oidc.Pending.from_session({"s": "x"}), "x")

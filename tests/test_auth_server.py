"""Access control against a real server: every route and callback, for every role and for no session.

One server over a small demo database serves the whole module; it holds a user of each role
and an ingest token. The list of routes, pages and callbacks comes from the app itself (built
in a separate process), so a route added later cannot escape the matrix.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dashboard.access.tokens import create_token
from dashboard.access.users import create_user
from dashboard.filters import Filters
from dashboard.store.db import Database
from tests.conftest import GEO_DIR, ROOT, Server, WebClient, cli, event, page_payload, start_server, stop_server

USERS = {"admin": "ada", "compliance": "cora", "manager": "manny", "wall": "kiosk"}
ROLES: list[str | None] = [None, "admin", "compliance", "manager", "wall"]
CALLBACK = "/_dash-update-component"
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")

# The app's routes, pages and callbacks, as the app itself lists them (Dash fills its callback
# map on the first request, hence the one request through Flask's test client).
INVENTORY = r"""
import json, sys
from pathlib import Path
import dash
from dashboard.config import Settings
from dashboard.web.app import create_app
app = create_app(Settings(db_path=Path(sys.argv[1]), geo_dir=Path(sys.argv[2])))
app.server.test_client().get("/healthz")
print(json.dumps({
    "rules": [{"rule": r.rule, "methods": sorted(r.methods - {"OPTIONS"})} for r in app.server.url_map.iter_rules()],
    "pages": [
        {"path": p["path"], "roles": list(p.get("roles") or []), "module": p["module"]}
        for p in dash.page_registry.values()
    ],
    "callbacks": [
        {"key": k, "module": getattr(v.get("callback"), "__module__", None), "server": "callback" in v}
        for k, v in app.callback_map.items()
    ],
    "dependencies": app._callback_list,
}, default=str))
"""


@dataclass
class Site:
    """The module's server and what the tests need to know about it."""

    server: Server
    passwords: dict[str, str]
    token: str
    demo_ips: set[str]
    inventory: dict[str, Any]
    clients: dict[str, WebClient] = field(default_factory=dict)

    def client(self, role: str | None) -> WebClient:
        """A client signed in with `role` (a fresh anonymous one for None); kept for the module."""
        if role is None:
            return WebClient(self.server)
        if role not in self.clients:
            client = WebClient(self.server)
            reply = client.login(USERS[role], self.passwords[role])
            assert reply.status == 302, reply.text
            self.clients[role] = client
        return self.clients[role]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("auth-site")
    db_path = tmp / "site.duckdb"
    cli("demo", "--days", "7", "--events", "20000", "--db", str(db_path))
    passwords = {role: f"{name}-{role}-password" for role, name in USERS.items()}
    with Database(db_path) as db:
        for role, name in USERS.items():
            create_user(db, name, role, passwords[role])
        _, token = create_token(db, "site-ingest")
        with db.connect() as conn:
            ips = conn.execute(sa.text("SELECT DISTINCT ip FROM events WHERE ip IS NOT NULL")).scalars().all()
    demo_ips = {ip for ip in ips if IPV4.fullmatch(ip)}
    assert len(demo_ips) > 50
    inventory = json.loads(
        subprocess.run(
            [sys.executable, "-c", INVENTORY, str(tmp / "inventory.duckdb"), str(GEO_DIR)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
    )
    server = start_server(db_path, tmp, tmp / "site.log")
    try:
        yield Site(server, passwords, token, demo_ips, inventory)
    finally:
        stop_server(server)


# -- the expected answers (docs/security.md, "Routes and roles") -----------------------------------------
def _pages(site: Site) -> list[dict[str, Any]]:
    return list(site.inventory["pages"])


def _page_paths(site: Site) -> list[str]:
    return [p["path"] for p in _pages(site)]


def _sample_paths(site: Site, rule: str, bundle: str) -> list[str]:
    if rule == "/<path:path>":
        return [p for p in _page_paths(site) if p != "/"] + ["/no-such-page"]
    if rule.startswith("/_dash-component-suites/"):
        return [bundle]
    if rule.startswith("/assets/"):
        return ["/assets/vendor/bootstrap/bootstrap.min.css"]
    return [re.sub(r"<[^>]+>", "x", rule)]


def _expected(site: Site, role: str | None, method: str, rule: str, path: str) -> int | str:
    """The status a request must get; "served" means any answer but 401, 403 or a login redirect."""
    if rule == "/login" and method in ("GET", "HEAD"):
        return 200 if role is None else 302
    if rule in ("/login", "/login/totp") and method == "POST":
        return 403  # no form token sent
    if rule == "/logout":
        return 302 if role is None else 403  # no form token sent
    if rule in ("/login/sso", "/login/sso/callback"):
        return 404  # single sign-on is not set up on this server (tests/test_oidc.py tests it set up)
    if rule == "/healthz" or rule.startswith(("/assets/", "/_dash-component-suites/")):
        return 200
    if rule.startswith("/api/"):
        return 401  # bearer token only: the session cookie never counts
    if role is None:
        # pages send the browser to the login form; Dash's endpoints and other XHR get JSON
        return 302 if method in ("GET", "HEAD") and not rule.startswith("/_") else 401
    if rule in ("/_dash-layout", "/_dash-dependencies", "/_favicon.ico"):
        return 200
    if rule == CALLBACK:
        return 403 if role == "wall" else 200  # the pages router rendering "/"
    if role == "wall":
        return {"/": 302, "/wall": 200}.get(path, 403)
    if rule in ("/", "/<path:path>"):
        page = next((p for p in _pages(site) if p["path"] == path), None)
        if page is None or page["path"] == "/not-found":
            return 404  # a path that names no page: "Page not found" in the shell
        return 403 if page and page["roles"] and role not in page["roles"] else 200
    if rule.startswith("/admin/") and role != "admin":
        return 403
    if rule == "/static/<path:filename>":
        return 404
    return "served"


def test_every_route_for_every_role(site: Site) -> None:
    index = site.client("admin").request("GET", "/").text
    bundle = re.search(r'src="(/_dash-component-suites/[^"]+)"', index)
    assert bundle, "the index page loads Dash's bundles"
    rules = site.inventory["rules"]
    assert {r["rule"] for r in rules} >= {"/", "/<path:path>", CALLBACK, "/login", "/logout", "/api/v1/events"}
    failures = []
    checked = 0
    for entry in rules:
        rule = entry["rule"]
        for method in entry["methods"]:
            for path in _sample_paths(site, rule, bundle.group(1)):
                for role in ROLES:
                    client = site.client(role)
                    headers: dict[str, str] = {}
                    body = None
                    if method == "POST" and role is not None and rule not in ("/login", "/login/totp", "/logout"):
                        headers["X-CSRFToken"] = client.cookie("_csrf_token") or ""
                    if rule == CALLBACK:
                        body = json.dumps(page_payload("/")).encode()
                        headers["Content-Type"] = "application/json"
                    elif method == "POST":
                        body = b"{}"
                        headers["Content-Type"] = "application/json"
                    reply = client.request(method, path, body, headers)
                    want = _expected(site, role, method, rule, path)
                    checked += 1
                    to_login = reply.status == 302 and reply.headers.get("Location", "").startswith("/login")
                    if want == "served":
                        ok = reply.status not in (401, 403) and not to_login
                    else:
                        ok = reply.status == want
                        if want == 302 and role is None:
                            ok = ok and to_login
                    if not ok:
                        failures.append(f"{method} {path} as {role or 'no session'}: {reply.status}, expected {want}")
    assert checked > 50
    assert not failures, "\n".join(failures)


def _outputs(key: str) -> list[dict[str, Any]]:
    """The outputs of a callback key, as Dash's renderer lists them in a request."""
    parts = key[2:-2].split("...") if key.startswith("..") else [key]
    outputs = []
    for part in parts:
        raw, _, prop = part.rpartition(".")
        outputs.append({"id": json.loads(raw) if raw.startswith("{") else raw, "property": prop.split("@")[0]})
    return outputs


def _payload(dep: dict[str, Any]) -> dict[str, Any]:
    """A callback request with empty values (nothing is triggered)."""

    def values(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": i["id"], "property": i["property"], "value": None} for i in items]

    outputs = _outputs(dep["output"])
    return {
        "output": dep["output"],
        "outputs": outputs if dep["output"].startswith("..") else outputs[0],
        "inputs": values(dep["inputs"]),
        "state": values(dep["state"]),
        "changedPropIds": [],
    }


def _output_names(key: str) -> list[str]:
    return [o["id"].get("type", "") if isinstance(o["id"], dict) else o["id"] for o in _outputs(key)]


def test_every_callback_for_every_role(site: Site) -> None:
    modules = {c["key"]: c["module"] for c in site.inventory["callbacks"] if c["server"]}
    page_roles = {p["module"]: p["roles"] for p in _pages(site)}
    failures = []
    for dep in site.inventory["dependencies"]:
        key = dep["output"]
        if key not in modules or "_pages_content" in key:
            continue  # clientside callbacks never reach the server; the router is checked below
        names = _output_names(key)
        restricted = page_roles.get(modules[key]) or []
        for role in ROLES:
            refused = (
                (role == "wall" and not all(n.startswith("wall-") for n in names))
                or (any(n.startswith("admin-") for n in names) and role != "admin")
                or (restricted and role not in restricted)
            )
            want: int | str = 401 if role is None else 403 if refused else "ran"
            reply = site.client(role).callback(_payload(dep))
            ok = reply.status not in (401, 403) if want == "ran" else reply.status == want
            if not ok:
                failures.append(f"{key} as {role or 'no session'}: {reply.status}, expected {want}")
    # the pages router renders whichever page the pathname names: checked per page
    for path in [*_page_paths(site), "/wall", "/no-such-page"]:
        for role in ROLES:
            if role is None:
                want = 401
            elif role == "wall":
                want = 200 if path == "/wall" else 403
            else:
                want = 200  # a refused page: its refusal in words (tests/test_forged_callbacks.py)
            reply = site.client(role).callback(page_payload(path))
            if reply.status != want:
                failures.append(f"page {path} as {role or 'no session'}: {reply.status}, expected {want}")
    assert not failures, "\n".join(failures)


def test_wall_cannot_reach_other_outputs_by_relabelling_them(site: Site) -> None:
    wall = site.client("wall")
    admin_key = next(c["key"] for c in site.inventory["callbacks"] if c["key"].startswith("..admin-token-notice"))
    forged = {
        "output": admin_key,  # what Dash dispatches on
        "outputs": [{"id": "wall-kpis", "property": "children"}],  # what the client claims
        "inputs": [],
        "state": [],
        "changedPropIds": [],
    }
    reply = wall.callback(forged)
    assert reply.status == 403
    assert "wall" in reply.json()["error"]
    assert wall.callback({**forged, "output": "wall-made-up.children"}).status == 403
    refused = site.client("manager").callback(page_payload("/admin"))
    assert refused.status == 200 and "page-refused" in refused.text and "admin-users-table" not in refused.text


def _with_filters(dep: dict[str, Any]) -> dict[str, Any]:
    """A callback request as the shell sends it once the filters are known (the last 30 days)."""
    store = Filters(preset="30d").to_store()
    payload = _payload(dep)
    for group in ("inputs", "state"):
        for item in payload[group]:
            if item["id"] == "filters" and item["property"] == "data":
                item["value"] = store
    payload["changedPropIds"] = ["filters.data"] if any(i["id"] == "filters" for i in payload["inputs"]) else []
    return payload


def _received_ips(site: Site, client: WebClient) -> set[str]:
    callbacks = [
        d
        for d in site.inventory["dependencies"]
        if any(c["key"] == d["output"] for c in site.inventory["callbacks"] if c["server"])
    ]
    texts = [client.request("GET", "/_dash-layout").text, client.request("GET", "/").text]
    for path in [*_page_paths(site), "/wall"]:
        texts.append(client.callback(page_payload(path)).text)
    for dep in callbacks:
        texts.append(client.callback(_with_filters(dep)).text)
    return {ip for text in texts for ip in IPV4.findall(text)} & site.demo_ips


def test_masked_roles_never_receive_a_full_ip_address(site: Site) -> None:
    # the same requests show full addresses to compliance: the check can see a leak
    assert _received_ips(site, site.client("compliance")), "no page shows addresses: this test checks nothing"
    for role in ("manager", "wall"):
        leaked = _received_ips(site, site.client(role))
        assert not leaked, f"{role} received full addresses: {sorted(leaked)[:5]}"


def test_session_cookie_flags_and_security_headers(site: Site) -> None:
    client = WebClient(site.server)
    login_page = client.request("GET", "/login")
    cookie = login_page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS requests get Secure
    reply = client.login(USERS["manager"], site.passwords["manager"])
    assert reply.status == 302
    assert reply.headers["Location"] == "/"
    index = client.request("GET", "/")
    headers = index.headers
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self' 'sha256-" in csp
    assert "unsafe-eval" not in csp
    assert "http" not in csp  # no outside origin at all
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert client.callback(page_payload("/")).headers["Cache-Control"] == "no-store"
    assert "no-store" not in (
        client.request("GET", "/assets/vendor/bootstrap/bootstrap.min.css").headers["Cache-Control"] or ""
    )
    assert 'id="auditdash-userbar"' in index.text
    assert "manny" in index.text


def test_csrf_token_is_required_on_state_changing_requests(site: Site) -> None:
    anonymous = WebClient(site.server)
    form = {"username": USERS["manager"], "password": site.passwords["manager"], "next": "/"}
    assert anonymous.request("POST", "/login", form=form).status == 403
    assert anonymous.request("POST", "/login", form={**form, "csrf_token": "made-up"}).status == 403
    assert anonymous.request("GET", "/").status == 302  # and no session came of it

    client = WebClient(site.server)
    assert client.login(USERS["compliance"], site.passwords["compliance"]).status == 302
    assert client.callback(page_payload("/"), csrf=False).status == 403
    wrong = client.request("POST", CALLBACK, json_body=page_payload("/"), headers={"X-CSRFToken": "x" * 43})
    assert wrong.status == 403
    token = client.cookie("_csrf_token") or ""
    cross = client.request(
        "POST", CALLBACK, json_body=page_payload("/"), headers={"X-CSRFToken": token, "Origin": "http://evil.example"}
    )
    assert cross.status == 403
    assert client.callback(page_payload("/")).status == 200
    assert client.request("POST", "/logout", form={}).status == 403
    assert client.request("GET", "/").status == 200  # still signed in
    assert client.logout().status == 303
    assert client.request("GET", "/").status == 302
    assert client.callback(page_payload("/")).status == 401


def _token_action(
    client: WebClient, button: str, name: str | None = None, selected: str | None = None, accounts: str | None = None
):
    return client.callback(
        {
            "output": "..admin-token-notice.children...admin-tokens-table.children...admin-token.options..",
            "outputs": [
                {"id": "admin-token-notice", "property": "children"},
                {"id": "admin-tokens-table", "property": "children"},
                {"id": "admin-token", "property": "options"},
            ],
            "inputs": [
                {"id": "admin-token-create", "property": "n_clicks", "value": int(button == "admin-token-create")},
                {"id": "admin-token-revoke", "property": "n_clicks", "value": int(button == "admin-token-revoke")},
            ],
            "state": [
                {"id": "admin-token-name", "property": "value", "value": name},
                {"id": "admin-token-scopes", "property": "value", "value": ["ingest"]},
                {"id": "admin-token", "property": "value", "value": selected},
                {"id": "admin-token-accounts", "property": "value", "value": accounts},
            ],
            "changedPropIds": [f"{button}.n_clicks"],
        }
    )


def _post_events(site: Site, token: str, event_id: str) -> int:
    body = json.dumps([event(id=event_id)]).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return site.server.request("POST", "/api/v1/events", body, headers)[0]


def test_token_made_and_revoked_on_the_admin_page_stops_at_once(site: Site) -> None:
    admin = site.client("admin")
    assert site.client("manager").request("GET", "/admin").status == 403
    assert _token_action(site.client("manager"), "admin-token-create", "sneaky").status == 403

    created = _token_action(admin, "admin-token-create", "page-made")
    assert created.status == 200
    token = re.search(r"adt_([0-9a-f]{12})_[A-Za-z0-9_-]+", created.text)
    assert token, created.text
    assert _post_events(site, token.group(0), "page-token-1") == 200
    revoked = _token_action(admin, "admin-token-revoke", selected=token.group(1))
    assert revoked.status == 200
    assert "revoked" in revoked.text
    assert _post_events(site, token.group(0), "page-token-2") == 401
    assert _post_events(site, site.token, "site-token-1") == 200  # the other token still works


def _user_action(client: WebClient, button: str, **state: Any):
    buttons = [
        "admin-add-user",
        "admin-set-role",
        "admin-disable",
        "admin-enable",
        "admin-reset",
        "admin-totp-off",
        "admin-unlock",
        "admin-end-sessions",
    ]
    fields = ["admin-new-user", "admin-new-role", "admin-user", "admin-role"]
    return client.callback(
        {
            "output": (
                "..admin-user-notice.children...admin-users-table.children"
                "...admin-sessions-table.children...admin-user.options.."
            ),
            "outputs": [
                {"id": "admin-user-notice", "property": "children"},
                {"id": "admin-users-table", "property": "children"},
                {"id": "admin-sessions-table", "property": "children"},
                {"id": "admin-user", "property": "options"},
            ],
            "inputs": [{"id": b, "property": "n_clicks", "value": int(b == button)} for b in buttons],
            "state": [{"id": f, "property": "value", "value": state.get(f.replace("-", "_"))} for f in fields],
            "changedPropIds": [f"{button}.n_clicks"],
        }
    )


def _component_text(tree: Any, component_id: str) -> str | None:
    """The text of the component with this id anywhere in a callback's answer."""
    if isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict) and props.get("id") == component_id:
            return str(props.get("children"))
        found = (_component_text(v, component_id) for v in tree.values())
    elif isinstance(tree, list):
        found = (_component_text(v, component_id) for v in tree)
    else:
        return None
    return next((f for f in found if f is not None), None)


def test_users_managed_on_the_admin_page(site: Site) -> None:
    admin = site.client("admin")
    added = _user_action(admin, "admin-add-user", admin_new_user="Newbie", admin_new_role="manager")
    assert added.status == 200
    password = _component_text(added.json(), "admin-user-notice-secret")
    assert password and len(password) == 20, added.text
    newbie = WebClient(site.server)
    assert newbie.login("newbie", password).status == 302
    assert newbie.request("GET", "/").status == 200
    assert _user_action(admin, "admin-set-role", admin_user="newbie", admin_role="compliance").status == 200
    assert newbie.request("GET", "/").status == 302  # a role change ends the sessions
    assert _user_action(admin, "admin-disable", admin_user="newbie").status == 200
    assert WebClient(site.server).login("newbie", password).status == 401
    assert _user_action(site.client("compliance"), "admin-disable", admin_user="ada").status == 403


def test_zz_self_logging(site: Site) -> None:
    """Runs last: it stops the server to read the database the server owns."""
    failed = WebClient(site.server)
    assert failed.login(USERS["manager"], "not-the-password").status == 401
    cora = WebClient(site.server)
    assert cora.login(USERS["compliance"], site.passwords["compliance"]).status == 302
    assert cora.logout().status == 303
    stop_server(site.server)
    with Database(site.server.db_path) as db, db.connect() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.text(
                    "SELECT action, outcome, reason, actor_id, actor_role, target_id, ip, session_id, changes, "
                    "metadata, source FROM events WHERE category = 'audit' ORDER BY seq"
                )
            )
        ]

    def find(action: str, **match: Any) -> list[dict[str, Any]]:
        return [r for r in rows if r["action"] == action and all(r[k] == v for k, v in match.items())]

    assert all(r["source"] == "auditdash" for r in rows)
    logins = find("audit.login", actor_id="cora", outcome="success")
    assert logins and logins[-1]["ip"] == "127.0.0.1" and logins[-1]["session_id"]
    assert logins[-1]["actor_role"] == "compliance"
    assert find("audit.logout", actor_id="cora", session_id=logins[-1]["session_id"])
    failure = find("audit.login", actor_id="manny", outcome="failure")
    assert failure and failure[-1]["reason"] == "wrong password"
    created = find("audit.user_change", actor_id="ada", target_id="newbie")
    operations = [json.loads(r["metadata"])["operation"] for r in created]
    assert operations == ["create", "set_role", "disable"]
    assert json.loads(created[1]["changes"]) == {"role": ["manager", "compliance"]}
    assert all(r["session_id"] and r["ip"] == "127.0.0.1" for r in created)
    token_ops = [json.loads(r["metadata"])["operation"] for r in find("audit.token_change", actor_id="ada")]
    assert token_ops == ["create", "revoke"]
    assert find("audit.login", actor_id="newbie", outcome="failure", reason="user disabled")
    # the demo data's own events are untouched, and no audit event holds a secret
    assert not [r for r in rows if "adt_" in json.dumps(r, default=str)]
    assert Path(str(site.server.db_path) + ".secret").stat().st_mode & 0o077 == 0

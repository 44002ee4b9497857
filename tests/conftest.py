"""Shared fixtures: real DuckDB files, a real server process on 127.0.0.1, API tokens."""

from __future__ import annotations

import contextlib
import html
import http.cookiejar
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: the throwaway PostgreSQL server (`pg_server`, `pg_url`, `backend`, `store_target`); CPU seconds by file
pytest_plugins = ["tests.pg", "tests.cpu_report"]

ROOT = Path(__file__).resolve().parent.parent
GEO_DIR = ROOT / "data" / "geo"

#: Passwords in the tests are hashed at OWASP's minimum argon2id costs (19 MiB, 2 passes, 1 lane)
#: instead of the defaults (64 MiB, 3 passes, 4 lanes): one hash costs about 0.03 s of CPU instead of
#: 0.2 s, and the suite makes and checks a few thousand. Servers the tests start inherit them; the
#: defaults themselves are checked in tests/test_password_hash.py.
TEST_HASH_COSTS = {
    "AUDITDASH_PASSWORD_HASH_MEMORY_KIB": "19456",
    "AUDITDASH_PASSWORD_HASH_TIME_COST": "2",
    "AUDITDASH_PASSWORD_HASH_PARALLELISM": "1",
}
for _name, _value in TEST_HASH_COSTS.items():
    os.environ.setdefault(_name, _value)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `auditdash ARGS` as a real subprocess, the way a user would."""
    full_env = {**os.environ, "AUDITDASH_GEO_DIR": str(GEO_DIR), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        cwd=cwd or ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        input=input_text,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"auditdash {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `auditdash ARGS` in this process (`dashboard.cli.main`), as `run_cli` does in a new one.

    The same command code, settings from the same environment (`env` on top, for the call only),
    the same working folder, standard input, output and exit code; only the interpreter start
    (about a second of imports) is saved. Use `run_cli` where a separate process is the point:
    a database held by another process, signals, a process killed midway.
    """
    from dashboard.cli import main

    full_env = {"AUDITDASH_GEO_DIR": str(GEO_DIR), **(env or {})}
    saved_env = {name: os.environ.get(name) for name in full_env}
    saved_cwd = os.getcwd()
    saved_stdin = sys.stdin
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update(full_env)
        os.chdir(cwd or ROOT)
        sys.stdin = io.StringIO(input_text or "")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors, as the process would exit
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
    finally:
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    done = subprocess.CompletedProcess(["auditdash", *args], code, out.getvalue(), err.getvalue())
    if check and done.returncode != 0:
        raise AssertionError(f"auditdash {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@dataclass
class Server:
    """A running `auditdash serve` subprocess."""

    url: str
    db_path: Path | str
    proc: subprocess.Popen[str]
    log: Path
    log_handle: Any = None

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any] | str]:
        """Send one HTTP request; return status and the decoded JSON (or text)."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text


#: How often `start_server` tries another port when the one it picked was taken in the meantime.
PORT_ATTEMPTS = 3


def start_server(
    db_path: Path | str | None,
    cwd: Path,
    log: Path,
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = ("--no-demo",),
    timeout: float = 240,
) -> Server:
    """Start `auditdash serve` on a free port and wait until /healthz answers.

    `free_port` only knows the port was free when it asked; on a shared machine another process
    may bind it before the server does. The server then exits with "Address already in use", and
    it is started again on another port (its output goes on in the same log, so what a first start
    printed, such as the first administrator's password, stays there).
    """
    log.write_text("")
    for attempt in range(1, PORT_ATTEMPTS + 1):
        server, port_taken = _try_start(db_path, cwd, log, extra_env, args, timeout)
        if server is not None:
            return server
        if not port_taken or attempt == PORT_ATTEMPTS:
            break
    raise AssertionError(f"server exited:\n{log.read_text()}")


def _try_start(
    db_path: Path | str | None,
    cwd: Path,
    log: Path,
    extra_env: dict[str, str] | None,
    args: tuple[str, ...],
    timeout: float,
) -> tuple[Server | None, bool]:
    """One start on a fresh port: (the server, False), or (None, whether the port was taken)."""
    port = free_port()
    cmd = [sys.executable, "-m", "dashboard.cli", "serve", "--port", str(port), *args]
    if db_path is not None:
        cmd += ["--db", str(db_path)]
    env = {**os.environ, "AUDITDASH_GEO_DIR": str(GEO_DIR), **(extra_env or {})}
    offset = log.stat().st_size
    fh = log.open("a")
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            fh.close()
            with log.open(encoding="utf-8", errors="replace") as out:
                out.seek(offset)
                said = out.read()
            return None, "Address already in use" in said
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    else:
        stop_server(Server(url, db_path or cwd, proc, log, fh))
        raise AssertionError(f"server did not answer within {timeout} s:\n{log.read_text()}")
    server = Server(url=url, db_path=db_path or cwd / "data" / "auditdash.duckdb", proc=proc, log=log, log_handle=fh)
    return server, False


def stop_server(server: Server) -> None:
    """Stop a server we started, by its PID, and close its log."""
    proc = server.proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if server.log_handle is not None:
        server.log_handle.close()


def first_admin_password(server: Server) -> str:
    """The password `auditdash serve` printed for the first administrator (shown once)."""
    found = re.findall(r"^    password: (\S+)$", server.log.read_text(), re.MULTILINE)
    assert len(found) == 1, f"expected one first-start password in {server.log}"
    return str(found[0])


def add_user(db_path: Path, name: str, role: str, password: str | None = None) -> str:
    """Create a dashboard user with the CLI (before the server starts: it then owns the file)."""
    password = password or f"{name}-{role}-password"
    cli("users", "add", name, "--role", role, "--password-stdin", "--db", str(db_path), input_text=password + "\n")
    return password


@dataclass
class Reply:
    """One HTTP answer as a browser would get it (redirects are not followed)."""

    status: int
    headers: Any
    text: str

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.text)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebClient:
    """A cookie-keeping HTTP client for a real server: signs in through the login form, sends the
    CSRF token the way Dash's renderer does, and shows redirects instead of following them."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Reply:
        """Send one request with this client's cookies."""
        headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.server.url + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=60) as resp:
                return Reply(resp.status, resp.headers, resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return Reply(exc.code, exc.headers, exc.read().decode("utf-8", "replace"))

    def cookie(self, name: str) -> str | None:
        """The value of one cookie, if set."""
        return next((c.value for c in self.jar if c.name == name), None)

    def form_token(self, page: str = "/login") -> str:
        """The CSRF token of a form page."""
        reply = self.request("GET", page)
        match = re.search(r'name="csrf_token" value="([^"]+)"', reply.text)
        assert match, f"no form token on {page} ({reply.status})"
        return html.unescape(match.group(1))

    def login(self, username: str, password: str, next_path: str = "/") -> Reply:
        """Sign in through the login form."""
        token = self.form_token()
        form = {"csrf_token": token, "username": username, "password": password, "next": next_path}
        return self.request("POST", "/login", form=form)

    def logout(self) -> Reply:
        """Sign out with the form of the signed-in bar above every page."""
        return self.request("POST", "/logout", form={"csrf_token": self.form_token("/")})

    def callback(self, payload: dict[str, Any], csrf: bool = True) -> Reply:
        """POST to Dash's callback endpoint, with the X-CSRFToken header Dash sends."""
        if self.cookie("_csrf_token") is None:
            self.request("GET", "/_dash-layout")  # the guard sets the cookie on the first request
        headers = {"X-CSRFToken": self.cookie("_csrf_token") or ""} if csrf else {}
        return self.request("POST", "/_dash-update-component", json_body=payload, headers=headers)


def sign_in(flask_app: Any, username: str, password: str, layout: bool = True) -> Any:
    """A Flask test client of `flask_app` signed in as `username` through the login form (its CSRF
    token read from the page, as a browser sends it back). `layout`: ask for the Dash layout too,
    which sets the CSRF cookie Dash's renderer sends back with every callback request."""
    client = flask_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    form = {"csrf_token": html.unescape(match.group(1)), "username": username, "password": password, "next": "/"}
    reply = client.post("/login", data=form)
    assert reply.status_code == 302, reply.get_data(as_text=True)
    if layout:
        client.get("/_dash-layout")
    return client


#: the password of the people `in_process` adds
IN_PROCESS_PASSWORD = "in-process-test-password"


@dataclass
class InProcess:
    """The dashboard app in this process (Flask's test client) over a demo store of its own."""

    db: Any  # dashboard.store.db.Database
    app: Any  # the Dash app

    def client(self, username: str) -> Any:
        """A test client signed in as `username` (one of the people `in_process` added)."""
        return sign_in(self.app.server, username, IN_PROCESS_PASSWORD)

    def post(self, client: Any, payload: dict[str, Any]) -> Any:
        """A callback request as Dash's renderer sends it (with the CSRF token)."""
        token = client.get_cookie("_csrf_token")
        return client.post(
            "/_dash-update-component", json=payload, headers={"X-CSRFToken": token.value if token else ""}
        )


@contextlib.contextmanager
def in_process(tmp: Path, users: dict[str, str], *demo: str) -> Iterator[InProcess]:
    """`auditdash demo` (`demo`: its options) into a new store in `tmp`, the people `users` ({name:
    role}) added, and the app serving it in this process; the store is closed after."""
    from dashboard.access.users import create_user
    from dashboard.config import Settings
    from dashboard.store.db import Database
    from dashboard.web.app import create_app

    db_path = tmp / "site.duckdb"
    cli("demo", *(demo or ("--days", "7", "--events", "1500")), "--db", str(db_path))
    db = Database(db_path)
    try:
        for name, role in users.items():
            create_user(db, name, role, IN_PROCESS_PASSWORD)
        app = create_app(Settings(db_path=db_path, geo_dir=GEO_DIR), db)
        app.server.test_client().get("/healthz")  # Dash fills its callback map on the first request
        yield InProcess(db, app)
    finally:
        db.close()


def page_payload(pathname: str, search: str = "", fragment: str = "") -> dict[str, Any]:
    """The request Dash's pages router sends to render the page at `pathname` (with the link's
    fragment, a State of its Location: `auth_rules.ROUTE_FRAGMENT`)."""
    return {
        "output": ".._pages_content.children..._pages_store.data..",
        "outputs": [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [
            {"id": "_pages_location", "property": "pathname", "value": pathname},
            {"id": "_pages_location", "property": "search", "value": search},
        ],
        "changedPropIds": ["_pages_location.pathname"],
        "state": [{"id": "_pages_location", "property": "hash", "value": fragment}],
    }


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database file path (not created yet)."""
    return tmp_path / "audit.duckdb"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real server on 127.0.0.1 over an empty database."""
    srv = start_server(tmp_path / "srv.duckdb", tmp_path, tmp_path / "server.log")
    try:
        yield srv
    finally:
        stop_server(srv)


def event(**overrides: Any) -> dict[str, Any]:
    """A valid event; keyword arguments replace fields."""
    doc: dict[str, Any] = {
        "id": "evt-1",
        "occurred_at": "2026-05-01T09:30:00Z",
        "account_id": "acme",
        "action": "auth.login",
        "outcome": "success",
        "actor": {"id": "u1", "name": "Ana Souza", "email": "ana@example.com", "role": "agent"},
        "ip": "8.8.8.8",
        "user_agent": "Mozilla/5.0",
    }
    doc.update(overrides)
    return {k: v for k, v in doc.items() if v is not None}

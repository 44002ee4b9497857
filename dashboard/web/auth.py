"""Login, sessions, roles, CSRF and security headers: nobody reads the audit log unseen.

`install_auth` is the first installer of the app (dashboard/web/app.py). It adds

* `/login` (and `/login/totp` for the second factor) and `/logout`: plain HTML forms;
* a request guard that runs before every route: public paths pass, `/api/*` needs a bearer
  token, everything else a live session whose role may make the request (the rules are in
  `dashboard.web.auth_rules`); it sets `flask.g.auditdash_viewer` for `viewer()`;
* every registered page's layout wrapped so it is never built for a role that may not open
  the page (a "Not allowed" notice instead);
* a CSRF check on every state-changing request made with the cookie session (Dash sends the
  `_csrf_token` cookie back as the `X-CSRFToken` header by itself);
* security headers on every response, and `Cache-Control: no-store` on everything but the
  static bundles;
* the self-logging of logins, failures, lockouts, logouts and session timeouts.

See docs/security.md for the route and role table and the settings.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import dash
import flask
from dash import html
from dash._utils import to_json
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from dashboard.access import sso, users
from dashboard.config import ConfigError, Settings
from dashboard.keyfile import create_key_file
from dashboard.roles import ADMIN
from dashboard.store import selflog
from dashboard.store.db import utcnow
from dashboard.web import auth_pages, auth_rules, refusal
from dashboard.web.access import VIEWER_KEY, Viewer, viewer
from dashboard.web.api import bearer_token
from dashboard.web.shell_nav import shell_nav
from dashboard.web.state import AppState, state

log = logging.getLogger(__name__)

SESSION_COOKIE = "auditdash_session"
#: read by Dash's renderer and sent back as the X-CSRFToken header (dash.Dash csrf_token_name)
CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
CSRF_FIELD = "csrf_token"
SESSION_INFO_KEY = "auditdash_session"
#: how long the second step (one-time code) waits after a correct password
TOTP_PENDING_S = 300
STATIC_PREFIXES = ("/assets/", "/_dash-component-suites/")


@dataclass(frozen=True)
class CurrentSession:
    """The live session of the current request."""

    session_id: str
    public_id: str
    username: str
    role: str
    csrf_token: str


# -- secret key ------------------------------------------------------------------------------------------
def secret_key_path(db_path: Path) -> Path:
    """Where the generated session key is kept when AUDITDASH_SECRET_KEY is unset."""
    return db_path.with_name(db_path.name + ".secret")


def load_secret_key(settings: Settings) -> str:
    """The configured key, else the one in `<db>.secret` (created once, mode 0600)."""
    if settings.secret_key:
        if len(settings.secret_key) < 32:
            raise ConfigError("AUDITDASH_SECRET_KEY is too short: use at least 32 random characters")
        return settings.secret_key
    path = secret_key_path(settings.db_path)
    key = secrets.token_urlsafe(48)
    if create_key_file(path, (key + "\n").encode()):
        return key
    # one was there (or another process made it first)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        log.warning("%s was readable by others: permissions set to 0600", path)
        path.chmod(0o600)
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} does not hold a usable key: delete it to have a new one made")
    return key


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        return bool(flask.has_request_context() and flask.request.is_secure)


# -- small helpers -----------------------------------------------------------------------------------------
def client_ip() -> str | None:
    """The client's address (the proxy's X-Forwarded-For when AUDITDASH_PROXY_COUNT trusts it)."""
    return flask.request.remote_addr


def _user_agent() -> str | None:
    agent = flask.request.headers.get("User-Agent")
    return agent[:1024] if agent else None


def request_actor() -> users.Actor:
    """The signed-in user of this request as the author of a change (for the audit log)."""
    current: CurrentSession | None = flask.g.get(SESSION_INFO_KEY)
    if current is None:
        return users.Actor("system")
    return users.Actor(current.username, current.role, client_ip(), _user_agent(), current.public_id)


def _record(action: str, actor: str, **fields: Any) -> None:
    """Write a self-log event; a failure to log is reported, never silently dropped."""
    selflog.record(state().db, action, actor[:256] or "-", ip=client_ip(), user_agent=_user_agent(), **fields)


def throttle_policy(settings: Settings) -> users.ThrottlePolicy:
    """The progressive delay and lockout of sign-ins (also of wrong passwords on the account page)."""
    return users.ThrottlePolicy(
        max_failures=settings.login_max_failures,
        max_failures_per_address=settings.login_max_failures_per_address,
        lockout=timedelta(seconds=settings.login_lockout_s),
        delay_s=float(settings.login_delay_s),
    )


def _csrf_ok(expected: str | None) -> bool:
    presented = flask.request.headers.get(CSRF_HEADER) or flask.request.form.get(CSRF_FIELD) or ""
    return bool(expected) and hmac.compare_digest(presented.encode(), str(expected).encode())


def _same_origin() -> bool:
    """A browser's Origin header, when sent, must be this server (defence in depth over CSRF)."""
    origin = flask.request.headers.get("Origin")
    return origin is None or origin.rstrip("/") == flask.request.host_url.rstrip("/")


def _json_error(status: int, message: str) -> Response:
    response = flask.jsonify({"error": message, "login": "/login"} if status == 401 else {"error": message})
    response.status_code = status
    return response


def html_response(body: str, status: int = 200) -> Response:
    """A server-rendered page (login, account, refusals)."""
    return flask.Response(body, status=status, mimetype="text/html")


def _refuse(decision: auth_rules.Decision) -> Response:
    req = flask.request
    if decision.redirect:
        return flask.redirect(decision.redirect, 302)
    status = decision.status or 403
    if auth_rules.wants_json(req.path, req.method, req.headers.get("Accept", "")):
        return _json_error(status, decision.message)
    current: CurrentSession | None = flask.g.get(SESSION_INFO_KEY)
    rule = req.url_rule.rule if req.url_rule is not None else None
    if status == 403 and rule in auth_rules.DASH_INDEX_RULES and current and current.role != auth_rules.WALL_ROLE:
        # a page the role may not open: the app's shell, whose router shows the refusal in words
        return html_response(dash.get_app().index(), 403)
    signed_in = current is not None and current.role != auth_rules.WALL_ROLE
    nav = shell_nav(current.username, current.role, current.csrf_token) if current and signed_in else None
    return html_response(auth_pages.refusal_page(status, decision.message, nav), status)


def _login_required() -> Response:
    req = flask.request
    if auth_rules.wants_json(req.path, req.method, req.headers.get("Accept", "")):
        return _json_error(401, "login required: sign in at /login")
    target = req.full_path if req.query_string else req.path
    return flask.redirect("/login?" + _urlencode({"next": target}), 302)


def _urlencode(values: dict[str, str]) -> str:
    from urllib.parse import urlencode

    return urlencode(values)


# -- sessions ------------------------------------------------------------------------------------------------
def _idle_timeout(settings: Settings, role: str) -> timedelta | None:
    if role == auth_rules.WALL_ROLE:
        return None  # a kiosk shows the wall all day; it ends at its absolute timeout
    return timedelta(seconds=settings.session_idle_timeout_s)


def _max_age(settings: Settings, role: str) -> timedelta:
    seconds = settings.wall_session_max_age_s if role == auth_rules.WALL_ROLE else settings.session_max_age_s
    return timedelta(seconds=seconds)


def _touch_interval(settings: Settings) -> timedelta:
    # writing the last-seen time on every request would put a write on every callback
    return timedelta(seconds=min(60.0, settings.session_idle_timeout_s / 4))


def _is_activity() -> bool:
    """Whether the request is the user's doing (a timer firing a callback is not)."""
    if flask.request.path != auth_rules.CALLBACK_PATH:
        return True
    body = flask.request.get_json(silent=True) or {}
    changed = body.get("changedPropIds") or []
    return not changed or not all(str(p).endswith(".n_intervals") for p in changed)


def _end(session_id: str, username: str, role: str, reason: str) -> None:
    users.end_session(state().db, session_id, reason)
    _record(
        "audit.logout",
        username,
        role=role,
        session_id=users.public_session_id(session_id),
        metadata={"ended": reason},
    )


def load_current_session() -> CurrentSession | None:
    """The live session of this request, ending it first if it has timed out."""
    if SESSION_INFO_KEY in flask.g:
        found: CurrentSession | None = flask.g.get(SESSION_INFO_KEY)
        return found
    current = _load_current_session()
    flask.g.setdefault(SESSION_INFO_KEY, current)
    if current is not None:
        flask.g.setdefault(VIEWER_KEY, Viewer(current.username, current.role))
    return current


def _forget_session() -> None:
    """Drop the ended session from the cookie but keep its CSRF token.

    An open page sends several requests at once; when the session ends, each of them answers
    with a cookie. Clearing the whole cookie would let a late answer wipe the token of the
    sign-in form the browser has just been shown, and the sign-in would be refused as forged.
    Signing in starts from a fresh cookie with a new token anyway.
    """
    flask.session.pop("sid", None)


def _load_current_session() -> CurrentSession | None:
    session_id = flask.session.get("sid")
    if not isinstance(session_id, str):
        return None
    st = state()
    row = users.load_session(st.db, session_id)
    if row is None or row.ended_at is not None:
        _forget_session()
        return None
    now = utcnow()
    reason = None
    idle = _idle_timeout(st.settings, row.role)
    if row.disabled_at is not None:
        reason = "user disabled"
    elif now >= row.expires_at:
        reason = "absolute timeout"
    elif idle is not None and now - row.last_seen_at > idle:
        reason = "idle timeout"
    if reason:
        _end(session_id, row.username, row.role, reason)
        _forget_session()
        return None
    flask.g.auditdash_request_start = now
    if now - row.last_seen_at >= _touch_interval(st.settings) and _is_activity():
        users.touch_session(st.db, session_id, now)
    csrf = flask.session.get("csrf")
    if not isinstance(csrf, str):
        csrf = secrets.token_urlsafe(32)
        flask.session["csrf"] = csrf
    return CurrentSession(session_id, users.public_session_id(session_id), row.username, row.role, csrf)


def _start_session(username: str, role: str, next_path: str, metadata: dict[str, Any] | None = None) -> Response:
    st = state()
    session_id = secrets.token_urlsafe(32)
    users.start_session(st.db, session_id, username, _max_age(st.settings, role), client_ip(), _user_agent())
    users.note_login_success(st.db, username)
    flask.session.clear()
    flask.session["sid"] = session_id
    flask.session["csrf"] = secrets.token_urlsafe(32)
    # a kiosk keeps its cookie across browser restarts; everyone else's ends with the browser
    flask.session.permanent = role == auth_rules.WALL_ROLE
    _record("audit.login", username, role=role, session_id=users.public_session_id(session_id), metadata=metadata)
    if role == auth_rules.WALL_ROLE:
        return flask.redirect(auth_rules.WALL_PATH, 302)
    return flask.redirect(auth_rules.safe_next(next_path), 302)


# -- login and logout views -----------------------------------------------------------------------------------
def _anonymous_csrf() -> str:
    token = flask.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        flask.session["csrf"] = token
    return token


def _login_page(csrf: str, next_path: str, username: str = "", **kwargs: Any) -> str:
    """The sign-in page, with the single sign-on button when it is set up."""
    settings = state().settings
    sso_name = (settings.oidc_provider_name.strip() or "single sign-on") if settings.oidc_issuer else None
    off = sso_name is not None and not settings.local_login
    return auth_pages.login_page(csrf, next_path, username, sso_name=sso_name, passwords_off=off, **kwargs)


def _form_expired(page: str) -> Response:
    message = "The form expired or did not come from this site. Reload the page and sign in again."
    if page == "totp":
        return html_response(auth_pages.totp_page(_anonymous_csrf(), message), 403)
    return html_response(_login_page(_anonymous_csrf(), "/", error=message), 403)


def login_get() -> Response:
    """GET /login: the form (or straight home when already signed in)."""
    current = load_current_session()
    next_path = auth_rules.safe_next(flask.request.args.get("next"))
    if current is not None:
        home = auth_rules.WALL_PATH if current.role == auth_rules.WALL_ROLE else next_path
        return flask.redirect(home, 302)
    notice = "You have signed out." if flask.request.args.get("signed_out") else None
    if flask.request.args.get("expired"):
        notice = "Your session ended. Sign in again."
    return html_response(_login_page(_anonymous_csrf(), next_path, notice=notice))


def _throttled(username: str, gate: users.Gate, next_path: str) -> Response:
    if gate.reason == "locked":
        minutes = max(1, round(gate.retry_after_s / 60))
        message = f"Too many failed sign-ins. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        reason = f"{gate.scope} locked"
    else:
        message = f"Too many failed sign-ins. Wait {gate.retry_after_s} s and try again."
        reason = "throttled: too soon after failed attempts"
    _record("audit.login", username, outcome="failure", reason=reason, metadata={"retry_after_s": gate.retry_after_s})
    response = html_response(_login_page(_anonymous_csrf(), next_path, username, error=message), 429)
    response.headers["Retry-After"] = str(gate.retry_after_s)
    return response


def note_failed_sign_in(username: str, known: bool, reason: str, role: str | None) -> None:
    """Count a failure against the name and address; log it, and any lockout it causes."""
    st = state()
    policy = throttle_policy(st.settings)
    locked = users.note_login_failure(st.db, username, client_ip(), policy, utcnow())
    _record(
        "audit.login",
        username,
        role=role,
        outcome="failure",
        reason=reason,
        metadata={"known_user": known},
    )
    for key, failures, until in locked:
        scope, _, value = key.partition(":")
        _record(
            "audit.lockout",
            username,
            role=role,
            target_type="dashboard_user" if scope == "user" else "address",
            target_id=value,
            target_name=value,
            reason=f"{failures} failed sign-ins",
            metadata={
                "scope": "user" if scope == "user" else "address",
                "failures": failures,
                "locked_until": until.isoformat() + "Z",
                "lockout_s": st.settings.login_lockout_s,
            },
        )


def login_post() -> Response:
    """POST /login: check the password (throttled), then the second factor or a new session."""
    form = flask.request.form
    next_path = auth_rules.safe_next(form.get("next"))
    if not _csrf_ok(flask.session.get("csrf")) or not _same_origin():
        return _form_expired("login")
    username = users.normalize_username(form.get("username", ""))[:128]
    password = form.get("password", "")
    if not username or not password:
        return html_response(
            _login_page(_anonymous_csrf(), next_path, username, error="Enter your user name and password."),
            400,
        )
    st = state()
    if not sso.local_password_allowed(st.settings.local_login, st.settings.break_glass_user, username):
        _record("audit.login", username, outcome="failure", reason="local passwords switched off")
        error = "Passwords are switched off here: use the single sign-on button."
        return html_response(_login_page(_anonymous_csrf(), next_path, username, error=error), 403)
    gate = users.login_gate(st.db, username, client_ip(), throttle_policy(st.settings), utcnow())
    if not gate.allowed:
        return _throttled(username, gate, next_path)
    verdict = users.authenticate(st.db, username, password)
    if not verdict.ok:
        assert verdict.reason is not None
        role = verdict.user.role if verdict.user else None
        note_failed_sign_in(username, verdict.user is not None, verdict.reason, role)
        error = "Wrong user name or password."  # the same words whatever was wrong
        return html_response(_login_page(_anonymous_csrf(), next_path, username, error=error), 401)
    assert verdict.user is not None
    if verdict.user.totp_enabled:
        flask.session.clear()
        flask.session["csrf"] = secrets.token_urlsafe(32)
        flask.session["mfa"] = {"u": verdict.user.username, "t": time.time(), "next": next_path}
        return html_response(auth_pages.totp_page(flask.session["csrf"]))
    return _start_session(verdict.user.username, verdict.user.role, next_path)


def totp_post() -> Response:
    """POST /login/totp: the one-time code after a correct password."""
    pending = flask.session.get("mfa")
    if not _csrf_ok(flask.session.get("csrf")) or not _same_origin():
        return _form_expired("totp")
    if not isinstance(pending, dict) or time.time() - float(pending.get("t", 0)) > TOTP_PENDING_S:
        flask.session.pop("mfa", None)
        return flask.redirect("/login?expired=1", 302)
    st = state()
    username = str(pending["u"])
    gate = users.login_gate(st.db, username, client_ip(), throttle_policy(st.settings), utcnow())
    if not gate.allowed:
        flask.session.pop("mfa", None)
        return _throttled(username, gate, str(pending.get("next", "/")))
    user = users.get_user(st.db, username)
    if user is None or not user.active:
        flask.session.pop("mfa", None)
        return flask.redirect("/login", 302)
    if not users.totp_check(st.db, username, flask.request.form.get("code", "")):
        note_failed_sign_in(username, True, "wrong one-time code", user.role)
        return html_response(auth_pages.totp_page(_anonymous_csrf(), "Wrong or already used code."), 401)
    return _start_session(user.username, user.role, str(pending.get("next", "/")))


def logout_post() -> Response:
    """POST /logout: end the session on the server, forget the cookie, clear the browser's cache."""
    current = load_current_session()
    if current is None:
        flask.session.clear()
        return flask.redirect("/login", 302)
    if not _csrf_ok(current.csrf_token) or not _same_origin():
        return _refuse(auth_rules.forbid("missing or wrong CSRF token: reload the page and try again"))
    users.end_session(state().db, current.session_id, "logout")
    _record("audit.logout", current.username, role=current.role, session_id=current.public_id)
    flask.session.clear()
    response = flask.redirect("/login?signed_out=1", 303)
    response.delete_cookie(CSRF_COOKIE, path="/")
    # the back button must not bring the data back from the browser's caches
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


# -- the guard -----------------------------------------------------------------------------------------------
ROUTES_KEY = "auditdash_callback_routes"


def callback_routes(app: dash.Dash) -> dict[str, auth_rules.CallbackRoute]:
    """Every callback of the app with the page it belongs to (built once Dash filled its map).

    Dash moves callbacks registered with `dash.callback` into the app's map, and registers its
    pages router, on the first request; the guard runs after those hooks, so the table is made
    from the complete map (and made again if the map ever grows).
    """
    cached = app.server.extensions.get(ROUTES_KEY)
    if cached is not None and cached[0] == len(app.callback_map):
        return cast(dict[str, auth_rules.CallbackRoute], cached[1])
    routes = auth_rules.callback_routes(app.callback_map, list(dash.page_registry.values()))
    app.server.extensions[ROUTES_KEY] = (len(app.callback_map), routes)
    return routes


def _authorize(app: dash.Dash, current: CurrentSession) -> auth_rules.Decision:
    req = flask.request
    path = req.path
    role = current.role
    rule = req.url_rule.rule if req.url_rule is not None else None
    registry = list(dash.page_registry.values())
    if path in auth_rules.DASH_BOOT_PATHS:
        return auth_rules.ALLOW
    if path == auth_rules.CALLBACK_PATH and req.method == "POST":
        body = req.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("output"), str):
            return auth_rules.Decision(400, "a callback request needs a JSON body with `output`")
        return auth_rules.decide_callback(role, callback_routes(app).get(body["output"]), body, registry)
    if rule in auth_rules.DASH_INDEX_RULES:
        return auth_rules.decide_page(role, path, registry)
    return auth_rules.decide_route(role, path, rule)


def _guard(app: dash.Dash) -> Response | None:
    req = flask.request
    path = req.path
    if auth_rules.is_public(path):
        return None
    if auth_rules.is_api(path):
        # token-only: a session cookie never authenticates the API (so the API needs no CSRF check)
        if bearer_token() is None:
            response = _json_error(401, "missing bearer token (Authorization: Bearer adt_...)")
            response.headers["WWW-Authenticate"] = 'Bearer realm="auditdash"'
            return response
        return None
    current = load_current_session()
    if current is None:
        return _login_required()
    if req.method not in ("GET", "HEAD", "OPTIONS") and (not _csrf_ok(current.csrf_token) or not _same_origin()):
        return _refuse(auth_rules.forbid("missing or wrong CSRF token: reload the page and try again"))
    decision = _authorize(app, current)
    if not decision.allowed:
        return _refuse(decision)
    return None


# -- responses -------------------------------------------------------------------------------------------------
def _csp(app: dash.Dash, settings: Settings, html: bool) -> str:
    # Dash's renderer and clientside callbacks are inline scripts: allowed by hash, nothing else is.
    scripts = " ".join(["'self'", *app.csp_hashes()]) if html else "'self'"
    ancestors = settings.frame_ancestors.strip() or "'none'"
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src {scripts}",
            # plotly.js and React set inline styles
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "worker-src 'self' blob:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


#: the build of the app's callbacks, on every answer to Dash's renderer (`_build`)
BUILD_HEADER = "X-Auditdash-Build"


def _build(app: dash.Dash) -> str:
    """A digest of the app's callbacks as `/_dash-dependencies` sends them: the same for every
    process of one version, another after an upgrade that changed any callback. A page that sees
    another build than the one it was made with reloads itself (assets/auth-session.js): the server
    refuses requests shaped for callbacks it no longer has (400), and a page left open, such as the
    wall screen, would otherwise stay as it was until someone reloads it. Callbacks are only ever
    added (the pages router at the first request), so their number says when to digest again."""
    callbacks: list[Any] = app._callback_list
    kept = app.server.extensions.get(_BUILD_KEY)
    if kept is None or kept[0] != len(callbacks):
        kept = (len(callbacks), hashlib.sha256(to_json(callbacks).encode()).hexdigest()[:16])
        app.server.extensions[_BUILD_KEY] = kept
    return str(kept[1])


_BUILD_KEY = "auditdash_build"


def _after(app: dash.Dash, response: Response) -> Response:
    req = flask.request
    settings = state().settings
    headers = response.headers
    is_html = response.mimetype == "text/html"
    headers["Content-Security-Policy"] = _csp(app, settings, is_html)
    if not settings.frame_ancestors.strip():
        headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "same-origin"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    if req.is_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    if req.path.startswith("/_dash-"):
        headers[BUILD_HEADER] = _build(app)
    if not req.path.startswith(STATIC_PREFIXES):
        headers["Cache-Control"] = "no-store"
        headers.pop("Expires", None)
        headers.pop("ETag", None)
        headers.pop("Last-Modified", None)
    current: CurrentSession | None = flask.g.get(SESSION_INFO_KEY)
    live = current is not None and flask.session.get("sid") == current.session_id
    started = flask.g.get("auditdash_request_start")
    if live and current is not None and started is not None:
        # a slow answer (a heavy query) counts as activity until it is sent, not only when asked
        finished = utcnow()
        if finished - started >= _touch_interval(settings) and _is_activity():
            users.touch_session(state().db, current.session_id, finished)
    if live and current is not None and req.cookies.get(CSRF_COOKIE) != current.csrf_token:
        response.set_cookie(
            CSRF_COOKIE,
            current.csrf_token,
            path="/",
            secure=req.is_secure,
            httponly=False,  # Dash's renderer reads it and sends it back as X-CSRFToken
            samesite="Lax",
        )
    return response


def _wrap_index(app: dash.Dash) -> None:
    """Put the signed-in bar (name, role, sign-out form) above every Dash page except the wall."""
    original = app.interpolate_index

    def interpolate_index(**kwargs: Any) -> str:
        current: CurrentSession | None = flask.g.get(SESSION_INFO_KEY) if flask.has_request_context() else None
        if current is not None and flask.request.path.rstrip("/") != auth_rules.WALL_PATH:
            bar = auth_pages.user_bar(current.username, current.role, current.csrf_token, current.role == ADMIN)
            kwargs["app_entry"] = bar + kwargs.get("app_entry", "")
        return str(original(**kwargs))

    app.interpolate_index = interpolate_index  # type: ignore[method-assign,assignment]


def _guarded_layout(page: dict[str, Any], original: Any) -> Callable[..., Any]:
    """`original` (a page's layout), built only for a viewer whose role may open the page."""

    def guarded(**kwargs: Any) -> Any:
        # the link's fragment is not part of its query: kept for the request (`page_view.link_fragment`)
        fragment = kwargs.pop(auth_rules.ROUTE_FRAGMENT, None)
        if flask.has_request_context():
            setattr(flask.g, auth_rules.ROUTE_FRAGMENT, fragment if isinstance(fragment, str) else None)
        role = viewer().role
        decision = auth_rules.decide_page(role, str(page.get("path", "/")), list(dash.page_registry.values()))
        if not decision.allowed:
            if role != auth_rules.WALL_ROLE:
                return refusal.layout(page, role)  # what they tried, their role, whom to ask
            refused = decision.message if decision.status != 302 else "the wall role may only open /wall"
            return html.Div(
                [html.H1("Not allowed", className="h4"), html.P(f"{page.get('name', 'This page')}: {refused}.")],
                id="page-refused",
                className="alert alert-warning",
            )
        return original(**kwargs) if callable(original) else original

    guarded._auditdash_guarded = True  # type: ignore[attr-defined]
    return guarded


def _guard_layouts() -> None:
    """Make every registered page's layout refuse a viewer whose role may not open the page.

    The request guard already refuses the pages router for such a pathname; this is the second
    wall: whatever reaches a layout, a refused page's content is never built for that role.
    """
    for page in dash.page_registry.values():
        original = page.get("layout")
        if not getattr(original, "_auditdash_guarded", False):
            page["layout"] = _guarded_layout(page, original)


# -- installer ---------------------------------------------------------------------------------------------------
def install_auth(app: dash.Dash, st: AppState) -> None:
    """Put every route behind the login (the first installer of the app)."""
    server = app.server
    settings = st.settings
    if settings.proxy_count > 0:
        n = settings.proxy_count
        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=n, x_proto=n, x_host=n)
    server.secret_key = load_secret_key(settings)
    sealed = users.seal_totp_secrets(st.db)  # stored before secrets were sealed
    if sealed:
        log.warning("sealed %d second-factor secrets with %s", sealed, users.totp_key_path(st.db.path))
    server.session_interface = _SessionInterface()
    server.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # the signature's own limit; each session's real end is checked on the server
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=max(settings.session_max_age_s, settings.wall_session_max_age_s)),
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    server.add_url_rule("/login", "auth_login", login_get, methods=["GET"])
    server.add_url_rule("/login", "auth_login_post", login_post, methods=["POST"])
    server.add_url_rule("/login/totp", "auth_totp", totp_post, methods=["POST"])
    server.add_url_rule("/logout", "auth_logout", logout_post, methods=["POST"])
    # after Dash's own first-request hooks, which fill the callback map the guard consults
    server.before_request(lambda: _guard(app))
    _guard_layouts()
    server.after_request(lambda response: _after(app, response))
    _wrap_index(app)

"""`/account`: the signed-in person's password, second factor and sessions.

Server-rendered forms like the login page (no JavaScript). The login guard has already checked
the session, the CSRF token and the role (the wall role may not come here) before these views
run. A wrong current password counts as a failed sign-in (the same progressive delay and
lockout), so a stolen session cannot be used to guess the password. Every change is written to
the audit log by `dashboard.access.users`.

Setting up the second factor takes two steps: `/account/totp/start` makes a secret and shows it
as a QR code, kept only in the session cookie, encrypted (Fernet, a key derived from the app's
secret key: the cookie itself is only signed); `/account/totp/confirm` stores it once the person
has typed a code their app made from it, so nobody is locked out by a badly scanned code.
"""

from __future__ import annotations

import base64
import hashlib

import dash
import flask
import segno
from cryptography.fernet import Fernet, InvalidToken
from markupsafe import Markup
from werkzeug.wrappers import Response

from dashboard.access import users
from dashboard.store.db import utcnow
from dashboard.store.errors import StoreError
from dashboard.web import auth, auth_pages
from dashboard.web.shell_nav import shell_nav
from dashboard.web.state import AppState, state

#: how long a secret shown for set-up waits for its first code
ENROL_S = 600
_PENDING = "totp_pending"


def _fernet() -> Fernet:
    """The cipher of the pending key: derived from the app's secret key (the cookie is only signed)."""
    secret = str(flask.current_app.secret_key or "")
    digest = hashlib.sha256(b"auditdash totp enrolment\x00" + secret.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def _unseal(pending: object) -> str | None:
    """The pending key, while it is fresh (ENROL_S) and was sealed by this server."""
    if not isinstance(pending, dict):
        return None
    try:
        return _fernet().decrypt(str(pending.get("s", "")).encode(), ttl=ENROL_S).decode()
    except (InvalidToken, ValueError):
        return None


def _current() -> auth.CurrentSession:
    current = auth.load_current_session()
    assert current is not None  # the guard lets no request without a session reach these views
    return current


def _page(message: str | None = None, error: str | None = None, status: int = 200, enrol: bool = False) -> Response:
    current = _current()
    user = users.get_user(state().db, current.username)
    assert user is not None  # a session of a deleted user would have ended
    enrolment = None
    secret = _unseal(flask.session.get(_PENDING)) if enrol else None
    if secret is not None:
        uri = users.totp_uri(user.username, secret)
        # segno writes the SVG itself from the URI's bits; nothing in it comes from a request
        svg = Markup(segno.make(uri, error="m").svg_inline(scale=4, border=4, light="#fff"))  # noqa: S704
        enrolment = (secret, uri, svg)
    body = auth_pages.account_page(
        current.csrf_token,
        user.username,
        user.role,
        f"{user.password_changed_at:%Y-%m-%d %H:%M}",
        user.totp_enabled,
        users.PASSWORD_MIN_LENGTH,
        message=message,
        error=error,
        enrolment=enrolment,
        sessions=users.own_sessions(state().db, current.username, current.session_id),
        nav=shell_nav(current.username, current.role, current.csrf_token),
    )
    return auth.html_response(body, status)


def _password_ok(current: auth.CurrentSession, password: str) -> Response | None:
    """None when `password` is the person's; else the refusal (a failed sign-in is counted)."""
    if not password:
        return _page(error="Enter your current password.", status=400)
    st = state()
    policy = auth.throttle_policy(st.settings)
    gate = users.login_gate(st.db, current.username, auth.client_ip(), policy, utcnow())
    if not gate.allowed:
        return _page(error=f"Too many wrong passwords. Try again in {gate.retry_after_s} s.", status=429)
    if users.authenticate(st.db, current.username, password).ok:
        return None
    auth.note_failed_sign_in(current.username, True, "wrong current password on the account page", current.role)
    return _page(error="The current password is wrong.", status=400)


def account_get() -> Response:
    """GET /account (a set-up left half-way is dropped: its key leaves the session cookie)."""
    flask.session.pop(_PENDING, None)
    return _page()


def password_post() -> Response:
    """POST /account/password: current password, the new one twice."""
    current = _current()
    form = flask.request.form
    new, again = form.get("new_password", ""), form.get("new_password_again", "")
    refused = _password_ok(current, form.get("current_password", ""))
    if refused is not None:
        return refused
    if new != again:
        return _page(error="The two new passwords differ.", status=400)
    try:
        ended = users.change_own_password(
            state().db,
            current.username,
            form.get("current_password", ""),
            new,
            current.session_id,
            auth.request_actor(),
        )
    except StoreError as exc:
        return _page(error=f"Not changed: {exc}.", status=400)
    users.note_login_success(state().db, current.username)
    others = f" {ended} other session{'s' if ended != 1 else ''} ended." if ended else ""
    return _page(message="Your password is changed." + others)


def totp_start_post() -> Response:
    """POST /account/totp/start: with the current password, a new secret to scan (stored once confirmed).

    The password is asked here: whoever finds a session left open must not be able to tie the
    account to their own phone (which would also sign the owner out everywhere else).
    """
    current = _current()
    if users.totp_enabled(state().db, current.username):
        return _page(error="The second factor is already on.", status=409)
    refused = _password_ok(current, flask.request.form.get("totp_current_password", ""))
    if refused is not None:
        return refused
    users.note_login_success(state().db, current.username)
    flask.session[_PENDING] = {"s": _seal(users.totp_new_secret())}
    return _page(enrol=True)


def totp_confirm_post() -> Response:
    """POST /account/totp/confirm: the first code from the app turns the second factor on."""
    current = _current()
    secret = _unseal(flask.session.get(_PENDING))
    if secret is None:
        flask.session.pop(_PENDING, None)
        return _page(error="The set-up expired. Start again.", status=400)
    if users.totp_enabled(state().db, current.username):  # turned on meanwhile (another tab, an admin)
        flask.session.pop(_PENDING, None)
        return _page(error="The second factor is already on.", status=409)
    step = users.totp_match(secret, flask.request.form.get("code", ""))
    if step is None:
        error = "That code does not match. Check the app's clock and try the next code."
        return _page(error=error, status=400, enrol=True)
    actor = auth.request_actor()
    users.totp_enable(
        state().db, current.username, actor, secret=secret, keep_session=current.session_id, used_step=step
    )
    flask.session.pop(_PENDING, None)
    return _page(message="The second factor is on: signing in now asks for a one-time code.")


def totp_off_post() -> Response:
    """POST /account/totp/off: needs the current password."""
    current = _current()
    refused = _password_ok(current, flask.request.form.get("totp_current_password", ""))
    if refused is not None:
        return refused
    users.note_login_success(state().db, current.username)
    users.totp_disable(state().db, current.username, auth.request_actor())
    return _page(message="The second factor is off.")


def sessions_end_post() -> Response:
    """POST /account/sessions/end: sign out everywhere but here."""
    current = _current()
    ended = users.end_other_sessions(state().db, current.username, current.session_id, auth.request_actor())
    return _page(message=f"Signed out of {ended} other session{'s' if ended != 1 else ''}.")


def install_account(app: dash.Dash, st: AppState) -> None:
    """The `/account` routes (behind the login guard that `install_auth` put in place)."""
    server = app.server
    server.add_url_rule("/account", "account", account_get, methods=["GET"])
    server.add_url_rule("/account/password", "account_password", password_post, methods=["POST"])
    server.add_url_rule("/account/totp/start", "account_totp_start", totp_start_post, methods=["POST"])
    server.add_url_rule("/account/totp/confirm", "account_totp_confirm", totp_confirm_post, methods=["POST"])
    server.add_url_rule("/account/totp/off", "account_totp_off", totp_off_post, methods=["POST"])
    server.add_url_rule("/account/sessions/end", "account_sessions_end", sessions_end_post, methods=["POST"])

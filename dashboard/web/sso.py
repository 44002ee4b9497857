"""The single sign-on routes: `/login/sso` sends the browser to the identity provider, and
`/login/sso/callback` signs the person in when the provider's answer is verified.

The protocol is in `dashboard.access.oidc`, the user name, role and account in
`dashboard.access.sso`. The session made is the same as a password sign-in's
(`dashboard.web.auth._start_session`: cookie, CSRF token, timeouts). Every sign-in is an
`audit.login` event with `metadata.method = "sso"`; every refusal is an `audit.login` failure
with its reason. See docs/security.md, section "Single sign-on".
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import flask
from werkzeug.wrappers import Response

from dashboard.access import oidc, sso
from dashboard.web import auth, auth_pages, auth_rules
from dashboard.web.state import AppState, state

log = logging.getLogger(__name__)

PROVIDER_KEY = "auditdash_sso_provider"
PENDING_KEY = "sso"
#: the longest `reason` an event may have (docs/events.md)
REASON_MAX = 256


def _provider() -> oidc.Provider | None:
    found: oidc.Provider | None = flask.current_app.extensions.get(PROVIDER_KEY)
    return found


def _redirect_uri(provider: oidc.Provider) -> str:
    return provider.config.redirect_uri or flask.request.host_url.rstrip("/") + oidc.CALLBACK_PATH


def _page(title: str, message: str, status: int) -> Response:
    return auth.html_response(auth_pages.sso_refusal_page(title, message, status), status)


def _refuse(provider: oidc.Provider, error: oidc.SsoError, username: str | None = None) -> Response:
    """Log the refusal (reason) and show the person what happened (message)."""
    name = provider.config.provider_name
    reason = f"single sign-on: {error.reason}"
    metadata: dict[str, Any] = {"method": "sso", "provider": name}
    if len(reason) > REASON_MAX:  # the event's reason field is short: the whole of it goes in metadata
        metadata["detail"] = reason[:4000]
        reason = reason[: REASON_MAX - 1] + "…"
    auth._record("audit.login", username or "-", outcome="failure", reason=reason, metadata=metadata)
    log.warning("single sign-on refused for %s: %s", username or "an unknown person", error.reason)
    if error.status >= 500:
        return _page(f"{name} is not available", error.message, error.status)
    return _page("Not signed in", error.message, error.status)


def _no_role_message(provider: oidc.Provider, who: sso.Identity) -> str:
    config = provider.config
    contact = config.access_contact or "the person who looks after auditdash in your team"
    return (
        f"You signed in at {config.provider_name} as {who.username}, but your account there is not in a group "
        f"that gives access to auditdash, so you are not signed in. Ask {contact} to give you access "
        f"(they add you to the right group at {config.provider_name}), then sign in again."
    )


def sso_start() -> Response:
    """GET /login/sso: remember state, nonce and PKCE verifier in this browser; go to the provider."""
    provider = _provider()
    if provider is None:
        return _page("Single sign-on is not set up", "Sign in with your user name and password.", 404)
    next_path = auth_rules.safe_next(flask.request.args.get("next"))
    current = auth.load_current_session()
    if current is not None:  # already signed in: as GET /login does
        return flask.redirect(auth_rules.WALL_PATH if current.role == auth_rules.WALL_ROLE else next_path, 302)
    try:
        url, pending = provider.begin(_redirect_uri(provider), next_path)
    except oidc.SsoError as exc:
        return _refuse(provider, exc)
    flask.session[PENDING_KEY] = pending.to_session()
    return flask.redirect(url, 302)


def sso_callback() -> Response:
    """GET /login/sso/callback: the provider's answer; verified, then a session like any other."""
    provider = _provider()
    if provider is None:
        return _page("Single sign-on is not set up", "Sign in with your user name and password.", 404)
    args = flask.request.args
    # single use: whatever happens next, this pending sign-in is spent
    pending_raw = flask.session.pop(PENDING_KEY, None)
    try:
        pending = oidc.check_state(oidc.Pending.from_session(pending_raw), args.get("state"))
        if args.get("error"):
            described = args.get("error_description", "")[:300]
            raise oidc.SsoError(
                f"the identity provider answered {args['error'][:100]}: {described}".rstrip(": "),
                f"{provider.config.provider_name} did not sign you in ({args['error'][:100]}). "
                "Start again from the sign-in page.",
                403,
            )
        issuer = args.get("iss")
        if issuer is not None and issuer != provider.metadata()["issuer"]:  # RFC 9207: a mix-up of providers
            raise oidc.SsoError(
                f"the answer names issuer {issuer[:200]!r}, not this provider",
                "The answer came from another identity provider than the one this sign-in started at. "
                "Start again from the sign-in page.",
                400,
            )
        code = args.get("code")
        if not code:
            raise oidc.SsoError("the answer has no code", "The answer of the identity provider is incomplete.", 400)
        claims = provider.finish(code, pending, _redirect_uri(provider))
        who = sso.identity(claims, provider.config)
    except oidc.SsoError as exc:
        return _refuse(provider, exc)
    if who.role is None:
        error = oidc.SsoError(
            f"no role: none of the groups {list(who.groups)} in claim {provider.config.role_claim!r} is mapped",
            _no_role_message(provider, who),
        )
        return _refuse(provider, error, who.username)
    st = state()
    try:
        user = sso.provision(st.db, who, provider.config, auth.client_ip(), flask.request.headers.get("User-Agent"))
    except oidc.SsoError as exc:
        return _refuse(provider, exc, who.username)
    metadata: dict[str, Any] = {"method": "sso", "provider": provider.config.provider_name}
    return auth._start_session(user.username, user.role, pending.next_path, metadata=metadata)


def install_sso(app: dash.Dash, st: AppState) -> None:
    """Add the single sign-on routes; with no issuer set they answer that it is not set up.

    A wrong setting (no client id, an unreadable secret file, an unknown role in the map) stops
    the start with a ConfigError that says which.
    """
    config = oidc.load_config(st.settings)
    server = app.server
    if config is not None:
        server.extensions[PROVIDER_KEY] = oidc.Provider(config)
        log.info("single sign-on through %s (%s)", config.provider_name, config.issuer)
    server.add_url_rule("/login/sso", "auth_sso_start", sso_start, methods=["GET"])
    server.add_url_rule(oidc.CALLBACK_PATH, "auth_sso_callback", sso_callback, methods=["GET"])

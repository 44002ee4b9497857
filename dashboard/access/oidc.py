"""Single sign-on with OpenID Connect: the provider, the authorization request and the ID token.

The dashboard is an OpenID Connect relying party using the authorization code flow:

1. `Provider.begin` makes a fresh `state`, `nonce` and PKCE `code_verifier` (S256) and the URL
   of the provider's authorization endpoint; the caller keeps the `Pending` values in the
   browser's signed session (bound to that browser) and sends the browser to the URL;
2. on the way back, `check_state` takes the pending values out of the session (single use),
   refuses them when older than `PENDING_S` or when `state` differs;
3. `Provider.finish` exchanges the code (with the verifier and the client secret) at the token
   endpoint and verifies the ID token: signature against the provider's published keys (JWKS),
   `iss` equal to the discovered issuer, `aud` holding the client id, `azp` when there are several
   audiences, `exp`, `iat` and the `nonce` of step 1.

The protocol is Authlib's (the requests client for the code exchange, its OpenID claim rules)
and joserfc's (JWS and JWK); nothing here computes a signature or a hash itself. The provider's
discovery document and keys are fetched once and cached; an ID token signed with a key id not
in the cached set makes the keys be fetched again (key rotation).

Every failure is an `SsoError` with a reason for the audit log and words for the person.
See docs/security.md, section "Single sign-on".
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ExpiredTokenError, InvalidClaimError, InvalidKeyIdError, JoseError, MissingClaimError
from joserfc.jwk import KeySet

from dashboard.config import ConfigError, Settings

ROLES_BY_RANK: tuple[str, ...] = ("admin", "compliance", "manager", "wall")
#: how long the browser has between leaving for the provider and coming back
PENDING_S = 600
#: clock difference tolerated between the provider and this server for exp and iat
LEEWAY_S = 60
#: how long the discovery document and the keys are kept before they are fetched again
METADATA_TTL_S = 3600
#: asymmetric signatures only: an ID token "signed" with `none` or with the client secret is refused
SIGNING_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
CALLBACK_PATH = "/login/sso/callback"


class SsoError(Exception):
    """A sign-in through the identity provider that did not succeed.

    `reason` goes into the audit log (technical, precise); `message` is shown to the person;
    `status` is the HTTP status of the page that says so.
    """

    def __init__(self, reason: str, message: str, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message
        self.status = status


@dataclass(frozen=True)
class OidcConfig:
    """The single sign-on settings, checked."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    provider_name: str
    redirect_uri: str
    scopes: str
    username_claims: tuple[str, ...]
    role_claim: str
    role_map: Mapping[str, str]
    access_contact: str
    timeout_s: float


def parse_role_map(text: str) -> dict[str, str]:
    """Read `group=role; group=role` (or a JSON object) into {group: role}.

    Each pair is split at its last `=`, so a group may be a distinguished name
    (`cn=auditors,ou=groups,dc=example,dc=org=compliance`); pairs are separated by `;` or new lines.
    Raises ConfigError naming the pair that is wrong or the unknown role.
    """
    text = text.strip()
    mapping: dict[str, str] = {}
    if text.startswith("{"):
        try:
            loaded = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"AUDITDASH_OIDC_ROLE_MAP is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise ConfigError('AUDITDASH_OIDC_ROLE_MAP must be a JSON object {"group": "role", ...}')
        mapping = {str(k): v.strip() for k, v in loaded.items()}
    else:
        for raw in text.replace("\n", ";").split(";"):
            pair = raw.strip()
            if not pair:
                continue
            group, sep, role = pair.rpartition("=")
            if not sep or not group.strip() or not role.strip():
                raise ConfigError(f"AUDITDASH_OIDC_ROLE_MAP: {pair!r} is not `group=role`")
            mapping[group.strip()] = role.strip()
    for group, role in mapping.items():
        if role not in ROLES_BY_RANK:
            raise ConfigError(
                f"AUDITDASH_OIDC_ROLE_MAP maps {group!r} to unknown role {role!r}; roles are {', '.join(ROLES_BY_RANK)}"
            )
    return mapping


def _client_secret(settings: Settings) -> str:
    if settings.oidc_client_secret:
        return settings.oidc_client_secret
    path = settings.oidc_client_secret_path
    if path is None:
        raise ConfigError(
            "single sign-on needs the client secret: "
            "set AUDITDASH_OIDC_CLIENT_SECRET or AUDITDASH_OIDC_CLIENT_SECRET_FILE"
        )
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"AUDITDASH_OIDC_CLIENT_SECRET_FILE {path} cannot be read: {exc.strerror}") from None
    if not secret:
        raise ConfigError(f"AUDITDASH_OIDC_CLIENT_SECRET_FILE {path} is empty")
    return secret


def load_config(settings: Settings) -> OidcConfig | None:
    """The checked single sign-on settings, or None when no issuer is set. Raises ConfigError."""
    issuer = (settings.oidc_issuer or "").strip()
    if not issuer:
        return None
    if not issuer.startswith(("https://", "http://")):
        raise ConfigError(f"AUDITDASH_OIDC_ISSUER {issuer!r} is not an http(s) URL")
    if not settings.oidc_client_id:
        raise ConfigError("single sign-on needs AUDITDASH_OIDC_CLIENT_ID (the client id registered at the provider)")
    role_map = parse_role_map(settings.oidc_role_map)
    if not role_map:
        raise ConfigError("single sign-on needs AUDITDASH_OIDC_ROLE_MAP: nobody could sign in without a mapped role")
    claims = tuple(c.strip() for c in settings.oidc_username_claim.split(",") if c.strip())
    return OidcConfig(
        issuer=issuer,
        client_id=settings.oidc_client_id,
        client_secret=_client_secret(settings),
        provider_name=settings.oidc_provider_name.strip() or "single sign-on",
        redirect_uri=settings.oidc_redirect_uri.strip(),
        scopes=settings.oidc_scopes.strip() or "openid",
        username_claims=claims or ("preferred_username", "email"),
        role_claim=settings.oidc_role_claim.strip() or "groups",
        role_map=role_map,
        access_contact=settings.oidc_access_contact.strip(),
        timeout_s=float(settings.oidc_timeout_s),
    )


@dataclass(frozen=True)
class Pending:
    """What the browser's session keeps between leaving for the provider and coming back."""

    state: str
    nonce: str
    code_verifier: str
    created: float
    next_path: str = "/"

    def to_session(self) -> dict[str, Any]:
        """The values as stored in the signed session cookie."""
        return {"s": self.state, "n": self.nonce, "v": self.code_verifier, "t": self.created, "next": self.next_path}

    @classmethod
    def from_session(cls, value: Any) -> Pending | None:
        """The values read back (None when absent or damaged)."""
        if not isinstance(value, dict):
            return None
        try:
            return cls(
                str(value["s"]), str(value["n"]), str(value["v"]), float(value["t"]), str(value.get("next", "/"))
            )
        except (KeyError, TypeError, ValueError):
            return None


def check_state(pending: Pending | None, state: str | None, now: float | None = None) -> Pending:
    """The pending sign-in the provider's answer belongs to; refused when absent, old or different."""
    again = "Start again from the sign-in page."
    if pending is None:
        raise SsoError(
            "no sign-in pending in this browser (state already used, or the answer came to another browser)",
            f"This sign-in link was already used or did not start in this browser. {again}",
            400,
        )
    if (time.time() if now is None else now) - pending.created > PENDING_S:
        raise SsoError(
            f"sign-in took longer than {PENDING_S} s", f"The sign-in took too long and has expired. {again}", 400
        )
    if not state or not secrets.compare_digest(state.encode(), pending.state.encode()):
        raise SsoError(
            "state does not match the pending sign-in",
            f"The answer from the identity provider does not belong to this sign-in. {again}",
            400,
        )
    return pending


class Provider:
    """One OpenID Connect provider: its discovery document and keys (cached), the flow's two ends."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._jwks: dict[str, Any] | None = None
        self._jwks_at = 0.0

    # -- talking to the provider --------------------------------------------------------------------
    def _unreachable(self, what: str, url: str, exc: Exception) -> SsoError:
        name = self.config.provider_name
        return SsoError(
            f"identity provider unreachable: {what} {url}: {self._describe(exc)}",
            f"{name} did not answer ({what} at {url}). Try again in a few minutes; if it goes on, "
            "tell the administrator of auditdash.",
            503,
        )

    def _describe(self, exc: Exception) -> str:
        """A short account of a failed request (requests' own messages run to hundreds of characters)."""
        if isinstance(exc, requests.Timeout):
            return f"no answer within {self.config.timeout_s:g} s"
        if isinstance(exc, requests.ConnectionError):
            return "no connection (refused, or the name or route is wrong)"
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            return f"HTTP {exc.response.status_code}"
        if isinstance(exc, ValueError):
            return f"not a JSON object ({str(exc)[:80]})"
        return f"{type(exc).__name__}: {str(exc)[:120]}"

    def _get_json(self, what: str, url: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self.config.timeout_s, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise self._unreachable(what, url, exc) from None
        if not isinstance(data, dict):
            raise self._unreachable(what, url, ValueError("the answer is not a JSON object"))
        return data

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (`<issuer>/.well-known/openid-configuration`), checked."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL_S:
                return self._metadata
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        data = self._get_json("discovery document", url)
        issuer = str(data.get("issuer", ""))
        if issuer.rstrip("/") != self.config.issuer.rstrip("/"):
            raise SsoError(
                f"discovery document at {url} names issuer {issuer!r}, not {self.config.issuer!r}",
                f"{self.config.provider_name} is not set up as auditdash expects (issuer mismatch). "
                "Tell the administrator of auditdash.",
                502,
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise SsoError(
                    f"discovery document at {url} has no {key}",
                    f"{self.config.provider_name} is not set up as auditdash expects ({key} missing). "
                    "Tell the administrator of auditdash.",
                    502,
                )
        with self._lock:
            self._metadata, self._metadata_at = data, time.monotonic()
        return data

    def jwks(self, force: bool = False) -> dict[str, Any]:
        """The provider's published signing keys."""
        with self._lock:
            if not force and self._jwks is not None and time.monotonic() - self._jwks_at < METADATA_TTL_S:
                return self._jwks
        data = self._get_json("signing keys", str(self.metadata()["jwks_uri"]))
        with self._lock:
            self._jwks, self._jwks_at = data, time.monotonic()
        return data

    def _session(self, redirect_uri: str) -> OAuth2Session:
        supported = self.metadata().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        method = "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"
        return OAuth2Session(
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            scope=self.config.scopes,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
        )

    # -- the flow -------------------------------------------------------------------------------------
    def begin(self, redirect_uri: str, next_path: str = "/") -> tuple[str, Pending]:
        """The authorization URL to send the browser to, and what its session must keep."""
        endpoint = str(self.metadata()["authorization_endpoint"])
        pending = Pending(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(64),
            created=time.time(),
            next_path=next_path,
        )
        with self._session(redirect_uri) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=pending.state, code_verifier=pending.code_verifier, nonce=pending.nonce
            )
        return str(url), pending

    def finish(self, code: str, pending: Pending, redirect_uri: str) -> dict[str, Any]:
        """Exchange the code for tokens and return the verified claims of the ID token."""
        metadata = self.metadata()
        token_endpoint = str(metadata["token_endpoint"])
        name = self.config.provider_name
        try:
            with self._session(redirect_uri) as client:
                token = client.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending.code_verifier,
                    timeout=self.config.timeout_s,
                )
        except OAuthError as exc:
            raise SsoError(
                f"token endpoint refused the code: {exc.error}: {exc.description or ''}".rstrip(": "),
                f"{name} refused to complete the sign-in ({exc.error}). Start again from the sign-in page.",
                502,
            ) from None
        except requests.RequestException as exc:
            raise self._unreachable("token endpoint", token_endpoint, exc) from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoError(
                "the token endpoint sent no ID token (is the `openid` scope asked for?)",
                f"{name} did not say who you are. Tell the administrator of auditdash.",
                502,
            )
        return self.verify_id_token(id_token, pending.nonce, token.get("access_token"))

    def verify_id_token(self, id_token: str, nonce: str, access_token: str | None = None) -> dict[str, Any]:
        """The claims of `id_token` once its signature and claims are verified; SsoError otherwise."""
        metadata = self.metadata()
        offered = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in SIGNING_ALGORITHMS] or ["RS256"]
        try:
            try:
                decoded = jwt.decode(id_token, KeySet.import_key_set(cast(Any, self.jwks())), algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(
                    id_token, KeySet.import_key_set(cast(Any, self.jwks(force=True))), algorithms=algorithms
                )
            params: dict[str, Any] = {"nonce": nonce, "client_id": self.config.client_id}
            if access_token:
                params["access_token"] = access_token
            claims = CodeIDToken(
                decoded.claims,
                decoded.header,
                {
                    "iss": {"essential": True, "value": str(metadata["issuer"])},
                    "aud": {"essential": True, "value": self.config.client_id},
                    "exp": {"essential": True},
                    "iat": {"essential": True},
                    "nonce": {"essential": True},
                },
                params,
            )
            claims.validate(leeway=LEEWAY_S)
        except ExpiredTokenError:
            raise self._bad_token("the ID token has expired (exp)") from None
        except (InvalidClaimError, MissingClaimError) as exc:
            raise self._bad_token(f"ID token claim refused: {exc}") from None
        except (JoseError, ValueError) as exc:
            raise self._bad_token(f"ID token not verified: {exc}") from None
        return dict(claims)

    def _bad_token(self, reason: str) -> SsoError:
        return SsoError(
            reason,
            f"The answer from {self.config.provider_name} could not be verified, so you are not signed in. "
            "Start again from the sign-in page; if it happens again, tell the administrator of auditdash.",
            403,
        )

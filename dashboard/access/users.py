"""Dashboard users: accounts, passwords, second factor, sessions and login throttling.

Passwords are hashed with argon2id (memory-hard); only the hash is stored. Second-factor
secrets, which must be read back to check a code, are stored sealed (Fernet) with a key kept in
a file beside the database (`<db>.totp-key`), so a copy of the database alone does not hold
them. Every change to a
user is written to the audit log itself (`audit.user_change`) by the function that makes it,
so the command line and the admin page cannot forget to. Sessions live in
`dashboard_sessions` (the signed cookie carries only a random id whose SHA-256 is stored), so
logging out, disabling a user or resetting a password ends a session on the server at once.
See docs/security.md.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from dashboard import config
from dashboard.keyfile import create_key_file, warn_if_readable
from dashboard.roles import ROLES
from dashboard.store.db import Database, utcnow
from dashboard.store.errors import StoreError
from dashboard.store.schema import login_throttle, sessions, users

PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 1024
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")
FIRST_ADMIN = "admin"
#: what `target.type` says in the audit events about users
TARGET_TYPE = "dashboard_user"


@functools.cache
def _hasher() -> PasswordHasher:
    """The argon2id hasher of this process, with the costs of `AUDITDASH_PASSWORD_HASH_*`.

    The defaults (64 MiB, 3 passes, 4 lanes) are RFC 9106's second recommendation. A hash keeps
    its own costs in its PHC string, so hashes made with other costs still verify, and are made
    again with the current costs at the user's next sign-in.
    """
    settings = config.load()  # the costs are checked there (`Settings.__post_init__`)
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


log = logging.getLogger(__name__)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so an unknown name costs as much time as
    a wrong password and the response time does not tell which names exist."""
    return _hasher().hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Actor:
    """Who makes a change, for the audit event that records it."""

    name: str
    role: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    session_id: str | None = None

    def audit(self) -> dict[str, Any]:
        """The keyword arguments of `selflog.record` that describe this actor."""
        return {
            "role": self.role,
            "ip": self.ip,
            "user_agent": self.user_agent[:1024] if self.user_agent else None,
            "session_id": self.session_id,
        }


SYSTEM = Actor("system")


@dataclass(frozen=True)
class User:
    """A dashboard user, without the password hash or the second-factor secret."""

    username: str
    role: str
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None
    disabled_at: datetime | None
    totp_enabled: bool
    #: made by single sign-on: signs in through the identity provider only, never with a password
    sso: bool = False

    @property
    def active(self) -> bool:
        """Whether the user may log in."""
        return self.disabled_at is None


def _row_to_user(row: sa.Row) -> User:
    return User(
        username=row.username,
        role=row.role,
        created_at=row.created_at,
        updated_at=row.updated_at,
        password_changed_at=row.password_changed_at,
        last_login_at=row.last_login_at,
        disabled_at=row.disabled_at,
        totp_enabled=row.totp_secret is not None,
        sso=getattr(row, "sso_subject", None) is not None,
    )


# -- validation ------------------------------------------------------------------------------------
def normalize_username(name: str) -> str:
    """User names are case-insensitive: stored and compared in lower case."""
    return name.strip().lower()


def check_username(name: str) -> str:
    """Return the normalized name, or raise StoreError saying what is wrong with it."""
    username = normalize_username(name)
    if not USERNAME_PATTERN.match(username):
        raise StoreError(
            f"user name {name!r} is not allowed: use 1 to 64 characters a-z, 0-9, '.', '_', '@', '-', "
            "starting with a letter or digit"
        )
    return username


def check_role(role: str) -> str:
    """Return the role, or raise StoreError naming the roles."""
    if role not in ROLES:
        raise StoreError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return role


def check_password(password: str, username: str) -> None:
    """Raise StoreError when the password is too weak to accept."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise StoreError(f"the password is too short: use at least {PASSWORD_MIN_LENGTH} characters")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise StoreError(f"the password is too long: at most {PASSWORD_MAX_LENGTH} characters")
    if password.strip().lower() == username:
        raise StoreError("the password must not be the user name")


def generate_password() -> str:
    """A random password of 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


# -- users -----------------------------------------------------------------------------------------
def count_users(db: Database) -> int:
    """How many users exist (disabled ones included)."""
    with db.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(users)).scalar() or 0)


def list_users(db: Database) -> list[User]:
    """Every user, by name."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(users).order_by(users.c.username)).fetchall()
    return [_row_to_user(r) for r in rows]


def get_user(db: Database, username: str) -> User | None:
    """One user, or None."""
    with db.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == normalize_username(username))).first()
    return None if row is None else _row_to_user(row)


def _require(db: Database, username: str) -> User:
    user = get_user(db, username)
    if user is None:
        raise StoreError(f"no user named {username!r} (list them with: auditdash users list)")
    return user


def _log_change(
    db: Database,
    actor: Actor,
    username: str,
    operation: str,
    changes: dict[str, list[Any]] | None = None,
) -> None:
    # imported here: the validator it uses loads pandas, which `auditdash --help` need not wait for
    from dashboard.store import selflog

    selflog.record(
        db,
        "audit.user_change",
        actor.name,
        target_type=TARGET_TYPE,
        target_id=username,
        target_name=username,
        changes=changes,
        metadata={"operation": operation},
        **actor.audit(),
    )


def create_user(db: Database, username: str, role: str, password: str, actor: Actor = SYSTEM) -> User:
    """Create a user with the given password (hashed with argon2id)."""
    username = check_username(username)
    check_role(role)
    check_password(password, username)
    password_hash = _hasher().hash(password)
    now = utcnow()
    with db.write_lock, db.engine.begin() as conn:
        if conn.execute(sa.select(users.c.username).where(users.c.username == username)).first():
            raise StoreError(f"a user named {username!r} exists already")
        conn.execute(
            users.insert().values(
                username=username,
                role=role,
                password_hash=password_hash,
                created_at=now,
                updated_at=now,
                password_changed_at=now,
            )
        )
    _log_change(db, actor, username, "create", {"role": [None, role], "status": [None, "active"]})
    return _require(db, username)


def ensure_first_admin(db: Database) -> str | None:
    """On first start (no user at all), create `admin` with a random password and return it.

    The password is returned once for the caller to show; only its hash is stored.
    """
    with db.write_lock:
        if count_users(db):
            return None
        password = generate_password()
        create_user(db, FIRST_ADMIN, "admin", password, Actor("system"))
    return password


def _update(db: Database, username: str, **values: Any) -> None:
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(users.update().where(users.c.username == username).values(updated_at=utcnow(), **values))


def set_role(db: Database, username: str, role: str, actor: Actor = SYSTEM) -> User:
    """Change a user's role; their sessions end (they log in again under the new role)."""
    user = _require(db, username)
    check_role(role)
    if role == user.role:
        return user
    if user.role == "admin" and _would_leave_no_admin(db, user.username):
        raise StoreError("this is the last active administrator: give another user the admin role first")
    _update(db, user.username, role=role)
    end_user_sessions(db, user.username, "role changed")
    _log_change(db, actor, user.username, "set_role", {"role": [user.role, role]})
    return _require(db, user.username)


def _would_leave_no_admin(db: Database, username: str) -> bool:
    others = [u for u in list_users(db) if u.role == "admin" and u.active and u.username != username]
    return not others


def set_disabled(db: Database, username: str, disabled: bool, actor: Actor = SYSTEM) -> User:
    """Disable (sessions end at once) or enable a user."""
    user = _require(db, username)
    if disabled == (not user.active):
        return user
    if disabled and user.role == "admin" and _would_leave_no_admin(db, user.username):
        raise StoreError("this is the last active administrator: it cannot be disabled")
    _update(db, user.username, disabled_at=utcnow() if disabled else None)
    if disabled:
        end_user_sessions(db, user.username, "user disabled")
    before, after = ("active", "disabled") if disabled else ("disabled", "active")
    _log_change(db, actor, user.username, "disable" if disabled else "enable", {"status": [before, after]})
    return _require(db, user.username)


def reset_password(db: Database, username: str, password: str, actor: Actor = SYSTEM) -> User:
    """Set a new password; the user's sessions end. The audit event never holds the password."""
    user = _require(db, username)
    if user.sso:
        raise StoreError(f"{user.username!r} signs in through single sign-on: it has no local password to reset")
    check_password(password, user.username)
    _update(db, user.username, password_hash=_hasher().hash(password), password_changed_at=utcnow())
    end_user_sessions(db, user.username, "password reset")
    _log_change(db, actor, user.username, "reset_password")
    return _require(db, user.username)


def change_own_password(db: Database, username: str, current: str, new: str, session_id: str, actor: Actor) -> int:
    """A signed-in person changes their own password.

    The current password must be right and the new one acceptable and different. The person's
    other sessions end (someone who knew the old password may be signed in elsewhere); the
    session `session_id` stays. Returns how many other sessions ended. Raises StoreError with
    words for the person when something is wrong; the audit event never holds a password.
    """
    user = _require(db, username)
    if not authenticate(db, user.username, current).ok:
        raise StoreError("the current password is wrong")
    if new == current:
        raise StoreError("the new password is the same as the current one")
    check_password(new, user.username)
    _update(db, user.username, password_hash=_hasher().hash(new), password_changed_at=utcnow())
    ended = end_user_sessions(db, user.username, "password changed", keep=session_id)
    _log_change(db, actor, user.username, "change_password", {"other_sessions": [ended, 0]} if ended else None)
    return ended


# -- passwords ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """The outcome of checking a user name and password."""

    user: User | None
    reason: str | None  # None when the login may proceed

    @property
    def ok(self) -> bool:
        """Whether the name and password are right and the user is active."""
        return self.reason is None


def authenticate(db: Database, username: str, password: str) -> Verdict:
    """Check a name and password; the time taken does not depend on whether the name exists."""
    name = normalize_username(username)
    with db.connect() as conn:
        row = conn.execute(sa.select(users).where(users.c.username == name)).first()
    if row is None:
        _verify(_dummy_hash(), password)
        return Verdict(None, "unknown user")
    user = _row_to_user(row)
    if user.sso:
        _verify(_dummy_hash(), password)  # the same time as any other refusal
        return Verdict(user, "single sign-on account: no local password")
    if not _verify(row.password_hash, password):
        return Verdict(user, "wrong password")
    if not user.active:
        return Verdict(user, "user disabled")
    if _hasher().check_needs_rehash(row.password_hash):
        _update(db, name, password_hash=_hasher().hash(password))
    return Verdict(user, None)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# -- second factor (RFC 6238 TOTP: HMAC-SHA1, 6 digits, 30 s steps) ------------------------------------
TOTP_STEP_S = 30
TOTP_DIGITS = 6
#: steps accepted either side of now, for clock drift between the server and the phone
TOTP_WINDOW = 1


def totp_code(secret_b32: str, step: int, digits: int = TOTP_DIGITS) -> str:
    """The one-time code of `step` (RFC 4226 HOTP over the time step)."""
    key = base64.b32decode(secret_b32.upper() + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**digits).zfill(digits)


def totp_step(now: float | None = None) -> int:
    """The time step of `now` (Unix seconds)."""
    return int((time.time() if now is None else now) // TOTP_STEP_S)


def totp_match(secret_b32: str, code: str, now: float | None = None, last_step: int | None = None) -> int | None:
    """The step `code` belongs to (within the window, after `last_step`), or None."""
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == TOTP_DIGITS):
        return None
    current = totp_step(now)
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp_code(secret_b32, step), code):
            return step
    return None


def totp_uri(username: str, secret_b32: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code or pasted)."""
    label = urllib.parse.quote(f"auditdash:{username}")
    query = urllib.parse.urlencode(
        {"secret": secret_b32, "issuer": "auditdash", "algorithm": "SHA1", "digits": TOTP_DIGITS, "period": 30}
    )
    return f"otpauth://totp/{label}?{query}"


#: how a sealed secret starts in `users.totp_secret` (a value without it was stored before sealing)
SEALED_PREFIX = "sealed:"


def totp_key_path(db_path: Path) -> Path:
    """The file of the key that seals second-factor secrets: `<db>.totp-key`, beside the database."""
    return db_path.with_name(db_path.name + ".totp-key")


def _totp_box(db: Database, create: bool) -> Fernet | None:
    """The sealing key (made, mode 0600, when missing and `create`), or None."""
    path = totp_key_path(db.path)
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            return None
        create_key_file(path, Fernet.generate_key() + b"\n")  # or another thread's, made first
        key = path.read_bytes().strip()
    warn_if_readable(path, "second-factor key")
    try:
        return Fernet(key)
    except ValueError as exc:
        raise StoreError(f"{path} does not hold a second-factor key: {exc}") from None


def _seal(db: Database, secret: str) -> str:
    box = _totp_box(db, create=True)
    assert box is not None  # made when missing
    return SEALED_PREFIX + box.encrypt(secret.encode()).decode()


def _unseal(db: Database, stored: str) -> str | None:
    """The secret as set up, or None (with the reason logged) when its key is missing or wrong."""
    if not stored.startswith(SEALED_PREFIX):
        return stored  # stored before sealing; `seal_totp_secrets` seals it
    box = _totp_box(db, create=False)
    if box is None:
        log.error(
            "second-factor key %s is missing: codes cannot be checked (restore it from the backup, "
            "or turn the second factor off with: auditdash users totp-disable NAME)",
            totp_key_path(db.path),
        )
        return None
    try:
        return box.decrypt(stored.removeprefix(SEALED_PREFIX).encode()).decode()
    except InvalidToken:
        log.error("second-factor key %s does not open a stored secret: is it the right key?", totp_key_path(db.path))
        return None


def seal_totp_secrets(db: Database) -> int:
    """Seal the second-factor secrets stored before sealing (run at every start); returns how many."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(users.c.username, users.c.totp_secret).where(
                users.c.totp_secret.is_not(None), ~users.c.totp_secret.startswith(SEALED_PREFIX)
            )
        ).fetchall()
    for name, secret in rows:
        with db.write_lock, db.engine.begin() as conn:  # not `_update`: the user did not change
            conn.execute(
                users.update()
                .where(users.c.username == name, users.c.totp_secret == secret)
                .values(totp_secret=_seal(db, secret))
            )
    return len(rows)


def totp_new_secret() -> str:
    """A new RFC 6238 shared secret (160 bits, base32 without padding)."""
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def totp_enable(
    db: Database,
    username: str,
    actor: Actor = SYSTEM,
    secret: str | None = None,
    keep_session: str | None = None,
    used_step: int | None = None,
) -> str:
    """Turn the second factor on (with `secret`, else a new one); return the otpauth URI (shown once).

    The user's sessions end, but `keep_session` (the person who just set it up themselves).
    `used_step` is the time step of the code that confirmed the set-up: that code is spent.
    """
    user = _require(db, username)
    secret = secret or totp_new_secret()
    _update(db, user.username, totp_secret=_seal(db, secret), totp_last_step=used_step)
    end_user_sessions(db, user.username, "second factor changed", keep=keep_session)
    _log_change(db, actor, user.username, "totp_enable", {"totp": [user.totp_enabled, True]})
    return totp_uri(user.username, secret)


def totp_disable(db: Database, username: str, actor: Actor = SYSTEM) -> User:
    """Turn the second factor off."""
    user = _require(db, username)
    if not user.totp_enabled:
        return user
    _update(db, user.username, totp_secret=None, totp_last_step=None)
    _log_change(db, actor, user.username, "totp_disable", {"totp": [True, False]})
    return _require(db, user.username)


def totp_check(db: Database, username: str, code: str, now: float | None = None) -> bool:
    """Whether `code` is the user's current one-time code; a used code is refused after."""
    name = normalize_username(username)
    with db.write_lock:
        with db.connect() as conn:
            row = conn.execute(
                sa.select(users.c.totp_secret, users.c.totp_last_step).where(users.c.username == name)
            ).first()
        if row is None or row.totp_secret is None:
            return False
        secret = _unseal(db, row.totp_secret)
        if secret is None:
            return False
        step = totp_match(secret, code, now, row.totp_last_step)
        if step is None:
            return False
        _update(db, name, totp_last_step=step)
    return True


def totp_enabled(db: Database, username: str) -> bool:
    """Whether the user has the second factor on."""
    user = get_user(db, username)
    return bool(user and user.totp_enabled)


# -- sessions ----------------------------------------------------------------------------------------
def session_hash(session_id: str) -> str:
    """What the table stores of a session id (the id itself only travels in the signed cookie)."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def public_session_id(session_id: str) -> str:
    """The id the audit events carry: enough to group one session's events, useless as a credential."""
    return session_hash(session_id)[:16]


@dataclass(frozen=True)
class SessionRow:
    """A session and its user as the request guard needs them."""

    username: str
    role: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    disabled_at: datetime | None


def start_session(
    db: Database, session_id: str, username: str, max_age: timedelta, ip: str | None, user_agent: str | None
) -> None:
    """Record a new session and the user's login time."""
    now = utcnow()
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(
            sessions.insert().values(
                session_hash=session_hash(session_id),
                username=normalize_username(username),
                created_at=now,
                last_seen_at=now,
                expires_at=now + max_age,
                ip=ip,
                user_agent=(user_agent or "")[:1024] or None,
            )
        )
        conn.execute(users.update().where(users.c.username == normalize_username(username)).values(last_login_at=now))


def load_session(db: Database, session_id: str) -> SessionRow | None:
    """The session with its user's current role and status (None when unknown)."""
    query = (
        sa.select(
            sessions.c.username,
            users.c.role,
            sessions.c.created_at,
            sessions.c.last_seen_at,
            sessions.c.expires_at,
            sessions.c.ended_at,
            users.c.disabled_at,
        )
        .select_from(sessions.join(users, users.c.username == sessions.c.username))
        .where(sessions.c.session_hash == session_hash(session_id))
    )
    with db.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return SessionRow(
        username=row.username,
        role=row.role,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
        ended_at=row.ended_at,
        disabled_at=row.disabled_at,
    )


def touch_session(db: Database, session_id: str, now: datetime | None = None) -> None:
    """Note activity on a session (for the idle timeout)."""
    seen = now or utcnow()
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(
            sessions.update()
            # concurrent requests may arrive out of order: never move the time back
            .where(sessions.c.session_hash == session_hash(session_id), sessions.c.last_seen_at < seen)
            .values(last_seen_at=seen)
        )


def end_session(db: Database, session_id: str, reason: str) -> None:
    """End one session (logout, timeout)."""
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.session_hash == session_hash(session_id), sessions.c.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason)
        )


def end_user_sessions(db: Database, username: str, reason: str, keep: str | None = None) -> int:
    """End every open session of a user (but the session id `keep`, if given); return how many."""
    where = [sessions.c.username == normalize_username(username), sessions.c.ended_at.is_(None)]
    if keep is not None:
        where.append(sessions.c.session_hash != session_hash(keep))
    with db.write_lock, db.engine.begin() as conn:
        result = conn.execute(sessions.update().where(*where).values(ended_at=utcnow(), end_reason=reason))
    return int(result.rowcount or 0)


def revoke_sessions(db: Database, username: str, actor: Actor = SYSTEM) -> int:
    """End every open session of a user now (admin action, self-logged); return how many."""
    user = _require(db, username)
    ended = end_user_sessions(db, user.username, f"ended by {actor.name}")
    _log_change(db, actor, user.username, "end_sessions", {"open_sessions": [ended, 0]})
    return ended


def active_sessions(db: Database) -> list[dict[str, Any]]:
    """Open, unexpired sessions (for the admin page), newest first."""
    now = utcnow()
    query = (
        sa.select(
            sessions.c.username,
            sessions.c.created_at,
            sessions.c.last_seen_at,
            sessions.c.expires_at,
            sessions.c.ip,
        )
        .where(sessions.c.ended_at.is_(None), sessions.c.expires_at > now)
        .order_by(sessions.c.last_seen_at.desc())
    )
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def own_sessions(db: Database, username: str, current: str) -> list[dict[str, Any]]:
    """A person's open sessions, the one with session id `current` first, then by last activity."""
    now = utcnow()
    query = (
        sa.select(
            sessions.c.session_hash,
            sessions.c.created_at,
            sessions.c.last_seen_at,
            sessions.c.expires_at,
            sessions.c.ip,
            sessions.c.user_agent,
        )
        .where(
            sessions.c.username == normalize_username(username),
            sessions.c.ended_at.is_(None),
            sessions.c.expires_at > now,
        )
        .order_by(sessions.c.last_seen_at.desc())
    )
    mine = session_hash(current)
    with db.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(query)]
    for row in rows:
        row["current"] = row.pop("session_hash") == mine
    return sorted(rows, key=lambda r: not r["current"])


def end_other_sessions(db: Database, username: str, current: str, actor: Actor) -> int:
    """A person signs out everywhere but here (self-logged); return how many sessions ended."""
    ended = end_user_sessions(db, username, "signed out elsewhere by the person", keep=current)
    if ended:
        _log_change(db, actor, normalize_username(username), "end_other_sessions", {"other_sessions": [ended, 0]})
    return ended


# -- login throttling ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThrottlePolicy:
    """How failed logins slow down and lock out further attempts."""

    max_failures: int = 5
    max_failures_per_address: int = 20
    lockout: timedelta = timedelta(minutes=15)
    delay_s: float = 1.0
    max_delay_s: float = 30.0

    def limit(self, key: str) -> int:
        """Failures that lock this key."""
        return self.max_failures if key.startswith("user:") else self.max_failures_per_address

    def delay(self, failures: int) -> timedelta:
        """The wait after `failures` recent failures: none after the first, then 1, 2, 4 ... × delay_s."""
        if failures < 2 or self.delay_s <= 0:
            return timedelta(0)
        return timedelta(seconds=min(self.delay_s * 2 ** (failures - 2), self.max_delay_s))


@dataclass(frozen=True)
class Gate:
    """Whether a login attempt may be checked now."""

    allowed: bool
    reason: str | None = None  # "locked" or "wait"
    retry_after_s: int = 0
    scope: str | None = None  # "user" or "address"


def _keys(username: str, ip: str | None) -> list[str]:
    keys = [f"user:{normalize_username(username)[:128]}"]
    if ip:
        keys.append(f"addr:{ip}")
    return keys


def login_gate(db: Database, username: str, ip: str | None, policy: ThrottlePolicy, now: datetime) -> Gate:
    """Refuse attempts on a locked user name or address, or sooner than the progressive delay."""
    keys = _keys(username, ip)
    with db.connect() as conn:
        rows = conn.execute(sa.select(login_throttle).where(login_throttle.c.key.in_(keys))).fetchall()
    wait: Gate | None = None
    for row in rows:
        scope = "user" if row.key.startswith("user:") else "address"
        if row.locked_until is not None and row.locked_until > now:
            return Gate(False, "locked", _ceil_s(row.locked_until - now), scope)
        if scope == "address" or now - row.last_failure_at > policy.lockout:
            # old failures are forgotten; an address (maybe a whole office behind one NAT) is
            # only ever locked, never slowed down by other people's typing errors
            continue
        ready = row.last_failure_at + policy.delay(row.failures)
        if ready > now and (wait is None or _ceil_s(ready - now) > wait.retry_after_s):
            wait = Gate(False, "wait", _ceil_s(ready - now), scope)
    return wait or Gate(True)


def _ceil_s(delta: timedelta) -> int:
    return max(1, int(-(-delta.total_seconds() // 1)))


def note_login_failure(
    db: Database, username: str, ip: str | None, policy: ThrottlePolicy, now: datetime
) -> list[tuple[str, int, datetime]]:
    """Count a failed attempt against the user name and the address.

    Returns the keys this failure locked, as (key, failures, locked_until).
    """
    locked: list[tuple[str, int, datetime]] = []
    with db.write_lock, db.engine.begin() as conn:
        # forget what no longer counts, so guessed names do not pile up
        conn.execute(
            login_throttle.delete().where(
                login_throttle.c.last_failure_at < now - policy.lockout,
                sa.or_(login_throttle.c.locked_until.is_(None), login_throttle.c.locked_until < now),
            )
        )
        for key in _keys(username, ip):
            row = conn.execute(sa.select(login_throttle).where(login_throttle.c.key == key)).first()
            stale = row is None or now - row.last_failure_at > policy.lockout
            failures = 1 if stale or row is None else int(row.failures) + 1
            locked_until = None
            if failures >= policy.limit(key):
                locked_until = now + policy.lockout
                locked.append((key, failures, locked_until))
            if row is None:
                conn.execute(
                    login_throttle.insert().values(
                        key=key, failures=failures, last_failure_at=now, locked_until=locked_until
                    )
                )
            else:
                conn.execute(
                    login_throttle.update()
                    .where(login_throttle.c.key == key)
                    .values(
                        # a lock starts a fresh count for when it ends
                        failures=0 if locked_until else failures,
                        last_failure_at=now,
                        locked_until=locked_until,
                    )
                )
    return locked


def note_login_success(db: Database, username: str) -> None:
    """A correct login clears the user name's count (not the address's: an attacker with one
    account of their own must not be able to reset the count of the address they guess from)."""
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(login_throttle.delete().where(login_throttle.c.key == _keys(username, None)[0]))


def unlock(db: Database, username: str, actor: Actor = SYSTEM) -> bool:
    """Lift a lockout of a user name early (admin action); return whether one was lifted."""
    key = _keys(username, None)[0]
    with db.write_lock, db.engine.begin() as conn:
        result = conn.execute(login_throttle.delete().where(login_throttle.c.key == key))
    lifted = bool(result.rowcount)
    if lifted:
        _log_change(db, actor, normalize_username(username), "unlock")
    return lifted

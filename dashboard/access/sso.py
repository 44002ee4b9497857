"""Who a verified ID token is in auditdash: user name, role from the groups claim, the account.

* the user name is the first of the configured claims present (`preferred_username`, then
  `email` by default), lower-cased, and must be a valid auditdash user name;
* the role comes from the role claim (`groups` by default) through the role map of the
  settings; a person in several mapped groups gets the highest role (admin, compliance,
  manager, wall in that order); a person in no mapped group is refused;
* the first sign-in creates the user, bound to the provider's account (`<issuer> <sub>`), with
  no usable local password; a later sign-in applies a role changed at the provider (the user's
  other sessions end, as for any role change);
* a name that belongs to a local account (the break-glass administrator, say) or to another
  provider account is refused: single sign-on never takes over an account.

Creations and role changes are `audit.user_change` events (metadata `source: sso`); the web
layer records the sign-in itself and every refusal as `audit.login`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from dashboard.access import users
from dashboard.access.oidc import ROLES_BY_RANK, OidcConfig, SsoError
from dashboard.store import selflog
from dashboard.store.db import Database, utcnow
from dashboard.store.errors import StoreError
from dashboard.store.schema import users as users_table

#: what a user made by single sign-on holds instead of a password hash (no argon2 hash matches it)
NO_PASSWORD = "!sso"  # noqa: S105  # not a password: a marker no password hashes to


@dataclass(frozen=True)
class Identity:
    """A person as the verified ID token describes them."""

    subject: str  # "<issuer> <sub>"
    username: str
    groups: tuple[str, ...]
    role: str | None
    matched: tuple[str, ...]  # the groups that gave a role


def claim_values(value: Any) -> tuple[str, ...]:
    """A claim's values as strings: a list, or one string (some providers send a single group so)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value if isinstance(v, str | int))
    return ()


def role_for(groups: Iterable[str], role_map: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """The highest role the groups map to (None when none does), and the groups that map."""
    matched = tuple(g for g in groups if g in role_map)
    roles = {role_map[g] for g in matched}
    for role in ROLES_BY_RANK:
        if role in roles:
            return role, matched
    return None, matched


def identity(claims: Mapping[str, Any], config: OidcConfig) -> Identity:
    """The person the claims describe; SsoError when they do not name one auditdash accepts."""
    raw_name = next((claims[c] for c in config.username_claims if isinstance(claims.get(c), str) and claims[c]), None)
    if raw_name is None:
        raise SsoError(
            f"the ID token has none of the claims {', '.join(config.username_claims)}",
            f"{config.provider_name} did not send your user name. Tell the administrator of auditdash.",
        )
    try:
        username = users.check_username(str(raw_name))
    except StoreError as exc:
        raise SsoError(
            f"user name from the identity provider refused: {exc}",
            f"Your user name at {config.provider_name} ({raw_name}) cannot be used in auditdash. "
            "Tell the administrator of auditdash.",
        ) from None
    groups = claim_values(claims.get(config.role_claim))
    role, matched = role_for(groups, config.role_map)
    return Identity(f"{claims['iss']} {claims['sub']}", username, groups, role, matched)


def _audit(
    db: Database,
    person: users.Actor,
    username: str,
    operation: str,
    changes: dict[str, list[Any]],
    extra: dict[str, Any],
) -> None:
    selflog.record(
        db,
        "audit.user_change",
        person.name,
        target_type=users.TARGET_TYPE,
        target_id=username,
        target_name=username,
        changes=changes,
        metadata={"operation": operation, "source": "sso", **extra},
        **person.audit(),
    )


def provision(db: Database, who: Identity, config: OidcConfig, ip: str | None, user_agent: str | None) -> users.User:
    """Create the user on first sign-in, or bring their role up to date; return the user.

    Raises SsoError when the person has no mapped role, is disabled here, or the name belongs to
    a local account or another provider account.
    """
    if who.role is None:
        raise SsoError(
            f"no role for the groups {list(who.groups) or 'none'} in claim {config.role_claim!r}",
            "",  # the web layer shows the page written for this case
        )
    role = who.role
    person = users.Actor(who.username, role, ip, user_agent)
    extra = {"provider": config.provider_name, "groups": list(who.matched)}
    with db.write_lock:
        with db.connect() as conn:
            row = conn.execute(sa.select(users_table).where(users_table.c.username == who.username)).first()
        if row is None:
            now = utcnow()
            with db.engine.begin() as conn:
                conn.execute(
                    users_table.insert().values(
                        username=who.username,
                        role=role,
                        password_hash=NO_PASSWORD,
                        sso_subject=who.subject,
                        created_at=now,
                        updated_at=now,
                        password_changed_at=now,
                    )
                )
            _audit(db, person, who.username, "create", {"role": [None, role], "status": [None, "active"]}, extra)
            user = users.get_user(db, who.username)
            assert user is not None
            return user
        if row.sso_subject is None:
            raise SsoError(
                f"the name {who.username!r} belongs to a local account: single sign-on does not take it over",
                f"The name {who.username} is already used by an account of auditdash itself, so it cannot be "
                "used through single sign-on.",
            )
        if row.sso_subject != who.subject:
            raise SsoError(
                f"the name {who.username!r} belongs to another identity-provider account ({row.sso_subject})",
                f"The name {who.username} belongs to another person's account in auditdash.",
            )
        if row.disabled_at is not None:
            raise SsoError("user disabled", f"Your auditdash account ({who.username}) is disabled.")
        if row.role != role:
            with db.engine.begin() as conn:
                conn.execute(
                    users_table.update()
                    .where(users_table.c.username == who.username)
                    .values(role=role, updated_at=utcnow())
                )
            users.end_user_sessions(db, who.username, "role changed")
            _audit(db, person, who.username, "set_role", {"role": [row.role, role]}, extra)
    user = users.get_user(db, who.username)
    assert user is not None
    return user


def local_password_allowed(local_login: bool, break_glass_user: str, username: str) -> bool:
    """Whether `username` may sign in with a password (always, unless local passwords are off)."""
    return local_login or users.normalize_username(username) == users.normalize_username(break_glass_user)

"""API tokens: named, scoped, shown once, stored hashed, revocable, with last-used time.

A token reads `adt_<id>_<secret>`. Only SHA-256 of the secret is stored: the secret is 256
random bits, so a slow password hash would add nothing but latency to every API call.

An ingest token may be bound to accounts (tenants): it can then store events of those accounts
only, so it cannot take (pre-empt) the event ids of another account (docs/events.md, "Ids").
A token without accounts, as every token made before schema version 5, may send for any.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from dashboard.access.users import SYSTEM, Actor
from dashboard.store import selflog
from dashboard.store.db import Database, utcnow
from dashboard.store.errors import StoreError
from dashboard.store.schema import api_tokens

SCOPES: tuple[str, ...] = ("ingest", "read")
#: last-used time is written at most this often per token (keeps writes off the hot path).
TOUCH_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True)
class Token:
    """A stored token, without its secret."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    #: the only accounts an ingest token may send events for; None: any account
    accounts: tuple[str, ...] | None = None

    @property
    def active(self) -> bool:
        """Whether the token still works."""
        return self.revoked_at is None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _row_to_token(row: sa.Row) -> Token:
    return Token(
        id=row.id,
        name=row.name,
        scopes=tuple(s for s in row.scopes.split(",") if s),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        accounts=tuple(a for a in row.accounts.split(",") if a) if row.accounts is not None else None,
    )


#: an account id as a token names it: the contract's limit, no comma (the list's separator)
_ACCOUNT = re.compile(r"^[^,\s][^,]{0,127}$")


def parse_accounts(accounts: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """Accounts as given (a comma-separated text or a list), checked: None or empty means any."""
    if accounts is None:
        return None
    items = accounts.split(",") if isinstance(accounts, str) else list(accounts)
    out = tuple(dict.fromkeys(a.strip() for a in items if a.strip()))
    bad = [a for a in out if not _ACCOUNT.match(a)]
    if bad:
        raise StoreError(f"account {bad[0]!r} is not an account id (1 to 128 characters, no comma)")
    return out or None


def create_token(
    db: Database,
    name: str,
    scopes: tuple[str, ...] = ("ingest",),
    actor: Actor = SYSTEM,
    accounts: Iterable[str] | str | None = None,
) -> tuple[Token, str]:
    """Create a token; return it and its plain text (shown once, never stored). Self-logged.

    `accounts`: bind the token to these accounts (it may ingest events of them only); None: any.
    """
    bound = parse_accounts(accounts)
    if bound and "ingest" not in scopes:
        raise StoreError("accounts bind what a token may ingest: give the token scope ingest, or no accounts")
    name = name.strip()
    if not name:
        raise StoreError("a token needs a name")
    if len(name) > 64:
        raise StoreError(f"a token name has at most 64 characters, not {len(name)}")
    if not scopes:
        raise StoreError(f"a token needs a scope: {', '.join(SCOPES)}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise StoreError(f"unknown scope {unknown[0]!r}; scopes are {', '.join(SCOPES)}")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with db.write_lock, db.engine.begin() as conn:
        exists = conn.execute(sa.select(api_tokens.c.id).where(api_tokens.c.name == name)).first()
        if exists:
            raise StoreError(f"a token named {name!r} exists already; revoke it or choose another name")
        conn.execute(
            api_tokens.insert().values(
                id=token_id,
                name=name,
                scopes=",".join(scopes),
                token_hash=_hash(secret),
                created_at=utcnow(),
                accounts=",".join(bound) if bound else None,
            )
        )
    token = Token(token_id, name, tuple(scopes), utcnow(), None, None, bound)
    changes: dict[str, list[object]] = {"scopes": [None, ",".join(scopes)], "status": [None, "active"]}
    if bound:
        changes["accounts"] = [None, ",".join(bound)]
    _log_change(db, actor, token, "create", changes)
    return token, f"adt_{token_id}_{secret}"


def _log_change(db: Database, actor: Actor, token: Token, operation: str, changes: dict[str, list[object]]) -> None:
    selflog.record(
        db,
        "audit.token_change",
        actor.name,
        target_type="api_token",
        target_id=token.id,
        target_name=token.name,
        changes=changes,
        metadata={"operation": operation},
        **actor.audit(),
    )


def list_tokens(db: Database) -> list[Token]:
    """Every token, newest first, revoked ones included."""
    with db.connect() as conn:
        rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at.desc())).fetchall()
    return [_row_to_token(r) for r in rows]


def revoke_token(db: Database, name_or_id: str, actor: Actor = SYSTEM) -> Token:
    """Revoke a token by name or id; it stops working at once. Self-logged."""
    with db.write_lock, db.engine.begin() as conn:
        row = conn.execute(
            sa.select(api_tokens).where(sa.or_(api_tokens.c.name == name_or_id, api_tokens.c.id == name_or_id))
        ).first()
        if row is None:
            raise StoreError(f"no token named {name_or_id!r}")
        if row.revoked_at is None:
            conn.execute(api_tokens.update().where(api_tokens.c.id == row.id).values(revoked_at=utcnow()))
    token = get_token(db, row.id)
    if row.revoked_at is None:
        _log_change(db, actor, token, "revoke", {"status": ["active", "revoked"]})
    return token


def get_token(db: Database, token_id: str) -> Token:
    """The stored state of one token."""
    with db.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise StoreError(f"no token with id {token_id!r}")
    return _row_to_token(row)


def verify_token(db: Database, presented: str, scope: str) -> Token | None:
    """Return the token when `presented` is an active token with `scope`, else None."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "adt":
        return None
    token_id, secret = parts[1], parts[2]
    with db.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.token_hash, _hash(secret)):
        return None
    token = _row_to_token(row)
    if scope not in token.scopes:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        with db.write_lock, db.engine.begin() as conn:
            conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=now))
    return token

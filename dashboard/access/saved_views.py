"""Saved views: a person names the current filters, finds them again, shares them, deletes them.

A saved view is the link query of a view (`Filters.to_query`, the zone always named) under a
name its owner chose ("EU admins, failed logins"). The owner sees their own views; a view
marked shared is listed to every signed-in person too (a link to the view's filters works for
anyone anyway: the filters are the URL). Only the owner renames, shares or deletes a view.

A "team" is a saved view over accounts: choose the team's accounts in the sidebar and save the
view under the team's name; packs and schedules can then be made from it
(`dashboard.packs.schedule`: `view=ID`).

Saving, sharing and deleting are recorded in the audit log (category `audit`,
`audit.settings_change`, target `saved_view`) like every other settings change.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dashboard.access.users import Actor
from dashboard.filters import Filters
from dashboard.store import selflog
from dashboard.store.db import Database, utcnow
from dashboard.store.errors import StoreError
from dashboard.store.schema import saved_views as T

#: the longest name a view may have
NAME_MAX = 80
#: how many views one person may keep
PER_OWNER_MAX = 200
#: keys of a view's query that are not filters (a link's `view=` names the view it came from)
VIEW_KEY = "view"


class SavedViewError(StoreError):
    """A saved view cannot be saved, found or changed; the message says why."""


@dataclass(frozen=True)
class SavedView:
    """One saved view."""

    id: str
    owner: str
    name: str
    query: str
    shared: bool
    created_at: datetime
    updated_at: datetime

    @property
    def filters(self) -> Filters:
        """The view's filters (read like a pasted link: bad values dropped)."""
        return Filters.from_query(self.query)

    def link(self, path: str = "/") -> str:
        """A link that opens the view on the page at `path`."""
        return f"{path}?{self.query}" if self.query else path

    def to_json(self) -> dict[str, Any]:
        """For pages and tests."""
        return {
            "id": self.id,
            "owner": self.owner,
            "name": self.name,
            "query": self.query,
            "shared": self.shared,
            "created_at": self.created_at.isoformat(timespec="seconds") + "Z",
            "updated_at": self.updated_at.isoformat(timespec="seconds") + "Z",
        }


def view_query(f: Filters) -> str:
    """The query a view is saved as: the link's, with the zone always named."""
    query = f.to_query()
    if f.tz == "UTC":
        query = f"{query}&tz=UTC" if query else "tz=UTC"
    return query


def clean_name(name: str | None) -> str:
    """A view's name, trimmed; raises SavedViewError when it is empty, too long or not text."""
    text = " ".join((name or "").split())
    if not text:
        raise SavedViewError("give the view a name")
    if len(text) > NAME_MAX:
        raise SavedViewError(f"a view's name is at most {NAME_MAX} characters (this one has {len(text)})")
    if not text.isprintable():
        raise SavedViewError("a view's name must be plain text")
    return text


def _row(row: Any) -> SavedView:
    return SavedView(
        id=row.id,
        owner=row.owner,
        name=row.name,
        query=row.query,
        shared=bool(row.shared),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def visible(db: Database, username: str) -> list[SavedView]:
    """The views `username` sees: their own first, then those others shared, each by name."""
    with db.connect() as conn:
        rows = conn.execute(
            sa.select(T).where(sa.or_(T.c.owner == username, T.c.shared.is_(True))).order_by(sa.func.lower(T.c.name))
        ).all()
    views = [_row(r) for r in rows]
    return [v for v in views if v.owner == username] + [v for v in views if v.owner != username]


def get(db: Database, view_id: str, username: str) -> SavedView:
    """The view `view_id` if `username` may see it (theirs or shared); else SavedViewError."""
    with db.connect() as conn:
        row = conn.execute(sa.select(T).where(T.c.id == str(view_id)[:64])).first()
    if row is None or (row.owner != username and not row.shared):
        raise SavedViewError("no such saved view (it was deleted, or it is someone else's and not shared)")
    return _row(row)


def query_of(db: Database, view_id: str) -> str | None:
    """The filters of a view by id whoever owns it (for schedules, which run as the system); None if gone."""
    with db.connect() as conn:
        found = conn.execute(sa.select(T.c.query).where(T.c.id == str(view_id)[:64])).scalar()
    return str(found) if found is not None else None


def name_of(db: Database, view_id: str) -> str | None:
    """A view's name by id (for the schedules' table); None if it is gone."""
    with db.connect() as conn:
        found = conn.execute(sa.select(T.c.name).where(T.c.id == str(view_id)[:64])).scalar()
    return str(found) if found is not None else None


def _audit(db: Database, actor: Actor, view_id: str, name: str, change: str, before: Any, after: Any) -> None:
    selflog.record(
        db,
        "audit.settings_change",
        actor.name,
        **actor.audit(),
        target_type="saved_view",
        target_id=view_id,
        target_name=name,
        changes={"saved_view": [before, after]},
        metadata={"change": change},
    )


def _public(view: SavedView | None) -> dict[str, Any] | None:
    if view is None:
        return None
    return {"name": view.name, "query": view.query, "shared": view.shared, "owner": view.owner}


def save(db: Database, actor: Actor, name: str, filters: Filters, shared: bool = False) -> SavedView:
    """Save `filters` under `name` for `actor` (their view of that name is replaced). Audited."""
    owner = actor.name
    text = clean_name(name)
    query = view_query(filters)
    now = utcnow()
    with db.write_lock, db.engine.begin() as conn:
        row = conn.execute(
            sa.select(T).where(T.c.owner == owner, sa.func.lower(T.c.name) == text.lower()).limit(1)
        ).first()
        before = _row(row) if row is not None else None
        if before is None:
            count = int(conn.execute(sa.select(sa.func.count()).where(T.c.owner == owner)).scalar() or 0)
            if count >= PER_OWNER_MAX:
                raise SavedViewError(f"you have {count} saved views, the most one person may keep: delete some first")
            view_id = secrets.token_urlsafe(9)
            conn.execute(
                T.insert().values(
                    id=view_id, owner=owner, name=text, query=query, shared=shared, created_at=now, updated_at=now
                )
            )
            view = SavedView(view_id, owner, text, query, shared, now, now)
        else:
            conn.execute(
                T.update().where(T.c.id == before.id).values(name=text, query=query, shared=shared, updated_at=now)
            )
            view = SavedView(before.id, owner, text, query, shared, before.created_at, now)
    _audit(
        db,
        actor,
        view.id,
        view.name,
        "view saved" if before is None else "view replaced",
        _public(before),
        _public(view),
    )
    return view


def _own(db: Database, actor: Actor, view_id: str) -> SavedView:
    with db.connect() as conn:
        row = conn.execute(sa.select(T).where(T.c.id == str(view_id)[:64])).first()
    if row is None:
        raise SavedViewError("no such saved view (it was deleted meanwhile)")
    view = _row(row)
    if view.owner != actor.name:
        raise SavedViewError(f"{view.name!r} is {view.owner}'s view: only they may change or delete it")
    return view


def set_shared(db: Database, actor: Actor, view_id: str, shared: bool) -> SavedView:
    """Share a view with everyone signed in, or stop sharing it (owner only). Audited."""
    view = _own(db, actor, view_id)
    if view.shared == shared:
        return view
    now = utcnow()
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(T.update().where(T.c.id == view.id).values(shared=shared, updated_at=now))
    after = SavedView(view.id, view.owner, view.name, view.query, shared, view.created_at, now)
    _audit(db, actor, view.id, view.name, "view shared" if shared else "view unshared", _public(view), _public(after))
    return after


def delete(db: Database, actor: Actor, view_id: str) -> SavedView:
    """Delete one of the actor's own views. Audited."""
    view = _own(db, actor, view_id)
    with db.write_lock, db.engine.begin() as conn:
        conn.execute(T.delete().where(T.c.id == view.id))
    _audit(db, actor, view.id, view.name, "view deleted", _public(view), None)
    return view

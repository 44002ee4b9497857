"""The base of every error the store explains to a person (`StoreError`), below the database
(dashboard.store.db) and the storage faults (dashboard.store.faults) that both raise it."""

from __future__ import annotations


class StoreError(Exception):
    """A database problem explained in words a user can act on."""

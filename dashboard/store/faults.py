"""Storage faults said plainly: one place that turns a failing disk or database into words.

A full disk, an I/O error, a damaged database file or a database DuckDB invalidated after a
failed write reach the code as `OSError`, `duckdb.IOException`, `duckdb.FatalException`,
`duckdb.InternalException`, a `TransactionException` whose text says "No space left on device",
or SQLAlchemy's wrapper around any of these. `classify(exc, path)` recognises them and answers a
`StorageFault` that says what happened, where, and what to do; the CLI prints its `message`
(exit code 4), the HTTP API answers `to_json()` with `http_status` (507 for a full disk, 503
otherwise, with `Retry-After`), and the dashboard shows it above the page.

Every batch is stored in one transaction, so a batch that failed this way stored nothing: the
sender can send it again once the cause is removed.
"""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any, Literal

import duckdb

from dashboard.store.errors import StoreError

FaultKind = Literal["full", "io", "damaged", "invalidated", "read_only", "permission", "connection"]

#: errno values of a full disk (ENOSPC) or an exhausted quota (EDQUOT).
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_FULL_TEXT = ("no space left on device", "disk quota exceeded", "not enough space")
_DAMAGED_TEXT = (
    "corrupt database file",
    "checksum",
    "could not read enough bytes",
    "not a valid duckdb database",
    "serialization error",
    "invalid block",
    "malformed",
)
_INVALIDATED_TEXT = ("database has been invalidated", "fatal error")


class StorageFault(StoreError):
    """A storage problem a person must act on: the disk is full, the file is damaged, ...

    Args:
        kind: what went wrong.
        path: the file or folder at fault (None: the database, unnamed).
        cause: the underlying error's first line, as the system said it.
    """

    def __init__(self, kind: FaultKind, path: Path | None, cause: str) -> None:
        self.kind: FaultKind = kind
        self.path = path
        self.cause = cause
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    @property
    def where(self) -> str:
        """The file (or folder) at fault, in words."""
        return str(self.path) if self.path is not None else "the database"

    @property
    def short(self) -> str:
        """One line: what happened and where."""
        return {
            "full": f"the disk holding {self.where} is full",
            "io": f"{self.where} cannot be read or written",
            "damaged": f"the database file {self.where} is damaged",
            "invalidated": f"the database {self.where} stopped accepting writes after an earlier error",
            "read_only": f"{self.where} is on a read-only file system",
            "permission": f"this process may not read or write {self.where}",
            "connection": "the connection to PostgreSQL was lost or refused",
        }[self.kind]

    @property
    def advice(self) -> str:
        """What to do about it."""
        if self.kind == "full":
            return (
                "Nothing of the failed write was stored. Free space on that disk (or move the database "
                "with AUDITDASH_DB), then send the same data again."
            )
        if self.kind == "damaged":
            return (
                f"Stop auditdash, keep a copy of the damaged file, restore {self.where} from your latest "
                f"backup, then run `auditdash verify --db {self.where}` (docs/operations.md, "
                '"Storage faults").'
            )
        if self.kind == "invalidated":
            return (
                "Remove the cause (free disk space, check the disk), then restart auditdash: it reopens "
                f"the file from its last good state. Then run `auditdash verify --db {self.where}`."
            )
        if self.kind == "connection":
            return (
                "Nothing of the batch was stored (it is one transaction). Once PostgreSQL answers again, "
                "send the same events again: events with an id are stored once (those stored already "
                "count as duplicates)."
            )
        if self.kind in ("read_only", "permission"):
            return "Give this process write access to it (or point the setting at a writable place)."
        return "Check the disk (dmesg, smartctl) and the file's permissions, then try again."

    @property
    def message(self) -> str:
        """The whole explanation: what, where, the underlying cause, what to do."""
        return f"{self.short} ({self.cause}). {self.advice}"

    @property
    def http_status(self) -> int:
        """507 Insufficient Storage for a full disk, 503 Service Unavailable otherwise."""
        return 507 if self.kind == "full" else 503

    @property
    def retry(self) -> bool:
        """Whether sending the same request again later can succeed without someone acting first."""
        return self.kind in ("full", "io", "invalidated", "connection")

    def to_json(self) -> dict[str, Any]:
        """The API's error body."""
        return {
            "error": self.message,
            "fault": self.kind,
            "cause": self.cause,
            "path": self.where,
            "stored": 0,
            "retry": self.retry,
        }


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its causes and contexts, and the driver error SQLAlchemy wraps."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen):
            continue
        seen.append(item)
        todo.extend([getattr(item, "orig", None), item.__cause__, item.__context__])
    return [e for e in seen if isinstance(e, BaseException)]


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("(Background")]
    return lines[0].strip() if lines else type(exc).__name__


def classify(exc: BaseException, path: Path | str | None = None) -> StorageFault | None:
    """The storage fault `exc` stands for, or None when it is something else.

    `path` names the database (or file) being used, for the message; an `OSError`'s own file
    name is preferred when it has one.
    """
    where = Path(path) if path is not None else None
    for item in _chain(exc):
        if isinstance(item, StorageFault):
            return item
    for item in _chain(exc):
        if isinstance(item, OSError) and item.errno is not None:
            target = Path(item.filename) if isinstance(item.filename, str) else where
            cause = f"{item.strerror or item}" + (f": {item.filename}" if item.filename else "")
            if item.errno in _FULL_ERRNOS:
                return StorageFault("full", target, cause)
            if item.errno == errno.EIO:
                return StorageFault("io", target, cause)
            if item.errno == errno.EROFS:
                return StorageFault("read_only", target, cause)
            if item.errno in (errno.EACCES, errno.EPERM):
                return StorageFault("permission", target, cause)
    psycopg = sys.modules.get("psycopg")  # loaded only when a PostgreSQL store is used
    if psycopg is not None:
        for item in _chain(exc):
            # a full disk; a server that ended the session, a dropped network, a refused connection
            # or a server out of resources (sending again later helps); a statement PostgreSQL
            # refused is no fault (a bug: it keeps its traceback)
            if isinstance(item, psycopg.errors.DiskFull):
                return StorageFault("full", None, _first_line(item))
            if isinstance(item, psycopg.OperationalError):
                return StorageFault("connection", None, _first_line(item))
    for item in _chain(exc):
        if not isinstance(item, duckdb.Error):
            continue
        cause = _first_line(item)
        text = str(item).lower()
        if any(t in text for t in _FULL_TEXT):
            kind: FaultKind = "invalidated" if isinstance(item, duckdb.FatalException) else "full"
            if "invalidated" in text:
                kind = "invalidated"
            return StorageFault(kind, where, cause)
        if isinstance(item, duckdb.FatalException) or any(t in text for t in _INVALIDATED_TEXT):
            return StorageFault("invalidated", where, cause)
        if any(t in text for t in _DAMAGED_TEXT) or isinstance(item, duckdb.InternalException):
            return StorageFault("damaged", where, cause)
        if "read-only file system" in text:
            return StorageFault("read_only", where, cause)
        if "permission denied" in text:
            return StorageFault("permission", where, cause)
        if isinstance(item, duckdb.IOException):
            return StorageFault("io", where, cause)
    return None

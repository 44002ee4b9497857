"""What every `auditdash` command shares: settings from the arguments, opening the database,
printing JSON, the actor the audit log names, progress and warnings, and turning errors into
exit codes (`run`)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dashboard import config

if TYPE_CHECKING:
    from dashboard.access.users import Actor
    from dashboard.store.db import Database

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3
EXIT_STORAGE = 4

Handler = Callable[[argparse.Namespace], int]


def settings_from(args: argparse.Namespace, **overrides: Any) -> config.Settings:
    """The settings of a command: the environment's, with `--db` and `overrides` on top."""
    db = getattr(args, "db", None)
    target = (db if config.is_db_url(db) else Path(db)) if db else None
    return config.load().with_overrides(db_path=target, **overrides)


def open_db(args: argparse.Namespace, create: bool = True) -> Database:
    """Open the command's database (DatabaseLocked when a server owns it); with `create` False,
    a DuckDB file that does not exist is refused (`existing_target`) instead of made empty."""
    from dashboard.store.db import Database

    settings = settings_from(args)
    return Database(settings.db_target if create else existing_target(settings))


def existing_target(settings: config.Settings) -> str | Path:
    """The store a command that reads or changes an existing store works on: a DuckDB path
    that names no file is refused (a mistyped --db must not be answered "0 events, verified")."""
    from dashboard.store.errors import StoreError

    target = settings.db_target
    if not config.is_db_url(str(target)) and not Path(target).exists():
        raise StoreError(
            f"there is no auditdash store at {target}: check --db (or AUDITDASH_DB); "
            "`auditdash ingest`, `auditdash demo` and `auditdash serve` create one"
        )
    return target


def print_json(data: Any) -> None:
    """Print `data` as indented JSON for scripts."""
    print(json.dumps(data, indent=2, default=str))


def cli_actor() -> Actor:
    """The person at the terminal, as the audit log names them (`cli:NAME`)."""
    from dashboard.access.users import Actor

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return Actor(f"cli:{name}")


def warn(message: str) -> None:
    """Say on stderr, loudly, that something works less than it should."""
    print(f"WARNING: {message}", file=sys.stderr, flush=True)


def warn_geo(locator: Any) -> None:
    """Warn when events would be stored without city-level geolocation."""
    shortfall = locator.shortfall
    if shortfall:
        warn(shortfall)


class Progress:
    """A one-line progress display on a terminal (silent when stderr is not a terminal)."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, _bytes: int = 0) -> None:
        """Show `done` records processed so far."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and (self.total is None or done < self.total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            width = 30
            filled = int(width * min(done / self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.label} [{bar}] {done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"{self.label} {done:,} records ({rate:,.0f}/s)"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self.enabled:
            sys.stderr.write("\n")


def run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one command and turn what it raises into a message and an exit code: a database
    owned by a server 3, a storage fault (full disk, I/O error, damaged file) 4, a refused
    change or a bad setting 1. Anything else is a bug and keeps its traceback."""
    # the store loads here, when a command runs, not when `auditdash` starts (`--help`, usage errors)
    from dashboard.store.db import DatabaseLocked
    from dashboard.store.errors import StoreError
    from dashboard.store.faults import StorageFault, classify

    try:
        return handler(args)
    except DatabaseLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except StorageFault as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return EXIT_STORAGE
    except (StoreError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        fault = classify(exc, _db_path_of(args))
        if fault is None:
            raise
        print(f"error: {fault.message}", file=sys.stderr)
        return EXIT_STORAGE


def _db_path_of(args: argparse.Namespace) -> Path | None:
    """The database a command used, for messages (None when the settings cannot be read)."""
    try:
        return settings_from(args).db_path
    except config.ConfigError:
        return None

"""What every `auditdash` command shares: settings from the arguments, opening the database,
printing JSON, the actor the audit log names, progress and warnings, and turning errors into
exit codes (`run`)."""

from __future__ import annotations

import argparse
import errno
import getpass
import json
import sys
import time
from collections.abc import Callable, Sequence
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

    return Database(existing_target(settings_from(args), create=create))


def existing_target(settings: config.Settings, create: bool = False) -> str | Path:
    """The store a command works on. A DuckDB path that names a folder is refused, and so is,
    unless `create`, one that names no file (a mistyped --db must not be answered "0 events,
    verified"); with `create`, one below a file (the store could not be made there)."""
    from dashboard.store.errors import StoreError

    target = settings.db_target
    if config.is_db_url(str(target)):
        return target
    path = Path(target)
    if path.is_dir():
        raise StoreError(
            f"--db (or AUDITDASH_DB) names the folder {path}: give the database file, such as {path / 'audit.duckdb'}"
        )
    if path.exists():
        return target
    if not create:
        raise StoreError(
            f"there is no auditdash store at {target}: check --db (or AUDITDASH_DB); "
            "`auditdash ingest`, `auditdash demo` and `auditdash serve` create one"
        )
    blocker = next((p for p in path.parents if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise StoreError(
            f"cannot make the store {path}: {blocker} is a file, not a folder (check --db or AUDITDASH_DB)"
        )
    return target


def count_arg(least: int = 1, most: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from `least` (to `most`); anything else is a usage error
    naming the option (a negative --limit reached the database as a traceback)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < least or (most is not None and value > most):
            bounds = f"from {least} to {most}" if most is not None else f"at least {least}"
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: use a whole number {bounds}")
        return value

    return parse


def output_place(path: Path, option: str, folder: bool = False) -> Path:
    """Check where a command will write, before it writes anything (StoreError naming `option`):
    a file must not be a folder and its folder must exist; a folder (`folder`, made when missing)
    must not be a file, nor lie below one."""
    from dashboard.store.errors import StoreError

    path = Path(path)
    if folder:
        blocker = next((p for p in (path, *path.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            raise StoreError(f"{option} {path}: {blocker} is a file, not a folder; nothing was written")
        return path
    if path.is_dir():
        raise StoreError(f"{option} {path} is a folder: name the file to write; nothing was written")
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise StoreError(f"{option} {path}: the folder {path.parent} {what}; nothing was written")
    return path


def input_files(names: Sequence[str]) -> list[Path]:
    """The input files a command reads, each checked before anything is opened or created:
    one that is missing, a folder or unreadable is refused by name (StoreError)."""
    from dashboard.store.errors import StoreError

    paths = [Path(name) for name in names]
    for path in paths:
        if not path.exists():
            raise StoreError(f"{path}: no such file; nothing was stored")
        if path.is_dir():
            raise StoreError(f"{path} is a folder, not a file: name the files to read")
        try:
            with path.open("rb"):
                pass
        except OSError as exc:
            raise StoreError(f"cannot read {path}: {exc.strerror or exc}; nothing was stored") from exc
    return paths


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
    from dashboard.ingest.readers import ReadError
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
    except (StoreError, config.ConfigError, ReadError) as exc:  # a refused change, a bad setting or file
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:
        fault = classify(exc, _db_path_of(args))
        if fault is None:
            if isinstance(exc, OSError) and exc.filename:  # a path given: a folder, a file where a folder goes
                hint = " (a file is where a folder is needed)" if exc.errno in (errno.EEXIST, errno.ENOTDIR) else ""
                print(f"error: {exc.filename}: {exc.strerror or exc}{hint}", file=sys.stderr)
                return EXIT_FAILED
            raise
        print(f"error: {fault.message}", file=sys.stderr)
        return EXIT_STORAGE


def _db_path_of(args: argparse.Namespace) -> Path | None:
    """The database a command used, for messages (None when the settings cannot be read)."""
    try:
        return settings_from(args).db_path
    except config.ConfigError:
        return None

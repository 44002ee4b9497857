"""`auditdash migrate`: copy a DuckDB store into PostgreSQL, or upgrade a PostgreSQL schema."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

from dashboard import config
from dashboard.cli.common import EXIT_FAILED, EXIT_OK, cli_actor, print_json, settings_from

#: files beside a database that are not carried over (the running server's note, DuckDB's log)
_NOT_COPIED = (".server.json", ".wal", ".tmp")


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `migrate`."""
    p = sub.add_parser(
        "migrate",
        parents=[as_json],
        help="copy a DuckDB store into PostgreSQL (--from FILE --to URL), or upgrade a PostgreSQL schema (--to URL)",
    )
    p.add_argument("--from", dest="source", metavar="FILE", help="the DuckDB database file to copy")
    p.add_argument("--to", dest="target", metavar="URL", required=True, help="postgresql+psycopg://USER:PASS@HOST/DB")
    p.set_defaults(func=cmd_migrate)


def cmd_migrate(args: argparse.Namespace) -> int:
    """Copy (or upgrade), then verify the whole chain on the target."""
    from dashboard.evidence.locations import Locations
    from dashboard.evidence.status import record_verification
    from dashboard.evidence.verify import verify
    from dashboard.store.db import CURRENT_VERSION, Database
    from dashboard.store.errors import StoreError
    from dashboard.store.transfer import copy_store

    if not config.is_db_url(args.target):
        raise StoreError(f"--to must be a PostgreSQL URL (postgresql+psycopg://...), not {args.target}")
    source_path: Path | None = None
    if args.source:  # the source is checked before anything is written to the target
        source_path = Path(args.source).expanduser().absolute()
        if not source_path.is_file():
            raise StoreError(f"{source_path} does not exist: --from names the DuckDB file to copy")
        with Database(source_path, read_only=True) as source:
            if source.version() != CURRENT_VERSION:
                raise StoreError(
                    f"{source_path} has schema version {source.version()}, this auditdash {CURRENT_VERSION}: open the "
                    "file once with this auditdash (for example `auditdash stats --db FILE`) to upgrade it, then run "
                    "migrate again; nothing was written to the target"
                )
    target = Database(args.target, upgrade=True)
    try:
        copied: dict[str, Any] = {}
        if source_path is not None:
            with Database(source_path, read_only=True) as source:
                result = copy_store(source, target)
            copied = {"rows": result.rows, "resumed_after_batch": result.resumed_after_batch}
            copied["files"] = _copy_files(source_path, target.path)
        settings = settings_from(argparse.Namespace(db=args.target))
        outcome = verify(target, Locations.resolve(settings, target.path))
        record_verification(target, outcome, cli_actor())
    finally:
        target.close()
    report = {**copied, "verify": {"ok": outcome.ok, "summary": outcome.summary()}}
    if args.json:
        print_json(report)
    else:
        for table, n in copied.get("rows", {}).items():
            print(f"{table:20} {n:>12,} rows copied")
        for name in copied.get("files", []):
            print(f"file                 {name}")
        print(f"verify: {outcome.summary()}")
    return EXIT_OK if outcome.ok else EXIT_FAILED


def _copy_files(source: Path, target: Path) -> list[str]:
    """The files kept beside the source (keys, checkpoint log, session secret) copied beside the
    target's name, unless it has them already; the archive folder too, when it is another one."""
    copied = []
    target.parent.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.parent.glob(source.name + ".*")):
        suffix = path.name[len(source.name) :]
        if suffix.endswith(_NOT_COPIED) or not path.is_file():
            continue
        there = target.with_name(target.name + suffix)
        if not there.exists():
            shutil.copy2(path, there)
            copied.append(there.name)
    archive, there_archive = config.archive_folder(None, source), config.archive_folder(None, target)
    if archive.is_dir() and archive != there_archive and not there_archive.exists():
        shutil.copytree(archive, there_archive)
        copied.append(there_archive.name + "/")
    return copied

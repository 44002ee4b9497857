"""`auditdash purge`, `auditdash archive list|verify|restore`, `auditdash hold add|list|remove`:
retention, the archive and legal holds (docs/integrity.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dashboard import config
from dashboard.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    cli_actor,
    existing_target,
    output_place,
    print_json,
    settings_from,
)
from dashboard.cli.integrity import print_verification
from dashboard.evidence.locations import Locations
from dashboard.evidence.status import record_verification
from dashboard.evidence.verify import verify
from dashboard.retention.holds import add_hold, list_holds, release_hold
from dashboard.retention.policy import RetentionPolicy
from dashboard.retention.purge import run_purge
from dashboard.retention.restore import restore
from dashboard.retention.status import list_archive
from dashboard.store.db import Database
from dashboard.when import when_arg


def add_parser(
    sub: Any,
    common: argparse.ArgumentParser,
    as_json: argparse.ArgumentParser,
) -> None:
    """Add `purge`, `archive` and `hold` to the `auditdash` command."""

    until = when_arg(end=True)
    p = sub.add_parser(
        "purge", parents=[common, as_json], help="archive old months, then delete them from the hot store"
    )
    p.add_argument("--dry-run", action="store_true", help="only show what would move")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("archive", parents=[common], help="archived months: list, verify, restore")
    asub = p.add_subparsers(dest="archive_cmd", required=True)
    asub.add_parser("list", parents=[common, as_json], help="list archived months")
    asub.add_parser("verify", parents=[common, as_json], help="verify the archive files and their chain")
    a = asub.add_parser("restore", parents=[common, as_json], help="bring archived events back")
    a.add_argument("--from", dest="start", type=when_arg(), required=True, metavar="WHEN")
    a.add_argument("--to", dest="end", type=until, required=True, metavar="WHEN", help="a date is inclusive")
    a.add_argument("--into", metavar="FILE.duckdb", help="a separate database file instead of the store")
    p.set_defaults(func=cmd_archive)

    p = sub.add_parser("hold", parents=[common], help="legal holds: events no purge may remove")
    hsub = p.add_subparsers(dest="hold_cmd", required=True)
    h = hsub.add_parser("add", parents=[common, as_json], help="hold a period or a user")
    h.add_argument("--from", dest="start", type=when_arg(), metavar="WHEN")
    h.add_argument("--to", dest="end", type=until, metavar="WHEN", help="a date is inclusive")
    h.add_argument("--user", help="hold every event by or about this user id")
    h.add_argument("--reason", required=True, help="the matter or ticket the hold is for")
    h = hsub.add_parser("list", parents=[common, as_json], help="list legal holds")
    h.add_argument("--all", action="store_true", help="include released holds")
    h = hsub.add_parser("remove", parents=[common, as_json], help="release a hold")
    h.add_argument("id", type=int)
    h.add_argument("--reason", help="why it is released")
    p.set_defaults(func=cmd_hold)


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[Database, Locations, config.Settings]]:
    settings = settings_from(args)
    if settings.archive_dir is not None:  # a file there was a traceback (purge) or "the archive is empty" (list)
        output_place(Path(settings.archive_dir), "AUDITDASH_ARCHIVE_DIR", folder=True)
    db = Database(existing_target(settings))
    try:
        yield db, Locations.resolve(settings, db.path), settings
    finally:
        db.close()


def cmd_purge(args: argparse.Namespace) -> int:
    """`auditdash purge [--dry-run]`."""
    with _opened(args) as (db, where, settings):
        result = run_purge(db, where, RetentionPolicy.from_settings(settings), cli_actor(), dry_run=args.dry_run)
    if args.json:
        print_json(result.to_json())
        return EXIT_OK
    print(result.summary())
    for m in result.plan.months:
        print(
            f"  {m.month}: move {m.move:,}, already archived {m.already_archived:,}, "
            f"held {m.held:,}, expire {m.expire:,}"
        )
    for name in result.removed_files:
        print(f"  removed leftover {name}")
    for run_id in result.resumed:
        print(f"  completed interrupted run {run_id}")
    return EXIT_OK


def cmd_archive(args: argparse.Namespace) -> int:
    """`auditdash archive list|verify|restore`."""

    with _opened(args) as (db, where, _):
        if args.archive_cmd == "list":
            months = list_archive(db, where)
            if args.json:
                print_json([m.to_json() for m in months])
                return EXIT_OK
            if not months:
                print(f"the archive ({where.archive_dir}) is empty")
            for m in months:
                man = m.manifest
                flags = ("" if m.present else " FILE MISSING") + ("" if m.recorded else " (not recorded)")
                print(
                    f"{man.month}  {man.rows:>10,} events ({man.expired_rows:,} expired)  "
                    f"seq {man.first_seq}..{man.last_seq}  "
                    f"{man.bytes / 1e6:9.3f} MB  {man.file}  sha256 {man.sha256[:16]}…{flags}"
                )
            return EXIT_OK
        if args.archive_cmd == "verify":
            result = verify(db, where, archive_only=True)
            print_verification(result, args.json)  # reported before anything is written
            problem = record_verification(db, result, cli_actor())
            if problem:
                print(f"auditdash archive verify: {problem}", file=sys.stderr)
            return EXIT_OK if result.ok and not problem else EXIT_FAILED
        outcome = restore(db, where, cli_actor(), args.start, args.end, Path(args.into) if args.into else None)
    if args.json:
        print_json(outcome.to_json())
    else:
        print(
            f"restored {outcome.restored:,} events of {', '.join(outcome.months)} into {outcome.into}"
            + (f" ({outcome.skipped:,} were there already)" if outcome.skipped else "")
        )
        if outcome.hold_id:
            print(
                f"legal hold {outcome.hold_id} keeps them from the next purge; "
                f"release it with: auditdash hold remove {outcome.hold_id}"
            )
    return EXIT_OK


def cmd_hold(args: argparse.Namespace) -> int:
    """`auditdash hold add|list|remove`."""
    with _opened(args) as (db, _where, _):
        if args.hold_cmd in ("add", "remove"):
            if args.hold_cmd == "add":
                hold = add_hold(db, cli_actor(), args.reason, start=args.start, end=args.end, user_id=args.user)
                text = f"legal hold {hold.id}: {hold.describe()} ({hold.reason})"
            else:
                hold = release_hold(db, args.id, cli_actor(), args.reason)
                text = f"legal hold {hold.id} released: {hold.describe()}"
            print(json.dumps(hold.to_json(), indent=2) if args.json else text)
            return EXIT_OK
        holds = list_holds(db, include_released=args.all)
        if args.json:
            print_json([h.to_json() for h in holds])
            return EXIT_OK
        if not holds:
            print("no legal holds")
        for h in holds:
            state = "active" if h.active else f"released {h.released_at:%Y-%m-%d} by {h.released_by}"
            print(f"#{h.id}  {h.describe()}  — {h.reason}  (by {h.created_by}, {h.created_at:%Y-%m-%d}; {state})")
    return EXIT_OK

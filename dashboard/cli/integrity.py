"""`auditdash verify` and `auditdash checkpoint`: the integrity chain (docs/integrity.md)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dashboard.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, cli_actor, existing_target, settings_from
from dashboard.evidence.checkpoints import write_checkpoint
from dashboard.evidence.locations import Locations
from dashboard.evidence.status import record_verification
from dashboard.evidence.verify import Verification, verify
from dashboard.store.db import Database
from dashboard.when import GRAMMAR, when_arg


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `verify` and `checkpoint`."""
    p = sub.add_parser("verify", parents=[common, as_json], help="verify the integrity chain (hot store and archive)")
    p.add_argument("--from", dest="start", type=when_arg(), metavar="WHEN", help=f"from this time, UTC ({GRAMMAR})")
    p.add_argument(
        "--to",
        dest="end",
        type=when_arg(end=True),
        metavar="WHEN",
        help="to this time (a date is inclusive)",
    )
    p.add_argument(
        "--checkpoint", action="append", metavar="FILE", help="also check against this copy of the checkpoint file"
    )
    p.add_argument(
        "--public-key",
        action="append",
        type=Path,
        metavar="FILE",
        help="check checkpoints with this Ed25519 public key only (your own copy, not the one beside the database)",
    )
    p.set_defaults(func=cmd_verify)
    p = sub.add_parser("checkpoint", parents=[common, as_json], help="sign the chain head now")
    p.set_defaults(func=cmd_checkpoint)


def print_verification(result: Verification, as_json: bool) -> None:
    """Print a verification for a person, or as JSON."""
    if as_json:
        print(json.dumps(result.to_json(), indent=2, default=str))
        return
    print(result.summary())
    print(
        f"  hot {result.hot_events:,} events, archive {result.archived_events:,} (+{result.expired_events:,} expired), "
        f"{result.checkpoints_checked} checkpoints checked, {result.seconds:.1f} s"
    )
    for b in result.breaks[1:10]:
        print(f"  also: {b.describe()}")
    for note in result.notes:
        print(f"  note: {note}")


def cmd_verify(args: argparse.Namespace) -> int:
    """`auditdash verify`: recompute the chain; exit 1 when it is broken."""
    problem = _verify_args_problem(args)
    if problem:  # else "OK: 0 events" answered a period backwards, "BROKEN" a key that is no key
        print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    settings = settings_from(args)
    db = Database(existing_target(settings))
    try:
        where = Locations.resolve(settings, db.path)
        result = verify(
            db,
            where,
            start=args.start,
            end=args.end,
            checkpoint_files=args.checkpoint or (),
            public_keys=args.public_key or (),
        )
        # The finding is reported before anything is written; recording it never hides it.
        print_verification(result, args.json)
        problem = record_verification(db, result, cli_actor())
    finally:
        db.close()
    if problem:
        print(f"auditdash verify: {problem}", file=sys.stderr)
    return EXIT_OK if result.ok and not problem else EXIT_FAILED


def _verify_args_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with verify's options (None: nothing): a period that ends before it starts,
    a --checkpoint copy that is not a file, a --public-key that is not an Ed25519 PEM key."""
    from dashboard.evidence.verify_pack_script import load_public_key

    if args.start is not None and args.end is not None and args.end <= args.start:
        return "--to must be after --from"
    for name in args.checkpoint or ():
        if not Path(name).is_file():
            return (
                f"--checkpoint {name}: {'a folder' if Path(name).is_dir() else 'no such file'}, not a checkpoint file"
            )
        try:
            Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            said = getattr(exc, "strerror", None) or exc
            return f"--checkpoint {name} cannot be read as a checkpoint file: {said}"
    for path in args.public_key or ():
        try:
            load_public_key(path)
        except ValueError as exc:
            return f"--public-key: {exc}"
    return None


def cmd_checkpoint(args: argparse.Namespace) -> int:
    """`auditdash checkpoint`: sign the chain head now."""
    settings = settings_from(args)
    db = Database(existing_target(settings))
    try:
        where = Locations.resolve(settings, db.path)
        cp = write_checkpoint(db, where, "manual")
    finally:
        db.close()
    if args.json:
        print(json.dumps(asdict(cp) if cp else None, indent=2))
    elif cp:
        print(
            f"checkpoint: batch {cp.batch_id}, seq {cp.last_seq}, head {cp.head_hash}; "
            f"appended to {where.checkpoint_path}"
        )
    else:
        print("the chain is empty: nothing to sign")
    return EXIT_OK

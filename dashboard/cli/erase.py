"""`auditdash erase --subject ID --reason TEXT`: a person's personal data replaced by a pseudonym in the
hot store and the archive, the chain intact (docs/integrity.md, "Erasure"; docs/operations.md)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dashboard.cli.common import EXIT_OK, EXIT_USAGE, cli_actor, existing_target, print_json, settings_from


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `erase` to the `auditdash` command."""
    p = sub.add_parser(
        "erase",
        parents=[common, as_json],
        help="erase a person's personal data (pseudonym in place; the chain still verifies)",
    )
    p.add_argument("--subject", metavar="ID", help="the person: a user id (actor or target) or an e-mail address")
    p.add_argument("--reason", metavar="TEXT", help="why (the request or ticket it answers); required")
    p.add_argument(
        "--no-compact",
        action="store_true",
        help="leave the database file as it is (old values may stay in its free space until it is compacted)",
    )
    p.add_argument(
        "--compact",
        action="store_true",
        help="only rewrite the database file whole, dropping its free space (after an erasure made on the page)",
    )
    p.set_defaults(func=cmd_erase)


def cmd_erase(args: argparse.Namespace) -> int:
    """Erase one person; then rewrite the database file so the old values leave its free space."""
    # imported here: `auditdash --help` and every other command start without the store's code
    from dashboard.evidence.locations import Locations
    from dashboard.retention.erasure import compact, erase
    from dashboard.store.db import Database

    settings = settings_from(args)
    if settings.db_url and args.compact:  # PostgreSQL reclaims old row versions itself (VACUUM)
        print("error: --compact rewrites a DuckDB file; a PostgreSQL store has none to compact", file=sys.stderr)
        return EXIT_USAGE
    existing_target(settings)  # a mistyped --db is refused, not made an empty store
    if args.compact:
        if args.subject or args.reason or args.no_compact:
            print(
                "error: --compact only rewrites the file; leave out --subject, --reason and --no-compact",
                file=sys.stderr,
            )
            return EXIT_USAGE
        with Database(settings.db_path):  # refuses at once while a server owns the file
            pass
        compact(settings.db_path)
        print(f"{settings.db_path}: rewritten whole (free space dropped)")
        return EXIT_OK
    if not args.subject or not (args.reason or "").strip():
        print(
            "error: auditdash erase needs --subject ID and --reason TEXT (why: the request or ticket)", file=sys.stderr
        )
        return EXIT_USAGE
    db = Database(existing_target(settings))
    try:
        result = erase(db, Locations.resolve(settings, db.path), cli_actor(), args.subject, args.reason)
    finally:
        db.close()
    compacted = not args.no_compact and not settings.db_url
    if compacted:
        compact(settings.db_path)
    if args.json:
        print_json({**result.to_json(), "compacted": compacted})
        return EXIT_OK
    print(result.summary())
    print(
        f"  recorded as audit.erase at seq {result.record_seq}; fields: "
        + ", ".join(f"{k} {v:,}" for k, v in result.fields.items())
    )
    if result.hash_kept_events:
        print(
            f"  {result.hash_kept_events:,} events of canonical forms 1-2: their stored hash stands for their "
            "content (docs/integrity.md, Erasure)"
        )
    if result.quarantined_mentions:
        print(
            f"  note: {result.quarantined_mentions:,} quarantined records name this person; they are evidence "
            "under the chain and were not changed (auditdash quarantine)"
        )
    if args.no_compact and not settings.db_url:
        print("  the database file was not compacted: run `auditdash erase --compact` with the server stopped")
    return EXIT_OK

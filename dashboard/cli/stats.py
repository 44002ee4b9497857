"""`auditdash stats`: what the database holds."""

from __future__ import annotations

import argparse
from typing import Any

from dashboard.cli.common import EXIT_OK, open_db, print_json


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `stats`."""
    p = sub.add_parser("stats", parents=[common, as_json], help="what the database holds")
    p.set_defaults(func=cmd_stats)


def cmd_stats(args: argparse.Namespace) -> int:
    """Print what the database holds."""
    from dashboard.store.queries import stats

    db = open_db(args, create=False)
    try:
        s = stats(db)
    finally:
        db.close()
    if args.json:
        print_json(s.to_json())
        return EXIT_OK
    print(f"database        {s.db_path} (schema {s.schema_version}){' — demo data' if s.demo else ''}")
    print(f"events          {s.events:,}")
    if s.first_event:
        print(f"period          {s.first_event:%Y-%m-%d %H:%M:%S} to {s.last_event:%Y-%m-%d %H:%M:%S} UTC")
    print(f"users           {s.actors:,}   accounts {s.accounts:,}   failures {s.failures:,}")
    print(f"quarantined     {s.quarantined:,}")
    print(f"chain           {s.batches:,} batches, head {s.chain_head or '-'}")
    for category, n in s.by_category.items():
        print(f"  {category:<18}{n:>12,}")
    return EXIT_OK

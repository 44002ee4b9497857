"""`auditdash quarantine list`: rejected records with their reasons."""

from __future__ import annotations

import argparse
from typing import Any

from dashboard.cli.common import EXIT_OK, count_arg, open_db, print_json


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `quarantine list`."""
    p = sub.add_parser("quarantine", parents=[common], help="rejected records")
    qsub = p.add_subparsers(dest="quarantine_cmd", required=True)
    q = qsub.add_parser("list", parents=[common, as_json], help="list rejected records")
    q.add_argument("--limit", type=count_arg(), default=50)
    q.add_argument("--source", help="only records from this source (file:NAME, api:TOKEN)")
    p.set_defaults(func=cmd_quarantine)


def cmd_quarantine(args: argparse.Namespace) -> int:
    """List rejected records with their reasons."""
    from dashboard.store.queries import quarantine_list

    db = open_db(args, create=False)
    try:
        rows = quarantine_list(db, limit=args.limit, source=args.source)
    finally:
        db.close()
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("quarantine is empty")
    from dashboard.events.validate import shown  # control characters of a record are shown escaped

    for r in rows:
        raw = shown(r["raw"] if len(r["raw"]) <= 100 else r["raw"][:97] + "...")
        print(f"#{r['id']} {r['received_at']} {shown(r['source'])} {r['position']}: {shown(r['reason'])}\n    {raw}")
    return EXIT_OK

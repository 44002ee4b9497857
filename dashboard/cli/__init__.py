"""The `auditdash` command.

Every subcommand takes `--db PATH` (default `$AUDITDASH_DB`, else data/auditdash.duckdb) and
the ones that print a summary take `--json`. A command that needs the database while a server
owns it stops at once with a message naming that process (exit code 3); `ingest` can instead
send its files to the running server with `--server URL --token TOKEN`. A storage fault (full
disk, I/O error, damaged database file) ends any command with one message saying what, where and
what to do (exit code 4; dashboard.store.faults), never a traceback.

One module per command group (serve, ingest, demo, stats, tokens, users, quarantine, integrity,
verify_pack, retention, detect, report, chatwoot), each with `add_parser`; what they share is in
`dashboard.cli.common`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from dashboard.cli import (
    chatwoot,
    demo,
    detect,
    erase,
    ingest,
    integrity,
    migrate,
    quarantine,
    report,
    retention,
    serve,
    stats,
    streams,
    tokens,
    users,
    verify_pack,
)
from dashboard.cli.common import Handler, run

#: the command groups, in the order `auditdash --help` lists them.
GROUPS = (
    serve,
    ingest,
    demo,
    stats,
    tokens,
    quarantine,
    users,
    integrity,
    verify_pack,
    retention,
    erase,
    detect,
    report,
    chatwoot,
    streams,
    migrate,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--db",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="database file (default: $AUDITDASH_DB or data/auditdash.duckdb)",
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON for scripts")

    parser = argparse.ArgumentParser(prog="auditdash", description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub, common, as_json)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    if not hasattr(args, "json"):
        args.json = False
    handler: Handler = args.func
    return run(handler, args)

"""`auditdash streams list|pause|resume`: the destinations the log is streamed to (docs/connectors.md).

The same destinations, cursors and lag the Streams page shows, for a terminal or a script, with
the server stopped (like every command that opens the database itself).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dashboard.cli.common import EXIT_FAILED, EXIT_OK, cli_actor, open_db, print_json, settings_from


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `streams list`, `streams pause NAME` and `streams resume NAME`."""
    p = sub.add_parser("streams", parents=[common], help="destinations the log is streamed to")
    ssub = p.add_subparsers(dest="streams_cmd", required=True)
    ssub.add_parser("list", parents=[common, as_json], help="each destination: state, cursor, lag, last error")
    for verb in ("pause", "resume"):
        s = ssub.add_parser(verb, parents=[common, as_json], help=f"{verb} delivery to one destination")
        s.add_argument("name")
    p.set_defaults(func=cmd_streams)


def cmd_streams(args: argparse.Namespace) -> int:
    """List, pause or resume streaming destinations."""
    from dashboard.stream.destinations import StreamConfigError

    db = open_db(args, create=False)
    try:
        rows = _rows(db, args)
    except StreamConfigError as exc:  # a bad settings file, an unknown name: said, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        db.close()
    if args.json:
        print_json(rows)
        return EXIT_OK
    if not rows:
        print("no destinations: set AUDITDASH_STREAMS or add one on the Streams page (docs/connectors.md)")
    for r in rows:
        print(
            f"{r['name']} ({r['origin']}): {r['state']}, cursor {r['cursor']}, {r['delivered']:,} delivered, "
            f"{r['lag_events']:,} behind ({r['lag_seconds']} s)"
            + (f"\n    last error: {r['last_error']}" if r["last_error"] else "")
        )
    return EXIT_OK


def _rows(db: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Pause or resume if asked, then every destination as the Streams page shows it."""
    from dashboard.stream.service import StreamService

    service = StreamService.from_settings(db, settings_from(args))
    if args.streams_cmd in ("pause", "resume"):
        actor = cli_actor().name
        service.sync_config(actor=actor)  # a destination new in the file gets its cursor, as at a start
        service.set_paused(args.name, args.streams_cmd == "pause", actor, role="cli")
    for name, stream in service.streams.items():
        stream.lag = service.measure_lag(name)
    return [
        {
            "name": s.name,
            "origin": s.origin,
            "state": s.state,
            "cursor": s.cursor,
            "delivered": s.delivered,
            "lag_events": s.lag_events,
            "lag_seconds": round(s.lag_seconds, 1),
            "last_delivered_at": s.last_delivered_at,
            "last_error": s.last_error,
            **{k: v for k, v in s.public.items() if k != "name"},
        }
        for s in service.status()
    ]

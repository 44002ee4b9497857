"""`auditdash report`: build a compliance pack from the command line, with the URL's filter vocabulary.

    auditdash report --from 2026-08-01 --to 2026-10-31 --tz Europe/Berlin --categories authentication \\
        --format pdf,csv,json --out reports/ [--json]

The options are the URL's query keys (`--from --to --range --users --roles --categories
--actions --outcome --ip --countries --accounts --weekdays --hours --q --tz`), read by the same
`Filters.from_query`, so a view copied from the browser's address bar gives the same pack here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dashboard.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    cli_actor,
    existing_target,
    output_place,
    print_json,
    settings_from,
)

#: the URL's filter keys, in the order `--help` lists them.
FILTER_OPTIONS: tuple[tuple[str, str], ...] = (
    ("from", "start date (2026-08-01) or local date-time (2026-08-01T09:00), in --tz"),
    ("to", "end date, inclusive (a date means its whole day), in --tz"),
    (
        "range",
        "range instead of --from/--to: 24h, 7d, 30d, 90d, or whole days in --tz: yesterday, last-week, "
        "last-month, last-quarter, mtd, ytd (default 7d)",
    ),
    ("users", "actor ids, comma-separated"),
    ("roles", "actor roles, comma-separated"),
    ("categories", "action categories, comma-separated (authentication, settings, ...)"),
    ("actions", "actions, comma-separated (auth.login, ...)"),
    ("outcome", "success, failure or unknown"),
    ("ip", "an address or a CIDR block"),
    ("countries", "ISO country codes of the source address, comma-separated"),
    ("accounts", "tenants, comma-separated"),
    ("weekdays", "local weekdays in --tz, 1 (Monday) to 7 (Sunday), comma-separated"),
    ("hours", "local hours of the day in --tz, 0 to 23 (14 means 14:00-15:00), comma-separated"),
    ("q", "free text over actor, target and changed values"),
    ("tz", "IANA time zone of dates and of the pack (default UTC)"),
)


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add `report` to the command line (called from dashboard.cli.build_parser)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "report",
        parents=[common, as_json],
        help="build a compliance pack (PDF, CSV, JSON, ZIP) of a filtered view",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    for key, text in FILTER_OPTIONS:
        p.add_argument(f"--{key}", dest=f"f_{key}", metavar=key.upper(), help=text)
    p.add_argument("--format", default="pdf,csv", help="pdf, csv, json, ocsf, zip; comma-separated (default pdf,csv)")
    p.add_argument("--out", metavar="DIR", help="folder for the pack (default: $AUDITDASH_REPORTS_DIR or reports/)")
    p.add_argument("--title", help="title on the PDF cover")
    p.add_argument(
        "--masked", action="store_true", help="mask addresses and leave out raw JSON (a pack as a manager gets it)"
    )
    p.set_defaults(func=cmd_report)
    return p


def cmd_report(args: argparse.Namespace) -> int:
    """Build one pack and print where its files are."""

    from dashboard.filters import Filters
    from dashboard.packs.build import PackSettings, build_pack
    from dashboard.packs.model import DEFAULT_TITLE, Control, PackCancelled, PackError, PackRequest, parse_formats
    from dashboard.store.db import Database

    settings = settings_from(args)
    query = {key: getattr(args, f"f_{key}") for key, _ in FILTER_OPTIONS if getattr(args, f"f_{key}", None)}
    filters = Filters.from_query(query)
    if filters.problems:
        for problem in filters.problems:
            print(f"error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        formats = parse_formats(args.format)
        masked = bool(args.masked)
        request = PackRequest(
            filters=filters,
            formats=formats,
            actor=cli_actor(),
            role="manager" if masked else "admin",
            masked=masked,
            title=args.title or DEFAULT_TITLE,
        )
    except PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    pack_settings = PackSettings.from_settings(settings)
    output_place(
        Path(args.out) if args.out else pack_settings.reports_dir,
        "--out" if args.out else "AUDITDASH_REPORTS_DIR",
        True,
    )
    if args.out:
        pack_settings = PackSettings(
            Path(args.out), pack_settings.organisation, pack_settings.verify_max_events, settings
        )
    progress = Progress("pack", total=100)

    def show(stage: str, fraction: float) -> None:
        progress.label = f"{stage[:48]:<48}"
        progress(int(fraction * 100))

    db = Database(existing_target(settings))
    try:
        result = build_pack(db, pack_settings, request, Control(show))
    except PackCancelled:
        progress.done()
        print("error: cancelled", file=sys.stderr)
        return EXIT_FAILED
    except PackError as exc:
        progress.done()
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        db.close()
    progress.done()
    summary = result.to_json()
    summary["filters"] = filters.describe(request.resolved_now())
    summary["sizes"] = {p.name: p.stat().st_size for p in result.paths()}
    summary["integrity"] = result.manifest.get("integrity", {}).get("state")
    archived = result.manifest.get("from_archive")
    if archived:
        summary["from_archive"] = archived
    left_out = result.manifest.get("archived_not_included")
    if left_out:
        summary["archived_not_included"] = left_out
    if args.json:
        print_json(summary)
    else:
        print(f"pack {result.pack_id}: {result.events:,} events ({summary['filters']})")
        for path in result.paths():
            print(f"  {path}  {path.stat().st_size:,} bytes")
        print(f"integrity of the period: {summary['integrity']}")
        if archived:
            months = ", ".join(archived["months"])
            print(f"{archived['events']:,} of the pack's events were read from the archive ({months})")
        if left_out:
            months = ", ".join(left_out["months"])
            print(
                f"NOT included: {left_out['events']:,} events of this view in archived months ({months}); "
                f"to include them: {left_out['restore']}, then build the pack again"
            )
    return EXIT_OK

"""`auditdash demo`: generate demo data into the database, or as NDJSON; also the first start's seeding."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dashboard import config
from dashboard.cli.common import (
    EXIT_OK,
    EXIT_USAGE,
    Progress,
    open_db,
    output_place,
    print_json,
    settings_from,
    warn_geo,
)


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `demo`."""
    p = sub.add_parser("demo", parents=[common, as_json], help="generate demo data")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--no-incidents", action="store_true", help="plant no incidents")
    p.add_argument("--out", metavar="FILE.ndjson", help="write NDJSON (and FILE.truth.json) instead")
    p.set_defaults(func=cmd_demo)


def seed_demo(db: Any, settings: config.Settings, events: int, **spec_args: Any) -> dict[str, Any]:
    """Generate and store demo events (with their ground truth beside the database); the counts."""
    from dashboard.demo import DemoSpec, generate
    from dashboard.ingest.geo import default_locator
    from dashboard.ingest.pipeline import Ingestor

    spec = DemoSpec(events=events, **spec_args)
    batches, truth = generate(spec)
    progress = Progress("demo", total=spec.events)
    locator = default_locator(settings.geo_dir, settings.geoip_mmdb)
    warn_geo(locator)
    records = (
        [(i, json.dumps(doc, ensure_ascii=False, separators=(",", ":"))) for i, doc in enumerate(batch)]
        for batch in batches
    )
    with Ingestor(db, locator, settings.batch_size, archive_dir=settings.archive_dir) as ingestor:
        result = ingestor.ingest_batches(records, "demo", "record", progress)
    progress.done()
    db.set_meta("demo", "true")
    truth_path = db.path.with_name(db.path.stem + ".truth.json")
    truth_path.write_text(json.dumps(truth, indent=2, default=str))
    summary = {"accepted": result.accepted, "duplicates": result.duplicates, "rejected": result.rejected}
    print(f"demo data: {result.accepted:,} events stored; ground truth in {truth_path}")
    return summary


def cmd_demo(args: argparse.Namespace) -> int:
    """Write a demo data set into the database, or as NDJSON with --out."""
    from dashboard.demo import DemoSpec, write_ndjson
    from dashboard.demo.spec import checked_end

    spec_args = {"days": args.days, "seed": args.seed, "incidents": not args.no_incidents}
    try:  # checked before anything is written or created
        checked_end(DemoSpec(events=args.events, **spec_args))
    except ValueError as exc:
        print(f"error: auditdash demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out:
        output_place(Path(args.out), "--out")
        spec = DemoSpec(events=args.events, **spec_args)
        truth = write_ndjson(spec, Path(args.out))
        summary = {
            "out": args.out,
            "events": truth.get("generated_events"),
            "incidents": len(truth["incidents"]),
        }
        print_json(summary) if args.json else print(f"wrote {summary['events']:,} events to {args.out}")
        return EXIT_OK
    db = open_db(args)
    try:
        summary = seed_demo(db, settings_from(args), events=args.events, **spec_args)
    finally:
        db.close()
    if args.json:
        print_json(summary)
    return EXIT_OK

"""`auditdash ingest`: import event files (NDJSON, JSON array, CSV; gzip accepted), into the
database or, with `--server URL --token TOKEN`, through a running server's API."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from dashboard.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_STORAGE,
    EXIT_USAGE,
    Progress,
    input_files,
    open_db,
    print_json,
    settings_from,
    warn_geo,
)
from dashboard.store.faults import classify


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `ingest`."""
    p = sub.add_parser("ingest", parents=[common, as_json], help="import event files")
    p.add_argument("files", nargs="+", metavar="FILE", help="NDJSON, JSON array or CSV (.gz accepted)")
    p.add_argument(
        "--format",
        default="contract",
        choices=("contract", "chatwoot", "okta", "ocsf", "ecs"),
        help="what the files hold: our event contract (default), Chatwoot audit_logs pages, "
        "Okta System Log, OCSF, or Elastic Common Schema events",
    )
    p.add_argument("--server", metavar="URL", help="send to a running server's API instead")
    p.add_argument("--token", help="API token for --server")
    p.set_defaults(func=cmd_ingest)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Import event files (NDJSON, JSON array, CSV; gzip accepted)."""
    input_files(args.files)  # every file is there and readable before a store is opened or created
    if args.server:
        return _ingest_via_server(args)
    from dashboard.ingest.geo import default_locator
    from dashboard.ingest.pipeline import Ingestor
    from dashboard.ingest.readers import ReadError
    from dashboard.store.writer import WriteResult

    settings = settings_from(args)
    db = open_db(args)
    total = WriteResult()
    files: list[dict[str, Any]] = []
    stack = contextlib.ExitStack()
    try:
        locator = default_locator(settings.geo_dir, settings.geoip_mmdb)
        warn_geo(locator)
        ingestor = Ingestor(db, locator, settings.batch_size, archive_dir=settings.archive_dir)
        stack.callback(ingestor.close)
        for name in args.files:
            progress = Progress(Path(name).name)
            try:
                result = _ingest_one(ingestor, Path(name), args.format, progress)
            except ReadError as exc:
                progress.done()
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_FAILED
            except Exception as exc:
                progress.done()
                fault = classify(exc, settings.db_path)
                if fault is None:
                    raise
                print(f"error: {fault.message}", file=sys.stderr)
                print(
                    f"stored before the fault: {total.accepted:,} events from the files before {name}; "
                    f"{name} stored only whole batches before the failed one. Sending the files again "
                    "stores what is missing and skips what is there (duplicates).",
                    file=sys.stderr,
                )
                return EXIT_STORAGE
            progress.done()
            total.add(result)
            files.append(
                {
                    "file": name,
                    "accepted": result.accepted,
                    "duplicates": result.duplicates,
                    "conflicts": result.conflicts,
                    "rejected": result.rejected,
                }
            )
    finally:
        stack.close()
        db.close()
    summary = {
        "accepted": total.accepted,
        "duplicates": total.duplicates,
        "conflicts": total.conflicts,
        "rejected": total.rejected,
        "files": files,
        "rejections": [{"position": r.pos, "reason": r.reason} for r in total.rejected_records[:20]],
        "conflicting": [{"position": r.pos, "reason": r.reason} for r in total.conflict_records[:20]],
    }
    if args.json:
        print_json(summary)
    else:
        print(
            f"accepted {total.accepted:,}, duplicates {total.duplicates:,}, rejected {total.rejected:,}, "
            f"conflicts {total.conflicts:,}"
        )
        for r in total.conflict_records[:10]:
            print(f"  conflict at {r.pos}: {r.reason}")
        for r in total.rejected_records[:10]:
            print(f"  rejected at {r.pos}: {r.reason}")
        if total.rejected or total.conflicts:
            print("rejected records are kept: auditdash quarantine list")
    return EXIT_OK


def _ingest_one(ingestor: Any, path: Path, fmt: str, progress: Progress) -> Any:
    """Ingest one file, converting from an outside format first when asked."""
    if fmt == "contract":
        return ingestor.ingest_file(path, progress)
    from dashboard.ingest.formats import convert_batch
    from dashboard.ingest.readers import position_label, read_file

    file_format, batches = read_file(path, ingestor.batch_size)
    converted = (list(convert_batch(batch, fmt)) for batch in batches)
    return ingestor.ingest_batches(converted, f"{fmt}:{path.name}", position_label(file_format), progress)


def _ingest_via_server(args: argparse.Namespace) -> int:
    from dashboard.events.validate import Unreadable
    from dashboard.ingest.readers import read_file

    if not args.token:
        print("error: --server needs --token (create one with: auditdash tokens create NAME)", file=sys.stderr)
        return EXIT_USAGE
    if not args.server.startswith(("http://", "https://")):
        print(f"error: --server {args.server!r} is not an http(s) address like http://127.0.0.1:8050", file=sys.stderr)
        return EXIT_USAGE
    url = args.server.rstrip("/") + "/api/v1/events"
    totals = {"accepted": 0, "duplicates": 0, "conflicts": 0, "rejected": 0}
    from dashboard.ingest.formats import convert_batch

    for name in args.files:
        _fmt, batches = read_file(Path(name), batch_size=5_000)  # a ReadError is said by `run`
        for raw_batch in batches:
            batch = list(convert_batch(raw_batch, args.format))
            # a record that cannot be read (not UTF-8, too long) is refused here, with its reason
            unread = [(pos, raw) for pos, raw in batch if isinstance(raw, Unreadable)]
            for pos, raw in unread:
                print(f"rejected, not sent: {name} at {pos}: {raw.reason}", file=sys.stderr)
            totals["rejected"] += len(unread)
            batch = [(pos, raw) for pos, raw in batch if not isinstance(raw, Unreadable)]
            if not batch:
                continue
            body = "\n".join(raw.replace("\n", " ") for _, raw in batch).encode()
            request = urllib.request.Request(  # noqa: S310 - the user names the server
                url,
                data=body,
                headers={"Authorization": f"Bearer {args.token}", "Content-Type": "application/x-ndjson"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                    reply = json.loads(response.read())
            except urllib.error.HTTPError as exc:
                said = exc.read().decode(errors="replace")
                with contextlib.suppress(ValueError, AttributeError):
                    said = json.loads(said)["error"]
                print(f"error: {url} answered {exc.code}: {said}", file=sys.stderr)
                if exc.code in (503, 507):
                    print(
                        f"this batch of {name} was not stored; {totals['accepted']:,} events were stored before "
                        "it. Send the files again once the server's storage is fixed (stored events are "
                        "skipped as duplicates).",
                        file=sys.stderr,
                    )
                    return EXIT_STORAGE
                return EXIT_FAILED
            except urllib.error.URLError as exc:
                print(f"error: cannot reach {url}: {exc.reason}", file=sys.stderr)
                return EXIT_FAILED
            totals["accepted"] += reply["accepted"]
            totals["duplicates"] += reply["duplicates"]
            totals["conflicts"] += len(reply.get("conflicts", []))
            totals["rejected"] += reply.get("rejected_total", len(reply["rejected"]))
    if args.json:
        print_json(totals)
    else:
        print(
            f"accepted {totals['accepted']:,}, duplicates {totals['duplicates']:,}, "
            f"rejected {totals['rejected']:,}, conflicts {totals['conflicts']:,} (sent to {url})"
        )
    return EXIT_OK

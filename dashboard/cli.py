"""The `auditdash` command.

Every subcommand takes `--db PATH` (default `$AUDITDASH_DB`, else data/auditdash.duckdb) and
the ones that print a summary take `--json`. A command that needs the database while a server
owns it stops at once with a message naming that process (exit code 3); `ingest` can instead
send its files to the running server with `--server URL --token TOKEN`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dashboard import config
from dashboard.store.db import DatabaseLocked, StoreError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_LOCKED = 3


class Progress:
    """A one-line progress display on a terminal (silent when stderr is not a terminal)."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.enabled = sys.stderr.isatty()
        self.start = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, _bytes: int = 0) -> None:
        """Show `done` records processed so far."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < 0.2 and (self.total is None or done < self.total):
            return
        self.last = now
        rate = done / max(now - self.start, 1e-9)
        if self.total:
            width = 30
            filled = int(width * min(done / self.total, 1))
            bar = "#" * filled + "-" * (width - filled)
            text = f"{self.label} [{bar}] {done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"{self.label} {done:,} records ({rate:,.0f}/s)"
        sys.stderr.write("\r" + text)
        sys.stderr.flush()

    def done(self) -> None:
        """End the progress line."""
        if self.enabled:
            sys.stderr.write("\n")


def _settings(args: argparse.Namespace) -> config.Settings:
    settings = config.load()
    return settings.with_overrides(db_path=Path(args.db) if getattr(args, "db", None) else None)


def _open_db(args: argparse.Namespace) -> Any:
    from dashboard.store.db import Database

    return Database(_settings(args).db_path)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# -- serve ---------------------------------------------------------------------------------
def _stop_serving(signum: int, _frame: Any) -> None:
    """SIGTERM: leave the server's loop the way Ctrl+C does, so it closes its socket itself.

    Closing the socket inside the handler would pull it from under the loop's `select`
    (Bad file descriptor) and end the process with a traceback.
    """
    raise KeyboardInterrupt(f"signal {signum}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the dashboard and the API (seeding demo data on the first start)."""
    import atexit

    from waitress.server import create_server

    from dashboard.store.db import Database, server_info_path, write_server_info
    from dashboard.web.app import create_app

    settings = _settings(args).with_overrides(host=args.host, port=args.port)
    is_default = settings.db_path == config.DEFAULT_DB
    created = not settings.db_path.exists()
    db = Database(settings.db_path)
    if created and is_default and not args.no_demo:
        print(f"First start: seeding {settings.db_path} with demo data (use --no-demo to skip) ...")
        _seed_demo(db, settings, events=settings.demo_events)
    from dashboard.store.users import ensure_first_admin
    from dashboard.web.auth_cli import print_first_admin

    first_password = ensure_first_admin(db)  # only when no user exists; never stored in the clear
    if first_password:
        print_first_admin(first_password)
    app = create_app(settings, db)
    url = f"http://{settings.host}:{settings.port}/"
    info = write_server_info(settings.db_path, url)
    atexit.register(lambda: info.unlink(missing_ok=True))
    server = create_server(app.server, host=settings.host, port=settings.port, threads=settings.threads)
    scheduler = app.server.extensions["auditdash"].scheduler
    scheduler.start()
    signal.signal(signal.SIGTERM, _stop_serving)
    print(f"auditdash serving {settings.db_path} on {url} (Ctrl+C to stop)", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        scheduler.stop()
        server_info_path(settings.db_path).unlink(missing_ok=True)
        db.close()
    return EXIT_OK


def _seed_demo(db: Any, settings: config.Settings, events: int, **spec_args: Any) -> dict[str, Any]:
    from dashboard.demo import DemoSpec, generate
    from dashboard.ingest.geo import default_locator
    from dashboard.ingest.pipeline import Ingestor

    spec = DemoSpec(events=events, **spec_args)
    batches, truth = generate(spec)
    progress = Progress("demo", total=spec.events)
    locator = default_locator(settings.geo_dir, settings.geoip_mmdb)
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


# -- demo ----------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    """Write a demo data set into the database, or as NDJSON with --out."""
    from dashboard.demo import DemoSpec, write_ndjson

    spec_args = {"days": args.days, "seed": args.seed, "incidents": not args.no_incidents}
    if args.out:
        spec = DemoSpec(events=args.events, **spec_args)
        truth = write_ndjson(spec, Path(args.out))
        summary = {
            "out": args.out,
            "events": truth.get("generated_events"),
            "incidents": len(truth["incidents"]),
        }
        _print_json(summary) if args.json else print(f"wrote {summary['events']:,} events to {args.out}")
        return EXIT_OK
    db = _open_db(args)
    try:
        summary = _seed_demo(db, _settings(args), events=args.events, **spec_args)
    finally:
        db.close()
    if args.json:
        _print_json(summary)
    return EXIT_OK


# -- ingest --------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    """Import event files (NDJSON, JSON array, CSV; gzip accepted)."""
    if args.server:
        return _ingest_via_server(args)
    from dashboard.ingest.geo import default_locator
    from dashboard.ingest.pipeline import Ingestor
    from dashboard.ingest.readers import ReadError
    from dashboard.store.writer import WriteResult

    settings = _settings(args)
    db = _open_db(args)
    total = WriteResult()
    files: list[dict[str, Any]] = []
    stack = contextlib.ExitStack()
    try:
        locator = default_locator(settings.geo_dir, settings.geoip_mmdb)
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
            progress.done()
            total.add(result)
            files.append(
                {
                    "file": name,
                    "accepted": result.accepted,
                    "duplicates": result.duplicates,
                    "rejected": result.rejected,
                }
            )
    finally:
        stack.close()
        db.close()
    summary = {
        "accepted": total.accepted,
        "duplicates": total.duplicates,
        "rejected": total.rejected,
        "files": files,
        "rejections": [{"position": r.pos, "reason": r.reason} for r in total.rejected_records[:20]],
    }
    if args.json:
        _print_json(summary)
    else:
        print(f"accepted {total.accepted:,}, duplicates {total.duplicates:,}, rejected {total.rejected:,}")
        for r in total.rejected_records[:10]:
            print(f"  rejected at {r.pos}: {r.reason}")
        if total.rejected:
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
    from dashboard.ingest.readers import read_file

    if not args.token:
        print("error: --server needs --token (create one with: auditdash tokens create NAME)", file=sys.stderr)
        return EXIT_USAGE
    url = args.server.rstrip("/") + "/api/v1/events"
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    from dashboard.ingest.formats import convert_batch

    for name in args.files:
        _fmt, batches = read_file(Path(name), batch_size=5_000)
        for raw_batch in batches:
            batch = list(convert_batch(raw_batch, args.format))
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
                print(
                    f"error: {url} answered {exc.code}: {exc.read().decode(errors='replace')}",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            except urllib.error.URLError as exc:
                print(f"error: cannot reach {url}: {exc.reason}", file=sys.stderr)
                return EXIT_FAILED
            totals["accepted"] += reply["accepted"]
            totals["duplicates"] += reply["duplicates"]
            totals["rejected"] += len(reply["rejected"])
    if args.json:
        _print_json(totals)
    else:
        print(
            f"accepted {totals['accepted']:,}, duplicates {totals['duplicates']:,}, "
            f"rejected {totals['rejected']:,} (sent to {url})"
        )
    return EXIT_OK


# -- stats ---------------------------------------------------------------------------------
def cmd_stats(args: argparse.Namespace) -> int:
    """Print what the database holds."""
    from dashboard.store.queries import stats

    db = _open_db(args)
    try:
        s = stats(db)
    finally:
        db.close()
    if args.json:
        _print_json(s.to_json())
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


# -- tokens --------------------------------------------------------------------------------
def cmd_tokens(args: argparse.Namespace) -> int:
    """Create, list and revoke API tokens."""
    from dashboard.store.tokens import create_token, list_tokens, revoke_token
    from dashboard.web.auth_cli import cli_actor

    db = _open_db(args)
    try:
        if args.tokens_cmd == "create":
            scopes = tuple(s.strip() for s in args.scope.split(",") if s.strip())
            token, plain = create_token(db, args.name, scopes, actor=cli_actor())
            if args.json:
                _print_json({"name": token.name, "id": token.id, "scopes": token.scopes, "token": plain})
            else:
                print(plain)
                print(
                    f"token {token.name!r} ({','.join(token.scopes)}): shown once, store it now",
                    file=sys.stderr,
                )
        elif args.tokens_cmd == "list":
            tokens = list_tokens(db)
            if args.json:
                _print_json(
                    [
                        {
                            "name": t.name,
                            "id": t.id,
                            "scopes": t.scopes,
                            "created_at": t.created_at,
                            "last_used_at": t.last_used_at,
                            "revoked_at": t.revoked_at,
                            "active": t.active,
                        }
                        for t in tokens
                    ]
                )
            else:
                print(f"{'name':<24}{'id':<14}{'scopes':<14}{'created':<21}{'last used':<21}status")
                for t in tokens:
                    print(
                        f"{t.name:<24}{t.id:<14}{','.join(t.scopes):<14}{t.created_at:%Y-%m-%d %H:%M:%S}  "
                        f"{(f'{t.last_used_at:%Y-%m-%d %H:%M:%S}' if t.last_used_at else 'never'):<21}"
                        f"{'active' if t.active else 'revoked'}"
                    )
        else:
            token = revoke_token(db, args.name, actor=cli_actor())
            if args.json:
                _print_json({"name": token.name, "revoked_at": token.revoked_at})
            else:
                print(f"token {token.name!r} revoked")
    finally:
        db.close()
    return EXIT_OK


# -- users ---------------------------------------------------------------------------------
def cmd_users(args: argparse.Namespace) -> int:
    """Add, list, disable, enable dashboard users; reset passwords, set roles, second factor."""
    from dashboard.web.auth_cli import run_users

    db = _open_db(args)
    try:
        return run_users(args, db)
    finally:
        db.close()


# -- quarantine ----------------------------------------------------------------------------
def cmd_quarantine(args: argparse.Namespace) -> int:
    """List rejected records with their reasons."""
    from dashboard.store.queries import quarantine_list

    db = _open_db(args)
    try:
        rows = quarantine_list(db, limit=args.limit, source=args.source)
    finally:
        db.close()
    if args.json:
        _print_json(rows)
        return EXIT_OK
    if not rows:
        print("quarantine is empty")
    for r in rows:
        raw = r["raw"] if len(r["raw"]) <= 100 else r["raw"][:97] + "..."
        print(f"#{r['id']} {r['received_at']} {r['source']} {r['position']}: {r['reason']}\n    {raw}")
    return EXIT_OK


Handler = Callable[[argparse.Namespace], int]


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

    parser = argparse.ArgumentParser(prog="auditdash", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", parents=[common], help="serve the dashboard and the API")
    p.add_argument("--host", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default 8050)")
    p.add_argument("--no-demo", action="store_true", help="do not seed demo data on first start")
    p.set_defaults(func=cmd_serve)

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

    p = sub.add_parser("demo", parents=[common, as_json], help="generate demo data")
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--events", type=int, default=500_000)
    p.add_argument("--no-incidents", action="store_true", help="plant no incidents")
    p.add_argument("--out", metavar="FILE.ndjson", help="write NDJSON (and FILE.truth.json) instead")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("stats", parents=[common, as_json], help="what the database holds")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("tokens", parents=[common], help="API tokens")
    tsub = p.add_subparsers(dest="tokens_cmd", required=True)
    t = tsub.add_parser("create", parents=[common, as_json], help="create a token (printed once)")
    t.add_argument("name")
    t.add_argument("--scope", default="ingest", help="comma-separated: ingest, read (default ingest)")
    t = tsub.add_parser("list", parents=[common, as_json], help="list tokens")
    t = tsub.add_parser("revoke", parents=[common, as_json], help="revoke a token")
    t.add_argument("name")
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("quarantine", parents=[common], help="rejected records")
    qsub = p.add_subparsers(dest="quarantine_cmd", required=True)
    q = qsub.add_parser("list", parents=[common, as_json], help="list rejected records")
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--source", help="only records from this source (file:NAME, api:TOKEN)")
    p.set_defaults(func=cmd_quarantine)

    from dashboard.web.auth_cli import add_parser as add_users_parser

    add_users_parser(sub, common, as_json).set_defaults(func=cmd_users)

    # verify, checkpoint (integrity); purge, archive, hold (retention): docs/integrity.md
    from dashboard.store import integrity, retention

    integrity.add_parser(sub, common, as_json)
    retention.add_parser(sub, common, as_json)

    # detect, alerts list (detection rules and alerts): docs/detections.md
    from dashboard.detect import cli as detect_cli

    detect_cli.add_parsers(sub, common, as_json)

    from dashboard.packs import cli as packs_cli  # `report`: compliance packs (docs/packs.md)

    packs_cli.add_parser(sub, common, as_json)

    from dashboard.ingest import chatwoot_api  # `chatwoot pull|status`: docs/connectors.md

    chatwoot_api.add_parser(sub, common, as_json)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for attr in ("json",):
        if not hasattr(args, attr):
            setattr(args, attr, False)
    handler: Handler = args.func
    try:
        return handler(args)
    except DatabaseLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except (StoreError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())

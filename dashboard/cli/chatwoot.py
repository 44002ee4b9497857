"""`auditdash chatwoot pull|status`: the Chatwoot audit log connector (docs/connectors.md)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from dashboard.cli.common import EXIT_FAILED, EXIT_OK, count_arg, existing_target, settings_from

if TYPE_CHECKING:  # the connector and the store load when a command runs, not with `auditdash --help`
    from dashboard.config import Settings
    from dashboard.ingest.chatwoot_api import ChatwootSource


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """`auditdash chatwoot pull|status`."""
    p = sub.add_parser("chatwoot", parents=[common], help="pull audit logs from Chatwoot's API")
    csub = p.add_subparsers(dest="chatwoot_command", required=True)
    pull_p = csub.add_parser("pull", parents=[common, as_json], help="pull new entries once")
    pull_p.add_argument("--url", help="Chatwoot's address (default: AUDITDASH_CHATWOOT_URL)")
    pull_p.add_argument("--account", help="the account id (default: AUDITDASH_CHATWOOT_ACCOUNT_ID)")
    pull_p.add_argument("--token-stdin", action="store_true", help="read the access token from standard input")
    pull_p.add_argument(
        "--max-pages", type=count_arg(), default=None, help="stop after this many pages (15 entries each)"
    )
    pull_p.set_defaults(func=_cmd_pull)
    status_p = csub.add_parser("status", parents=[common, as_json], help="what the last pull did")
    status_p.add_argument("--url", help="Chatwoot's address (default: AUDITDASH_CHATWOOT_URL)")
    status_p.add_argument("--account", help="the account id (default: AUDITDASH_CHATWOOT_ACCOUNT_ID)")
    status_p.set_defaults(func=_cmd_status)


def _source(args: argparse.Namespace) -> tuple[Settings, ChatwootSource]:
    from dashboard.ingest.chatwoot_api import ChatwootError, ChatwootSource

    settings = settings_from(args, chatwoot_url=args.url, chatwoot_account_id=args.account)
    if getattr(args, "token_stdin", False):
        settings = settings.with_overrides(chatwoot_token=sys.stdin.readline().strip())
    source = ChatwootSource.from_settings(settings)
    if source is None:
        raise ChatwootError("no Chatwoot address: pass --url or set AUDITDASH_CHATWOOT_URL")
    if getattr(args, "max_pages", None):
        source = ChatwootSource(source.url, source.account_id, source.token, max_pages=args.max_pages)
    return settings, source


def _cmd_pull(args: argparse.Namespace) -> int:
    from dashboard.ingest.chatwoot_api import ChatwootError, pull
    from dashboard.ingest.geo import default_locator
    from dashboard.ingest.pipeline import Ingestor
    from dashboard.store.db import Database

    try:
        settings, source = _source(args)
        if not source.token.strip():  # said before a store is opened (or made) for nothing
            raise ChatwootError(
                "no Chatwoot access token: set AUDITDASH_CHATWOOT_TOKEN or AUDITDASH_CHATWOOT_TOKEN_FILE "
                "(or pass --token-stdin)"
            )
        with Database(existing_target(settings, create=True)) as db:
            locator = default_locator(settings.geo_dir, settings.geoip_mmdb)
            with Ingestor(db, locator, settings.batch_size, archive_dir=settings.archive_dir) as ingestor:
                result = pull(db, ingestor, source)
    except ChatwootError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        print(
            f"{source.source}: {result.pages} page(s), {result.new} new entries: accepted {result.accepted}, "
            f"duplicates {result.duplicates}, rejected {result.rejected}, conflicts {result.conflicts}"
        )
        if not result.complete:
            print(f"stopped after {source.max_pages} pages; run it again to go on")
        if result.rejected or result.conflicts:
            print("rejected entries are kept: auditdash quarantine list")
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    from dashboard.ingest.chatwoot_api import ChatwootError, PullState
    from dashboard.store.db import Database

    try:
        settings, source = _source(args)
        with Database(existing_target(settings)) as db:
            state = PullState.load(db, source)
    except ChatwootError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps({"source": source.source, **asdict(state)}))
    elif state.last_run_at is None:
        print(f"{source.source}: never pulled")
    else:
        print(f"{source.source}: last pull {state.last_run_at}, last success {state.last_ok_at or 'never'}")
        print(f"  newest Chatwoot audit id stored: {state.cursor}; entries pulled in all: {state.pulled_total}")
        if state.last_error:
            print(f"  last error: {state.last_error}")
    return EXIT_OK

"""`auditdash tokens create|list|revoke`: API tokens."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from dashboard.cli.common import EXIT_OK, cli_actor, open_db, print_json


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `tokens` and its subcommands."""
    p = sub.add_parser("tokens", parents=[common], help="API tokens")
    tsub = p.add_subparsers(dest="tokens_cmd", required=True)
    t = tsub.add_parser("create", parents=[common, as_json], help="create a token (printed once)")
    t.add_argument("name")
    t.add_argument("--scope", default="ingest", help="comma-separated: ingest, read (default ingest)")
    t.add_argument(
        "--accounts",
        metavar="A,B",
        help="comma-separated accounts the token may ingest events for (default: any account)",
    )
    t = tsub.add_parser("list", parents=[common, as_json], help="list tokens")
    t = tsub.add_parser("revoke", parents=[common, as_json], help="revoke a token")
    t.add_argument("name")
    p.set_defaults(func=cmd_tokens)


def cmd_tokens(args: argparse.Namespace) -> int:
    """Create, list and revoke API tokens."""
    from dashboard.access.tokens import create_token, list_tokens, parse_accounts, revoke_token
    from dashboard.store.errors import StoreError

    if getattr(args, "accounts", None) is not None and parse_accounts(args.accounts) is None:
        raise StoreError("--accounts names no account: leave it out for a token of any account")
    db = open_db(args, create=args.tokens_cmd == "create")  # list and revoke need the token's store
    try:
        if args.tokens_cmd == "create":
            scopes = tuple(s.strip() for s in args.scope.split(",") if s.strip())
            token, plain = create_token(db, args.name, scopes, actor=cli_actor(), accounts=args.accounts)
            if args.json:
                print_json(
                    {
                        "name": token.name,
                        "id": token.id,
                        "scopes": token.scopes,
                        "accounts": token.accounts,
                        "token": plain,
                    }
                )
            else:
                print(plain)
                bound = f", accounts {','.join(token.accounts)}" if token.accounts else ", any account"
                print(
                    f"token {token.name!r} ({','.join(token.scopes)}{bound}): shown once, store it now",
                    file=sys.stderr,
                )
        elif args.tokens_cmd == "list":
            tokens = list_tokens(db)
            if args.json:
                print_json(
                    [
                        {
                            "name": t.name,
                            "id": t.id,
                            "scopes": t.scopes,
                            "accounts": t.accounts,
                            "created_at": t.created_at,
                            "last_used_at": t.last_used_at,
                            "revoked_at": t.revoked_at,
                            "active": t.active,
                        }
                        for t in tokens
                    ]
                )
            else:
                print(f"{'name':<24}{'id':<14}{'scopes':<14}{'created':<21}{'last used':<21}{'status':<9}accounts")
                for t in tokens:
                    print(
                        f"{t.name:<24}{t.id:<14}{','.join(t.scopes):<14}{t.created_at:%Y-%m-%d %H:%M:%S}  "
                        f"{(f'{t.last_used_at:%Y-%m-%d %H:%M:%S}' if t.last_used_at else 'never'):<21}"
                        f"{'active' if t.active else 'revoked':<9}{','.join(t.accounts) if t.accounts else 'any'}"
                    )
        else:
            token = revoke_token(db, args.name, actor=cli_actor())
            if args.json:
                print_json({"name": token.name, "revoked_at": token.revoked_at})
            else:
                print(f"token {token.name!r} revoked")
    finally:
        db.close()
    return EXIT_OK

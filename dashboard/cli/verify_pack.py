"""`auditdash verify-pack`: verify a ZIP compliance pack offline, without the database
(docs/integrity.md, "Packs an auditor verifies offline"). It runs the same code as the
`verify_pack.py` script every ZIP pack carries."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dashboard.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from dashboard.evidence.pack_proof import verify_pack
from dashboard.evidence.verify_pack_script import Unreadable


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """Add `verify-pack` (it reads no database: `--db` is not taken)."""
    p = sub.add_parser(
        "verify-pack",
        parents=[as_json],
        help="verify a ZIP compliance pack offline: event hashes, batch digests, chain links, signed checkpoint",
    )
    p.add_argument("pack", type=Path, metavar="PACK.zip", help="the pack's ZIP file")
    p.add_argument(
        "--public-key",
        action="append",
        type=Path,
        required=True,
        metavar="FILE",
        help="the Ed25519 public key (PEM) you trust for checkpoints and the manifest's signature",
    )
    p.set_defaults(func=cmd_verify_pack)


def cmd_verify_pack(args: argparse.Namespace) -> int:
    """Print what the pack proves or every problem found; exit 1 when it does not verify, 2 when unreadable."""
    try:
        report = verify_pack(args.pack, args.public_key)
    except (Unreadable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED

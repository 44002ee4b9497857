"""`auditdash detect` and `auditdash alerts list`: detection rules and alerts (docs/detections.md)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from dashboard.cli.common import EXIT_OK, EXIT_USAGE, count_arg, existing_target, settings_from
from dashboard.when import GRAMMAR, utc_text, when_arg


def add_parser(sub: Any, common: argparse.ArgumentParser, as_json: argparse.ArgumentParser) -> None:
    """The `detect` and `alerts` subcommands (called from dashboard.cli.build_parser)."""
    p = sub.add_parser("detect", parents=[common, as_json], help="run the detection rules over a period")
    p.add_argument("--from", dest="date_from", metavar="WHEN", type=when_arg(), help=f"start, UTC ({GRAMMAR})")
    p.add_argument(
        "--to",
        dest="date_to",
        metavar="WHEN",
        type=when_arg(end=True),
        help="end, exclusive (a date includes that whole day)",
    )
    p.add_argument("--no-notify", action="store_true", help="queue no notifications for the alerts found")
    p.set_defaults(func=cmd_detect)

    p = sub.add_parser("alerts", parents=[common], help="alerts raised by the detection rules")
    asub = p.add_subparsers(dest="alerts_cmd", required=True)
    a = asub.add_parser("list", parents=[common, as_json], help="list alerts with their evidence event ids")
    a.add_argument("--status", help="comma-separated: open, acknowledged, resolved")
    a.add_argument("--severity", help="comma-separated: info, low, medium, high, critical")
    a.add_argument("--rule", help="comma-separated rule ids")
    a.add_argument("--limit", type=count_arg(), default=500)
    p.set_defaults(func=cmd_alerts)


def cmd_detect(args: argparse.Namespace) -> int:
    """Run the detection rules over a period (default: every stored event)."""
    from dashboard.detect.service import build_service
    from dashboard.store.db import Database

    settings = settings_from(args)
    db = Database(existing_target(settings))
    try:
        service = build_service(db, settings)
        if args.no_notify:
            service.alerts.notify = None
        if args.date_from is None and args.date_to is None:
            report = service.run_all()
        else:
            lo = args.date_from or datetime(1970, 1, 1)
            hi = args.date_to or datetime(9999, 1, 1)
            if hi <= lo:
                print("error: --to must be after --from", file=sys.stderr)
                return EXIT_USAGE
            report = service.run_range(lo, hi)
        delivered = None
        if not args.no_notify and service.notifier is not None and service.notifier.config.channels():
            delivered = service.notifier.deliver_due()
    finally:
        db.close()
    summary = report.to_json()
    if delivered is not None:
        summary["notifications"] = delivered
    if args.json:
        print(json.dumps(summary, indent=2))
        return EXIT_OK
    print(
        f"detection over {summary['from'] or 'no events'} to {summary['to'] or '-'}: "
        f"{summary['findings']} findings, {summary['alerts_created']} new alerts, "
        f"{summary['alerts_updated']} updated, {summary['alerts_escalated']} escalated "
        f"({summary['seconds']:.1f} s)"
    )
    for rule_id, n in summary["findings_by_rule"].items():
        if n:
            print(f"  {rule_id:<18}{n:>6}")
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    """List alerts with their rule, severity, key, window, counts and evidence event ids."""
    from dashboard.detect.alerts import STATUSES, AlertStore
    from dashboard.detect.rules import SEVERITIES
    from dashboard.store.db import Database

    for option, value, known in (("--status", args.status, STATUSES), ("--severity", args.severity, SEVERITIES)):
        unknown = [v.strip() for v in (value or "").split(",") if v.strip() and v.strip() not in known]
        if unknown:  # else "no alerts" answered a typo
            print(f"error: {option}: unknown value {unknown[0]!r}; choose from {', '.join(known)}", file=sys.stderr)
            return EXIT_USAGE
    settings = settings_from(args)
    db = Database(existing_target(settings))
    try:
        store = AlertStore(db)

        def split(value: str | None) -> list[str] | None:
            return [v.strip() for v in value.split(",") if v.strip()] if value else None

        rows = store.list(
            status=split(args.status),
            severity=split(args.severity),
            rule=split(args.rule),
            limit=args.limit,
            with_evidence=True,
        )
    finally:
        db.close()
    if args.json:
        out = []
        for r in rows:
            out.append(
                {
                    "id": r["id"],
                    "rule": r["rule_id"],
                    "title": r["title"],
                    "severity": r["severity"],
                    "status": r["status"],
                    "key": r["key"],
                    "window": {"from": utc_text(r["first_seen"]), "to": utc_text(r["last_seen"])},
                    "event_count": r["event_count"],
                    "measures": r["measures"],
                    "detail": r["detail"],
                    "summary": r["summary"],
                    "assignee": r["assignee"],
                    "resolution": r["resolution"],
                    "created_at": utc_text(r["created_at"]),
                    "updated_at": utc_text(r["updated_at"]),
                    "evidence_event_ids": r["evidence_event_ids"],
                }
            )
        print(json.dumps(out, indent=2, default=str))
        return EXIT_OK
    if not rows:
        print("no alerts")
        return EXIT_OK
    print(f"{'id':>5}  {'severity':<9}{'status':<13}{'rule':<18}{'window (UTC)':<36}{'events':>7}  key")
    for r in rows:
        window = f"{r['first_seen']:%Y-%m-%d %H:%M:%S} to {r['last_seen']:%H:%M:%S}"
        if r["first_seen"].date() != r["last_seen"].date():
            window = f"{r['first_seen']:%Y-%m-%d %H:%M} to {r['last_seen']:%m-%d %H:%M}"
        key = ", ".join(f"{k}={v}" for k, v in r["key"].items())
        print(
            f"{r['id']:>5}  {r['severity']:<9}{r['status']:<13}{r['rule_id']:<18}{window:<36}"
            f"{r['event_count']:>7}  {key}"
        )
        ids = r["evidence_event_ids"]
        shown = ", ".join(ids[:5]) + (f", ... ({len(ids) - 5} more)" if len(ids) > 5 else "")
        print(f"{'':>7}evidence: {shown}")
    return EXIT_OK

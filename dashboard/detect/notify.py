"""Notifications: an outbox in the database, delivered by webhook and by e-mail.

New, escalated and reopened alerts are queued per channel in the same transaction that
changes the alert (the `notifications` table), so nothing is lost when a receiver is down.
A channel sends an alert at once when its severity reaches the channel's threshold (set per
channel, and per rule in the rules file); alerts below it, down to the digest threshold, and
alerts older than `notify_max_age_hours` (re-runs over old data) wait for the periodic digest.

Delivery retries with exponential back-off; after the last attempt a notification is marked
`failed` and shown on the Alerts page. Webhooks are JSON POSTs signed with HMAC-SHA256:

    X-Auditdash-Timestamp: 1767225600
    X-Auditdash-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

Secrets (the webhook secret, the SMTP password) come from the settings (environment) at send
time; the database holds only payloads without them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from dashboard import __version__
from dashboard.config import ConfigError, Settings
from dashboard.detect.present import ALERTS_PATH, alert_path
from dashboard.detect.rules import SEVERITIES, RuleSet, severity_rank
from dashboard.events import jsontext
from dashboard.mail import MailError, SmtpServer
from dashboard.mail import send as send_mail
from dashboard.store.db import Database, utcnow
from dashboard.store.schema import notifications as N

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Auditdash-Signature"
TIMESTAMP_HEADER = "X-Auditdash-Timestamp"
DELIVERY_HEADER = "X-Auditdash-Delivery"
EVENT_HEADER = "X-Auditdash-Event"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value of a webhook body: `sha256=<hex>`."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    try:
        age = abs((now if now is not None else time.time()) - int(timestamp))
    except ValueError:
        return False
    if age > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


@dataclass(frozen=True)
class NotifyConfig:
    """The channels and thresholds, from the settings."""

    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_min_severity: str = "medium"
    smtp: SmtpServer = field(default_factory=SmtpServer)
    smtp_to: tuple[str, ...] = ()
    email_min_severity: str = "high"
    digest_min_severity: str = "low"
    max_age_s: int = 24 * 3600
    retries: int = 5
    backoff_s: float = 30.0
    timeout_s: float = 10.0
    public_url: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifyConfig:
        """Read and check the notification settings; a setting that cannot work is an error."""
        for name in ("webhook_min_severity", "email_min_severity", "digest_min_severity"):
            value = getattr(settings, name)
            if value not in (*SEVERITIES, "off"):
                env = f"AUDITDASH_{name.upper()}"
                raise ConfigError(f"{env}={value!r} is not a severity (one of {', '.join(SEVERITIES)}, or off)")
        if settings.webhook_url and not settings.webhook_secret:
            raise ConfigError(
                "AUDITDASH_WEBHOOK_URL is set but AUDITDASH_WEBHOOK_SECRET is not: webhooks are always signed"
            )
        if settings.webhook_url and not settings.webhook_url.startswith(("http://", "https://")):
            raise ConfigError(f"AUDITDASH_WEBHOOK_URL={settings.webhook_url!r} is not an http(s) URL")
        to = tuple(a.strip() for a in (settings.smtp_to or "").split(",") if a.strip())
        if settings.smtp_host and not to:
            raise ConfigError("AUDITDASH_SMTP_HOST is set but AUDITDASH_SMTP_TO names no recipient")
        return cls(
            webhook_url=settings.webhook_url or None,
            webhook_secret=settings.webhook_secret or None,
            webhook_min_severity=settings.webhook_min_severity,
            smtp=SmtpServer.from_settings(settings),
            smtp_to=to,
            email_min_severity=settings.email_min_severity,
            digest_min_severity=settings.digest_min_severity,
            max_age_s=settings.notify_max_age_hours * 3600,
            retries=settings.notify_retries,
            backoff_s=float(settings.notify_backoff_s),
            public_url=(settings.notify_link_base or "").rstrip("/"),
        )

    def channels(self) -> list[str]:
        """The channels that are configured."""
        out = []
        if self.webhook_url:
            out.append("webhook")
        if self.smtp.configured:
            out.append("email")
        return out


Clock = Callable[[], datetime]


class Notifier:
    """Queues and delivers alert notifications.

    Args:
        db: the store (the outbox lives there).
        config: channels and thresholds.
        rules: for per-rule thresholds and the text of each rule.
        clock: the current time (tests pass their own).
    """

    def __init__(self, db: Database, config: NotifyConfig, rules: RuleSet, clock: Clock = utcnow) -> None:
        self.db = db
        self.config = config
        self.rules = rules
        self.clock = clock

    # ---------------------------------------------------------------- queueing

    def threshold(self, rule_id: str, channel: str) -> str:
        """The severity from which a rule's alerts go out at once on a channel (or `off`)."""
        rule = self.rules.get(rule_id)
        if rule is not None and channel in rule.notify:
            return rule.notify[channel]
        return self.config.webhook_min_severity if channel == "webhook" else self.config.email_min_severity

    def enqueue(self, conn: Connection, items: Sequence[tuple[dict[str, Any], str]]) -> None:
        """Queue alerts (with their kind) for every configured channel, inside the alerts' transaction."""
        from dashboard.detect.alerts import bulk_insert

        now = self.clock()
        rows: list[dict[str, Any]] = []
        for alert, kind in items:
            severity = str(alert["severity"])
            fresh = alert["last_seen"] >= now - timedelta(seconds=self.config.max_age_s)
            for channel in self.config.channels():
                threshold = self.threshold(str(alert["rule_id"]), channel)
                if threshold == "off":
                    continue
                if fresh and severity_rank(severity) >= severity_rank(threshold):
                    status = "pending"
                elif self.config.digest_min_severity != "off" and severity_rank(severity) >= severity_rank(
                    self.config.digest_min_severity
                ):
                    status = "digest"
                else:
                    continue
                rows.append(
                    {
                        "alert_id": int(alert["id"]),
                        "channel": channel,
                        "kind": kind,
                        "status": status,
                        "created_at": now,
                        "attempts": 0,
                        "next_attempt_at": now if status == "pending" else None,
                        "payload": jsontext.dumps(self.payload(alert, kind), sort_keys=True, ensure_ascii=True),
                    }
                )
        bulk_insert(conn, N, rows)

    def payload(self, alert: dict[str, Any], kind: str) -> dict[str, Any]:
        """The JSON an alert notification carries (no secrets, no raw events)."""
        rule = self.rules.get(str(alert["rule_id"]))
        key = alert.get("key")
        if key is None:
            key = json.loads(alert["key_json"])
        measures = alert["measures"] if isinstance(alert["measures"], dict) else json.loads(alert["measures"])
        link = self.config.public_url + alert_path(alert["id"])
        return {
            "event": kind,
            "alert": {
                "id": int(alert["id"]),
                "rule_id": alert["rule_id"],
                "title": alert["title"],
                "severity": alert["severity"],
                "status": alert["status"],
                "key": key,
                "account_id": alert.get("account_id"),
                "first_seen": _iso(alert["first_seen"]),
                "last_seen": _iso(alert["last_seen"]),
                "event_count": int(alert["event_count"]),
                "measures": measures,
                "summary": alert["summary"],
                "link": link,
            },
            "rule": {
                "description": rule.description if rule else "",
                "check": rule.check if rule else "",
            },
        }

    def make_digest(self) -> int:
        """Gather the alerts waiting for the digest into one message per channel; return how many."""
        now = self.clock()
        made = 0
        with self.db.write_lock, self.db.engine.begin() as conn:
            for channel in self.config.channels():
                rows = conn.execute(
                    sa.select(N.c.id, N.c.payload)
                    .where(N.c.channel == channel, N.c.status == "digest")
                    .order_by(N.c.id)
                ).fetchall()
                if not rows:
                    continue
                items = [json.loads(p)["alert"] for _id, p in rows]
                body = {
                    "event": "digest",
                    "created_at": _iso(now),
                    "count": len(items),
                    "alerts": items,
                    "link": self.config.public_url + ALERTS_PATH,
                }
                digest_id = conn.execute(
                    N.insert()
                    .values(
                        alert_id=None,
                        channel=channel,
                        kind="digest",
                        status="pending",
                        created_at=now,
                        attempts=0,
                        next_attempt_at=now,
                        payload=jsontext.dumps(body, sort_keys=True, ensure_ascii=True),
                    )
                    .returning(N.c.id)
                ).scalar_one()
                conn.execute(
                    N.update()
                    .where(N.c.id.in_([int(r[0]) for r in rows]))
                    .values(status="digested", digest_id=int(digest_id), sent_at=now)
                )
                made += len(rows)
        return made

    # ---------------------------------------------------------------- delivery

    def deliver_due(self, limit: int = 100) -> dict[str, int]:
        """Send what is due; count sent, retried and failed."""
        now = self.clock()
        with self.db.connect() as conn:
            due = conn.execute(
                sa.select(N.c.id, N.c.channel, N.c.kind, N.c.attempts, N.c.payload)
                .where(N.c.status == "pending", N.c.next_attempt_at <= now)
                .order_by(N.c.id)
                .limit(limit)
            ).fetchall()
        counts = {"sent": 0, "retry": 0, "failed": 0}
        for note_id, channel, kind, attempts, payload in due:
            error = self._send(int(note_id), str(channel), str(kind), str(payload))
            attempts = int(attempts) + 1
            done = self.clock()
            if error is None:
                values: dict[str, Any] = {"status": "sent", "sent_at": done, "attempts": attempts, "last_error": None}
                counts["sent"] += 1
            elif attempts >= self.config.retries:
                values = {"status": "failed", "attempts": attempts, "last_error": error, "next_attempt_at": None}
                counts["failed"] += 1
                log.warning("notification %s (%s) failed for good: %s", note_id, channel, error)
            else:
                delay = min(self.config.backoff_s * (2 ** (attempts - 1)), 3600.0)
                values = {
                    "attempts": attempts,
                    "last_error": error,
                    "next_attempt_at": done + timedelta(seconds=delay),
                }
                counts["retry"] += 1
                log.info("notification %s (%s) failed, retry in %.0f s: %s", note_id, channel, delay, error)
            with self.db.write_lock, self.db.engine.begin() as conn:
                conn.execute(N.update().where(N.c.id == int(note_id)).values(**values))
        return counts

    def _send(self, note_id: int, channel: str, kind: str, payload: str) -> str | None:
        try:
            if channel == "webhook":
                return self._send_webhook(note_id, kind, payload)
            if channel == "email":
                return self._send_email(kind, payload)
            return f"unknown channel {channel!r}"
        except Exception as exc:  # any failure of a receiver is a failed attempt, never a crash
            return f"{type(exc).__name__}: {exc}"

    def _send_webhook(self, note_id: int, kind: str, payload: str) -> str | None:
        url, secret = self.config.webhook_url, self.config.webhook_secret
        if not url or not secret:
            return "the webhook is no longer configured (AUDITDASH_WEBHOOK_URL, AUDITDASH_WEBHOOK_SECRET)"
        body = payload.encode()
        stamp = str(int(time.time()))
        request = urllib.request.Request(  # noqa: S310 - the administrator configures an http(s) URL
            url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": f"auditdash/{__version__}",
                EVENT_HEADER: kind,
                DELIVERY_HEADER: str(note_id),
                TIMESTAMP_HEADER: stamp,
                SIGNATURE_HEADER: sign(secret, stamp, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.config.timeout_s) as response:  # noqa: S310
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            text = exc.read(200).decode("utf-8", "replace").strip()
            return f"HTTP {exc.code}" + (f": {text}" if text else "")
        except urllib.error.URLError as exc:
            return f"cannot reach {url}: {exc.reason}"

    def _send_email(self, kind: str, payload: str) -> str | None:
        cfg = self.config
        if not cfg.smtp.configured or not cfg.smtp_to:
            return "e-mail is no longer configured (AUDITDASH_SMTP_HOST, AUDITDASH_SMTP_TO)"
        doc = json.loads(payload)
        message = EmailMessage()
        message["From"] = cfg.smtp.sender
        message["To"] = ", ".join(cfg.smtp_to)
        subject, text = email_text(doc)
        message["Subject"] = subject
        message["X-Auditdash-Event"] = kind
        message.set_content(text)
        try:
            send_mail(cfg.smtp, message, timeout=cfg.timeout_s)
        except MailError as exc:
            return str(exc)
        return None

    # ---------------------------------------------------------------- what the page shows

    def recent(self, statuses: Sequence[str] = ("failed", "pending"), limit: int = 50) -> list[dict[str, Any]]:
        """Notifications in the given states, newest first (for the Alerts page)."""
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(
                    N.c.id,
                    N.c.alert_id,
                    N.c.channel,
                    N.c.kind,
                    N.c.status,
                    N.c.attempts,
                    N.c.last_error,
                    N.c.created_at,
                    N.c.next_attempt_at,
                )
                .where(N.c.status.in_(list(statuses)))
                .order_by(N.c.id.desc())
                .limit(limit)
            ).fetchall()
        return [dict(r._mapping) for r in rows]


def email_text(doc: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of a notification e-mail."""
    if doc.get("event") == "digest":
        items = doc["alerts"]
        lines = [f"{len(items)} alert(s) since the last digest:", ""]
        for a in items:
            lines.append(
                f"- [{a['severity'].upper()}] {a['rule_id']} {a['summary']} ({a['first_seen']} to {a['last_seen']})"
            )
            lines.append(f"  {a['link']}")
        lines += ["", f"All alerts: {doc.get('link', '/alerts')}"]
        return f"[auditdash] digest: {len(items)} alert(s)", "\n".join(lines)
    a = doc["alert"]
    what = {"alert": "new alert", "escalation": "alert escalated", "reopened": "alert reopened"}.get(
        doc.get("event", "alert"), "alert"
    )
    subject = f"[auditdash] {a['severity'].upper()} {a['rule_id']} {a['title']}"
    key = ", ".join(f"{k}={v}" for k, v in (a.get("key") or {}).items())
    lines = [
        f"{what}: {a['summary']}",
        "",
        f"Rule:      {a['rule_id']} {a['title']}",
        f"Severity:  {a['severity']}",
        f"Key:       {key}",
        f"Window:    {a['first_seen']} to {a['last_seen']}",
        f"Events:    {a['event_count']}",
        "Measures:  " + ", ".join(f"{k} {v}" for k, v in sorted(a.get("measures", {}).items())),
        "",
        f"What it means: {doc['rule']['description']}",
        f"What to check: {doc['rule']['check']}",
        "",
        f"Open it: {a['link']}",
    ]
    return subject, "\n".join(lines)


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds") + "Z"
    return str(value)

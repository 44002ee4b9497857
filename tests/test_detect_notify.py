"""Notifications: a signed webhook to a real receiver on 127.0.0.1, e-mail to a real aiosmtpd
server, retries with back-off and visible failures, thresholds per channel and per rule, the
digest, and secrets that never reach the database."""

# ruff: noqa: F811 - the fixtures `db` and `empty_store` come from tests.test_detect_helpers

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from aiosmtpd.controller import Controller

from dashboard.config import ConfigError, Settings
from dashboard.detect.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Notifier,
    NotifyConfig,
    email_text,
    verify_signature,
)
from dashboard.detect.rules import DEFAULT_RULES_PATH, load_rules
from dashboard.detect.service import DetectionService
from dashboard.store import schema
from dashboard.store.db import Database
from dashboard.store.schema import notifications
from tests.conftest import free_port
from tests.test_detect_helpers import (
    AGENT_TARGET,
    ATTACKER,
    ON_BOTH_ENGINES,
    T0,
    db,  # noqa: F401
    empty_store,  # noqa: F401
    ev,
    every,
    feed,
)

SECRET = "whsec-test-0123456789abcdef"
#: how long the SMTP server's thread may take to start (aiosmtpd's default, 5 s, is short on a loaded machine)
SMTP_READY_S = 60.0
NOW = T0.replace(tzinfo=None) + timedelta(hours=1)


# ----------------------------------------------------------------------------- real receivers


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers with the given statuses, then 200."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    port = free_port()
    box = Receiver(url=f"http://127.0.0.1:{port}/hooks/auditdash")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            box.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
            status = box.statuses.pop(0) if box.statuses else 200
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"receiver is down")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Mailbox]]:
    box = _Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, ready_timeout=SMTP_READY_S)
    controller.start()
    try:
        yield port, box
    finally:
        controller.stop()


# ----------------------------------------------------------------------------- helpers


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make(
    db: Database, settings: Settings, rules_path: Path | None = None, clock: Clock | None = None
) -> DetectionService:
    rules = load_rules(rules_path)
    notifier = Notifier(db, NotifyConfig.from_settings(settings), rules, clock=clock or Clock(NOW))
    return DetectionService(db, rules, notifier)


def brute_force(db: Database) -> None:
    feed(db, [ev(t, user="u1", outcome="failure", ip=ATTACKER) for t in every(T0, timedelta(seconds=10), 12)])


def rows(db: Database) -> list[dict[str, Any]]:
    with db.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(notifications).order_by(notifications.c.id))]


# ----------------------------------------------------------------------------- webhook


def test_webhook_delivers_a_signed_alert(db: Database, receiver: Receiver) -> None:
    svc = make(db, Settings(webhook_url=receiver.url, webhook_secret=SECRET))
    brute_force(db)
    svc.run_all()
    assert svc.notifier is not None
    assert svc.notifier.deliver_due() == {"sent": 2, "retry": 0, "failed": 0}  # R1 and R2, both high
    assert len(receiver.requests) == 2
    for req in receiver.requests:
        headers = {k.lower(): v for k, v in req["headers"].items()}
        assert headers["content-type"] == "application/json"
        stamp, signature = headers[TIMESTAMP_HEADER.lower()], headers[SIGNATURE_HEADER.lower()]
        assert signature.startswith("sha256=")
        assert verify_signature(SECRET, stamp, req["body"], signature)
        assert not verify_signature("another-secret", stamp, req["body"], signature)
        assert not verify_signature(SECRET, stamp, req["body"] + b" ", signature)
        doc = json.loads(req["body"])
        assert doc["event"] == "alert"
        assert doc["alert"]["rule_id"] in ("R1", "R2")
        assert doc["alert"]["severity"] == "high"
        assert doc["alert"]["event_count"] == 12
        assert doc["alert"]["link"].endswith(f"/alerts?alert={doc['alert']['id']}")
        assert doc["rule"]["check"]
    assert [r["status"] for r in rows(db)] == ["sent", "sent"]
    assert svc.notifier.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}  # nothing twice


def test_the_secret_never_reaches_the_database(db: Database, receiver: Receiver) -> None:
    svc = make(db, Settings(webhook_url=receiver.url, webhook_secret=SECRET, smtp_password="smtp-" + SECRET))
    brute_force(db)
    svc.run_all()
    assert svc.notifier is not None
    svc.notifier.deliver_due()
    with db.connect() as conn:
        for table in schema.metadata.sorted_tables:
            if not sa.inspect(conn).has_table(table.name):
                continue
            text = json.dumps([list(r) for r in conn.execute(sa.select(table))], default=str)
            assert SECRET not in text, table.name
    db.close()
    assert SECRET.encode() not in Path(db.path).read_bytes()


def test_webhook_retries_with_back_off_then_succeeds(db: Database, receiver: Receiver) -> None:
    clock = Clock(NOW)
    receiver.statuses = [500, 503]
    svc = make(
        db, Settings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_min_severity="critical"), clock=clock
    )
    feed(
        db,
        [
            *[ev(t, outcome="failure", ip=ATTACKER) for t in every(T0, timedelta(seconds=20), 10)],
            ev(T0 + timedelta(minutes=4), ip=ATTACKER),
        ],
    )
    svc.run_all()  # R6 critical: one webhook; R1 high and lower go to the digest
    notifier = svc.notifier
    assert notifier is not None
    assert notifier.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    first = next(r for r in rows(db) if r["status"] == "pending")
    assert first["attempts"] == 1 and "HTTP 500" in first["last_error"]
    assert first["next_attempt_at"] == NOW + timedelta(seconds=30)
    assert notifier.deliver_due() == {"sent": 0, "retry": 0, "failed": 0}  # not due yet
    clock.now = NOW + timedelta(seconds=31)
    assert notifier.deliver_due() == {"sent": 0, "retry": 1, "failed": 0}
    again = next(r for r in rows(db) if r["id"] == first["id"])
    assert again["attempts"] == 2 and again["next_attempt_at"] == clock.now + timedelta(seconds=60)
    clock.now += timedelta(seconds=61)
    assert notifier.deliver_due() == {"sent": 1, "retry": 0, "failed": 0}
    done = next(r for r in rows(db) if r["id"] == first["id"])
    assert done["status"] == "sent" and done["attempts"] == 3 and done["last_error"] is None
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-Auditdash-Delivery"] for r in receiver.requests}) == 1  # one delivery id


def test_a_receiver_that_stays_down_makes_a_visible_failure(db: Database) -> None:
    clock = Clock(NOW)
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    svc = make(db, Settings(webhook_url=url, webhook_secret=SECRET, notify_retries=2), clock=clock)
    brute_force(db)
    svc.run_all()
    notifier = svc.notifier
    assert notifier is not None
    assert notifier.deliver_due() == {"sent": 0, "retry": 2, "failed": 0}
    clock.now += timedelta(minutes=5)
    assert notifier.deliver_due() == {"sent": 0, "retry": 0, "failed": 2}
    failed = notifier.recent(("failed",))
    assert len(failed) == 2
    assert all("cannot reach" in (n["last_error"] or "") for n in failed)
    assert all(n["attempts"] == 2 for n in failed)


# ----------------------------------------------------------------------------- e-mail


def test_email_to_a_real_smtp_server(db: Database, smtp: tuple[int, _Mailbox]) -> None:
    port, box = smtp
    settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_to="soc@example.com, dpo@example.com")
    svc = make(db, settings)
    feed(
        db,
        [
            *[ev(t, outcome="failure", ip=ATTACKER) for t in every(T0, timedelta(seconds=20), 10)],
            ev(T0 + timedelta(minutes=4), ip=ATTACKER),
        ],
    )
    svc.run_all()
    assert svc.notifier is not None
    counts = svc.notifier.deliver_due()
    assert counts["sent"] >= 1 and counts["failed"] == 0
    subjects = sorted(m["Subject"] for m in box.messages)
    assert "[auditdash] CRITICAL R6 Failed sign-ins followed by a success" in subjects
    mail = next(m for m in box.messages if "R6" in m["Subject"])
    assert mail["To"] == "soc@example.com, dpo@example.com"
    body = mail.get_payload(decode=True).decode()  # type: ignore[union-attr]
    assert "What it means:" in body and "What to check:" in body
    assert "user=u1" in body and "Events:    11" in body


# ----------------------------------------------------------------------------- thresholds, digest


@ON_BOTH_ENGINES
def test_thresholds_per_channel_and_per_rule_and_the_digest(
    db: Database, receiver: Receiver, smtp: tuple[int, _Mailbox], tmp_path: Path
) -> None:
    port, box = smtp
    doc = yaml.safe_load(DEFAULT_RULES_PATH.read_text())
    for rule in doc["rules"]:
        if rule["id"] == "R2":
            rule["notify"] = {"webhook": "off", "email": "off"}  # a noisy rule, switched off
        if rule["id"] == "R9":
            rule["notify"] = {"email": "medium"}  # MFA changes e-mailed from medium up
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(doc))
    settings = Settings(
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        webhook_min_severity="high",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_to="soc@example.com",
        email_min_severity="critical",
        digest_min_severity="low",
    )
    svc = make(db, settings, rules_path=path)
    brute_force(db)  # R1 high, R2 high (off)
    feed(
        db,
        [
            ev(
                T0 + timedelta(minutes=30),
                "auth.mfa_reset",
                user="admin",
                role="administrator",
                target={**AGENT_TARGET, "id": "u7"},
            )
        ],
    )
    svc.run_all()
    notifier = svc.notifier
    assert notifier is not None
    queued = {(r["channel"], r["status"], json.loads(r["payload"])["alert"]["rule_id"]) for r in rows(db)}
    assert queued == {
        ("webhook", "pending", "R1"),  # high >= high
        ("email", "digest", "R1"),  # high < critical: the digest
        ("webhook", "digest", "R9"),  # medium < high
        ("email", "pending", "R9"),  # the rule's own e-mail threshold
    }
    notifier.deliver_due()
    assert [json.loads(r["body"])["alert"]["rule_id"] for r in receiver.requests] == ["R1"]
    assert [m["Subject"] for m in box.messages] == ["[auditdash] MEDIUM R9 MFA disabled or reset"]
    assert notifier.make_digest() == 2
    assert notifier.make_digest() == 0
    notifier.deliver_due()
    digest = json.loads(receiver.requests[-1]["body"])
    assert digest["event"] == "digest" and [a["rule_id"] for a in digest["alerts"]] == ["R9"]
    assert box.messages[-1]["Subject"] == "[auditdash] digest: 1 alert(s)"
    assert {r["status"] for r in rows(db)} == {"sent", "digested"}


def test_old_alerts_go_to_the_digest_not_out_at_once(db: Database, receiver: Receiver) -> None:
    svc = make(db, Settings(webhook_url=receiver.url, webhook_secret=SECRET), clock=Clock(NOW + timedelta(days=3)))
    brute_force(db)
    svc.run_all()
    assert {r["status"] for r in rows(db)} == {"digest"}


def test_escalation_notifies_again(db: Database, receiver: Receiver) -> None:
    clock = Clock(NOW)
    svc = make(db, Settings(webhook_url=receiver.url, webhook_secret=SECRET, webhook_min_severity="high"), clock=clock)
    feed(db, [ev(T0, "auth.mfa_disable", target=AGENT_TARGET)])
    svc.run_incremental()
    assert [r["status"] for r in rows(db)] == ["digest"]  # medium
    feed(db, [ev(T0 + timedelta(hours=13), user="u8")])
    clock.now = NOW + timedelta(hours=13)
    svc.run_incremental()
    latest = rows(db)[-1]
    assert (latest["kind"], latest["status"]) == ("escalation", "pending")
    assert json.loads(latest["payload"])["alert"]["severity"] == "high"


def test_notification_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="AUDITDASH_WEBHOOK_SECRET is not"):
        NotifyConfig.from_settings(Settings(webhook_url="https://hooks.example.com/x"))
    with pytest.raises(ConfigError, match="AUDITDASH_WEBHOOK_MIN_SEVERITY='loud' is not a severity"):
        NotifyConfig.from_settings(Settings(webhook_min_severity="loud"))
    with pytest.raises(ConfigError, match="AUDITDASH_SMTP_TO names no recipient"):
        NotifyConfig.from_settings(Settings(smtp_host="mail.example.com"))
    with pytest.raises(ConfigError, match="is not an http"):
        NotifyConfig.from_settings(Settings(webhook_url="ftp://x", webhook_secret=SECRET))


def test_email_text_of_a_digest() -> None:
    subject, text = email_text(
        {
            "event": "digest",
            "alerts": [
                {
                    "severity": "low",
                    "rule_id": "sensitive_config",
                    "summary": "s",
                    "first_seen": "a",
                    "last_seen": "b",
                    "link": "/alerts?alert=1",
                }
            ],
            "link": "/alerts",
        }
    )
    assert subject == "[auditdash] digest: 1 alert(s)"
    assert "[LOW] sensitive_config s" in text


def test_the_app_installs_detection_jobs_and_listener(tmp_path: Path, empty_store: Path) -> None:
    from dashboard.web.app import create_app

    target = tmp_path / "app.duckdb"
    target.write_bytes(empty_store.read_bytes())
    settings = Settings(db_path=target, webhook_url="http://127.0.0.1:9/x", webhook_secret=SECRET)
    database = Database(target)
    try:
        app = create_app(settings, database)
        state = app.server.extensions["auditdash"]
        assert {"detect", "detect-silence", "notify", "notify-digest"} <= set(state.scheduler.jobs)
        service = app.server.extensions["auditdash.detect"]
        assert service.on_stored in state.ingestor.listeners
    finally:
        database.close()

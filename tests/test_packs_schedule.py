"""Scheduled packs: the configuration's vocabulary, the periods they cover, and delivery by e-mail
to a real SMTP server (aiosmtpd on 127.0.0.1), including a failed delivery that is retried."""

from __future__ import annotations

import email
import email.policy
import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from dashboard.demo import DemoSpec, generate
from dashboard.ingest.pipeline import Ingestor
from dashboard.packs.build import PackSettings
from dashboard.packs.jobs import PackService, may_download
from dashboard.packs.mail import SmtpConfig
from dashboard.packs.schedule import Book, ScheduleError, ScheduleRunner, parse_schedules
from dashboard.store.db import Database
from dashboard.web.packs import submit_and_wait
from tests.conftest import free_port

END = datetime(2026, 6, 30, tzinfo=UTC)


# -- the configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("daily", [("daily", "06:00", "", ("pdf", "csv"), ())]),
        (
            "daily@07:30 formats=pdf,json tz=Europe/Berlin categories=authentication to=a@x.org,b@y.org",
            [
                (
                    "daily",
                    "07:30",
                    "tz=Europe%2FBerlin&categories=authentication",
                    ("pdf", "json"),
                    ("a@x.org", "b@y.org"),
                )
            ],
        ),
        (
            "weekly formats=zip; monthly@01:00 name=month outcome=failure",
            [
                ("weekly", "06:00", "", ("zip",), ()),
                ("month", "01:00", "outcome=failure", ("pdf", "csv"), ()),
            ],
        ),
        (
            "daily; daily formats=csv",
            [("daily", "06:00", "", ("pdf", "csv"), ()), ("daily-2", "06:00", "", ("csv",), ())],
        ),
        (
            "weekly name=after-hours weekdays=1,2,3,4,5 hours=0,1,2,3,4,5 outcome=failure",
            [
                (
                    "after-hours",
                    "06:00",
                    "weekdays=1%2C2%2C3%2C4%2C5&hours=0%2C1%2C2%2C3%2C4%2C5&outcome=failure",
                    ("pdf", "csv"),
                    (),
                )
            ],
        ),
    ],
)
def test_inline_schedules(text: str, expected: list[tuple[Any, ...]]) -> None:
    got = [(s.name, f"{s.at:%H:%M}", s.query, s.formats, s.email) for s in parse_schedules(text)]
    assert got == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hourly", "every='hourly' is not one of daily, weekly, monthly"),
        ("daily@25:00", "at='25:00' is not a time like 06:00"),
        ("daily formats=docx", "unknown format docx"),
        ("daily from=2026-01-01", "from cannot be set: the schedule defines the period"),
        ("daily colour=red", "unknown filter colour"),
        ("daily tz=Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("daily to=not-an-address", "'not-an-address' is not an e-mail address"),
        ("daily pdf", "'pdf' is not key=value"),
    ],
)
def test_bad_schedules_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_schedules(text)


def test_schedules_from_a_yaml_or_json_file(tmp_path: Path) -> None:
    yaml_file = tmp_path / "packs.yaml"
    yaml_file.write_text(
        "schedules:\n"
        "  - name: security-daily\n"
        "    every: daily\n"
        '    at: "05:15"\n'
        "    formats: [pdf, csv]\n"
        "    filters: {tz: Europe/Berlin, categories: [authentication, agent_management]}\n"
        "    email: [audit@example.com]\n"
        "  - every: monthly\n"
        "    filters: outcome=failure&tz=UTC\n"
    )
    first, second = parse_schedules(str(yaml_file))
    assert (first.name, first.every, f"{first.at:%H:%M}", first.email) == (
        "security-daily",
        "daily",
        "05:15",
        ("audit@example.com",),
    )
    assert first.base_filters.categories == ("authentication", "agent_management")
    assert first.tz == "Europe/Berlin" and second.base_filters.outcome == "failure"
    json_file = tmp_path / "packs.json"
    json_file.write_text(json.dumps([{"every": "weekly", "formats": "zip", "to": "x@y.org"}]))
    (only,) = parse_schedules(str(json_file))
    assert (only.every, only.formats, only.email) == ("weekly", ("zip",), ("x@y.org",))
    with pytest.raises(ScheduleError, match="cannot read the schedules file"):
        parse_schedules(str(tmp_path / "missing.yaml"))


@pytest.mark.parametrize(
    ("spec", "now", "period", "key"),
    [
        # daily at 06:00 Berlin: before 06:00 local the day before yesterday is the latest due
        ("daily tz=Europe/Berlin", "2026-03-30T03:59:00Z", ("2026-03-28", "2026-03-29"), "2026-03-28"),
        ("daily tz=Europe/Berlin", "2026-03-30T04:00:00Z", ("2026-03-29", "2026-03-30"), "2026-03-29"),
        # weekly: Monday to Monday, due on Monday at 06:00
        ("weekly", "2026-06-29T06:00:00Z", ("2026-06-22", "2026-06-29"), "2026-W26"),
        ("weekly", "2026-06-29T05:59:00Z", ("2026-06-15", "2026-06-22"), "2026-W25"),
        # monthly: the previous calendar month, due on the 1st
        ("monthly@00:30 tz=America/New_York", "2026-07-01T04:31:00Z", ("2026-06-01", "2026-07-01"), "2026-06"),
        ("monthly@00:30 tz=America/New_York", "2026-07-01T04:29:00Z", ("2026-05-01", "2026-06-01"), "2026-05"),
    ],
)
def test_the_period_a_schedule_builds(spec: str, now: str, period: tuple[str, str], key: str) -> None:
    (sched,) = parse_schedules(spec)
    start, end = sched.latest_due(datetime.fromisoformat(now.replace("Z", "+00:00")))
    assert (start.isoformat(), end.isoformat()) == period
    assert sched.period_key(start) == key
    f = sched.filters_for(start, end)
    assert f.start == datetime.combine(date.fromisoformat(period[0]), time())
    assert f.preset is None


def test_a_day_across_the_dst_change_is_23_hours() -> None:
    (sched,) = parse_schedules("daily tz=Europe/Berlin")
    f = sched.filters_for(date(2026, 3, 29), date(2026, 3, 30))
    start, end = f.resolve_range()
    assert end - start == timedelta(hours=23)


def test_who_may_download_a_pack() -> None:
    system = {"generated_by": "system", "masked": False}
    own = {"generated_by": "mia", "masked": True}
    assert may_download(own, "mia", "manager", True, True)
    assert not may_download(own, "cora", "compliance", True, False)
    assert may_download(own, "ada", "admin", True, False)
    assert may_download(system, "cora", "compliance", True, False)
    assert not may_download(system, "mia", "manager", True, True)
    assert not may_download(system, "kiosk", "wall", False, True)


# -- delivery to a real SMTP server ---------------------------------------------------------------
#: how long the SMTP server's thread may take to start (aiosmtpd's default, 5 s, is short on a loaded machine)
SMTP_READY_S = 60.0


class Inbox:
    """An aiosmtpd handler that keeps every message."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(msg)  # type: ignore[arg-type]
        self.arrived.set()
        return "250 OK"


@pytest.fixture(scope="module")
def small_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = Database(tmp_path_factory.mktemp("sched") / "s.duckdb")
    batches, _ = generate(DemoSpec(days=10, events=5_000, end=END))
    ingestor = Ingestor(db, None)
    for batch in batches:
        ingestor.ingest_batch([(i, json.dumps(doc)) for i, doc in enumerate(batch)], "demo")
    try:
        yield db
    finally:
        db.close()


def test_a_scheduled_pack_arrives_by_smtp_and_a_failed_delivery_is_retried(small_db: Database, tmp_path: Path) -> None:
    port = free_port()
    reports = tmp_path / "reports"
    service = PackService(small_db, PackSettings(reports_dir=reports, organisation="Acme"))
    smtp = SmtpConfig(host="127.0.0.1", port=port, sender="auditdash@acme.example")
    schedules = parse_schedules("daily@06:00 formats=pdf,csv tz=Europe/Berlin to=audit@acme.example")
    runner = ScheduleRunner(schedules, reports, lambda r: submit_and_wait(service, r, 600), smtp, service.manifest)
    try:
        # 1. the SMTP server is down: the pack is built and kept, the delivery waits with its error
        now = datetime(2026, 6, 29, 5, 0, tzinfo=UTC)  # 07:00 in Berlin: 2026-06-28 is due
        runner.tick(now)
        book = Book.load(reports / "scheduled" / "state.json")
        state = book.schedules["daily"]
        assert state.last_period == "2026-06-28" and state.last_pack
        (delivery,) = book.outbox
        assert delivery.status == "retrying" and delivery.attempts == 1
        assert "127.0.0.1" in (delivery.last_error or "")
        assert (reports / state.last_pack / "manifest.json").exists()
        # the same period is not built twice; the delivery is not due again yet
        runner.tick(now + timedelta(seconds=30))
        book = Book.load(reports / "scheduled" / "state.json")
        assert book.outbox[0].attempts == 1 and len(list(reports.glob("2026*"))) == 1

        # 2. the server is up: the retry delivers the pack
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=SMTP_READY_S)
        controller.start()
        try:
            runner.tick(now + timedelta(minutes=2))
            assert inbox.arrived.wait(30)
        finally:
            controller.stop()
        book = Book.load(reports / "scheduled" / "state.json")
        (delivery,) = book.outbox
        assert delivery.status == "sent" and delivery.attempts == 2 and delivery.sent_at
        (msg,) = inbox.messages
        assert msg["To"] == "audit@acme.example" and "2026-06-28" in msg["Subject"]
        names = {part.get_filename() for part in msg.iter_attachments()}
        pack = state.last_pack
        assert names == {"manifest.json", f"auditdash-{pack}.pdf", f"auditdash-{pack}.csv"}
        pdf = next(p for p in msg.iter_attachments() if p.get_filename().endswith(".pdf"))
        assert pdf.get_content().startswith(b"%PDF")
        manifest = json.loads(
            next(p for p in msg.iter_attachments() if p.get_filename() == "manifest.json").get_content()
        )
        assert manifest["schedule"] == "daily" and manifest["generated_by"] == "system"
        assert manifest["period"]["from"] == "2026-06-28T00:00:00+02:00"
        assert manifest["period"]["to"] == "2026-06-29T00:00:00+02:00"
    finally:
        service.stop()


def test_large_files_stay_on_the_server_and_the_message_says_where(small_db: Database, tmp_path: Path) -> None:
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ready_timeout=SMTP_READY_S)
    controller.start()
    reports = tmp_path / "reports"
    service = PackService(small_db, PackSettings(reports_dir=reports))
    smtp = SmtpConfig(host="127.0.0.1", port=port, max_bytes=50_000)
    runner = ScheduleRunner(
        parse_schedules("weekly formats=csv,json to=a@acme.example"),
        reports,
        lambda r: submit_and_wait(service, r, 600),
        smtp,
        service.manifest,
    )
    try:
        runner.tick(datetime(2026, 6, 29, 7, 0, tzinfo=UTC))
        assert inbox.arrived.wait(30)
        (msg,) = inbox.messages
        assert {p.get_filename() for p in msg.iter_attachments()} == {"manifest.json"}
        body = msg.get_body(preferencelist=("plain",)).get_content()
        assert "Too large to attach, kept on the server in" in body and ".ndjson" in body and ".csv" in body
    finally:
        controller.stop()
        service.stop()

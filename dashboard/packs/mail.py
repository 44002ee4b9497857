"""E-mailing packs: one message per delivery, through the SMTP server of the AUDITDASH_SMTP_* settings
(`dashboard.mail`, shared with alert e-mail).

The message names the period, the filters, the event count and the files; it carries the PDF,
the manifest and whatever else fits under `pack_email_max_bytes` (a million-row CSV does not
belong in a mailbox: the message says where it is instead).
"""

from __future__ import annotations

import mimetypes
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from dashboard.config import Settings, default
from dashboard.mail import TIMEOUT_S, MailError, SmtpServer
from dashboard.mail import send as deliver

__all__ = ["MailError", "SmtpConfig", "choose_attachments", "pack_message", "send"]


@dataclass(frozen=True)
class SmtpConfig(SmtpServer):
    """The SMTP server packs are sent through (the one alert e-mail uses), and the attachment limit."""

    max_bytes: int = field(default=default("pack_email_max_bytes"))

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig:
        """The shared `AUDITDASH_SMTP_*` server and `pack_email_max_bytes`."""
        server = SmtpServer.from_settings(settings)
        return cls(**asdict(server), max_bytes=settings.pack_email_max_bytes)


def choose_attachments(folder: Path, manifest: dict[str, Any], max_bytes: int) -> tuple[list[Path], list[Path]]:
    """(attached, left behind): the PDF and the manifest first, then the rest while they fit."""
    names = [f["name"] for f in manifest.get("files", []) if (folder / f["name"]).exists()]
    archive = manifest.get("archive")
    if archive and (folder / archive["name"]).exists():
        names.append(archive["name"])
    order = sorted(names, key=lambda n: (not n.endswith(".pdf"), n))
    attached: list[Path] = [folder / manifest.get("manifest_file", "manifest.json")]
    left: list[Path] = []
    used = attached[0].stat().st_size
    for name in order:
        path = folder / name
        size = path.stat().st_size
        if used + size <= max_bytes:
            attached.append(path)
            used += size
        else:
            left.append(path)
    return attached, left


def pack_message(config: SmtpConfig, to: list[str], folder: Path, manifest: dict[str, Any]) -> EmailMessage:
    """The message for one pack."""
    attached, left = choose_attachments(folder, manifest, config.max_bytes)
    period = manifest.get("period", {})
    counts = manifest.get("counts", {})
    schedule = manifest.get("schedule") or "on demand"
    subject = (
        f"Compliance pack ({schedule}): {period.get('from', '')[:10]} to {period.get('to', '')[:10]} "
        f"{manifest.get('time_zone', '')}, {counts.get('events', 0):,} events"
    )
    lines = [
        f"{manifest.get('title', 'Compliance pack')} — {manifest.get('organisation') or 'auditdash'}",
        "",
        f"Period:      {period.get('from')} to {period.get('to')} ({manifest.get('time_zone')})",
        f"Filters:     {manifest.get('filters', {}).get('words', '')}",
        f"Events:      {counts.get('events', 0):,}",
        f"Integrity:   {manifest.get('integrity', {}).get('state', 'not verified')}",
        f"Pack:        {manifest.get('pack_id')} (schedule {schedule})",
    ]
    left_out = manifest.get("archived_not_included")
    if left_out:  # a PostgreSQL store: archived months of the period are not in the pack
        lines.append(
            f"NOT included: {left_out.get('events', 0):,} events in archived months "
            f"({', '.join(left_out.get('months', []))}); to include them: {left_out.get('restore')}"
        )
    lines += ["", "Attached: " + ", ".join(p.name for p in attached)]
    if left:
        lines.append(
            "Too large to attach, kept on the server in "
            f"{folder}: " + ", ".join(f"{p.name} ({p.stat().st_size:,} bytes)" for p in left)
        )
    lines += ["", "Every file's SHA-256 is in manifest.json.", ""]
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = config.sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="auditdash")
    msg.set_content("\n".join(lines))
    for path in attached:
        ctype, _ = mimetypes.guess_type(path.name)
        if path.suffix == ".ndjson":
            ctype = "application/x-ndjson"
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return msg


def send(config: SmtpConfig, message: EmailMessage, timeout: float = TIMEOUT_S) -> None:
    """Send one message; raise `MailError` with the server's answer when it fails."""
    deliver(config, message, timeout)

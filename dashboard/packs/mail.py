"""E-mailing packs: one message per delivery, through the SMTP server of the AUDITDASH_SMTP_* settings.

The message names the period, the filters, the event count and the files; it carries the PDF,
the manifest and whatever else fits under `pack_email_max_bytes` (a million-row CSV does not
belong in a mailbox: the message says where it is instead).
"""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any


class MailError(RuntimeError):
    """A message could not be delivered (the delivery is retried)."""


@dataclass(frozen=True)
class SmtpConfig:
    """The SMTP server packs are sent through."""

    host: str | None
    port: int = 25
    sender: str = "auditdash@localhost"
    user: str | None = None
    password: str | None = None
    starttls: bool = False
    max_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        """Read the shared AUDITDASH_SMTP_* settings (the alert e-mail uses the same server)."""
        return cls(
            host=getattr(settings, "smtp_host", None) or None,
            port=int(getattr(settings, "smtp_port", 25) or 25),
            sender=str(getattr(settings, "smtp_from", None) or "auditdash@localhost"),
            user=getattr(settings, "smtp_user", None) or None,
            password=getattr(settings, "smtp_password", None) or None,
            starttls=bool(getattr(settings, "smtp_starttls", False)),
            max_bytes=int(getattr(settings, "pack_email_max_bytes", 10 * 1024 * 1024)),
        )

    @property
    def configured(self) -> bool:
        """Whether a server is set."""
        return bool(self.host)


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
        "",
        "Attached: " + ", ".join(p.name for p in attached),
    ]
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


def send(config: SmtpConfig, message: EmailMessage, timeout: float = 30.0) -> None:
    """Send one message; raise `MailError` with the server's answer when it fails."""
    if not config.host:
        raise MailError("no SMTP server is configured (AUDITDASH_SMTP_HOST)")
    try:
        with smtplib.SMTP(config.host, config.port, timeout=timeout) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.user and config.password:
                smtp.login(config.user, config.password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{config.host}:{config.port}: {type(exc).__name__}: {exc}") from exc
    if refused:
        raise MailError(f"{config.host}:{config.port} refused {', '.join(sorted(refused))}")

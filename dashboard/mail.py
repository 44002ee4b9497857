"""The SMTP server of the `AUDITDASH_SMTP_*` settings, and the one way messages are sent through it.

Alert e-mail (`dashboard.detect.notify`) and e-mailed compliance packs (`dashboard.packs.mail`)
both read the server from `SmtpServer.from_settings` and send with `send`, so they connect,
upgrade with STARTTLS, log in and report failures the same way.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage

from dashboard.config import Settings, default

#: seconds a connection to the SMTP server may take, per operation.
TIMEOUT_S = 30.0


class MailError(RuntimeError):
    """A message could not be delivered; the text names the server and what it answered."""


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to send: the `AUDITDASH_SMTP_*` settings but the recipients (each sender has its own)."""

    host: str | None = None
    port: int = field(default=default("smtp_port"))
    sender: str = field(default=default("smtp_from"))
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = field(default=default("smtp_starttls"))

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpServer:
        """The server of the configuration (`host` None when `AUDITDASH_SMTP_HOST` is unset)."""
        return cls(
            host=settings.smtp_host or None,
            port=settings.smtp_port,
            sender=settings.smtp_from,
            user=settings.smtp_user or None,
            password=settings.smtp_password or None,
            starttls=settings.smtp_starttls,
        )

    @property
    def configured(self) -> bool:
        """Whether a server is set."""
        return bool(self.host)


def send(server: SmtpServer, message: EmailMessage, timeout: float = TIMEOUT_S) -> None:
    """Send one message (From is the server's sender unless the message has one).

    Raises:
        MailError: no server is configured, the server cannot be reached, refuses the login or
            the message, or refuses any recipient; the text says which server and what it said.
    """
    if not server.host:
        raise MailError("no SMTP server is configured (AUDITDASH_SMTP_HOST)")
    if "From" not in message:
        message["From"] = server.sender
    try:
        with smtplib.SMTP(server.host, server.port, timeout=timeout) as smtp:
            if server.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if server.user and server.password:
                smtp.login(server.user, server.password)
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"{server.host}:{server.port}: {type(exc).__name__}: {exc}") from exc
    if refused:
        raise MailError(f"{server.host}:{server.port} refused {', '.join(sorted(refused))}")

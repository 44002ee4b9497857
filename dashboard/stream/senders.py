"""Sending a batch to a destination, and what counts as its acknowledgement.

- HTTP(S): one POST per batch; a 2xx answer acknowledges the batch. Redirects are not followed
  (the token would follow them); any other answer is an error that names the status and the
  start of the body.
- syslog over TCP or TLS: the batch is written (octet-counted frames) and `sendall` returned.
  That is a weak acknowledgement: the operating system took the bytes, the receiver may not have
  processed them; a receiver that dies right then loses what sat in its buffers. Before each
  batch the connection is checked for a close by the peer, and opened again.
- syslog over UDP: a datagram per event, sent; nothing acknowledges it (use it only where loss
  is acceptable).

Every error is a `DeliveryError` whose message says which destination and what happened.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
from typing import Protocol
from urllib.parse import urlsplit

from dashboard.stream.destinations import Destination, StreamConfigError


class DeliveryError(Exception):
    """A batch was not acknowledged: the cursor stays where it is and the batch is sent again."""


class Sender(Protocol):
    """Sends one batch (already encoded) and returns when the destination acknowledged it."""

    def send(self, payloads: list[bytes]) -> None:
        """Deliver, or raise `DeliveryError`."""

    def close(self) -> None:
        """Drop the connection."""


def tls_context(dest: Destination) -> ssl.SSLContext:
    """Certificate and host name checked (against `ca_file`, else the system's CAs); TLS 1.2 or newer."""
    try:
        context = ssl.create_default_context(cafile=str(dest.ca_file) if dest.ca_file else None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if dest.cert_file is not None and dest.key_file is not None:
            context.load_cert_chain(str(dest.cert_file), str(dest.key_file))
    except (OSError, ssl.SSLError) as exc:
        raise StreamConfigError(f"stream {dest.name}: cannot load its TLS files: {exc}") from exc
    return context


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {exc.verify_message}"
    if isinstance(exc, socket.gaierror):
        return f"host name not found ({exc.strerror})"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class HttpSender:
    """POSTs batches to an HTTP(S) address over one kept-alive connection."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        parts = urlsplit(dest.url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if self.https else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.context = tls_context(dest) if self.https else None
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.dest.timeout_s, context=self.context
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.dest.timeout_s)
        return self._conn

    def send(self, payloads: list[bytes]) -> None:
        """One POST of the batch; 2xx acknowledges it."""
        body = b"".join(payloads)
        headers = {
            "Content-Type": "application/json" if self.dest.envelope == "hec" else "application/x-ndjson",
            "User-Agent": "auditdash-stream",
        }
        token = self.dest.token()
        if token:
            headers["Authorization"] = f"Splunk {token}" if self.dest.envelope == "hec" else f"Bearer {token}"
        where = f"stream {self.dest.name} ({self.dest.address})"
        # a kept-alive connection the receiver has closed meanwhile fails at once: one more try
        # on a new connection (the batch may then arrive twice, which at-least-once allows)
        attempts = 2 if self._conn is not None else 1
        for attempt in range(attempts):
            try:
                conn = self._connection()
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read(4096)
                if response.will_close:
                    self.close()
                break
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt + 1 == attempts or isinstance(exc, TimeoutError | socket.timeout):
                    raise DeliveryError(f"{where}: {_why(exc)}") from exc
        if not 200 <= response.status < 300:
            self.close()
            said = answer.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
            raise DeliveryError(f"{where}: HTTP {response.status} {response.reason}" + (f": {said}" if said else ""))

    def close(self) -> None:
        """Drop the connection (the next batch opens another)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SyslogStreamSender:
    """RFC 5424 messages over TCP or TLS, octet-counted (RFC 6587 / RFC 5425)."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self.context = tls_context(dest) if dest.transport == "tls" else None
        self._sock: socket.socket | None = None

    def _where(self) -> str:
        return f"stream {self.dest.name} ({self.dest.address})"

    def _open(self) -> socket.socket:
        raw = socket.create_connection((self.dest.host, self.dest.port), timeout=self.dest.timeout_s)
        if self.context is None:
            return raw
        try:
            return self.context.wrap_socket(raw, server_hostname=self.dest.server_name or self.dest.host)
        except BaseException:
            raw.close()
            raise

    def _peer_closed(self, sock: socket.socket) -> bool:
        """Whether the receiver closed the connection (a syslog receiver never writes to it)."""
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def send(self, payloads: list[bytes]) -> None:
        """Write the frames of the batch; `sendall` returning is the (weak) acknowledgement."""
        try:
            if self._sock is not None and self._peer_closed(self._sock):
                self.close()
            if self._sock is None:
                self._sock = self._open()
            self._sock.sendall(b"".join(payloads))
        except (OSError, ssl.SSLError) as exc:
            self.close()
            raise DeliveryError(f"{self._where()}: {_why(exc)}") from exc

    def close(self) -> None:
        """Close the connection."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


class SyslogUdpSender:
    """RFC 5424 messages, one datagram each (no acknowledgement exists)."""

    def __init__(self, dest: Destination) -> None:
        self.dest = dest
        self._sock: socket.socket | None = None
        self._address: tuple[str, int] | None = None

    def send(self, payloads: list[bytes]) -> None:
        """Send each message as one datagram."""
        try:
            if self._sock is None or self._address is None:
                family, kind, proto, _, address = socket.getaddrinfo(
                    self.dest.host, self.dest.port, type=socket.SOCK_DGRAM
                )[0]
                self._sock = socket.socket(family, kind, proto)
                self._address = (str(address[0]), int(address[1]))
            for payload in payloads:
                self._sock.sendto(payload, self._address)
        except OSError as exc:
            self.close()
            raise DeliveryError(f"stream {self.dest.name} ({self.dest.address}): {_why(exc)}") from exc

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def sender_for(dest: Destination) -> Sender:
    """The sender of a destination's kind and transport."""
    if dest.kind == "http":
        return HttpSender(dest)
    if dest.transport == "udp":
        return SyslogUdpSender(dest)
    return SyslogStreamSender(dest)
